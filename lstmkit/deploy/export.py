"""Export a loaded model's whole inference pipeline to ONNX, proven equal to PyTorch before it is written.

A task describes what to export with an export plan (its TaskSpec's `exporter`, given the loaded model; see
`lstmkit.tasks.export_model`): graphs
(modules whose inputs and outputs are plain tensors, every recurrent state an explicit input and output),
what each input and output means, the JSON its runtime needs (tokenizer, scalers), and how to score a
runner on held-out data (for the int8 accuracy change). The exporter asks no task questions: it traces each
graph, checks onnxruntime against PyTorch at two batch sizes and two lengths with a non-zero state, and
writes

    DIR/
      <graph>.onnx          one per graph (model.onnx for single-graph tasks)
      <graph>.int8.onnx     with --quantize int8 (onnxruntime dynamic quantization)
      signature.json        names, dtypes, symbolic shapes and meaning of every input and output; the
                            exporter, opset, parity errors, int8 accuracy change; SHA-256 of every file
      <asset>.json          what the runtime needs besides the graphs

Exporters: "legacy" (TorchScript-based, `dynamo=False`) keeps the batch and time axes dynamic and is the
default. "dynamo" (torch.export) is offered and checked the same way; on torch 2.13 it fails on the
lengths-aware recurrent operators (data-dependent shapes), and on a plain nn.LSTM it froze the time axis
(measured 2026-12-02): the error says so and points to legacy.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from lstmkit.errors import UsageError

log = logging.getLogger(__name__)
FORMAT, FORMAT_VERSION = "lstmkit-onnx", 1
SIGNATURE = "signature.json"
OPSET = 17
PARITY_SHAPES = ((1, 3), (7, 11))  # (batch, time) pairs checked after export; tracing uses (2, 5)


@dataclass
class Port:
    """One input or output of a graph: shape with symbolic dims ("batch", "time") and what it means."""

    name: str
    dtype: str  # "float32" or "int64"
    shape: list[int | str]
    meaning: str


@dataclass
class Graph:
    """A module to export: forward(*inputs in `inputs` order) -> outputs in `outputs` order."""

    name: str
    module: nn.Module
    inputs: list[Port]
    outputs: list[Port]
    example: Callable[[int, int], dict[str, Tensor]]  # (batch, time) -> inputs, states non-zero
    tolerance: float = 1e-5  # max |onnx - torch| / (1 + |torch|)


@dataclass
class ExportPlan:
    task: str
    graphs: list[Graph]
    assets: dict[str, Any] = field(default_factory=dict)  # name -> JSON, written as name.json
    meta: dict[str, Any] = field(default_factory=dict)  # what the task's runtime needs (sizes, specials, ...)
    score: Callable[[Any], dict[str, float]] | None = None  # runner -> held-out quality, e.g. {"bpc": 1.9}


class ExportError(UsageError):
    """The export failed or its result differs from PyTorch; the message says where and what to try."""


def _dynamic_axes(ports: list[Port]) -> dict[str, dict[int, str]]:
    return {p.name: {i: d for i, d in enumerate(p.shape) if isinstance(d, str)} for p in ports}


def _export_graph(g: Graph, path: Path, exporter: str, opset: int) -> None:
    example = g.example(2, 5)
    args = tuple(example[p.name] for p in g.inputs)
    names_in, names_out = [p.name for p in g.inputs], [p.name for p in g.outputs]
    g.module.eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        if exporter == "legacy":
            torch.onnx.export(
                g.module,
                args,
                str(path),
                input_names=names_in,
                output_names=names_out,
                dynamic_axes=_dynamic_axes(g.inputs + g.outputs),
                opset_version=opset,
                dynamo=False,
            )
        else:
            dims = {}
            shapes = {
                p.name: {
                    i: dims.setdefault(d, torch.export.Dim(d)) for i, d in enumerate(p.shape) if isinstance(d, str)
                }
                or None
                for p in g.inputs
            }
            try:
                torch.onnx.export(
                    g.module,
                    args,
                    str(path),
                    input_names=names_in,
                    output_names=names_out,
                    dynamic_shapes=shapes,
                    dynamo=True,
                    verbose=False,
                )
            except Exception as err:  # torch.export raises many types; say which graph and what works
                first = str(err).strip().splitlines()[0][:200]
                raise ExportError(
                    f"the dynamo exporter could not export {g.name} ({type(err).__name__}: {first}); "
                    "recurrent layers with variable lengths export with --exporter legacy"
                ) from None


def _session(path: Path) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def parity(g: Graph, path: Path, sess: Any, used: set[str]) -> float:
    """The largest relative error of onnxruntime (`sess`, reading the inputs `used`) against PyTorch over
    PARITY_SHAPES."""
    worst = 0.0
    for b, t in PARITY_SHAPES:
        feeds = g.example(b, t)
        with torch.no_grad():
            ref = g.module(*(feeds[p.name] for p in g.inputs))
        ref = ref if isinstance(ref, (tuple, list)) else (ref,)
        try:
            got = sess.run([p.name for p in g.outputs], {k: v.numpy() for k, v in feeds.items() if k in used})
        except Exception as err:  # onnxruntime raises its own types; name the shapes that failed
            raise ExportError(
                f"{path.name} does not run at batch {b}, time {t} ({str(err)[:300]}); the export "
                "froze a dimension: use --exporter legacy"
            ) from None
        for port, r, o in zip(g.outputs, ref, got):
            r = r.detach().float().numpy()
            if r.shape != o.shape:
                raise ExportError(
                    f"{path.name} output {port.name} has shape {o.shape} at batch {b}, time {t}; "
                    f"PyTorch gives {r.shape}"
                )
            worst = max(worst, float((np.abs(o - r) / (1 + np.abs(r))).max(initial=0.0)))
    if worst > g.tolerance:
        raise ExportError(f"{path.name} differs from PyTorch by {worst:.2e} (tolerance {g.tolerance:.0e})")
    return worst


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def quantize_int8(src: Path, dst: Path) -> None:
    """onnxruntime dynamic quantization: int8 weights (MatMul, Gemm, LSTM), activations quantized per call."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    advice = _DropMessage("pre-processing before quantization")  # onnxruntime's advice, on the root logger
    logging.getLogger().addFilter(advice)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
    finally:
        logging.getLogger().removeFilter(advice)


