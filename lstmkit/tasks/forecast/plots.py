"""Forecast pictures (PNG): history + forecast + interval + actuals per series, and error by horizon step."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from lstmkit.data.timeseries import Series


def plot_forecasts(
    history: list[Series], forecasts: pd.DataFrame, path: str | Path, tail: int | None = None, max_series: int = 12
) -> Path:
    """A grid with one panel per series (the first `max_series`): the last `tail` steps of history, the
    median forecast, the widest quantile interval, and the actuals when `forecasts` has a `y` column."""
    from matplotlib.figure import Figure

    shown = history[:max_series]
    cols = min(3, len(shown))
    rows = math.ceil(len(shown) / cols)
    fig = Figure(figsize=(5.5 * cols, 3.2 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    qcols = sorted(c for c in forecasts.columns if c.startswith("y_hat_q"))
    by_id = dict(tuple(forecasts.groupby("unique_id", sort=False)))
    for ax, s in zip(axes.flat, shown):
        f = by_id.get(s.uid)
        n = tail or (4 * len(f) if f is not None else 100)
        ax.plot(s.ds[-n:], s.y[-n:], color="0.3", lw=1, label="history")
        if f is not None:
            ax.plot(f["ds"], f["y_hat"], color="C0", lw=1.5, label="forecast (median)")
            if len(qcols) >= 2:
                lo, hi = _widest(qcols)
                ax.fill_between(f["ds"], f[lo], f[hi], color="C0", alpha=0.25, label=f"{lo[7:]}-{hi[7:]} % interval")
            if "y" in f:
                ax.plot(f["ds"], f["y"], "k.", ms=4, label="actual")
            for name, color in (("seasonal_naive", "C3"),):
                if name in f:
                    ax.plot(f["ds"], f[name], color=color, lw=1, ls="--", label=name.replace("_", " "))
        ax.set_title(str(s.uid), fontsize=10)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(shown) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    return path


def _widest(qcols: list[str]) -> tuple[str, str]:
    levels = sorted(qcols, key=lambda c: float(c[7:]))
    return levels[0], levels[-1]


def plot_error_by_horizon(by_horizon: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """MAE per horizon step, one line per method."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    for i, name in enumerate(by_horizon.columns):
        ax.plot(by_horizon.index, by_horizon[name], marker="o", ms=3, lw=2 if i == 0 else 1, label=name)
    ax.set_xlabel("steps ahead")
    ax.set_ylabel("MAE")
    ax.set_title(title or "backtest error by horizon step")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    return path
