"""Run an exported model with onnxruntime alone: no torch, no training framework on this path.

    runner = OnnxRunner("runs/lm/x/onnx")            # checks signature.json and every file's SHA-256
    out = runner.run("model", {"tokens": ids, "h": h, "c": c})

`lstmkit.tasks.load_onnx(path)` returns the task's own runtime object (e.g. a language model that
generates), chosen by the task named in signature.json through the task registry.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from lstmkit.errors import LstmkitError

SIGNATURE = "signature.json"
FORMAT = "lstmkit-onnx"


class ExportFileError(LstmkitError):
    """An exported model directory is missing, corrupted or of an unknown kind; the message names the file."""


def find_export(path: str | Path) -> Path:
    """The export directory for `path`: itself, or its onnx/ (a run directory or a saved model exported with
    the default --out)."""
    path = Path(path)
    for cand in (path, path / "onnx", path / "model" / "onnx", path.parent / "onnx"):
        if (cand / SIGNATURE).is_file():
            return cand
    raise ExportFileError(
        f"{path} holds no ONNX export ({SIGNATURE} not found); export it first: "
        f"lstmkit export --model {path} --format onnx"
    )


def _check_files(root: Path, signature: dict[str, Any]) -> None:
    for name, digest in signature.get("files", {}).items():
        f = root / name
        if not f.is_file():
            raise ExportFileError(f"{f} is missing; re-export the model (lstmkit export ...)")
        if hashlib.sha256(f.read_bytes()).hexdigest() != digest:
            raise ExportFileError(
                f"{f} is corrupted or was changed after export (its SHA-256 differs from "
                f"{root / SIGNATURE}); re-export the model"
            )


class OnnxRunner:
    """The graphs of one export, as onnxruntime sessions (one thread each by default: the fastest for the
    small per-request batches of streaming and serving on these machines)."""

    def __init__(self, path: str | Path, variant: str = "fp32", threads: int | None = None) -> None:
        self.root = find_export(path)
        try:
            self.signature = json.loads((self.root / SIGNATURE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise ExportFileError(
                f"{self.root / SIGNATURE} is not readable JSON ({err}); re-export the model"
            ) from None
        if self.signature.get("format") != FORMAT:
            raise ExportFileError(f"{self.root / SIGNATURE} is not an lstmkit ONNX export")
        _check_files(self.root, self.signature)
        files = {k: v["file"] for k, v in self.signature["graphs"].items()}
        if variant != "fp32":
            files = self.signature.get("variants", {}).get(variant)
            if not files:
                raise ExportFileError(f"{self.root} has no {variant} graphs; export with --quantize {variant}")
        self.variant = variant
        self.sessions = {name: self._session(self.root / f, threads) for name, f in files.items()}

    @staticmethod
    def _session(path: Path, threads: int | None) -> Any:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.intra_op_num_threads = threads or 1
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime's own exception types
            raise ExportFileError(f"{path} is not a loadable ONNX model ({str(err)[:200]}); re-export it") from None

    @property
    def task(self) -> str:
        return self.signature["task"]

    @property
    def meta(self) -> dict[str, Any]:
        return self.signature.get("meta", {})

    def asset(self, name: str) -> Any:
        return json.loads((self.root / f"{name}.json").read_text(encoding="utf-8"))

    def inputs(self, graph: str) -> list[dict[str, Any]]:
        return self.signature["graphs"][graph]["inputs"]

    def run(self, graph: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One call of a graph: named numpy inputs (dtypes as in the signature) -> named outputs."""
        spec = self.signature["graphs"][graph]
        missing = [p["name"] for p in spec["inputs"] if p["name"] not in feeds and not p.get("unused")]
        if missing:
            raise ExportFileError(f"graph {graph} needs input(s) {', '.join(missing)}")
        typed = {
            p["name"]: np.ascontiguousarray(feeds[p["name"]], dtype=p["dtype"])
            for p in spec["inputs"]
            if not p.get("unused")
        }
        names = [p["name"] for p in spec["outputs"]]
        return dict(zip(names, self.sessions[graph].run(names, typed)))
