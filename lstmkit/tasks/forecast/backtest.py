"""Rolling-origin backtests: the model against naive, seasonal naive and (when installed) statsforecast's
AutoETS/AutoARIMA, on the same windows.

Window w of n forecasts the `horizon` steps after origin T - horizon - (n - 1 - w) * step of each series.
Without refit the model is trained once on the data before the first origin and forecasts each window in
batched passes over all series; with refit it is retrained before each window. Only running metric sums and
the last window's forecasts are kept, so memory does not grow with the number of windows
(benchmarks/forecast_memory.py measures it).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from lstmkit.data.timeseries import Series, check_lengths, future_times, season_length, season_position
from lstmkit.engine.config import unique_name
from lstmkit.errors import UsageError
from lstmkit.tasks.forecast import anchors
from lstmkit.tasks.forecast import metrics as M
from lstmkit.tasks.forecast.data import load_data, quantile_column
from lstmkit.tasks.forecast.outputs import seasons_of, with_data_defaults
from lstmkit.tasks.forecast.pipeline import apply_conformal
from lstmkit.tasks.forecast.predict import forecast_batch
from lstmkit.tasks.forecast.windows import build_tensors, origin_batches

log = logging.getLogger(__name__)
MODEL = "lstmkit"


@dataclass
class BacktestResult:
    """Accuracy of every method over the same windows, and the last window's forecasts for plots."""

    table: pd.DataFrame  # one row per method: mae, rmse, smape, mase, coverage, fit_s, predict_s
    by_horizon: pd.DataFrame  # MAE per horizon step (rows) and method (columns)
    last_window: pd.DataFrame  # unique_id, ds, y, y_hat, quantiles and each baseline, for the last window
    history: list[Series]  # each series up to the last window's origin
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "info": self.info,
            "table": self.table.reset_index().to_dict(orient="records"),
            "by_horizon_mae": self.by_horizon.to_dict(orient="list"),
        }


class _Scores:
    """Running per-forecast metrics and per-horizon absolute errors of each method."""

    def __init__(self, horizon: int) -> None:
        self.rows: dict[str, dict[str, list[float]]] = {}  # method -> metric -> [sum, count] of non-NaN values
        self.abs_sum: dict[str, np.ndarray] = {}
        self.count = np.zeros(horizon)
        self.seconds: dict[str, list[float]] = {}

    def add(self, name: str, y: np.ndarray, yhat: np.ndarray, scale: np.ndarray, q: np.ndarray | None = None):
        row = M.point_metrics(y, yhat, scale)
        if q is not None:
            row["coverage"] = M.coverage(y, q[..., 0], q[..., -1])
        sums = self.rows.setdefault(name, {})
        for k, v in row.items():  # running sums, so memory does not grow with the number of windows
            finite = ~np.isnan(v)  # as np.nanmean: NaN (no actuals) is skipped
            total = sums.setdefault(k, [0.0, 0])
            total[0] += float(v[finite].sum())
            total[1] += int(finite.sum())
        err = np.where(np.isfinite(y), np.abs(yhat - y), 0.0).sum(axis=0)
        self.abs_sum[name] = self.abs_sum.get(name, 0.0) + err

    def timed(self, name: str, kind: str, seconds: float) -> None:
        self.seconds.setdefault(f"{name}:{kind}", []).append(seconds)

    def table(self) -> pd.DataFrame:
        out = {}
        for name, sums in self.rows.items():
            out[name] = {k: total / n if n else np.nan for k, (total, n) in sums.items()}
            out[name]["fit_s"] = sum(self.seconds.get(f"{name}:fit", [0.0]))
            out[name]["predict_s"] = sum(self.seconds.get(f"{name}:predict", [0.0]))
        cols = ["mase", "smape", "mae", "rmse", "coverage", "fit_s", "predict_s"]
        return pd.DataFrame(out).T.reindex(columns=cols).rename_axis("method")

    def by_horizon(self) -> pd.DataFrame:
        n = np.maximum(self.count, 1)
        frame = pd.DataFrame({name: s / n for name, s in self.abs_sum.items()})
        frame.index = pd.RangeIndex(1, len(n) + 1, name="step")
        return frame


