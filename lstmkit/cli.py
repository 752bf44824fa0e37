"""One CLI: `lstmkit <command>`. The only module that prints; everything else logs."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lstmkit import __version__
from lstmkit.config import ConfigError, add_arguments, check_no_clashes, resolve, to_dict
from lstmkit.engine.config import TrainConfig

# command groups: each module has register_cli(subparsers) adding `lstmkit <group> <verb>`
TASK_CLIS = ["lstmkit.tasks.forecast.cli", "lstmkit.tasks.language.cli", "lstmkit.tasks.longrange_cli", "lstmkit.inspect.cli"]


# ----------------------------------------------------------------------------------------------------------
# helpers shared by task CLIs


def add_config_flags(parser: argparse.ArgumentParser, task_cls: type) -> None:
    """The flags every `train` command takes: the task's config, the engine's TrainConfig, --config, --json."""
    check_no_clashes(task_cls, TrainConfig)
    parser.add_argument("--config", metavar="FILE.yaml", help="YAML file of options (overridden by flags)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    add_arguments(parser, task_cls, "task and model")
    add_arguments(parser, TrainConfig, "training (shared by every task)")


def resolve_from_args(
    args: argparse.Namespace, task_cls: type, train_defaults: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The CLI's one merge, lowest first: dataclass defaults < the task's recommended training defaults
    < the saved run config (with --resume) < --config YAML < flags. Returns {"task": ..., "train": ...}."""
    import dataclasses

    known = {f.name for cls in (task_cls, TrainConfig) for f in dataclasses.fields(cls)}
    flags = {k: v for k, v in vars(args).items() if k in known}
    base: dict[str, Any] = {"train": dict(train_defaults or {})}
    if flags.get("resume"):
        out = flags.get("out")
        if not out:
            raise ConfigError("--resume needs --out DIR: the run directory to continue")
        saved = Path(out) / "config.yaml"
        if saved.is_file():
            import yaml

            base = yaml.safe_load(saved.read_text(encoding="utf-8"))  # the run's own resolved config
    return resolve({"task": task_cls, "train": TrainConfig}, args.config, flags, base=base)


def quiet_lightning() -> None:
    """Keep Lightning's start-up banners (accelerator, tips) off the terminal; warnings still show."""
    import lightning.pytorch  # noqa: F401  (creates its loggers)

    for name in list(logging.root.manager.loggerDict):
        if name.startswith("lightning"):
            logging.getLogger(name).setLevel(logging.WARNING)


def as_dict(resolved: dict[str, Any]) -> dict[str, Any]:
    return {k: to_dict(v) for k, v in resolved.items()}


def table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    """A plain-text table."""
    cells = [[_fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def emit(args: argparse.Namespace, payload: Any, text: Callable[[], str]) -> None:
    """Print JSON with --json, else the human text."""
    print(json.dumps(payload, indent=2) if getattr(args, "json", False) else text())


# ----------------------------------------------------------------------------------------------------------
# built-in commands


def _datasets(args: argparse.Namespace) -> None:
    from lstmkit.data.registry import DATASETS

    rows = [d.row() for d in DATASETS.values()]
    emit(args, rows, lambda: table(rows, ["name", "task", "size", "source", "license"]))


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="lstmkit",
        description="LSTM networks for sequence data: train, evaluate and inspect recurrent models.",
        epilog="Start with:  lstmkit forecast backtest --data air-passengers   (or: lstmkit longrange compare --task adding)",
    )
    parser.add_argument("--version", action="version", version=f"lstmkit {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="<command>")
    ds = sub.add_parser("datasets", help="list the built-in datasets with size and source")
    ds.add_argument("--json", action="store_true", help="print as JSON")
    ds.set_defaults(func=_datasets)
    for name in TASK_CLIS:
        importlib.import_module(name).register_cli(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 0
    try:
        args.func(args)
    except (ConfigError, FileNotFoundError, FileExistsError, ValueError, RuntimeError) as err:
        print(f"lstmkit: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
