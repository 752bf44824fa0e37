"""A forecaster exported to ONNX, run with onnxruntime, numpy and pandas only (no torch): the same pipeline
as the PyTorch Forecaster (pipeline.py) around the exported network; forecasts in the data's units."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from lstmkit.config import from_dict
from lstmkit.deploy.records import check_records, frame_of
from lstmkit.tasks.forecast import SPEC
from lstmkit.tasks.forecast.config import ForecastConfig
from lstmkit.tasks.forecast.data import Data
from lstmkit.tasks.forecast.features import Preprocessor
from lstmkit.tasks.forecast.pipeline import (
    batched,
    context_of,
    frame_records,
    origin_inputs,
    read_panel,
    schema_of,
    seasons_of,
    split_future,
    to_frame,
    with_future,
)

BATCH = 256


class OnnxForecaster:
    task = SPEC.name
    capabilities = SPEC.capabilities

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.config = from_dict(ForecastConfig, runner.asset("config"), where=f"{runner.root}/config.json")
        self.pre = Preprocessor.from_dict(runner.asset("preprocessor"))
        self.calibration = runner.asset("calibration") or []
        self.L, self.D = runner.meta["num_layers"], runner.meta["hidden_size"]

    def predict(
        self, data: Data, futr_df: pd.DataFrame | None = None, context: int | Literal["all"] | None = None
    ) -> pd.DataFrame:
        """Forecast `horizon` steps after every series in `data`, as Forecaster.predict does."""
        return self.predict_series(read_panel(self.config, data).series, futr_df, context)

    def predict_series(
        self, series: list[Any], futr_df: pd.DataFrame | None = None, context: int | Literal["all"] | None = None
    ) -> pd.DataFrame:
        c = self.config
        window = context_of(context, c.lookback, series)
        extended = [with_future(c, s, futr_df) for s in series]
        inputs = origin_inputs(extended, [len(s) for s in series], self.pre, window, c.horizon, seasons_of(c))
        qs = []
        for batch in batched(inputs, BATCH):
            zeros = np.zeros((self.L, len(batch["ids"]), self.D), np.float32)
            qs.append(self.runner.run("model", {**batch, "h0": zeros, "c0": zeros})["q"])
        return to_frame(c, self.pre, self.calibration, series, np.concatenate(qs))

    # ---- the inference protocol (serving); no `step`: sessions need the PyTorch model

    def schema(self) -> dict[str, Any]:
        return schema_of(self.config, stateful=False)

    def predict_records(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        history, future = split_future(self.config, frame_of(check_records(records, self.schema())))
        return frame_records(self.predict(history, futr_df=future), self.config.time_col)

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.predict(frame)


def load(runner: Any) -> OnnxForecaster:
    return OnnxForecaster(runner)
