"""A forecaster exported to ONNX, run with onnxruntime, numpy and pandas only (no torch): the same pipeline
as the PyTorch Forecaster (pipeline.py) around the exported network; forecasts in the data's units."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from lstmkit.config import from_dict
from lstmkit.tasks.forecast.config import ForecastConfig
from lstmkit.tasks.forecast.data import Data
from lstmkit.tasks.forecast.features import Preprocessor
from lstmkit.tasks.forecast.pipeline import (
    batched,
    context_of,
    origin_inputs,
    read_panel,
    seasons_of,
    to_frame,
    with_future,
)

BATCH = 256


class OnnxForecaster:
    task = "forecast"

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.config = from_dict(ForecastConfig, runner.asset("config"), where=f"{runner.root}/config.json")
        self.pre = Preprocessor.from_dict(runner.asset("preprocessor"))
        self.calibration = runner.asset("calibration") or []
        self.L, self.D = runner.meta["num_layers"], runner.meta["hidden_size"]

    def predict(self, data: Data, futr_df: pd.DataFrame | None = None,
                context: int | Literal["all"] | None = None) -> pd.DataFrame:  # fmt: skip
        """Forecast `horizon` steps after every series in `data`, as Forecaster.predict does."""
        return self.predict_series(read_panel(self.config, data).series, futr_df, context)

    def predict_series(self, series: list[Any], futr_df: pd.DataFrame | None = None,
                       context: int | Literal["all"] | None = None) -> pd.DataFrame:  # fmt: skip
        c = self.config
        window = context_of(context, c.lookback, series)
        extended = [with_future(c, s, futr_df) for s in series]
        inputs = origin_inputs(extended, [len(s) for s in series], self.pre, window, c.horizon, seasons_of(c))
        qs = []
        for batch in batched(inputs, BATCH):
            zeros = np.zeros((self.L, len(batch["ids"]), self.D), np.float32)
            qs.append(self.runner.run("model", {**batch, "h0": zeros, "c0": zeros})["q"])
        return to_frame(c, self.pre, self.calibration, series, np.concatenate(qs))


def load(runner: Any) -> OnnxForecaster:
    return OnnxForecaster(runner)
