"""One CLI: `lstmkit <task> <verb>`. The only module that prints; everything else logs.

Task command groups come from the task registry (lstmkit.registry.TASKS); `datasets` and `inspect` are the
built-in groups. lstmkit's own errors (bad data, config, model files, requests) print one line and exit 2;
anything else is a bug and keeps its traceback (exit 1).
"""

from __future__ import annotations

import argparse
import logging
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lstmkit import __version__
from lstmkit.clitools import THREADS_HELP, emit, threads_of
from lstmkit.errors import LstmkitError

WIDTH = 100  # `lstmkit datasets` reads well in a 100-column terminal


def _datasets(args: argparse.Namespace) -> None:
    from lstmkit.registry import TASKS

    rows = []
    for spec in TASKS.values():  # a dataset that several tasks read is listed under each of them
        use = f"lstmkit {spec.name} train --{spec.data_flag}"
        rows += [{**d.row(), "task": spec.name, "use": f"{use} {d.name}"} for d in spec.builtin_datasets()]
    emit(args, rows, lambda: _datasets_text(rows, TASKS))


def _datasets_text(rows: list[dict], tasks: dict) -> str:
    """Grouped by task: name and size on one line, source and license indented below, wrapped to WIDTH."""
    out = []
    for name, spec in tasks.items():
        mine = [r for r in rows if r["task"] == name]
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
            out += textwrap.wrap(
                f"{r['source']}; license {r['license']}", WIDTH, initial_indent=pad, subsequent_indent=pad
            )
        out.append("")
    return "\n".join(out).rstrip() + "\n\n--json prints every field."


EXPORT_EXAMPLES = """examples:
  lstmkit export --model runs/lm/shakespeare --format onnx                 # -> runs/lm/shakespeare/onnx/
  lstmkit export --model runs/lm/shakespeare --format onnx --quantize int8 # + model.int8.onnx, bpc change printed
  lstmkit lm generate --model runs/lm/shakespeare --runtime onnx --temperature 0   # generation without torch
the export directory holds <graph>.onnx, signature.json (inputs, outputs, symbolic shapes, meanings, parity
with PyTorch, file digests) and the JSON the runtime needs (tokenizer, scalers)."""


def _export(args: argparse.Namespace) -> None:
    from lstmkit.registry import export_model, load

    model = load(args.model)
    out = Path(args.out) if args.out else _default_out(Path(args.model))
    sig = export_model(model, out, exporter=args.exporter, quantize=args.quantize)
    q = sig.get("quantized")
    lines = [f"{sig['task']} model exported to {out} ({sig['exporter']} exporter, opset {sig['opset']})"]
    for g in sig["graphs"].values():
        ins = ", ".join(f"{p['name']} {p['shape']}" for p in g["inputs"])
        outs = ", ".join(f"{p['name']} {p['shape']}" for p in g["outputs"])
        lines.append(f"  {g['file']}: {ins} -> {outs}; max relative error vs PyTorch {g['parity_max_rel_error']:.1e}")
    if q:
        lines.append(
            "  int8: "
            + ", ".join(f"{k} {q['fp32'][k]:.4f} -> {q['int8'][k]:.4f} ({v:+.4f})" for k, v in q["change"].items())
            + " on held-out data"
        )
    elif args.quantize:
        lines.append("  int8 graphs written; no held-out data to measure their accuracy change")
    emit(args, {"out": str(out), **sig}, lambda: "\n".join(lines))


def _default_out(model: Path) -> Path:
    """RUN/onnx for a run directory or a saved model inside one (where --runtime onnx looks)."""
    return model.parent / "onnx" if model.name == "model" else model / "onnx"


def _register_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a saved model to ONNX (whole pipeline, int8, parity-checked)",
        description="Export the inference pipeline of a saved model to ONNX; every graph is "
        "checked against PyTorch at two batch sizes and two lengths before it is kept.",
        epilog=EXPORT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", required=True, metavar="RUN", help="run directory or saved-model directory")
    p.add_argument("--format", default="onnx", choices=["onnx"], help="export format (default: %(default)s)")
    p.add_argument("--out", metavar="DIR", help="where to write (default: RUN/onnx, where --runtime onnx looks)")
    p.add_argument(
        "--quantize",
        choices=["int8"],
        help="also write int8 graphs (onnxruntime dynamic quantization) "
        "and measure the accuracy change on held-out data",
    )
    p.add_argument(
        "--exporter",
        default="legacy",
        choices=["legacy", "dynamo"],
        help="torch.onnx exporter: legacy (TorchScript; dynamic batch and time) or dynamo "
        "(torch.export; on torch 2.13 it cannot export lstmkit's recurrent layers) (default: %(default)s)",
    )
    p.add_argument("--json", action="store_true", help="print the signature as JSON")
    p.set_defaults(func=_export)


