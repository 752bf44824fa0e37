"""Inference primitives: decode a forecast from an encoder state, directly or recursively (no training stack).

Notation as in model.py: B windows, W encoder steps, H horizon, F encoder features, K known features,
Q quantile levels, D hidden size; state (h, c) is (L, B, D).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from lstmkit.tasks.forecast.config import ForecastConfig
from lstmkit.tasks.forecast.features import FeatureLayout
from lstmkit.tasks.forecast.model import ForecastNet, State
from lstmkit.tasks.forecast.outputs import to_quantiles
from lstmkit.tasks.forecast.windows import Batch


def forecast_batch(
    model: ForecastNet, cfg: ForecastConfig, batch: Batch, layout: FeatureLayout, hx: State | None = None
) -> Tensor:
    """Quantile forecasts (B, H, Q), scaled, from the last encoder step of each window in `batch`."""
    s = model.static(batch["ids"], batch["cats"], batch["nums"])  # (B, S)
    out, hx = model.encode(batch["x"], s, hx)  # (B, W, D)
    return decode_from(
        model, cfg, out[:, -1:], hx, s, batch["x"][:, -1], batch["known"][:, -1], batch["lags"][:, -1], layout
    )


def decode_from(
    model: ForecastNet,
    cfg: ForecastConfig,
    last: Tensor,
    hx: State,
    s: Tensor,
    last_x: Tensor,
    known: Tensor,
    lags: Tensor,
    layout: FeatureLayout,
) -> Tensor:
    """From the top-layer output of the last step (B, 1, D), its state, its input row (B, F), the
    known-future features (B, H, K) and seasonal lags (B, H, E) of the horizon: quantiles (B, H, Q)."""
    if cfg.decoding == "direct":
        return to_quantiles(cfg, model.decode(last, known[:, None], s, last_x[:, None], lags[:, None])[:, 0])
    median = cfg.levels.index(0.5)
    past = last_x[:, layout.past]  # (B, Cp): past covariates are carried forward from the origin
    steps = []
    for k in range(known.shape[1]):
        out = model.decode(last, known[:, None, k : k + 1], s, last_x[:, None], lags[:, None, k : k + 1])
        q = to_quantiles(cfg, out[:, 0, 0])  # (B, Q)
        steps.append(q)
        if k + 1 < known.shape[1]:
            ones = torch.ones_like(q[:, :1])
            x_next = torch.cat([q[:, median : median + 1], ones, past, known[:, k]], dim=-1)  # (B, F)
            last, hx = model.encode(x_next[:, None], s, hx)  # (B, 1, D)
            last_x = x_next
    return torch.stack(steps, dim=1)  # (B, H, Q)


def conformal_deltas(cfg: ForecastConfig, q: np.ndarray, y: np.ndarray) -> list[list[float]]:
    """Split-conformal widening (CQR) for each symmetric interval (lo, hi) of the quantile levels, from
    scaled forecasts q (N, H, Q) and actuals y (N, H) that the model did not train on."""
    levels = list(cfg.levels)
    out = []
    for lo in [lv for lv in levels if lv < 0.5]:
        hi = round(1 - lo, 10)
        if hi not in levels:
            continue
        i, j = levels.index(lo), levels.index(hi)
        valid = np.isfinite(y)
        scores = np.maximum(q[..., i] - y, y - q[..., j])[valid]  # (M,)
        if len(scores) == 0:
            continue
        level = min(1.0, np.ceil((len(scores) + 1) * (hi - lo)) / len(scores))
        out.append([lo, hi, float(np.quantile(scores, level))])
    return out
