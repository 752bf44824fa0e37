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
    """The predictor's network interface over the exported graph: (tokens, h, c) -> (logits, h_out, c_out)."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.L, self.H = runner.meta["num_layers"], runner.meta["hidden_size"]

    def read(self, ids: np.ndarray, state: tuple[np.ndarray, np.ndarray] | None) -> tuple[np.ndarray, Any]:
        """ids (B, T) -> logits (B, T, V) and the state (h, c) (L, B, H) after the last step."""
        if state is None:
            z = np.zeros((self.L, ids.shape[0], self.H), np.float32)
            state = (z, z.copy())
        out = self.runner.run("model", {"tokens": ids, "h": state[0], "c": state[1]})
        return out["logits"], (out["h_out"], out["c_out"])

    def token_steps(self, state: tuple[np.ndarray, np.ndarray], batch: int) -> Callable[[np.ndarray], np.ndarray]:
        """One token per call on buffers bound once (deploy.streaming), starting from `state`."""
        from lstmkit.deploy.streaming import StreamingStep

        step = StreamingStep(self.runner, batch=batch)
        step.set_state({"h": state[0], "c": state[1]})
        return lambda ids: step({"tokens": ids})["logits"][:, -1]


def OnnxLanguageModel(runner: Any) -> LanguagePredictor:
    """The torch-free language model over an export (no `step`: sessions need the PyTorch model)."""
    return LanguagePredictor(OnnxLanguageNetwork(runner), tokenizer_from_dict(runner.asset("tokenizer")))


def load(runner: Any) -> LanguagePredictor:
    return OnnxLanguageModel(runner)
