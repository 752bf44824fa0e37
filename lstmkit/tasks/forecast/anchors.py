"""Statistical base forecasts that the network corrects (`anchor` theta, ets, auto), fitted per series on the
scaled (and possibly log) target. Each has the same shape, from origin t, k steps ahead:

    base(t, k) = level_t + trend_t * D_k(phi) + season[pos(t + k)],     D_k(phi) = phi + phi^2 + ... + phi^k

- theta: level_t is simple exponential smoothing of the deseasonalised series, trend_t the constant drift (half
  its linear slope), phi = 1 (theta.py);
- damped (anchor ets): additive damped-trend exponential smoothing of the deseasonalised series (Gardner &
  McKenzie 1985; the M4 "Damped" benchmark), in error-correction form

      e_t = d_t - (l_{t-1} + phi b_{t-1}),   l_t = l_{t-1} + phi b_{t-1} + alpha e_t,   b_t = phi b_{t-1} + beta e_t

  with (alpha, beta, phi) chosen on a grid by AICc; no trend (simple exponential smoothing) and an undamped
  trend (Holt) are among the candidates;
- naive: the seasonal naive forecast (the network reads the value one season back).

`select` (anchor auto) picks one of naive, theta and damped for each series by its mean absolute error over
rolling origins inside the training part, each candidate refit on the data before each origin.
The season is the classical-decomposition index (theta.seasonal_indices), zero where the seasonality test fails.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from lstmkit.tasks.forecast import sf_anchors, theta

KINDS = ("naive", "theta", "damped")
_A = np.array([0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
_B = np.array([0.01, 0.03, 0.1, 0.2, 0.3])
_P = np.array([0.8, 0.9, 0.95, 0.98, 1.0])
SF_KINDS = ("autoets", "autoarima")  # statsforecast's models as anchors (sf_anchors.py)
FLAG_NAMES = {"naive": "season", "damped": "ets", "theta": "theta", "autoets": "autoets", "autoarima": "autoarima"}


def _grid() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(alpha, beta, phi, n_params) of every candidate: simple exponential smoothing, then damped/Holt trends."""
    a, b, p = np.meshgrid(_A, _B, _P, indexing="ij")
    keep = (b <= a).ravel()  # beta <= alpha keeps the trend update inside the admissible region
    alpha = np.r_[_A, a.ravel()[keep]]
    beta = np.r_[np.zeros(len(_A)), b.ravel()[keep]]
    phi = np.r_[np.ones(len(_A)), p.ravel()[keep]]
    k = np.r_[np.full(len(_A), 2), np.where(p.ravel()[keep] < 1, 5, 4)]  # l0 (+ b0) and the smoothing weights
    return alpha, beta, phi, k


GRID = _grid()


@dataclass(frozen=True)
class SmoothParams:
    """One series' anchor, in scaled units: its kind, the season (m,) by season position and the weights."""

    kind: str  # naive | theta | damped | autoets | autoarima
    season: tuple[float, ...]
    alpha: float = 1.0
    beta: float = 0.0
    phi: float = 1.0
    drift: float = 0.0  # theta's constant trend
    arima: dict[str, Any] | None = None  # autoarima: the state-space model (sf_anchors.arima_spec)
    start: tuple[float, float] | None = None  # autoets: its estimated (level, trend) before the first observation

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: dict[str, Any] | list[float]) -> SmoothParams:
        """A stored anchor; a list is a theta anchor as models before v0.3 saved it ([alpha, drift, *season])."""
        if isinstance(value, list):
            t = theta.ThetaParams.from_list(value)
            return cls("theta", t.season, t.alpha, 0.0, 1.0, t.drift)
        start = value.get("start")
        return cls(**{**value, "season": tuple(value["season"]), "start": None if start is None else tuple(start)})


