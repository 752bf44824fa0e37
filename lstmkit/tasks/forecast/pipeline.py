"""The forecasting inference pipeline around the network, in numpy and pandas only (no torch), shared by the
PyTorch Forecaster and the ONNX runtime so both read data, build inputs and write forecasts the same way:

    read_panel -> with_future -> origin_inputs -> [the network: (B, Hz, Q) scaled quantiles] -> to_frame

Notation as in model.py: S series, W encoder steps, Hz horizon, F encoder features, K known features, E
seasons, Q quantile levels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lstmkit.config import ConfigError
from lstmkit.data.timeseries import (
    Columns,
    DataError,
    Panel,
    Series,
    future_index,
    future_times,
    season_length,
    to_panel,
)
from lstmkit.tasks.forecast.config import ForecastConfig, min_rows
from lstmkit.tasks.forecast.data import Data, builtin_frame, future_values, quantile_column
from lstmkit.tasks.forecast.features import Preprocessor


def season_of(cfg: ForecastConfig) -> int:
    assert cfg.freq is not None
    return season_length(cfg.freq)


def seasons_of(cfg: ForecastConfig) -> tuple[int, ...]:
    """The periods of the decoder's seasonal lags: the data's own season, then --extra-seasons."""
    return (season_of(cfg), *(cfg.extra_seasons or ()))  # None: a model saved before the option


def read_panel(cfg: ForecastConfig, data: Data) -> Panel:
    """Data (a file, a frame, a built-in name, or a panel already read) as a panel with the model's columns and
    frequency."""
    if isinstance(data, Panel):
        return data
    data, _ = builtin_frame(data)
    panel = to_panel(
        data,
        Columns(cfg.id_col, cfg.time_col, cfg.target),
        cfg.freq,
        cfg.past_covariates,
        cfg.future_covariates,
        cfg.static_covariates,
    )
    if panel.freq != cfg.freq and pd.tseries.frequencies.to_offset(panel.freq) != pd.tseries.frequencies.to_offset(
        cfg.freq
    ):
        raise DataError(f"the data's frequency is {panel.freq!r} but the model was trained on {cfg.freq!r}")
    return panel


def with_future(cfg: ForecastConfig, series: Series, futr: pd.DataFrame | None) -> Series:
    """The series plus its `horizon` future rows: target missing, known-future covariates from `futr`."""
    ds = future_index(series.ds[-1], cfg.freq, cfg.horizon)
    future = np.zeros((cfg.horizon, len(cfg.future_covariates)))
    if cfg.future_covariates:
        future = future_values(futr, series.uid, ds, cfg)
    return Series(
        series.uid,
        series.ds.append(ds),
        np.concatenate([series.y, np.full(cfg.horizon, np.nan)]),
        np.concatenate([series.past, np.full((cfg.horizon, series.past.shape[1]), np.nan)]),
        np.concatenate([series.future, future]),
        series.static,
    )


def context_of(context: int | str | None, lookback: int | None, series: list[Series]) -> int:
    """Encoder steps to read: the lookback, a given number, or "all" (the longest history)."""
    if context is None:
        assert lookback is not None
        return lookback
    if context == "all":
        return max(len(s) for s in series)
    if not isinstance(context, int) or context < 1:
        raise ConfigError(f"context must be a positive number of steps or 'all', got {context!r}")
    return context


def origin_inputs(
    extended: list[Series], ends: list[int], pre: Preprocessor, window: int, hz: int, seasons: tuple[int, ...]
) -> dict[str, np.ndarray]:
    """The network's inputs for forecasting each extended series from row `end` (its last observed row + 1):
    x (S, W, F) (zeros before the series starts), known (S, 1, Hz, K), lags (S, 1, Hz, E) (the scaled value
    one season before each horizon step; 0 before the series), ids (S,), cats (S, Sc), nums (S, Sn)."""
    xs, knowns, lags, ids, cats, nums = [], [], [], [], [], []
    k = np.arange(hz)
    for s, end in zip(extended, ends):
        x = pre.encoder(s)[0]  # (T + Hz, F)
        win = np.zeros((window, x.shape[1]), np.float32)
        take = x[max(0, end - window) : end]
        win[window - len(take) :] = take
        xs.append(win)
        knowns.append(x[end : end + hz][:, pre.layout.known][None])  # (1, Hz, K)
        rows = np.stack([end + k % e - e for e in seasons], -1)  # (Hz, E)
        lags.append(np.where(rows >= 0, x[np.maximum(rows, 0), 0], 0.0).astype(np.float32)[None])  # (1, Hz, E)
        i, c, n = pre.static_row(s)
        ids.append(i)
        cats.append(c)
        nums.append(n)
    return {
        "x": np.stack(xs),
        "known": np.stack(knowns).astype(np.float32),
        "lags": np.stack(lags),
        "ids": np.asarray(ids, np.int64),
        "cats": np.stack(cats).astype(np.int64),
        "nums": np.stack(nums).astype(np.float32),
    }


def apply_conformal(cfg: ForecastConfig, q: np.ndarray, deltas: list[list[float]]) -> np.ndarray:
    """Widen (or narrow) each calibrated interval of scaled quantiles q (..., Q) by its delta."""
    q = q.copy()
    levels = list(cfg.levels)
    for lo, hi, delta in deltas:
        q[..., levels.index(lo)] -= delta
        q[..., levels.index(hi)] += delta
    return np.sort(q, axis=-1)


def to_frame(
    cfg: ForecastConfig,
    pre: Preprocessor,
    calibration: list,
    series: list[Series],
    q: np.ndarray,
    pres: list[Preprocessor] | None = None,
) -> pd.DataFrame:
    """Scaled quantiles (S, Hz, Q) -> the long forecast frame in the data's units (`pres`: each series' own
    preprocessor, when an unseen series has its own pinned one)."""
    if calibration:
        q = apply_conformal(cfg, q, calibration)
    rows = []
    for i, (s, qs) in enumerate(zip(series, q)):
        p = pres[i] if pres else pre
        values = p.unscale(s, p.widen(s, qs, cfg.levels))  # (Hz, Q)
        frame = {
            cfg.id_col: s.uid,
            cfg.time_col: future_times(s.ds[-1], cfg.freq, cfg.horizon),
            "y_hat": values[:, cfg.levels.index(0.5)],
        }
        frame.update({quantile_column(lv): values[:, j] for j, lv in enumerate(cfg.levels) if lv != 0.5})
        rows.append(pd.DataFrame(frame))
    return pd.concat(rows, ignore_index=True)


def batched(inputs: dict[str, np.ndarray], size: int) -> list[dict[str, Any]]:
    """The inputs in chunks of `size` series."""
    n = len(inputs["ids"])
    return [{k: v[i : i + size] for k, v in inputs.items()} for i in range(0, n, size)]


def schema_of(cfg: ForecastConfig, stateful: bool) -> dict[str, Any]:
    """The serving schema: one input record is one history row (long format), one output record one forecast
    step; a stateful model (the PyTorch one) also folds new rows into a carried state (`step_input`)."""
    c = cfg
    row = {
        c.id_col: {"type": ["string", "integer"]},
        c.time_col: {"type": "string", "description": "timestamp"},
        c.target: {"type": ["number", "null"]},
        **{col: {"type": ["number", "null"]} for col in (*c.past_covariates, *c.future_covariates)},
        **{col: {"type": ["string", "number"]} for col in c.static_covariates},
    }
    out = {
        c.id_col: {"type": "string"},
        c.time_col: {"type": "string"},
        "y_hat": {"type": "number"},
        **{quantile_column(lv): {"type": "number"} for lv in c.levels if lv != 0.5},
    }
    inp = {"type": "object", "required": [c.time_col, c.target], "properties": row}
    doc = {
        "task": "forecast",
        "stateful": stateful,
        "horizon": c.horizon,
        "freq": c.freq,
        "input": inp,
        "output": {"type": "object", "properties": out},
    }
    if stateful:
        doc["step_input"] = {
            "type": "object",
            "required": ["rows"],
            "properties": {
                "rows": {"type": "array", "items": inp, "minItems": 1},
                "future": {"type": "array", "items": {"type": "object"}},
            },
        }
        doc["step_output"] = {"type": "object", "properties": {"forecast": {"type": "array", "items": out}}}
    return doc


def frame_records(frame: pd.DataFrame, time_col: str) -> list[dict[str, Any]]:
    """A forecast frame as output records (timestamps as ISO strings; a step index's integers stay integers)."""
    if pd.api.types.is_integer_dtype(frame[time_col]):
        return frame.to_dict(orient="records")
    return frame.assign(**{time_col: frame[time_col].astype(str)}).to_dict(orient="records")


def split_future(cfg: ForecastConfig, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Records as one frame -> (history, the horizon's known-future rows): for a model with known-future
    covariates, each series' rows after its last observed target (target missing) are its future rows."""
    if not cfg.future_covariates or cfg.target not in frame or cfg.time_col not in frame:
        return frame, None
    ds = pd.to_datetime(frame[cfg.time_col], errors="coerce")
    ids = frame[cfg.id_col] if cfg.id_col in frame else pd.Series(0, index=frame.index)
    last = ds.where(frame[cfg.target].notna()).groupby(ids).transform("max")
    ahead = frame[cfg.target].isna() & (ds > last)
    return frame[~ahead], (frame[ahead] if ahead.any() else None)


def widen_short(cfg: ForecastConfig, series: list[Series], frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Series with fewer rows than the minimum (--allow-short) get quantiles at least as far from the median as
    a random walk's on their own history: z_level * sd * sqrt(k) at step k, sd the spread of the history's
    changes (or of its values, or a tenth of its level, when there are too few changes). Returns the frame and
    the widened series' ids."""
    from statistics import NormalDist

    need = min_rows(cfg.horizon)
    widened, out = [], frame.copy()
    for s in series:
        y = s.y[np.isfinite(s.y)]
        if len(y) >= need:
            continue
        d = np.diff(y)
        spread = [float(np.std(d, ddof=1)) if len(d) >= 2 else 0.0, float(np.std(y)) if len(y) >= 2 else 0.0]
        sd = max(*spread, 0.1 * abs(float(np.mean(y))) if len(y) else 0.0) or 1.0
        rows = (out[cfg.id_col].astype(str) == s.uid).to_numpy()
        k = np.arange(1, rows.sum() + 1)
        mid = out.loc[rows, "y_hat"].to_numpy()
        for lv in cfg.levels:
            if lv == 0.5:
                continue
            col, z = quantile_column(lv), NormalDist().inv_cdf(lv)
            floor = abs(z) * sd * np.sqrt(k)
            gap = np.maximum(np.abs(out.loc[rows, col].to_numpy() - mid), floor)
            out.loc[rows, col] = (mid + np.sign(z) * gap).astype(out[col].dtype)
        widened.append(s.uid)
    return out, widened