SERVE_HELP = "serve saved models over HTTP (JSON API, sessions, streaming generation, a web page)"
SERVE_EXAMPLES = """examples:
  lstmkit serve --model runs/lm/shakespeare                       # http://127.0.0.1:8000/docs
  lstmkit serve --model shakespeare=runs/lm/shakespeare --model sales=runs/forecast/sales --port 8080
  lstmkit serve --model runs/forecast/sales --runtime onnx        # the ONNX export, no torch
  lstmkit serve --model models:/sales@champion --tracking-uri sqlite:///mlflow.db   # from the registry
  lstmkit serve --model runs/forecast/sales --state-dir /var/lib/lstmkit   # sessions survive restarts
  curl -s localhost:8000/v1/models/sales/sessions -H 'content-type: application/json' -d '{"data": [...]}'
  curl -s localhost:8000/v1/sessions/ID/observe -H 'content-type: application/json' \\
       -d '{"data": [{"unique_id": "a", "ds": "2024-02-01", "y": 4.0}], "seq": 1}'   # -> {"seq": 1, "forecast": [...]}
  curl -s localhost:8000/v1/models/sales/predict -H 'content-type: application/json' \\
       -d '{"data": [{"unique_id": "a", "ds": "2024-01-01", "y": 3.0}, ...]}'
  curl -sN localhost:8000/v1/models/shakespeare/generate -d '{"prompt": "ROMEO:", "stream": true}' \\
       -H 'content-type: application/json'                        # tokens as server-sent events"""


def _served_models(args: argparse.Namespace) -> dict[str, Any]:
    """--model [NAME=]RUN|models:/NAME@ALIAS, each loaded with the chosen runtime."""
    from lstmkit.registry import load, load_onnx

    models = {}
    for spec in args.model:
        name, _, path = spec.partition("=") if "=" in spec.split(":/")[0] else ("", "", spec)
        if path.startswith("models:/"):
            from lstmkit.deploy.registry import fetch

            name = name or path.removeprefix("models:/").split("@")[0].split("/")[0]
            path = str(fetch(path, args.tracking_uri))
        path_ = Path(path)
        name = name or (path_.parent.name if path_.name == "model" else path_.name)
        models[name] = load_onnx(path) if args.runtime == "onnx" else load(path)
    return models


def _serve(args: argparse.Namespace) -> None:
    import os

    from lstmkit.deploy.serve import ServeOptions, run

    models = _served_models(args)
    opts = ServeOptions(
        args.host,
        args.port,
        args.api_key or os.environ.get("LSTMKIT_API_KEY"),
        state_dir=None if args.state_dir == "none" else args.state_dir,
        session_ttl_s=args.session_ttl,
        max_sessions=args.max_sessions,
        batch_wait_ms=args.batch_wait_ms,
        max_batch=args.max_batch,
        max_body_bytes=args.max_body_bytes,
        max_records=args.max_records,
    )
    opts.check()
    print(
        f"serving {', '.join(f'{n} ({m.task})' for n, m in models.items())} on http://{args.host}:{args.port} "
        f"(docs: /docs)",
        file=sys.stderr,
    )
    run(models, opts)


def _register_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help=SERVE_HELP,
        description="Serve saved models with FastAPI + uvicorn: /health, /v1/models, "
        "/v1/models/NAME/predict, /v1/models/NAME/generate (OpenAPI at /openapi.json).",
        epilog=SERVE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="[NAME=]RUN",
        help="a run or saved-model directory, or a registry URI models:/NAME@ALIAS (repeat for several; "
        "NAME defaults to the directory's or the registered name)",
    )
    p.add_argument("--tracking-uri", help="the MLflow registry for models:/ URIs (default: $MLFLOW_TRACKING_URI)")
    p.add_argument("--host", default="127.0.0.1", help="interface (default: loopback; others need --api-key)")
    p.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    p.add_argument(
        "--runtime",
        choices=["torch", "onnx"],
        default="torch",
        help="torch, or onnx: the models' ONNX exports on onnxruntime, no torch",
    )
    p.add_argument("--api-key", help="require Authorization: Bearer KEY (default: $LSTMKIT_API_KEY)")
    _serve_limits(p)
    p.set_defaults(func=_serve)


