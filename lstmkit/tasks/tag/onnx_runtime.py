"""A tagger exported to ONNX, run with onnxruntime and numpy only (no torch): the exported graph is the network
of the same predictor the PyTorch Tagger uses (predictor.py), so both tag alike."""

from __future__ import annotations

from typing import Any

import numpy as np

from lstmkit.config import from_dict
from lstmkit.tasks.tag.config import TagConfig
from lstmkit.tasks.tag.encoding import TagEncoding
from lstmkit.tasks.tag.predictor import TagPredictor


class OnnxTagNetwork:
    """The predictor's network interface over the exported graph."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        crf = runner.asset("crf") if runner.meta.get("crf") else None
        self._crf = {k: np.asarray(v, np.float32) for k, v in crf.items()} if crf else None

    def emissions(self, x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        return self.runner.run("model", {"x": x, "lengths": lengths})["emissions"]

    def crf(self) -> dict[str, np.ndarray] | None:
        return self._crf


def load(runner: Any) -> TagPredictor:
    config = from_dict(TagConfig, runner.asset("config"), where=f"{runner.root}/config.json")
    return TagPredictor(OnnxTagNetwork(runner), TagEncoding.from_dict(runner.asset("encoding")), config)
