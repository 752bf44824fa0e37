"""Forecast accuracy (MAE, RMSE, sMAPE, MASE, interval coverage) and the baselines every backtest includes.

Arrays: N forecasts (series × windows), H horizon steps. Missing actuals (NaN) are skipped, never counted.
"""

from __future__ import annotations

import numpy as np


def mase_scale(history: np.ndarray, season: int) -> float:
    """In-sample MAE of the seasonal naive forecast (naive if the history is shorter than a season)."""
    y = history
    m = season if len(y) > season else 1
    diffs = np.abs(y[m:] - y[:-m]) if len(y) > m else np.array([])
    diffs = diffs[np.isfinite(diffs)]
    scale = float(diffs.mean()) if len(diffs) else np.nan
    return scale if scale > 0 else np.nan


def point_metrics(y: np.ndarray, yhat: np.ndarray, scale: np.ndarray) -> dict[str, np.ndarray]:
    """Per-forecast metrics: y, yhat (N, H); scale (N,) the MASE denominator of each forecast's series."""
    valid = np.isfinite(y)
    n = np.maximum(valid.sum(axis=1), 1)
    err = np.where(valid, yhat - y, 0.0)
    mae = np.abs(err).sum(axis=1) / n
    denom = np.abs(y) + np.abs(yhat)
    smape = np.where(valid & (denom > 0), 200 * np.abs(err) / np.where(denom > 0, denom, 1), 0.0).sum(axis=1) / n
    out = {
        "mae": mae,
        "rmse": np.sqrt((err**2).sum(axis=1) / n),
        "smape": smape,
        "mase": mae / scale,
    }
    has = valid.any(axis=1)
    return {k: np.where(has, v, np.nan) for k, v in out.items()}


def coverage(y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per-forecast fraction of actuals inside [lo, hi]. (N, H) -> (N,)."""
    valid = np.isfinite(y)
    inside = (y >= lo) & (y <= hi) & valid
    return np.where(valid.any(axis=1), inside.sum(axis=1) / np.maximum(valid.sum(axis=1), 1), np.nan)


def last_observed(history: np.ndarray) -> float:
    obs = history[np.isfinite(history)]
    return float(obs[-1]) if len(obs) else np.nan


def naive(history: np.ndarray, horizon: int) -> np.ndarray:
    """The last observed value, repeated. (T,) -> (H,)."""
    return np.full(horizon, last_observed(history))


def seasonal_naive(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """The last observed season, repeated; missing values fall back to the naive forecast. (T,) -> (H,)."""
    if season <= 1 or len(history) < season:
        return naive(history, horizon)
    last = history[-season:]
    out = last[np.arange(horizon) % season]
    return np.where(np.isfinite(out), out, last_observed(history))