def _serve_limits(p: argparse.ArgumentParser) -> None:
    """`serve`'s session and request limits (defaults from ServeOptions)."""
    from lstmkit.deploy.serve import ServeOptions

    d = ServeOptions()
    p.add_argument(
        "--state-dir",
        default="runs/serve",
        help="where sessions persist (SQLite, written on every observation; a restarted server "
        "continues them): default %(default)s; 'none' keeps them in memory only",
    )
    p.add_argument(
        "--session-ttl",
        type=float,
        default=d.session_ttl_s,
        metavar="SECONDS",
        help="an idle session expires after this long (default: %(default)s)",
    )
    p.add_argument(
        "--max-sessions", type=int, default=d.max_sessions, help="live sessions at most (default: %(default)s)"
    )
    p.add_argument(
        "--batch-wait-ms",
        type=float,
        default=d.batch_wait_ms,
        help="a predict request waits this long for others to share one batched forward "
        "(default: %(default)s; 0: one forward per request)",
    )
    p.add_argument(
        "--max-batch", type=int, default=d.max_batch, help="requests per batched forward (default: %(default)s)"
    )
    p.add_argument(
        "--max-body-bytes",
        type=int,
        default=d.max_body_bytes,
        help="larger request bodies get a 413 (default: %(default)s)",
    )
    p.add_argument(
        "--max-records",
        type=int,
        default=d.max_records,
        help="records per predict request, at most (default: %(default)s)",
    )


REGISTER_EXAMPLES = """examples:
  lstmkit register --model runs/forecast/sales --name sales --alias champion --tracking-uri sqlite:///mlflow.db
  python -c "import mlflow; print(mlflow.pyfunc.load_model('models:/sales@champion').predict(df))"
  lstmkit serve --model models:/sales@champion --tracking-uri sqlite:///mlflow.db"""


def _register(args: argparse.Namespace) -> None:
    from lstmkit.deploy.registry import register

    pyfunc = Path(__file__).with_name("pyfunc.py")  # the models-from-code file (it loads through the registry)
    done = register(args.model, args.name, args.alias, args.tracking_uri, python_model=pyfunc)
    emit(
        args,
        done,
        lambda: f"registered {done['name']} version {done['version']} ({done['uri']}) in {done['tracking_uri']}",
    )


def _register_register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "register",
        help="register a saved model in MLflow's model registry (as a pyfunc model)",
        description="Log a saved model as an MLflow pyfunc model (the safetensors + JSON directory is "
        "its artifact; nothing is pickled) and register it as a new version of NAME, so that "
        "mlflow.pyfunc.load_model('models:/NAME@ALIAS').predict(frame) works without lstmkit code.",
        epilog=REGISTER_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", required=True, metavar="RUN", help="a run or saved-model directory")
    p.add_argument("--name", required=True, help="the registered model's name")
    p.add_argument("--alias", help="point this alias (e.g. champion) at the new version")
    p.add_argument("--tracking-uri", help="MLflow tracking/registry URI (default: $MLFLOW_TRACKING_URI, else ./mlruns)")
    p.add_argument("--json", action="store_true", help="print the registered version as JSON")
    p.set_defaults(func=_register)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole CLI; with `only` (the command on the line), the other task groups are one-line stubs, so a
    command imports only what it runs (`lstmkit lm generate --runtime onnx` never imports torch)."""
    from lstmkit.registry import TASKS

    parser = argparse.ArgumentParser(
        prog="lstmkit",
        description="LSTM networks for sequence data: train, evaluate and inspect recurrent models.",
        epilog="Start with:  lstmkit forecast backtest --data air-passengers"
        "   (or: lstmkit longrange compare --task adding)",
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
    _register_export(sub)
    _register_register(sub)
    if only in (None, "serve"):
        _register_serve(sub)
    else:
        sub.add_parser("serve", help=SERVE_HELP)
    if only in (None, "inspect"):  # (its commands get --threads below, with every other command that computes)
        from lstmkit.inspect.cli import register_cli as register_inspect  # imports torch (gate traces)

        register_inspect(sub)
    else:
        sub.add_parser("inspect", help="look inside a saved model: gradient flow, gate heatmaps")
    _add_threads(parser)
    return parser


NO_COMPUTE = {"datasets", "register"}


def _add_threads(parser: argparse.ArgumentParser, name: str = "") -> None:
    """--threads on every command that computes (each leaf command with a function to run)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for action in subs:
        for cmd, child in action.choices.items():
            _add_threads(child, cmd)
    if not subs and parser.get_default("func") is not None and name not in NO_COMPUTE:
        parser.add_argument("--threads", type=int, metavar="N", help=THREADS_HELP)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(only=argv[0] if argv and not argv[0].startswith("-") else None)
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 0
    try:
        if hasattr(args, "threads"):  # a command that computes: the thread count, before any work
            args.threads = threads_of(args)
            if getattr(args, "runtime", "torch") != "onnx":
                import torch

                torch.set_num_threads(args.threads)
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
