"""A language model exported to ONNX, run with onnxruntime and numpy only (no torch): the exported graph is the
network of the same predictor the PyTorch model uses (predictor.py), so both evaluate, generate and stream alike
(the same greedy tokens, and the same sampled text for the same seed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from lstmkit.data.tokenizers import tokenizer_from_dict
from lstmkit.tasks.lm.predictor import LanguagePredictor


class OnnxLanguageNetwork:
    """The predictor's network interface over the exported graph: (tokens, *state) -> (logits, *state_out); the
    state is a dict of the graph's state inputs (h, c for the LSTM; the modern cells' fields)."""

    def __init__(self, runner: Any) -> None:
        from lstmkit.deploy.streaming import state_pairs

        self.runner = runner
        ins = {p["name"]: p for p in runner.inputs("model")}
        outs = {p["name"]: p for p in runner.signature["graphs"]["model"]["outputs"]}
        self.pairs = state_pairs(ins, outs)  # (h, h_out), (c, c_out), or a modern cell's fields
        self.ports = [ins[i] for i, _ in self.pairs]

    def zero_state(self, batch: int) -> dict[str, np.ndarray]:
        shape = lambda p: [batch if d == "batch" else d for d in p["shape"]]  # noqa: E731
        return {p["name"]: np.zeros(shape(p), np.float32) for p in self.ports}

    def read(self, ids: np.ndarray, state: dict[str, np.ndarray] | None) -> tuple[np.ndarray, Any]:
        """ids (B, T) -> logits (B, T, V) and the state after the last step."""
        state = self.zero_state(ids.shape[0]) if state is None else state
        out = self.runner.run("model", {"tokens": ids, **state})
        return out["logits"], {i: out[o] for i, o in self.pairs}

    def token_steps(self, state: dict[str, np.ndarray], batch: int) -> Callable[[np.ndarray], np.ndarray]:
        """One token per call on buffers bound once (deploy.streaming), starting from `state`."""
        from lstmkit.deploy.streaming import StreamingStep

        graph = "step" if "step" in self.runner.signature["graphs"] else "model"  # modern cells: no Loop
        step = StreamingStep(self.runner, graph=graph, batch=batch)
        step.set_state(state)
        return lambda ids: step({"tokens": ids})["logits"][:, -1]


def OnnxLanguageModel(runner: Any) -> LanguagePredictor:
    """The torch-free language model over an export (no `step`: sessions need the PyTorch model)."""
    return LanguagePredictor(OnnxLanguageNetwork(runner), tokenizer_from_dict(runner.asset("tokenizer")))


def load(runner: Any) -> LanguagePredictor:
    return OnnxLanguageModel(runner)