def backtest(
    forecaster: Any,
    data: Any,
    n_windows: int = 3,
    step: int | None = None,
    refit: bool = False,
    statistical: bool = True,
    out: str | Path | None = None,
) -> BacktestResult:
    """Rolling-origin evaluation of `forecaster` (trained here, before the first window) on `data`."""
    panel, cfg, horizon = load_data(data, forecaster.config)
    cfg = with_data_defaults(cfg, panel, horizon if forecaster.net is None else forecaster.config.horizon)
    h, step = cfg.horizon, step or cfg.horizon
    firsts = first_origins(panel, h, n_windows, step)
    scores = _Scores(h)
    fitted = None if refit else _fit_before(forecaster, cfg, panel, firsts, scores, out, "fit")
    tensors = None if refit else build_tensors(panel.series, fitted.pre, fitted.config.lookback, 0)  # built once

    def forecast(origins: list[int], w: int) -> np.ndarray:
        model = fitted or _fit_before(forecaster, cfg, panel, origins, scores, out, f"fit-w{w}")
        return model_forecasts(model, panel.series, origins, tensors=tensors)

    return score_windows(panel, h, n_windows, step, statistical, forecast, cfg.levels, {"refit": refit}, scores)


def first_origins(panel: Any, h: int, n_windows: int, step: int) -> list[int]:
    """Each series' first window origin; an error when the windows do not fit (or there are none)."""
    if n_windows < 1:
        raise UsageError(f"n_windows must be >= 1, got {n_windows}")
    check_lengths(panel, h * 2 + (n_windows - 1) * step + 2, f"a backtest of {n_windows} windows of {h} steps")
    return [len(s) - h - (n_windows - 1) * step for s in panel.series]


def score_windows(
    panel: Any,
    h: int,
    n_windows: int,
    step: int,
    statistical: bool,
    forecast: Any,
    levels: tuple[float, ...],
    extra: dict[str, Any],
    scores: _Scores | None = None,
) -> BacktestResult:
    """The rolling windows: `forecast(origins, w)` gives the model's quantiles (S, H, Q) in data units from
    each series' origin; the baselines forecast the same windows; scores (given: with the fit times already
    in them) and the last window are kept."""
    season = season_length(panel.freq)
    firsts = first_origins(panel, h, n_windows, step)
    scores = _Scores(h) if scores is None else scores
    scale = np.array([M.mase_scale(s.y[:o], season) for s, o in zip(panel.series, firsts)])
    last: dict[str, np.ndarray] = {}
    for w in range(n_windows):
        origins = [len(s) - h - (n_windows - 1 - w) * step for s in panel.series]
        y = np.stack([s.y[o : o + h] for s, o in zip(panel.series, origins)])  # (S, H)
        scores.count += np.isfinite(y).sum(axis=0)
        t0 = time.perf_counter()
        q = forecast(origins, w)  # (S, H, Q)
        scores.timed(MODEL, "predict", time.perf_counter() - t0)
        median = q[..., list(levels).index(0.5)]
        scores.add(MODEL, y, median, scale, q)
        last = {"y": y, MODEL: median, "q": q}
        for name, yhat in _baselines(panel, origins, h, season, statistical, scores).items():
            scores.add(name, y, yhat, scale)
            last[name] = yhat
    info = {
        "horizon": h,
        "windows": n_windows,
        "step": step,
        "season": season,
        "freq": panel.freq,
        "series": len(panel.series),
        **extra,
        "methods": sorted(scores.rows),
        "interval": [levels[0], levels[-1]],
        "statsforecast": statistical and has_statsforecast(),
    }
    origins = [len(s) - h for s in panel.series]
    frame = _last_frame(panel.freq, h, levels, panel.series, origins, last)
    history = [s.head(o) for s, o in zip(panel.series, origins)]
    return BacktestResult(scores.table(), scores.by_horizon(), frame, history, info)


def _fit_before(forecaster, cfg, panel, origins, scores: _Scores, out, label: str):
    """A fresh copy of the forecaster trained on each series up to its origin (reuses a trained one when
    no refit is asked and it is already trained, warning if it saw the test windows)."""
    if forecaster.net is not None and label == "fit":
        leak = [
            s.uid
            for s, o in zip(panel.series, origins)
            if s.uid in forecaster.pre.train_end and pd.Timestamp(forecaster.pre.train_end[s.uid]) >= s.ds[o]
        ]
        if leak:
            log.warning(
                "the model was trained on data inside the backtest windows (series %s ...): "
                "its scores are optimistic; backtest an untrained Forecaster instead",
                leak[:3],
            )
        return forecaster
    train = forecaster.train_config
    train = dataclasses.replace(
        train, out=str(Path(out) / label) if out else None, name=None if out else unique_name("backtest-") + f"-{label}"
    )
    model = type(forecaster)(config=cfg, train=train)  # a fresh, untrained copy
    t0 = time.perf_counter()
    model.fit_panel(panel.with_series([s.head(o) for s, o in zip(panel.series, origins)]), cfg)
    scores.timed(MODEL, "fit", time.perf_counter() - t0)
    return model