class _DropMessage(logging.Filter):
    """Drops log records containing `text` (third-party advice a user cannot act on), for one call."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


def export_plan(
    plan: ExportPlan, out: str | Path, exporter: str = "legacy", quantize: str | None = None, opset: int = OPSET
) -> dict[str, Any]:
    """Export the graphs of `plan` to `out`; returns the signature written. (`lstmkit.tasks.export_model`
    asks the model's task for its plan, then calls this.)"""
    from lstmkit import __version__

    if exporter not in ("legacy", "dynamo"):
        raise ExportError(f"unknown exporter {exporter!r}; use legacy or dynamo")
    if quantize not in (None, "int8"):
        raise ExportError(f"unknown quantization {quantize!r}; use int8")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    graphs, files = {}, {}
    for g in plan.graphs:
        path = out / f"{g.name}.onnx"
        log.info("exporting %s with the %s exporter", path, exporter)
        _export_graph(g, path, exporter, opset)
        sess = _session(path)
        used = {i.name for i in sess.get_inputs()}  # the exporter drops inputs the graph never reads
        ports = [{**asdict(p), **({} if p.name in used else {"unused": True})} for p in g.inputs]
        graphs[g.name] = {
            "file": path.name,
            "inputs": ports,
            "outputs": [asdict(p) for p in g.outputs],
            "parity_max_rel_error": parity(g, path, sess, used),
        }
        files[path.name] = sha256(path)
    for name, value in plan.assets.items():
        (out / f"{name}.json").write_text(json.dumps(value), encoding="utf-8")
        files[f"{name}.json"] = sha256(out / f"{name}.json")
    signature = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "lstmkit_version": __version__,
        "task": plan.task,
        "exporter": exporter,
        "opset": opset,
        "graphs": graphs,
        "assets": sorted(plan.assets),
        "meta": plan.meta,
        "files": files,
        "parity": {"shapes": [list(s) for s in PARITY_SHAPES], "checked_against": "torch"},
    }
    _write_signature(out, signature)
    if quantize:
        for g in plan.graphs:
            dst = out / f"{g.name}.int8.onnx"
            quantize_int8(out / f"{g.name}.onnx", dst)
            files[dst.name] = sha256(dst)
        signature["variants"] = {"int8": {g.name: f"{g.name}.int8.onnx" for g in plan.graphs}}
        _write_signature(out, signature)
        if plan.score is not None:
            signature["quantized"] = _quality_change(out, plan.score)
            _write_signature(out, signature)
    return signature


def _write_signature(out: Path, signature: dict[str, Any]) -> None:
    tmp = out / f".{SIGNATURE}.tmp"
    tmp.write_text(json.dumps(signature, indent=1), encoding="utf-8")
    tmp.replace(out / SIGNATURE)


def _quality_change(out: Path, score: Callable[[Any], dict[str, float]]) -> dict[str, Any]:
    """The held-out quality of the fp32 and the int8 graphs, measured the same way."""
    from lstmkit.deploy.onnx_runtime import OnnxRunner

    fp32, int8 = score(OnnxRunner(out)), score(OnnxRunner(out, variant="int8"))
    return {"fp32": fp32, "int8": int8, "change": {k: int8[k] - fp32[k] for k in fp32}}
