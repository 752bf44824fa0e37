"""What every `lstmkit <task> <verb>` command shares: config flags from the dataclasses, the one config
merge, strict JSON output, plain tables. Only the CLI prints; these helpers format and parse."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from lstmkit.config import ConfigError, add_arguments, check_no_clashes
from lstmkit.engine.config import RunConfig, TrainConfig, resolve_run


def add_config_flags(parser: argparse.ArgumentParser, spec: Any) -> None:
    """The flags every training command takes: the task's config, the engine's TrainConfig, --config, --json."""
    task_cls = spec.config_class
    check_no_clashes(task_cls, TrainConfig)
    parser.add_argument("--config", metavar="FILE.yaml", help="YAML file of options (overridden by flags)")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON document on stdout")
    add_arguments(parser, task_cls, "task and model")
    add_arguments(
        parser,
        TrainConfig,
        f"training (shared by every task; the defaults shown are {spec.name}'s: {spec.defaults_text()})",
        defaults=spec.train_defaults,
    )


def run_config(args: argparse.Namespace, spec: Any) -> RunConfig:
    """The CLI's side of the one merge (engine.config.resolve_run): defaults < the task's training defaults
    < the run's saved config (with --resume) < --config YAML < flags."""
    task_cls = spec.config_class
    known = {f.name for cls in (task_cls, TrainConfig) for f in dataclasses.fields(cls)}
    flags = {k: v for k, v in vars(args).items() if k in known}
    resume_dir = None
    if flags.get("resume"):
        if not flags.get("out"):
            raise ConfigError("--resume needs --out DIR: the run directory to continue")
        resume_dir = flags["out"]
    return resolve_run(
        task_cls,
        spec.train_defaults,
        resume_dir=resume_dir,
        yaml_path=args.config,
        options=flags,
        where="the command line",
    )


def load_model(path: str, spec: Any, runtime: str = "torch", threads: int | None = None) -> Any:
    """The model at `path` for one of `spec`'s prediction commands: the task's PyTorch object, or
    (`runtime="onnx"`) its ONNX export run by onnxruntime alone with `threads` threads per graph (torch is never
    imported on that path)."""
    return spec.load_onnx(path, threads=threads) if runtime == "onnx" else spec.load(path)


THREADS_ENV = "LSTMKIT_THREADS"
THREADS_HELP = (
    "CPU threads for torch and onnxruntime (default: $LSTMKIT_THREADS, else 1: on 2-core machines one thread "
    "trained 2.6x faster than two when another process was busy, and 1.26x slower when idle; BENCHMARKS.md, "
    "threads)"
)


def threads_of(args: argparse.Namespace, environ: Any = None) -> int:
    """--threads, else $LSTMKIT_THREADS, else 1; an error names a bad value."""
    import os

    value = getattr(args, "threads", None)
    source = "--threads"
    if value is None:
        value, source = (environ if environ is not None else os.environ).get(THREADS_ENV, "1"), THREADS_ENV
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise ConfigError(f"{source} must be a whole number of threads >= 1, got {value!r}")
    return n


def add_runtime_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--runtime",
        choices=["torch", "onnx"],
        default="torch",
        help="torch, or onnx: the model's ONNX export (lstmkit export) on onnxruntime, no torch",
    )


def quiet_lightning() -> None:
    """Keep Lightning's start-up banners (accelerator, tips) off the terminal; warnings still show."""
    import lightning.pytorch  # noqa: F401  (creates its loggers)

    for name in list(logging.root.manager.loggerDict):
        if name.startswith("lightning"):
            logging.getLogger(name).setLevel(logging.WARNING)


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
        return "" if math.isnan(v) else f"{v:.4g}"
    return "" if v is None else str(v)


def strict_json(obj: Any) -> Any:
    """A copy with NaN and infinities as null (JSON has no NaN; strict parsers reject it) and numpy
    scalars as plain numbers."""
    if isinstance(obj, dict):
        return {str(k): strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        obj = obj.item()  # numpy / torch scalars
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def dumps(payload: Any) -> str:
    """One strict JSON document (no NaN)."""
    return json.dumps(strict_json(payload), indent=2, allow_nan=False, default=str)


def emit(args: argparse.Namespace, payload: Any, text: Callable[[], str]) -> None:
    """Print one JSON document with --json, else the human text (stdout: results only)."""
    print(dumps(payload) if getattr(args, "json", False) else text())


def more_rows(frame: Any, shown: int) -> str:
    """The line after a table's first `shown` rows: "... (N more rows)" when rows were left out, else nothing."""
    rest = len(frame) - shown
    return f"... ({rest} more rows)\n" if rest > 0 else ""


def add_data_flags(parser: argparse.ArgumentParser, config_cls: type, names: Sequence[str]) -> None:
    """The data flags a train verb takes, on a verb that reads data with a saved model (default: as it was
    trained); help and types come from the config dataclass."""
    from lstmkit.config import add_arguments

    group = argparse.ArgumentParser(add_help=False)
    add_arguments(group, config_cls, "reading --data (default: as the model was trained)")
    wanted = {n.replace("_", "-") for n in names}
    for action in group._actions:
        if any(o.removeprefix("--") in wanted for o in action.option_strings):
            text = re.sub(r" \(default: [^)]*\)$", "", action.help or "") + " (default: the saved model's)"
            kw = {"dest": action.dest, "default": argparse.SUPPRESS, "metavar": action.metavar, "help": text}
            if action.choices:
                kw["choices"] = action.choices
            if action.type:
                kw["type"] = action.type
            if action.nargs:
                kw["nargs"] = action.nargs
            parser.add_argument(*action.option_strings, **kw)


def with_data_flags(model: Any, args: argparse.Namespace, names: Sequence[str]) -> Any:
    """The loaded model reading data with the data flags given on this command line (the saved ones otherwise)."""
    import typing

    from lstmkit.config import coerce

    present = [k for k in names if hasattr(args, k)]
    if not present:
        return model
    if getattr(model, "config", None) is None:
        from lstmkit.errors import UsageError

        raise UsageError(
            f"this runtime reads data as the model was saved; drop {', '.join(present)} or use --runtime torch"
        )
    hints = typing.get_type_hints(type(model.config))
    given = {k: coerce(getattr(args, k), hints[k], f"--{k.replace('_', '-')}") for k in present}
    model.config = dataclasses.replace(model.config, **given)
    return model


def progress(what: str, every: float = 5.0) -> Callable[[int, int], None]:
    """A `progress(done, total)` callback for long work: a bar on a terminal's stderr, plain lines every `every`
    seconds otherwise (log files get no cursor escapes); nothing for work done within `every` seconds."""
    import sys
    import time

    start, state = time.perf_counter(), {"bar": None, "last": 0.0}

    def report(done: int, total: int) -> None:
        now = time.perf_counter()
        if now - start < every and state["bar"] is None and not state["last"]:
            return  # quick work shows nothing
        if sys.stderr.isatty():
            if state["bar"] is None:
                from tqdm import tqdm

                state["bar"] = tqdm(total=total, desc=what, file=sys.stderr, leave=False)
            state["bar"].update(done - state["bar"].n)
            if done >= total:
                state["bar"].close()
        elif now - state["last"] >= every or done >= total:
            state["last"] = now
            print(f"{what}: {done}/{total} ({100 * done / max(total, 1):.0f} %, {now - start:.0f} s)", file=sys.stderr)

    return report
