"""Prediction intervals calibrated on many rolling origins inside each series (`intervals="rolling"`, the
default): the series' statistical anchor is refit before each of up to `origins` forecast origins in its history
(one step apart, the latest one a horizon before the end), and its absolute errors at each horizon step give the
interval half-widths by the split-conformal quantile (Vovk et al.; statsforecast's ConformalIntervals does the
same with its own models). The widths are in the model's scaled (and log) units, centred on lstmkit's median,
and never shrink with the horizon. One validation window (H points) is too few to calibrate on; this uses every
origin a short series offers.

Notation: H horizon, J origins, Q quantile levels.
"""

from __future__ import annotations

import numpy as np

from lstmkit.tasks.forecast import anchors

MIN_FIT = 6  # the fewest observations an anchor is refit on
MIN_ERRORS = 3  # a horizon step with fewer errors takes its width from the steps before it (square-root growth)


def rolling_errors(
    y: np.ndarray, pos: np.ndarray, m: int, h: int, anchor: anchors.SmoothParams, origins: int = 24
) -> np.ndarray:
    """(J, H) absolute errors of the series' anchor refit (its kind) before each of the last `origins` origins
    (NaN where the step lies beyond the end or the actual is missing): a short series contributes every origin
    it has, with the near steps better covered than the far ones. An autoarima anchor keeps its fitted model
    and filters up to each origin (24 order searches per series would cost seconds each)."""
    n = len(y)
    starts = list(range(n - 1, MIN_FIT - 1, -1))[:origins]
    out = np.full((len(starts), h), np.nan)
    for j, o in enumerate(starts):
        p = anchor if anchor.kind == "autoarima" else anchors.fit(y[:o], pos[:o], m, anchor.kind)
        k = min(h, n - o)
        fc = anchors.anchor_forecast(
            y[:o], pos[:o], pos[o : o + h] if len(pos) >= o + h else _extend(pos, o, h, m), m, p
        )
        out[j, :k] = np.abs(fc[:k] - y[o : o + k])
    return out


def _extend(pos: np.ndarray, o: int, h: int, m: int) -> np.ndarray:
    """Season positions of the h steps from origin o, continued past the end of pos."""
    last = pos[o - 1]
    return (last + np.arange(1, h + 1)) % max(m, 1)


def widths(errors: np.ndarray, levels: tuple[float, ...]) -> dict[str, list[float]]:
    """Half-widths (H,) per symmetric interval (lo, hi) of the levels, keyed "lo,hi": the conformal quantile
    ceil((J + 1) c) / J of the errors at each step (the largest error when J is too small for c); a step with
    fewer than MIN_ERRORS errors grows from the last well-covered one as sqrt(k); non-decreasing over the
    horizon. Empty when not even the first step has MIN_ERRORS errors."""
    counts = np.isfinite(errors).sum(0)  # (H,)
    good = np.flatnonzero(counts >= MIN_ERRORS)
    if not len(good) or good[0] != 0:
        return {}
    last = int(good[np.flatnonzero(np.diff(np.r_[good, -1]) != 1)[0]])  # the end of the first run of good steps
    out = {}
    for lo in [lv for lv in levels if lv < 0.5]:
        hi = round(1 - lo, 10)
        if hi not in levels:
            continue
        w = []
        for k, e in enumerate(errors.T):  # (J,) per horizon step
            if k > last:
                w.append(w[last] * np.sqrt((k + 1) / (last + 1)))
                continue
            e = e[np.isfinite(e)]
            q = min(1.0, np.ceil((len(e) + 1) * (hi - lo)) / len(e))
            w.append(float(np.quantile(e, q)))
        out[f"{lo:g},{hi:g}"] = [float(v) for v in np.maximum.accumulate(np.asarray(w))]
    return out


def apply(q: np.ndarray, levels: tuple[float, ...], w: dict[str, list[float]]) -> np.ndarray:
    """Scaled quantiles q (H, Q) -> each calibrated interval rebuilt around the median."""
    out = q.copy()
    mid = q[:, levels.index(0.5)]
    for key, half in w.items():
        lo, hi = (float(v) for v in key.split(","))
        half_a = np.asarray(half)[: len(mid)]
        out[:, levels.index(lo)] = mid - half_a
        out[:, levels.index(hi)] = mid + half_a
    return out