def model_forecasts(
    model: Any, series: list[Series], origins: list[int], batch: int = 512, tensors: Any = None
) -> np.ndarray:
    """Quantile forecasts (S, H, Q) in data units from each series' origin, batched across series
    (`tensors`: the series already built for this model, reused across windows)."""
    cfg, pre = model.config, model.pre
    pt = tensors if tensors is not None else build_tensors(series, pre, cfg.lookback, 0)
    qs = []
    with torch.no_grad():
        for b in origin_batches(pt, list(enumerate(origins)), cfg.lookback, cfg.horizon, seasons_of(cfg), batch):
            qs.append(forecast_batch(model.net, cfg, b, pre.layout).numpy())
    q = np.concatenate(qs)
    if model.calibration:
        q = apply_conformal(cfg, q, model.calibration)
    return np.stack([pre.unscale(s, pre.widen(s, qs, cfg.levels)) for s, qs in zip(series, q)])  # (S, H, Q)


def _baselines(panel, origins, h: int, season: int, statistical: bool, scores: _Scores) -> dict[str, np.ndarray]:
    out = {}
    for name, fn in (("naive", M.naive), ("seasonal_naive", lambda y, n: M.seasonal_naive(y, n, season))):
        t0 = time.perf_counter()
        out[name] = np.stack([fn(s.y[:o], h) for s, o in zip(panel.series, origins)])
        scores.timed(name, "predict", time.perf_counter() - t0)
    out.update(smoothing_baselines(panel, origins, h, scores))
    if statistical:
        out.update(statsforecast_baselines(panel, origins, h, season, scores))
    return out


def smoothing_baselines(panel, origins, h: int, scores: _Scores) -> dict[str, np.ndarray]:
    """lstmkit's own statistical anchors, alone: damped-trend exponential smoothing and the theta method
    (seasonally adjusted where the seasonality test passes), fitted per series on the data before the origin."""
    m = season_length(panel.freq)
    out = {}
    for name, kind in (("anchor_ets", "damped"), ("anchor_theta", "theta")):  # as --anchor ets|theta, alone
        t0 = time.perf_counter()
        rows = []
        for s, o in zip(panel.series, origins):
            pos = season_position(s.ds[: o + h], panel.freq)  # the window lies inside the series
            p = anchors.fit(s.y[:o], pos[:o], m, kind)
            rows.append(anchors.anchor_forecast(s.y[:o], pos[:o], pos[o : o + h], m, p))
        out[name] = np.stack(rows)
        scores.timed(name, "fit", time.perf_counter() - t0)
    return out


def has_statsforecast() -> bool:
    import importlib.util

    return importlib.util.find_spec("statsforecast") is not None


def statsforecast_baselines(panel, origins, h: int, season: int, scores: _Scores) -> dict[str, np.ndarray]:
    """AutoETS, AutoARIMA and AutoTheta from statsforecast, if it is installed (the `baselines` extra); else
    nothing (the table then says so, and lstmkit's own anchors stand in)."""
    if not has_statsforecast():
        return {}
    from statsforecast import StatsForecast
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta

    frames = []
    for s, o in zip(panel.series, origins):
        y = pd.Series(s.y[:o]).interpolate(limit_direction="both").to_numpy()  # statsforecast needs no gaps
        frames.append(pd.DataFrame({"unique_id": s.uid, "ds": s.ds[:o], "y": y}))
    out = {}
    models = (
        ("auto_ets", AutoETS(season_length=season)),
        ("auto_arima", AutoARIMA(season_length=season)),
        ("auto_theta", AutoTheta(season_length=season)),
    )
    for name, model in models:
        t0 = time.perf_counter()
        fc = StatsForecast(models=[model], freq=panel.freq, n_jobs=1).forecast(df=pd.concat(frames), h=h)
        col = next(c for c in fc.columns if c not in ("unique_id", "ds"))
        by_id = {uid: g[col].to_numpy() for uid, g in fc.groupby("unique_id", sort=False)}
        out[name] = np.stack([by_id[s.uid] for s in panel.series])
        scores.timed(name, "fit", time.perf_counter() - t0)
    return out


def _last_frame(
    freq: str, h: int, levels: tuple[float, ...], series: list[Series], origins: list[int], last: dict[str, np.ndarray]
) -> pd.DataFrame:
    rows = []
    for i, (s, o) in enumerate(zip(series, origins)):
        frame = {
            "unique_id": s.uid,
            "ds": future_times(s.ds[o - 1], freq, h),
            "y": last["y"][i],
            "y_hat": last[MODEL][i],
        }
        frame.update({quantile_column(lv): last["q"][i, :, j] for j, lv in enumerate(levels) if lv != 0.5})
        frame.update({k: v[i] for k, v in last.items() if k not in ("y", "q", MODEL)})
        rows.append(pd.DataFrame(frame))
    return pd.concat(rows, ignore_index=True)
