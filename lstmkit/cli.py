"""One CLI: `lstmkit <task> <verb>`. The only module that prints; everything else logs.

Task command groups come from the task registry (lstmkit.tasks.TASKS); `datasets` and `inspect` are the
built-in groups. lstmkit's own errors (bad data, config, model files, requests) print one line and exit 2;
anything else is a bug and keeps its traceback (exit 1).
"""

from __future__ import annotations

import argparse
import logging
import sys
import textwrap
from collections.abc import Sequence

from lstmkit import __version__
from lstmkit.clitools import emit
from lstmkit.errors import LstmkitError

WIDTH = 100  # `lstmkit datasets` reads well in a 100-column terminal


def _datasets(args: argparse.Namespace) -> None:
    from lstmkit.data.registry import DATASETS
    from lstmkit.tasks import TASKS

    rows = [{**d.row(), "use": f"lstmkit {d.tasks[0]} train --{TASKS[d.tasks[0]].data_flag} {d.name}"}
            for d in DATASETS.values()]  # fmt: skip
    emit(args, rows, lambda: _datasets_text(rows, TASKS))


def _datasets_text(rows: list[dict], tasks: dict) -> str:
    """Grouped by task: name and size on one line, source and license indented below, wrapped to WIDTH."""
    out = []
    for name, spec in tasks.items():
        mine = [r for r in rows if name in r["task"].split(", ")]
        if not mine:
            continue
        out.append(f"{name}: {spec.summary}")
        out.append(f"  use: lstmkit {name} train --{spec.data_flag} {mine[0]['name']}")
        width = max(len(r["name"]) for r in mine) + 2
        for r in mine:
            first = textwrap.wrap(r["size"], WIDTH - width - 2) or [""]
            out.append(f"  {r['name']:<{width}}{first[0]}")
            pad = " " * (width + 2)
            out += [pad + line for line in first[1:]]
            out += textwrap.wrap(f"{r['source']}; license {r['license']}", WIDTH, initial_indent=pad,
                                 subsequent_indent=pad)  # fmt: skip
        out.append("")
    return "\n".join(out).rstrip() + "\n\n--json prints every field."


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole CLI; with `only` (the command on the line), the other task groups are one-line stubs, so a
    command imports only what it runs (`lstmkit lm generate --runtime onnx` never imports torch)."""
    from lstmkit.deploy.cli import register_cli as register_export
    from lstmkit.inspect.cli import register_cli as register_inspect
    from lstmkit.tasks import TASKS

    parser = argparse.ArgumentParser(
        prog="lstmkit",
        description="LSTM networks for sequence data: train, evaluate and inspect recurrent models.",
        epilog="Start with:  lstmkit forecast backtest --data air-passengers   (or: lstmkit longrange compare --task adding)",
    )
    parser.add_argument("--version", action="version", version=f"lstmkit {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="<command>")
    ds = sub.add_parser("datasets", help="list the built-in datasets with size, source and license")
    ds.add_argument("--json", action="store_true", help="print as JSON")
    ds.set_defaults(func=_datasets)
    for spec in TASKS.values():
        if only is None or only == spec.name:
            spec.register_cli(sub)
        else:
            sub.add_parser(spec.name, help=spec.summary)
    register_export(sub)
    register_inspect(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(only=argv[0] if argv and not argv[0].startswith("-") else None)
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 0
    try:
        args.func(args)
    except (LstmkitError, FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError) as err:
        print(f"lstmkit: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lstmkit: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
