"""The statistical path the pretrained forecaster corrects (`ZeroShotConfig.anchor = "theta"`): the theta method
fitted on each standardised context alone, its season found in the context itself (so the model still needs no
frequency), forecast over the model's horizon. The network reads this path and adds its quantiles to it, so a
short or unusual series starts from a forecast that the M3 competition's winner would make, and the network
learns where to leave it (ES-RNN's hybrid idea; lstmkit's trained forecaster does the same with `anchor`).

    base(k) = level_n + drift * k + season[(n + k) mod m],   k = 1..Hm

level_n: simple exponential smoothing of the deseasonalised context (weight by least one-step squared error),
drift: half its least-squares slope, season: classical-decomposition indices for the detected season m.
Fitted on the last WINDOW steps; batched over series in numpy (torch-free: the ONNX runtime shares it).

Notation: B series, C context steps, W = min(WINDOW, C), Hm horizon, A smoothing weights searched.
"""

from __future__ import annotations

import numpy as np

from lstmkit.tasks.forecast.theta import ALPHAS, acf_limit, seasonal_indices

SEASONS = (4, 7, 12, 24, 52)  # the seasons looked for (quarterly, daily, monthly, hourly, weekly data)
WINDOW = 240  # the most recent steps the path is fitted on
CLIP = 100.0  # paths are clipped to this many context standard deviations


def detect_season(z: np.ndarray) -> int:
    """The candidate season with the largest autocorrelation of the detrended values z (observed, in order)
    among those passing the 90 % test the M3/M4 theta benchmarks use; 1 when none passes or z is too short
    (three seasons needed)."""
    n = len(z)
    if n < 3 * SEASONS[0]:
        return 1
    t = np.arange(n, dtype=np.float64)
    x = z - np.polyval(np.polyfit(t, z, 1), t)  # (n,) detrended
    x = x - x.mean()
    denom = float(x @ x)
    if denom <= 1e-12:
        return 1
    top = max(m for m in SEASONS if 3 * m <= n)
    acf = np.correlate(x, x, mode="full")[n : n + top] / denom  # (top,) lags 1..top
    best, season = 0.0, 1
    for m in (m for m in SEASONS if m <= top):
        if acf[m - 1] > acf_limit(acf, m, n) and acf[m - 1] > best:
            best, season = float(acf[m - 1]), m
    return season


def seasons(y: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's seasonal component over its window and the horizon: (B, W), (B, Hm); zero without a season."""
    B, W = y.shape
    past, future = np.zeros((B, W)), np.zeros((B, horizon))
    for i, row in enumerate(y):
        m = detect_season(row[np.isfinite(row)])
        if m > 1:
            index = seasonal_indices(row, np.arange(W) % m, m)  # (m,)
            past[i], future[i] = index[np.arange(W) % m], index[(W + np.arange(horizon)) % m]
    return past, future


def smoothed_levels(d: np.ndarray) -> np.ndarray:
    """The last simple-exponential-smoothing level of each row of d (B, W) (NaN where missing), its weight the
    one of ALPHAS with the least one-step squared error (rows with fewer than 3 values: the last value)."""
    B = len(d)
    level = np.full((B, len(ALPHAS)), np.nan)  # (B, A)
    sse = np.zeros((B, len(ALPHAS)))
    for v in d.T:  # (B,) one step of every row
        seen = np.isfinite(v)[:, None] & np.isfinite(level)  # (B, A) rows with a level and a value
        err = np.where(seen, v[:, None] - level, 0.0)  # (B, A)
        sse += err * err
        level = np.where(seen, level + ALPHAS * err, level)
        start = np.isfinite(v) & np.isnan(level[:, 0])  # (B,) the first observation of a row
        level[start] = v[start, None]
    count = np.isfinite(d).sum(1)
    pick = np.where(count >= 3, np.argmin(sse, 1), len(ALPHAS) - 1)  # alpha 1: the last value
    out = level[np.arange(B), pick]
    return np.where(np.isfinite(out), out, 0.0)


def half_slopes(d: np.ndarray) -> np.ndarray:
    """Half the least-squares slope of each row of d (B, W) against time over its observed values (0 below 2)."""
    obs = np.isfinite(d)
    n = np.maximum(obs.sum(1), 1)
    t = np.broadcast_to(np.arange(d.shape[1], dtype=np.float64), d.shape)
    tm = np.where(obs, t, 0.0).sum(1) / n  # (B,)
    dm = np.where(obs, d, 0.0).sum(1) / n
    cov = np.where(obs, (t - tm[:, None]) * (d - dm[:, None]), 0.0).sum(1)
    var = np.where(obs, (t - tm[:, None]) ** 2, 0.0).sum(1)
    return np.where((obs.sum(1) >= 2) & (var > 0), cov / np.maximum(var, 1e-12), 0.0) / 2


def theta_paths(x: np.ndarray, mask: np.ndarray, horizon: int) -> np.ndarray:
    """Standardised contexts x and masks (B, C) -> each context's theta forecast (B, Hm), float32, clipped."""
    W = min(WINDOW, x.shape[1])
    y = np.where(mask[:, -W:] > 0, x[:, -W:], np.nan).astype(np.float64)  # (B, W)
    past, future = seasons(y, horizon)  # (B, W), (B, Hm)
    d = y - past  # (B, W) deseasonalised
    level, drift = smoothed_levels(d), half_slopes(d)  # (B,), (B,)
    path = level[:, None] + drift[:, None] * np.arange(1, horizon + 1) + future  # (B, Hm)
    return np.clip(path, -CLIP, CLIP).astype(np.float32)
