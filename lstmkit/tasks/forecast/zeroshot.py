"""The pretrained forecaster: one network, trained once on many series (benchmarks/pretrain_forecaster.py), that
forecasts series it has never seen with no training (`lstmkit forecast predict --model pretrained`).

TiRex's recipe on lstmkit's cells: the last C values of a series, standardised by their own mean and spread
(missing values masked), cut into patches of P steps; a patch embedding; a recurrent network over the patches
(any lstmkit cell); from its last output, a head that forecasts Hm steps ahead at once as Q quantiles that
never cross (the median, then positive steps outwards). Any frequency: the model reads its seasons from the
context, not from a calendar. With `anchor = "theta"` the head also reads the theta method's forecast fitted on
the context (zeroshot_anchor.py) and its quantiles are offsets from that path.

Notation: B series, C context steps, P patch length, N = C / P patches, D hidden size, Hm the longest
horizon, Q quantile levels. The recurrent state is internal to one forward (a context is read whole).

This module is torch-free (the config and the context preparation, which the ONNX runtime shares); the network
is patchnet.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lstmkit.config import ConfigError, option

ANCHORS = ("none", "theta")
LEVELS = (0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.975)


@dataclass(frozen=True)
class ZeroShotConfig:
    """The pretrained forecaster's architecture (saved with its weights)."""

    context: int = option(512, "the most recent steps the model reads (a multiple of the patch length)")
    patch: int = option(16, "steps per patch (one recurrent step reads one patch)")
    horizon: int = option(64, "the longest horizon it forecasts directly")
    hidden_size: int = option(256, "recurrent hidden units")
    num_layers: int = option(2, "stacked recurrent layers")
    cell: str = option("lstm", "the recurrent cell (any of lstmkit.nn's)")
    levels: tuple[float, ...] = option(LEVELS, "quantile levels forecast (0.5 included)")
    anchor: str = option(
        "none", "a statistical path the network corrects: none, or theta (fitted on the context: zeroshot_anchor.py)"
    )
    correction: float = option(
        1.0,
        "an anchored model's forecasts move this share of the way from the anchor path to the network's median "
        "(the interval's shape kept): 1 the network's own, 0 the path's level",
    )
    spread: tuple[float, ...] = option(
        (),
        "per level, a factor on the distance of that quantile from the median (empty: 1 for every level); "
        "fine-tuning sets it so that its intervals are never narrower on average than the pretrained model's",
    )

    def __post_init__(self) -> None:
        if self.context % self.patch:
            raise ConfigError(f"context {self.context} must be a multiple of patch {self.patch}")
        if 0.5 not in self.levels or list(self.levels) != sorted(self.levels):
            raise ConfigError(f"levels must be increasing and include 0.5, got {self.levels}")
        if self.anchor not in ANCHORS:
            raise ConfigError(f"anchor must be one of {ANCHORS}, got {self.anchor!r}")
        if not 0.0 <= self.correction <= 1.0:
            raise ConfigError(f"correction must be in [0, 1], got {self.correction}")
        if self.spread and (len(self.spread) != len(self.levels) or min(self.spread) <= 0):
            raise ConfigError(f"spread must give one positive factor per level ({len(self.levels)}), got {self.spread}")


def shrink(cfg: ZeroShotConfig, q: np.ndarray, base: np.ndarray | None) -> np.ndarray:
    """Scaled quantiles q (B, Hm, Q) moved so that their median lies `cfg.correction` of the way from the
    anchor path base (B, Hm) to the network's median; every level moves with it (the interval keeps its shape,
    the levels never cross). No anchor, or correction 1: q as it is."""
    if base is None or cfg.correction == 1.0:
        return q
    mid = q[..., list(cfg.levels).index(0.5)]  # (B, Hm)
    return q - ((1.0 - cfg.correction) * (mid - base[:, : q.shape[1]]))[..., None]


def widen(cfg: ZeroShotConfig, q: np.ndarray) -> np.ndarray:
    """Quantiles q (B, H, Q) with each level's distance from the median multiplied by `cfg.spread` (as they
    are without one), then sorted along Q so that the levels never cross (the rearrangement of Chernozhukov
    et al. 2010: it can only bring every level closer to its target)."""
    if not cfg.spread:
        return q
    mid = q[..., list(cfg.levels).index(0.5)][..., None]  # (B, H, 1)
    return np.sort(mid + np.asarray(cfg.spread) * (q - mid), axis=-1)


def anchor_paths(cfg: ZeroShotConfig, x: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """The statistical path (B, Hm) the network corrects for standardised contexts x, mask (B, C); None when
    the model has no anchor."""
    if cfg.anchor == "none":
        return None
    from lstmkit.tasks.forecast.zeroshot_anchor import theta_paths

    return theta_paths(x, mask, cfg.horizon)


def standardise(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Contexts y (B, C) with NaN where missing -> scaled values (0 where missing), mask, loc (B,), scale (B,):
    each row by its own observed mean and standard deviation (a constant row: its absolute level, or 1)."""
    obs = np.isfinite(y)
    count = np.maximum(obs.sum(1), 1)
    loc = np.where(obs, y, 0.0).sum(1) / count  # (B,)
    spread = np.sqrt(np.where(obs, (y - loc[:, None]) ** 2, 0.0).sum(1) / count)
    flat = spread <= 1e-8 * np.maximum(np.abs(loc), 1.0)
    scale = np.where(flat, np.where(np.abs(loc) > 0, np.abs(loc), 1.0), spread)
    x = np.where(obs, (y - loc[:, None]) / scale[:, None], 0.0)
    return x.astype(np.float32), obs.astype(np.float32), loc, scale


def contexts(series: list[np.ndarray], C: int) -> np.ndarray:
    """The last C values of each series, left-padded with NaN: (B, C)."""
    out = np.full((len(series), C), np.nan)
    for i, y in enumerate(series):
        tail = np.asarray(y, dtype=np.float64)[-C:]
        out[i, C - len(tail) :] = tail
    return out
