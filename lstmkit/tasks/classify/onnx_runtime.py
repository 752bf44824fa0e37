"""A classifier exported to ONNX, run with onnxruntime and numpy only (no torch): the exported graph is the
network of the same predictor the PyTorch Classifier uses (predictor.py), so both encode and predict alike."""

from __future__ import annotations

from typing import Any

import numpy as np

from lstmkit.tasks.classify.config import ClassifyConfig
from lstmkit.tasks.classify.encoding import Encoding
from lstmkit.tasks.classify.predictor import ClassifyPredictor


class OnnxClassifyNetwork:
    """The predictor's network interface over the exported graph."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner

    def probabilities(self, x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        return self.runner.run("model", {"x": x, "lengths": lengths})["probabilities"]


def load(runner: Any) -> ClassifyPredictor:
    """The torch-free classifier over an export; it reads files with the column names it was trained with."""
    m = runner.meta
    config = ClassifyConfig(
        text_col=m["text_col"],
        label_col=m["label_col"],
        label_sep=m.get("label_sep"),
        label_cols=m.get("label_cols"),
        threshold=m["threshold"],
    )
    return ClassifyPredictor(OnnxClassifyNetwork(runner), Encoding.from_dict(runner.asset("encoding")), config)