def damped_fit(d: np.ndarray) -> tuple[float, float, float]:
    """(alpha, beta, phi) of the candidate with the least AICc over the one-step errors of d (NaN skipped)."""
    obs = d[np.isfinite(d)]
    if len(obs) < 4:
        return 1.0, 0.0, 1.0
    alpha, beta, phi, k = GRID
    level, trend = _start(obs, beta)
    sse = np.zeros(len(alpha))
    for v in obs[1:]:
        e = v - (level + phi * trend)  # (G,)
        sse += e * e
        level, trend = level + phi * trend + alpha * e, phi * trend + beta * e
    n = len(obs) - 1
    room = n - k - 1  # (G,) AICc's small-sample correction needs n > k + 1; otherwise the candidate is out
    aicc = (
        n * np.log(np.maximum(sse, 1e-12) / n)
        + 2 * k
        + np.where(room > 0, 2 * k * (k + 1) / np.maximum(room, 1), np.inf)
    )
    g = int(np.argmin(aicc))
    return float(alpha[g]), float(beta[g]), float(phi[g])


def _start(obs: np.ndarray, beta: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Initial level (the first value) and trend (the mean of the first differences; 0 without a trend)."""
    slope = float(np.mean(np.diff(obs[: min(len(obs), 5)]))) if len(obs) > 1 else 0.0
    beta = np.asarray(beta, dtype=np.float64)
    return np.full(beta.shape, obs[0]), np.where(beta > 0, slope, 0.0)


def fit_window(m: int) -> int:
    """How much recent history an anchor is fitted on: every point of a short series, the last 240 points (or
    five seasons) of a long one, so that fitting costs O(1) in the length (the states still run over all)."""
    return max(240, 5 * m)


def fit(y: np.ndarray, pos: np.ndarray, m: int, kind: str, horizon: int = 1) -> SmoothParams:
    """An anchor of `kind` fitted on a scaled series y (T,) (NaN where missing) with season positions pos (T,),
    on its last fit_window(m) points; autoarima's forecast paths are projected over `horizon` steps. A
    statsforecast kind on a series too short for it falls back to damped."""
    y, pos = y[-fit_window(m) :], pos[-fit_window(m) :]
    season = theta.seasonal_indices(y, pos, m)
    d = y - season[pos]  # (T,) deseasonalised
    if kind == "autoets" and (params := sf_anchors.ets_params(d)) is not None:
        a, b, p, l0, b0 = params
        return SmoothParams("autoets", tuple(map(float, season)), a, b, p, start=(l0, b0))
    if kind == "autoarima" and (spec := sf_anchors.arima_spec(d, horizon)) is not None:
        return SmoothParams("autoarima", tuple(map(float, season)), phi=spec["phi"], arima=spec)
    if kind in SF_KINDS:
        kind = "damped"
    if kind == "theta":
        return SmoothParams("theta", tuple(map(float, season)), theta.ses_alpha(d), drift=theta.half_slope(d))
    if kind == "damped":
        a, b, p = damped_fit(d)
        return SmoothParams("damped", tuple(map(float, season)), a, b, p)
    if kind == "naive":
        return SmoothParams("naive", tuple(0.0 for _ in range(max(m, 1))))
    raise ValueError(f"unknown anchor kind {kind!r}; expected one of {KINDS + SF_KINDS}")


def states(d: np.ndarray, p: SmoothParams, start: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(level_t, trend_t) after each step of the deseasonalised d (T,), continuing from `start` (carried from
    earlier rows) or from the first observation; through a missing value the forecast is carried on. NaN
    before any observation."""
    if p.kind == "naive":
        return np.zeros(len(d)), np.zeros(len(d))
    if p.kind == "theta":
        return theta.levels(d, p.alpha, None if start is None else start[0]), np.full(len(d), p.drift)
    if p.kind == "autoarima":
        if start is not None:
            raise ValueError("the autoarima anchor cannot continue from a carried level: its state is the ARIMA's")
        assert p.arima is not None, "an autoarima anchor carries its model"
        return sf_anchors.arima_states(d, p.arima)
    level, trend = (np.nan, 0.0) if start is None or not np.isfinite(start[0]) else start
    lv, tr = np.empty(len(d)), np.empty(len(d))
    obs = d[np.isfinite(d)]
    for t, v in enumerate(d):
        if np.isnan(level) and np.isfinite(v):
            if p.start is None:  # start at the first observation
                lv[t], tr[t] = level, trend = v, float(_start(obs, p.beta)[1])
                continue
            level, trend = p.start  # autoets: its estimated state before the first observation, updated by it
        if np.isfinite(level):
            e = v - (level + p.phi * trend) if np.isfinite(v) else 0.0
            level, trend = level + p.phi * trend + p.alpha * e, p.phi * trend + p.beta * e
        lv[t], tr[t] = level, trend
    return lv, tr


def damp_sum(phi: float, h: int) -> np.ndarray:
    """D_k(phi) for k = 1..h: (h,)."""
    return np.cumsum(phi ** np.arange(1, h + 1))


def anchor_forecast(y: np.ndarray, pos: np.ndarray, future_pos: np.ndarray, m: int, p: SmoothParams) -> np.ndarray:
    """The anchor's forecast (h,) after y (T,) for the steps with season positions future_pos (h,); the
    smoothing runs over the last fit_window(m) points (it forgets older ones geometrically anyway)."""
    h = len(future_pos)
    if p.kind == "naive":
        return _seasonal_naive(y, h, m)
    y, pos = y[-fit_window(m) :], pos[-fit_window(m) :]
    season = np.asarray(p.season)
    lv, tr = states(y - season[pos], p)
    return lv[-1] + tr[-1] * damp_sum(p.phi, h) + season[future_pos]


def _seasonal_naive(y: np.ndarray, h: int, m: int) -> np.ndarray:
    obs = np.flatnonzero(np.isfinite(y))
    last = y[obs[-1]] if len(obs) else 0.0
    if m <= 1 or len(y) < m:
        return np.full(h, last)
    out = y[-m:][np.arange(h) % m]
    return np.where(np.isfinite(out), out, last)


def _origins(n: int, m: int, h: int, windows: int) -> list[int]:
    """Up to `windows` rolling origins one horizon apart, the last a horizon before the end, each leaving at
    least two seasons (and 8 points) to fit on."""
    return [n - h * w for w in range(1, windows + 1) if n - h * w >= max(2 * m, 8)]


def rolling_errors(
    y: np.ndarray, pos: np.ndarray, m: int, h: int, windows: int = 3, log: bool = False
) -> dict[str, float]:
    """Each kind's mean absolute error over the rolling origins, each refit on the data before its origin;
    `log`: fitted on log(y) (positive y), forecasts mapped back, errors in y's units. {} when too short."""
    origins = _origins(len(y), m, h, windows)
    if not origins:
        return {}
    z = np.log(y) if log else y
    back = np.exp if log else (lambda v: v)
    err = {}
    for kind in KINDS:
        e = [
            np.abs(
                back(anchor_forecast(z[:o], pos[:o], pos[o : o + h], m, fit(z[:o], pos[:o], m, kind))) - y[o : o + h]
            )
            for o in origins
        ]
        err[kind] = float(np.nanmean(np.concatenate(e)))
    return err


def select(y: np.ndarray, pos: np.ndarray, m: int, h: int, windows: int = 3) -> SmoothParams:
    """anchor auto: the kind with the least mean absolute error over up to `windows` rolling origins (one
    horizon apart, the last one a horizon before the end), each refit on the data before its origin; then
    that kind fitted on all of y. Too short for one window: theta."""
    err = rolling_errors(y, pos, m, h, windows)
    if not err:
        return fit(y, pos, m, "theta")
    best = min(KINDS, key=lambda k: (err[k], KINDS.index(k)))
    return fit(y, pos, m, best)


def log_gain(y: np.ndarray, pos: np.ndarray, m: int, h: int) -> float | None:
    """log(best error with log(y) / best error with y) of the anchors over rolling origins: below 0 where the
    log scale forecasts the series better (multiplicative trend or season). None: y not all positive, or too
    short to tell."""
    obs = y[np.isfinite(y)]
    if not len(obs) or obs.min() <= 0:
        return None
    raw, logged = rolling_errors(y, pos, m, h), rolling_errors(y, pos, m, h, log=True)
    if not raw or min(raw.values()) <= 0:
        return None
    return float(np.log(max(min(logged.values()), 1e-12) / min(raw.values())))
