"""`lstmkit export`: a saved model's whole inference pipeline as ONNX (plus int8), checked against PyTorch."""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLES = """examples:
  lstmkit export --model runs/lm/shakespeare --format onnx                 # -> runs/lm/shakespeare/onnx/
  lstmkit export --model runs/lm/shakespeare --format onnx --quantize int8 # + model.int8.onnx, bpc change printed
  lstmkit lm generate --model runs/lm/shakespeare --runtime onnx --temperature 0   # generation without torch
the export directory holds <graph>.onnx, signature.json (inputs, outputs, symbolic shapes, meanings, parity
with PyTorch, file digests) and the JSON the runtime needs (tokenizer, scalers)."""


def _export(args: argparse.Namespace) -> None:
    from lstmkit.clitools import emit
    from lstmkit.deploy.export import export_model
    from lstmkit.tasks import load

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
        lines.append("  int8: " + ", ".join(f"{k} {q['fp32'][k]:.4f} -> {q['int8'][k]:.4f} ({v:+.4f})"
                                            for k, v in q["change"].items()) + " on held-out data")  # fmt: skip
    elif args.quantize:
        lines.append("  int8 graphs written; no held-out data to measure their accuracy change")
    emit(args, {"out": str(out), **sig}, lambda: "\n".join(lines))


def _default_out(model: Path) -> Path:
    """RUN/onnx for a run directory or a saved model inside one (where --runtime onnx looks)."""
    return model.parent / "onnx" if model.name == "model" else model / "onnx"


def register_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a saved model to ONNX (whole pipeline, int8, parity-checked)",
                       description="Export the inference pipeline of a saved model to ONNX; every graph is "
                       "checked against PyTorch at two batch sizes and two lengths before it is kept.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--model", required=True, metavar="RUN", help="run directory or saved-model directory")
    p.add_argument("--format", default="onnx", choices=["onnx"], help="export format (default: %(default)s)")
    p.add_argument("--out", metavar="DIR", help="where to write (default: RUN/onnx, where --runtime onnx looks)")
    p.add_argument("--quantize", choices=["int8"], help="also write int8 graphs (onnxruntime dynamic quantization) "
                   "and measure the accuracy change on held-out data")  # fmt: skip
    p.add_argument("--exporter", default="legacy", choices=["legacy", "dynamo"],
                   help="torch.onnx exporter: legacy (TorchScript; dynamic batch and time) or dynamo "
                   "(torch.export; on torch 2.13 it cannot export lstmkit's recurrent layers) (default: %(default)s)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the signature as JSON")
    p.set_defaults(func=_export)
