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
    """The predictor's network interface over the exported graph (zero initial states, whatever the cell's)."""

    def __init__(self, runner: Any) -> None:
        from lstmkit.deploy.streaming import state_pairs

        self.runner = runner
        ins = {p["name"]: p for p in runner.inputs("model")}
        outs = {p["name"]: p for p in runner.signature["graphs"]["model"]["outputs"]}
        self.state = [ins[i] for i, _ in state_pairs(ins, outs)]  # h0, c0 or a modern cell's fields

    def quantiles(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        B = len(batch["ids"])
        zeros = {p["name"]: np.zeros([B if d == "batch" else d for d in p["shape"]], np.float32) for p in self.state}
        return self.runner.run("model", {**batch, **zeros})["q"]


class OnnxPatchNetwork:
    """The pretrained forecaster's network interface over its exported graph."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner

    def quantiles(self, x: np.ndarray, mask: np.ndarray, base: np.ndarray | None = None) -> np.ndarray:
        feeds = {"x": x, "mask": mask} if base is None else {"x": x, "mask": mask, "base": base}
        return self.runner.run("model", feeds)["q"]


def load(runner: Any) -> Any:
    """The torch-free forecaster over an export (no `step`: sessions need the PyTorch model); the pretrained
    forecaster's export loads as a PretrainedForecaster."""
    if runner.meta.get("model") == "pretrained":
        from lstmkit.tasks.forecast.pretrained import PretrainedForecaster
        from lstmkit.tasks.forecast.zeroshot import ZeroShotConfig

        arch = from_dict(ZeroShotConfig, runner.asset("architecture"), where=f"{runner.root}/architecture.json")
        return PretrainedForecaster(OnnxPatchNetwork(runner), arch)
    config = from_dict(ForecastConfig, runner.asset("config"), where=f"{runner.root}/config.json")
    pre = Preprocessor.from_dict(runner.asset("preprocessor"))
    return ForecastPredictor(OnnxForecastNetwork(runner), config, pre, runner.asset("calibration") or [])
