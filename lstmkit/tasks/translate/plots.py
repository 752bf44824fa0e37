"""The attention alignment of one translation as a heat map: source pieces across, target pieces down."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_alignment(weights: np.ndarray, src: list[str], tgt: list[str], out: str | Path) -> Path:
    """weights (T, S): row t is where target piece t looked; written as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    T, S = weights.shape
    fig, ax = plt.subplots(figsize=(max(4.0, 0.45 * S + 2), max(3.0, 0.4 * T + 1.5)))
    im = ax.imshow(weights[:, : len(src)], cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(src)), [p.replace(" ", "·") for p in src], rotation=60, ha="right", fontsize=9)
    ax.set_yticks(range(T), [p.replace(" ", "·") for p in tgt[:T]], fontsize=9)
    ax.set_xlabel("source")
    ax.set_ylabel("translation")
    ax.set_title("attention: where each output piece looked")
    fig.colorbar(im, ax=ax, fraction=0.04)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
