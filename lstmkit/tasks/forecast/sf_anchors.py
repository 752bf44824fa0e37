"""statsforecast's AutoETS and AutoARIMA as anchors the network corrects (`--anchor autoets|autoarima`), fitted
like lstmkit's own anchors on the deseasonalised, scaled fit window of each series (anchors.py).

- autoets: AutoETS with additive errors chooses no trend, a trend or a damped trend and estimates
  (alpha, beta, phi) by maximum likelihood; the same error-correction recursion as anchor ets then runs the
  states, so everything downstream (features, streaming, intervals) is shared.
- autoarima: AutoARIMA chooses the order (p, d, q) (with a constant or a drift) by AICc. Its state-space form
  (statsforecast's make_arima: transition T, observation Z, state noise V, prior Pn) is kept; a Kalman filter
  over the series gives the filtered state a_t after every step, hence the forecast path from every origin,

      F[t, k] = Z T^k a_t + intercept + drift (t + k),   k = 1..h,   t = 1..N,

  which is projected onto the anchors' common form level_t + trend_t D_k(phi) by least squares, phi chosen per
  series from a grid (an AR(1) decay is that form exactly; a random walk with drift too).

Notation: N steps, r state size, h the projection horizon, G phi candidates.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

PHIS = np.array([0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 1.0])  # the projection's damping candidates


def available() -> bool:
    """Whether statsforecast is installed (the `baselines` extra)."""
    return importlib.util.find_spec("statsforecast") is not None


def _filled(d: np.ndarray) -> np.ndarray:
    """The observed stretch of d with gaps carried forward (statsforecast's fits take no NaN)."""
    obs = np.flatnonzero(np.isfinite(d))
    d = d[obs[0] :] if len(obs) else d[:0]
    idx = np.maximum.accumulate(np.where(np.isfinite(d), np.arange(len(d)), 0)) if len(d) else np.zeros(0, int)
    return d[idx].astype(np.float64)


def ets_params(d: np.ndarray) -> tuple[float, float, float, float, float] | None:
    """(alpha, beta, phi, l0, b0) of AutoETS with additive errors on the deseasonalised d (T,): the weights and
    the initial level and trend it estimated (with weights near 0 the forecast is mostly those); None when too
    short."""
    z = _filled(d)
    if len(z) < 8 or np.ptp(z) < 1e-12:
        return None
    from statsforecast.models import AutoETS

    model = AutoETS(model="AZN").fit(z).model_
    alpha, beta, phi = (float(v) for v in model["par"][[0, 1, 3]])  # alpha, beta, gamma, phi, ...
    start = model["states"][0]  # (l0[, b0]): the state before the first observation
    b0 = float(start[1]) if len(start) > 1 else 0.0
    return alpha, 0.0 if np.isnan(beta) else beta, 1.0 if np.isnan(phi) else phi, float(start[0]), b0


def arima_spec(d: np.ndarray, horizon: int) -> dict[str, Any] | None:
    """AutoARIMA fitted on the deseasonalised d (T,): its state-space matrices, mean terms and the projection's
    phi and horizon, as JSON; None when too short."""
    z = _filled(d)
    if len(z) < 8 or np.ptp(z) < 1e-12:
        return None
    from statsforecast.arima import make_arima
    from statsforecast.models import AutoARIMA

    fitted = AutoARIMA().fit(z).model_
    mod, coef = fitted["model"], fitted["coef"]
    prior = make_arima(mod["phi"], mod["theta"], mod["delta"])  # the filter wrote its last covariance into mod
    spec = {
        "T": np.asarray(prior["T"]).tolist(),
        "Z": np.asarray(prior["Z"]).tolist(),
        "V": np.asarray(prior["V"]).tolist(),
        "Pn": np.asarray(prior["Pn"]).tolist(),
        "intercept": float(coef.get("intercept", 0.0)),
        "drift": float(coef.get("drift", 0.0)),
        "h": max(int(horizon), 2),
        "order": [int(fitted["arma"][i]) for i in (0, 5, 1)],
    }
    paths = forecast_paths(d, spec)
    spec["phi"] = _best_phi(paths[np.all(np.isfinite(paths), axis=1)])
    return spec


def filtered_states(z: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """Kalman filter of the mean-removed series z (N,) (NaN: missing, no update): the states a_t (N, r),
    each after step t's observation (statsforecast's arima_like recursion)."""
    T, Z, V = (np.asarray(spec[k]) for k in ("T", "Z", "V"))
    a, P = np.zeros(len(Z)), np.asarray(spec["Pn"], dtype=np.float64).copy()
    out = np.empty((len(z), len(Z)))
    for t, v in enumerate(z):
        if t > 0:
            a, P = T @ a, T @ P @ T.T + V
        if np.isfinite(v):
            pz = P @ Z
            f = float(Z @ pz)
            if f > 1e-12:
                gain = pz / f  # (r,)
                a = a + gain * (v - Z @ a)
                P = P - np.outer(gain, pz)
        out[t] = a
    return out


def forecast_paths(d: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """(N, h) ARIMA forecasts from every origin t of d (N,), steps t+1..t+h; NaN before the first observation."""
    T, Z = np.asarray(spec["T"]), np.asarray(spec["Z"])
    h = spec["h"]
    t = np.arange(1, len(d) + 1, dtype=np.float64)  # statsforecast's drift regressor counts from 1
    mean = spec["intercept"] + spec["drift"] * t
    states = filtered_states(d - mean, spec)  # (N, r)
    powers, rows = np.eye(len(Z)), []
    for _ in range(h):
        powers = T @ powers
        rows.append(Z @ powers)
    paths = states @ np.asarray(rows).T  # (N, h): Z T^k a_t
    paths += spec["intercept"] + spec["drift"] * (t[:, None] + np.arange(1, h + 1))
    seen = np.maximum.accumulate(np.isfinite(d))
    return np.where(seen[:, None], paths, np.nan)


def _basis(phi: float, h: int) -> np.ndarray:
    """(h, 2) columns 1 and D_k(phi)."""
    return np.stack([np.ones(h), np.cumsum(phi ** np.arange(1, h + 1))], axis=1)


def _best_phi(paths: np.ndarray) -> float:
    """The damping whose (level, trend) least-squares fit leaves the least residual over the paths (N, h)."""
    if not len(paths):
        return 1.0
    errs = []
    for phi in PHIS:
        b = _basis(phi, paths.shape[1])
        coef = np.linalg.lstsq(b, paths.T, rcond=None)[0]  # (2, N)
        errs.append(float(np.sum((paths.T - b @ coef) ** 2)))
    return float(PHIS[int(np.argmin(errs))])


def arima_states(d: np.ndarray, spec: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(level_t, trend_t) (N,), (N,): each origin's forecast path projected onto level + trend D_k(phi)."""
    paths = forecast_paths(d, spec)  # (N, h)
    b = _basis(spec["phi"], spec["h"])  # (h, 2)
    coef = np.linalg.pinv(b) @ np.nan_to_num(paths).T  # (2, N)
    finite = np.isfinite(paths[:, 0])
    return np.where(finite, coef[0], np.nan), np.where(finite, coef[1], np.nan)
