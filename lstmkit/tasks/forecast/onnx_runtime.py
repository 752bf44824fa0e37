"""A forecaster exported to ONNX, run with onnxruntime, numpy and pandas only (no torch): the exported graph is
the network of the same predictor the PyTorch Forecaster uses (predictor.py); forecasts in the data's units."""

from __future__ import annotations

from typing import Any

import numpy as np

from lstmkit.config import from_dict
from lstmkit.tasks.forecast.config import ForecastConfig
from lstmkit.tasks.forecast.features import Preprocessor
from lstmkit.tasks.forecast.predictor import ForecastPredictor


class OnnxForecastNetwork:
    """The predictor's network interface over the exported graph (zero initial states)."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.L, self.D = runner.meta["num_layers"], runner.meta["hidden_size"]

    def quantiles(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        zeros = np.zeros((self.L, len(batch["ids"]), self.D), np.float32)
        return self.runner.run("model", {**batch, "h0": zeros, "c0": zeros})["q"]


def load(runner: Any) -> ForecastPredictor:
    """The torch-free forecaster over an export (no `step`: sessions need the PyTorch model)."""
    config = from_dict(ForecastConfig, runner.asset("config"), where=f"{runner.root}/config.json")
    pre = Preprocessor.from_dict(runner.asset("preprocessor"))
    return ForecastPredictor(OnnxForecastNetwork(runner), config, pre, runner.asset("calibration") or [])
