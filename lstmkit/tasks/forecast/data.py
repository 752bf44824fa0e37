"""The forecaster's data in and out: built-in dataset names, long-format frames and files to panels, the
known-future covariates of a horizon, new rows after folded ones, and the forecast columns' names."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lstmkit.data.timeseries import Columns, DataError, Panel, Series, to_panel
from lstmkit.tasks.forecast.config import ForecastConfig

Data = str | Path | pd.DataFrame


def quantile_column(level: float) -> str:
    return f"y_hat_q{level * 100:g}"


def builtin_frame(data: Data) -> tuple[Data, Any]:
    """A built-in dataset name -> (its long frame, its description); anything else passes through."""
    if isinstance(data, str) and not Path(data).exists():
        from lstmkit.data.builtin_series import SERIES_DATASETS, load_builtin

        if data in SERIES_DATASETS or not Path(data).suffix:
            return load_builtin(data)
    return data, None


def load_data(data: Data, cfg: ForecastConfig) -> tuple[Panel, ForecastConfig, int | None]:
    """A panel from a file, a DataFrame or a built-in dataset name; built-ins bring their covariate roles
    and horizon unless the config names its own. Returns the panel, the config and the default horizon."""
    data, info = builtin_frame(data)
    horizon = None
    if info is not None:
        if not cfg.past_covariates and not cfg.future_covariates:
            cfg = dataclasses.replace(cfg, past_covariates=info.past, future_covariates=info.future)
        horizon = info.horizon
        cfg = dataclasses.replace(cfg, id_col="unique_id", time_col="ds", target="y", freq=cfg.freq or info.freq)
    columns = Columns(cfg.id_col, cfg.time_col, cfg.target)
    panel = to_panel(data, columns, cfg.freq, cfg.past_covariates, cfg.future_covariates, cfg.static_covariates)
    return panel, cfg, horizon


def future_values(futr: pd.DataFrame | None, uid: str, ds: pd.DatetimeIndex, c: ForecastConfig) -> np.ndarray:
    """Known-future covariates of one series over its forecast horizon, from `futr` (long format)."""
    if futr is None:
        raise DataError(
            f"the model uses known-future covariates {list(c.future_covariates)}: pass futr_df (--future FILE) "
            f"with {c.id_col}, {c.time_col} and those columns for the {c.horizon} steps after each series"
        )
    ids = futr[c.id_col].astype(str) if c.id_col in futr.columns else pd.Series(uid, index=futr.index)
    rows = futr[(ids == uid).to_numpy()]
    rows = rows.assign(**{c.time_col: pd.to_datetime(rows[c.time_col])}).set_index(c.time_col)  # any index
    values = rows.reindex(ds)[list(c.future_covariates)].to_numpy(np.float64)
    if np.isnan(values).any():
        missing = ds[np.isnan(values).any(axis=1)][0]
        raise DataError(
            f"future covariates of series {uid!r} are missing at {missing} (needed for every step of the horizon)"
        )
    return values


def after(last: pd.Timestamp, s: Series, freq: str) -> Series:
    """New rows must follow the folded ones; a gap becomes missing rows (masked)."""
    if s.ds[0] <= last:
        raise DataError(
            f"series {s.uid!r}: update got rows from {s.ds[0]}, but rows up to {last} are already folded in; "
            "pass only the new rows"
        )
    grid = pd.date_range(last, s.ds[-1], freq=freq)[1:]
    if len(grid) == len(s):
        return s
    pad = len(grid) - len(s)
    return Series(
        s.uid,
        grid,
        np.concatenate([np.full(pad, np.nan), s.y]),
        np.concatenate([np.full((pad, s.past.shape[1]), np.nan), s.past]),
        np.concatenate([np.full((pad, s.future.shape[1]), np.nan), s.future]),
        s.static,
    )
