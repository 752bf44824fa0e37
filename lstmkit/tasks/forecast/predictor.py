"""Forecasting inference, written once for every runtime: `ForecastPredictor` runs the pipeline (pipeline.py:
read the panel, add the horizon's rows, build each origin's inputs, write the frame in the data's units) around
a network, the PyTorch ForecastNet (forecaster.py) or the exported graph (onnx_runtime.py), and answers the
inference protocol's records, several requests batched together. Imports no torch.

A network is anything with
    quantiles(batch) -> (B, Hz, Q) scaled quantiles    batch: origin_inputs' numpy arrays for B origins
"""

from __future__ import annotations

import logging
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd

from lstmkit.deploy.records import check_records, frame_of
from lstmkit.tasks.forecast import SPEC
from lstmkit.tasks.forecast.config import ForecastConfig, min_rows
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
    widen_short,
    with_future,
)

BATCH = 256
log = logging.getLogger(__name__)


class ForecastNetwork(Protocol):
    def quantiles(self, batch: dict[str, np.ndarray]) -> np.ndarray: ...


class ForecastPredictor:
    """A trained forecaster's prediction over any network: frames in, forecast frames (or records) out."""

    task = SPEC.name
    capabilities = SPEC.capabilities

    def __init__(
        self,
        network: ForecastNetwork,
        config: ForecastConfig,
        pre: Preprocessor,
        calibration: list[list[float]],
        stateful: bool = False,
    ) -> None:
        self.network, self.config, self.pre, self.calibration, self.stateful = (
            network,
            config,
            pre,
            calibration,
            stateful,
        )

    def predict(
        self, data: Data, futr_df: pd.DataFrame | None = None, context: int | Literal["all"] | None = None
    ) -> pd.DataFrame:
        """Forecast `horizon` steps after every series in `data` (long format out: unique_id, ds, y_hat and one
        y_hat_qNN column per quantile). `context`: encoder steps read (default: the lookback; "all": all)."""
        return self.predict_series(read_panel(self.config, data).series, futr_df, context)

    def predict_series(
        self, series: list[Any], futr_df: pd.DataFrame | None = None, context: int | Literal["all"] | None = None
    ) -> pd.DataFrame:
        """The same for series already read (a panel's `series`)."""
        c = self.config
        window = context_of(context, c.lookback, series)
        extended = [with_future(c, s, futr_df) for s in series]
        inputs = origin_inputs(extended, [len(s) for s in series], self.pre, window, c.horizon, seasons_of(c))
        qs = [self.network.quantiles(batch) for batch in batched(inputs, BATCH)]  # (B, Hz, Q) each
        frame = to_frame(c, self.pre, self.calibration, series, np.concatenate(qs))
        if not c.allow_short:
            return frame
        frame, widened = widen_short(c, series, frame)
        if widened:
            log.warning(
                "%d series are shorter than %d rows (--allow-short): their intervals are widened to their history's "
                "variability (%s%s)",
                len(widened),
                min_rows(c.horizon),
                ", ".join(widened[:5]),
                " ..." if len(widened) > 5 else "",
            )
        return frame

    # ---- the inference protocol (deploy.protocol)

    def schema(self) -> dict[str, Any]:
        """One input record is one history row (long format); one output record is one forecast step."""
        return schema_of(self.config, stateful=self.stateful)

    def predict_records(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """History rows in, the next horizon of every series in them out (timestamps as ISO strings). A model
        with known-future covariates reads each series' horizon from its rows after the last observed target
        (target missing, covariates given)."""
        history, future = split_future(self.config, frame_of(check_records(records, self.schema())))
        return frame_records(self.predict(history, futr_df=future), self.config.time_col)

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.predict(frame)

    def predict_many(self, requests: list[list[dict[str, Any]]]) -> list[list[dict[str, Any]]]:
        """Several requests' forecasts in as few passes as their series allow: requests that share no series
        id are forecast together and split back by id (a request without ids, or reusing one, waits for the
        next pass), so each answer equals `predict_records` of that request alone."""
        ids = self.config.id_col
        keys = [{str(r[ids]) for r in req} if req and all(ids in r for r in req) else None for req in requests]
        answers: list[list[dict[str, Any]] | None] = [None] * len(requests)
        pending = list(range(len(requests)))
        while pending:
            group, seen, later = [], set(), []
            for i in pending:
                if keys[i] is None or keys[i] & seen or (group and keys[group[0]] is None):
                    later.append(i)
                else:
                    group.append(i)
                    seen |= keys[i]
            if not group:
                group, later = [later[0]], later[1:]
            out = self.predict_records([r for i in group for r in requests[i]])
            for i in group:
                answers[i] = out if len(group) == 1 else [r for r in out if str(r[ids]) in keys[i]]
            pending = later
        return answers  # type: ignore[return-value]
