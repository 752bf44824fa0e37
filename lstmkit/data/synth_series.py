"""Synthetic time series for pretraining a forecaster: Gaussian-process kernel compositions (KernelSynth, Ansari
et al. 2024, Chronos) plus the structure real series have and a GP draw lacks (level shifts, changepoints in
the trend, intermittent demand, outliers, multiplicative growth).

    series = synth_series(n=1000, length=512, seed=0)          # (n, length) float64, no NaN

KernelSynth: draw j ~ U{1..5} kernels from a bank (constant, white noise, linear, RBF, rational quadratic,
periodic with the periods real data has: hourly 24/168, daily 7/30/365, weekly 52, monthly 12, quarterly 4,
in steps), combine them with random + and *, and sample y ~ GP(0, K) at t = 0..T-1 (Cholesky of K + jitter).
Each series is then optionally transformed (`AUGMENTATIONS`, each with its probability). Reproducible from
the seed; one series costs one T x T Cholesky (about 10 ms at T = 512).

Notation: T the length, t the time index scaled to [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

PERIODS = (4, 6, 7, 12, 14, 24, 30, 48, 52, 60, 96, 168, 365)  # in steps: the seasons real data has
Kernel = Callable[[np.ndarray], np.ndarray]  # t (T,) in [0, 1] -> K (T, T)


def _dist(t: np.ndarray) -> np.ndarray:
    return t[:, None] - t[None, :]


def kernel_bank(rng: np.random.Generator, T: int) -> dict[str, Kernel]:
    """The kernel bank with its hyperparameters drawn (the periodic kernel's period: `PERIODS` below T / 2, in
    steps): each entry maps t (T,) in [0, 1] to a (T, T) covariance."""
    length = rng.choice([0.02, 0.05, 0.1, 0.3, 1.0])
    alpha = rng.choice([0.1, 1.0, 10.0])
    period = rng.choice([p for p in PERIODS if p < T / 2] or [T / 4]) / T  # a season, as a share of T
    offset = rng.uniform(-1, 1)
    level, noise = rng.uniform(0.1, 1.0), rng.choice([0.01, 0.1, 1.0])
    return {
        "constant": lambda t: np.full((len(t), len(t)), level),  # a level
        "white": lambda t: np.eye(len(t)) * noise,  # noise
        "linear": lambda t: (t[:, None] - offset) * (t[None, :] - offset),  # a trend
        "rbf": lambda t: np.exp(-0.5 * _dist(t) ** 2 / length**2),  # smooth wandering
        "rq": lambda t: (1 + _dist(t) ** 2 / (2 * alpha * length**2)) ** -alpha,  # rational quadratic
        "periodic": lambda t: np.exp(-2 * np.sin(np.pi * np.abs(_dist(t)) / period) ** 2 / 0.5**2),  # a season
    }


def kernel_synth(T: int, rng: np.random.Generator, max_kernels: int = 5) -> np.ndarray:
    """One KernelSynth draw (T,): a random composition of 1..max_kernels bank kernels, sampled as a GP."""
    t = np.linspace(0, 1, T)
    bank = list(kernel_bank(rng, T).values())
    K = bank[rng.integers(len(bank))](t)
    for _ in range(rng.integers(1, max_kernels)):
        other = bank[rng.integers(len(bank))](t)
        K = K + other if rng.random() < 0.5 else K * other
    return gp_draw(K, rng)


def gp_draw(K: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One sample (T,) of a zero-mean Gaussian with covariance K (T, T): Cholesky with a little jitter, or the
    eigen-decomposition's square root where K is numerically indefinite."""
    T = len(K)
    K = K + 1e-6 * np.eye(T) * max(1.0, float(np.abs(np.diag(K)).mean()))
    try:
        root = np.linalg.cholesky(K)
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh(K)
        root = v * np.sqrt(np.clip(w, 0, None))
    return root @ rng.standard_normal(T)


def level_shifts(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """1-3 permanent jumps of a few standard deviations at random times."""
    out, sd = y.copy(), max(float(y.std()), 1e-3)
    for at in rng.integers(len(y) // 10, len(y), rng.integers(1, 4)):
        out[at:] += rng.normal(0, 2) * sd
    return out


def trend_changes(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A piecewise-linear trend whose slope changes at 1-3 random times, added."""
    T, sd = len(y), max(float(y.std()), 1e-3)
    slope = np.zeros(T)
    for at in np.sort(rng.integers(0, T, rng.integers(1, 4))):
        slope[at:] = rng.normal(0, 3 * sd / T)
    return y + np.cumsum(slope)


def intermittent(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Intermittent demand: non-negative counts, zero on most steps (Croston's kind of series)."""
    rate = np.exp((y - y.mean()) / max(float(y.std()), 1e-3))  # (T,) positive, follows the draw
    demand = rng.poisson(rate * rng.uniform(0.5, 5))
    return demand * (rng.random(len(y)) < rng.uniform(0.1, 0.6))


def outliers(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A few isolated spikes (1 % of the steps) of several standard deviations."""
    out, sd = y.copy(), max(float(y.std()), 1e-3)
    at = rng.random(len(y)) < 0.01
    out[at] += rng.normal(0, 5, at.sum()) * sd
    return out


def multiplicative(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """exp of the scaled draw: growth and a season whose amplitude grows with the level (positive series)."""
    return np.exp((y - y.mean()) / max(float(y.std()), 1e-3) * rng.uniform(0.1, 0.5))


AUGMENTATIONS: tuple[tuple[Callable[[np.ndarray, np.random.Generator], np.ndarray], float], ...] = (
    (trend_changes, 0.2),
    (level_shifts, 0.1),
    (multiplicative, 0.15),
    (outliers, 0.05),
    (intermittent, 0.05),
)


def synth_series(n: int, length: int, seed: int, augment: bool = True) -> np.ndarray:
    """n synthetic series (n, length): KernelSynth draws, each transformed by every augmentation with its
    probability (augment=False: the plain GP draws), then shifted and scaled to a random level (so scale
    invariance is learnt, not assumed)."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, length))
    for i in range(n):
        y = kernel_synth(length, rng)
        used = [fn for fn, p in AUGMENTATIONS if augment and rng.random() < p]
        for fn in used:
            y = fn(y, rng)
        shift = 0.0 if intermittent in used or multiplicative in used else rng.normal(0, 100) * (rng.random() < 0.5)
        out[i] = y * 10 ** rng.uniform(-1, 3) + shift  # counts and positive series stay non-negative
    return out
