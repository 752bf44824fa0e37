"""The theta method's pieces, fitted per series on the scaled target, for the network's `anchor="theta"` base.

The theta method (Assimakopoulos & Nikolopoulos 2000; the M3 competition's winner, sMAPE 13.85 on its monthly
series) deseasonalises a series (classical decomposition, only where a seasonality test passes), smooths it
exponentially, and extrapolates the smoothed level with half the slope of its linear trend. Here the same runs on
the scaled (and possibly log) target, additively: the forecast from origin t, k steps ahead, is

    base(t, k) = level_t + drift * k + season[pos(t + k)]

and the network learns corrections to it. Every piece is causal in t except the season and drift, which are
fitted on the training part only (never on a validation or test horizon).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ALPHAS = np.linspace(0.05, 1.0, 20)  # the smoothing weights searched (one-step squared error)


@dataclass(frozen=True)
class ThetaParams:
    """One series' fitted pieces, in scaled units: season (m,) by season position, alpha, drift per step."""

    season: tuple[float, ...]
    alpha: float
    drift: float

    def to_list(self) -> list[float]:
        return [self.alpha, self.drift, *self.season]

    @classmethod
    def from_list(cls, values: list[float]) -> ThetaParams:
        return cls(tuple(values[2:]), values[0], values[1])


def fit(y: np.ndarray, pos: np.ndarray, m: int) -> ThetaParams:
    """Fit season, alpha and drift on a scaled series y (T,) (NaN where missing) with season positions pos (T,)."""
    season = seasonal_indices(y, pos, m)
    d = y - season[pos]  # (T,) deseasonalised
    return ThetaParams(tuple(float(v) for v in season), ses_alpha(d), half_slope(d))


def seasonal_indices(y: np.ndarray, pos: np.ndarray, m: int) -> np.ndarray:
    """Additive classical-decomposition indices (m,), mean 0; zeros when m < 2, the series is shorter than three
    seasons, or its autocorrelation at lag m fails the 90 % test that the M3/M4 theta benchmarks use."""
    obs = np.flatnonzero(np.isfinite(y))
    if m < 2 or len(obs) < 3 * m:
        return np.zeros(m)
    z = _fill(y[obs[0] : obs[-1] + 1])  # (n,) missing values carried forward
    p = pos[obs[0] : obs[-1] + 1]
    if not _seasonal(z, m):
        return np.zeros(m)
    weights = np.r_[0.5, np.ones(m - 1), 0.5] / m if m % 2 == 0 else np.ones(m) / m  # centred moving average
    trend = np.convolve(z, weights, mode="valid")  # (n - len(weights) + 1,)
    half = (len(weights) - 1) // 2
    detrended = z[half : half + len(trend)] - trend
    p = p[half : half + len(trend)]
    counts = np.bincount(p, minlength=m)[:m]  # (m,) observations per season position
    sums = np.bincount(p, weights=detrended, minlength=m)[:m]
    index = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)  # (m,) mean detrended value per position
    return index - index.mean()


def _seasonal(z: np.ndarray, m: int) -> bool:
    x = z - z.mean()
    denom = float(np.sum(x * x))
    if denom <= 0:
        return False
    n = len(x)
    acf = np.correlate(x, x, mode="full")[n : n + m] / denom  # (m,) lags 1 .. m (shorter: fewer)
    if len(acf) < m:
        acf = np.r_[acf, np.zeros(m - len(acf))]
    return bool(abs(acf[m - 1]) > acf_limit(acf, m, n))


def acf_limit(acf: np.ndarray, m: int, n: int) -> float:
    """The 90 % limit the autocorrelation at lag m must pass to call a series of n values seasonal (Bartlett's
    variance over the lower lags; acf holds lags 1, 2, ...), as the M3/M4 theta benchmarks test."""
    return float(1.645 * np.sqrt((1 + 2 * np.sum(acf[: m - 1] ** 2)) / n))


def ses_alpha(d: np.ndarray) -> float:
    """The smoothing weight with the least one-step squared error over the observed values."""
    obs = d[np.isfinite(d)]
    if len(obs) < 3:
        return 1.0
    level = np.full(len(ALPHAS), obs[0])  # (A,)
    sse = np.zeros(len(ALPHAS))
    for v in obs[1:]:
        sse += (v - level) ** 2
        level += ALPHAS * (v - level)
    return float(ALPHAS[int(np.argmin(sse))])


def half_slope(d: np.ndarray) -> float:
    """Half the least-squares slope of d against time: theta's drift (the theta = 0 line's slope, halved)."""
    t = np.flatnonzero(np.isfinite(d))
    if len(t) < 2:
        return 0.0
    return float(np.polyfit(t.astype(np.float64), d[t], 1)[0] / 2)


def levels(d: np.ndarray, alpha: float, start: float | None = None) -> np.ndarray:
    """Exponentially smoothed level after each step of d (T,), holding through missing values; it starts at
    `start` (a level carried from earlier rows) or at the first observation. NaN before any observation."""
    out = np.empty(len(d))
    level = np.nan if start is None or not np.isfinite(start) else float(start)
    for t, v in enumerate(d):
        if np.isfinite(v):
            level = v if np.isnan(level) else level + alpha * (v - level)
        out[t] = level
    return out


def _fill(z: np.ndarray) -> np.ndarray:
    idx = np.where(np.isfinite(z), np.arange(len(z)), 0)
    return z[np.maximum.accumulate(idx)]
