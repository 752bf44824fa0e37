"""Classification scores from labels and probabilities (numpy only), and their pictures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def confusion(y: np.ndarray, pred: np.ndarray, n: int) -> np.ndarray:
    """(C, C): rows are the true class, columns the predicted one."""
    m = np.zeros((n, n), dtype=int)
    np.add.at(m, (y, pred), 1)
    return m


def scores(y: np.ndarray, probs: np.ndarray, classes: list[str], bins: int = 10) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1, the confusion matrix and the expected calibration
    error (ECE: |accuracy - confidence| averaged over equal-width confidence bins, weighted by their size)."""
    pred = probs.argmax(1)
    m = confusion(y, pred, len(classes))
    tp = np.diag(m).astype(float)
    precision = np.divide(tp, m.sum(0), out=np.zeros_like(tp), where=m.sum(0) > 0)
    recall = np.divide(tp, m.sum(1), out=np.zeros_like(tp), where=m.sum(1) > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=precision + recall > 0)
    conf = probs.max(1)
    edges = np.minimum((conf * bins).astype(int), bins - 1)
    ece = sum(
        abs((pred[edges == b] == y[edges == b]).mean() - conf[edges == b].mean()) * (edges == b).mean()
        for b in range(bins)
        if (edges == b).any()
    )
    per_class = {
        c: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for c, p, r, f, s in zip(classes, precision, recall, f1, m.sum(1))
    }
    return {
        "accuracy": float((pred == y).mean()),
        "macro_f1": float(f1.mean()),
        "ece": float(ece),
        "per_class": per_class,
        "confusion": m.tolist(),
        "n": len(y),
    }


def multi_label_scores(
    y: np.ndarray, probs: np.ndarray, classes: list[str], threshold: float = 0.5, bins: int = 10
) -> dict[str, Any]:
    """Multi-label (y, probs: (N, C)): exact-match accuracy, micro- and macro-F1, Hamming loss, per class, each
    class's 2x2 confusion [[tn, fp], [fn, tp]], and the ECE of the per-class probabilities."""
    hit, y = probs >= threshold, y.astype(bool)
    tp, fp, fn = (hit & y).sum(0), (hit & ~y).sum(0), (~hit & y).sum(0)
    precision = np.divide(tp, tp + fp, out=np.zeros(len(classes)), where=tp + fp > 0)
    recall = np.divide(tp, tp + fn, out=np.zeros(len(classes)), where=tp + fn > 0)
    f1 = np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros(len(classes)), where=2 * tp + fp + fn > 0)
    p, truth = probs.ravel(), y.ravel()
    conf, right = np.maximum(p, 1 - p), (p >= threshold) == truth
    edges = np.minimum(((conf - 0.5) * 2 * bins).astype(int), bins - 1)  # confidence of a binary call: [0.5, 1]
    ece = sum(
        abs(right[edges == b].mean() - conf[edges == b].mean()) * (edges == b).mean()
        for b in range(bins)
        if (edges == b).any()
    )
    per_class = {
        c: {"precision": float(a), "recall": float(r), "f1": float(f), "support": int(s)}
        for c, a, r, f, s in zip(classes, precision, recall, f1, y.sum(0))
    }
    tn = (~hit & ~y).sum(0)
    return {
        "accuracy": float((hit == y).all(1).mean()),
        "macro_f1": float(f1.mean()),
        "micro_f1": float(2 * tp.sum() / max(1, 2 * tp.sum() + fp.sum() + fn.sum())),
        "hamming_loss": float((hit != y).mean()),
        "ece": float(ece),
        "per_class": per_class,
        "confusion": [[[int(tn[k]), int(fp[k])], [int(fn[k]), int(tp[k])]] for k in range(len(classes))],
        "n": len(y),
        "multi_label": True,
    }


def plot_confusion(m: np.ndarray, classes: list[str], png: str | Path, title: str = "") -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    m = np.asarray(m)
    size = 1.2 + 0.45 * len(classes)
    fig = Figure(figsize=(size + 1.5, size))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    share = m / np.maximum(m.sum(1, keepdims=True), 1)
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, str(m[i, j]), ha="center", va="center", color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "confusion matrix (colour: share of the true class)")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    return Path(png)


def plot_reliability(y: np.ndarray, probs: np.ndarray, png: str | Path, bins: int = 10) -> Path:
    """Accuracy against confidence per bin; the diagonal is perfect calibration."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if y.ndim == 2:  # multi-label: every (example, class) probability is a binary call
        conf, hit = np.maximum(probs, 1 - probs).ravel(), ((probs >= 0.5) == y.astype(bool)).ravel()
    else:
        conf, hit = probs.max(1), probs.argmax(1) == y
    edges = np.minimum((conf * bins).astype(int), bins - 1)
    xs = [conf[edges == b].mean() for b in range(bins) if (edges == b).any()]
    ys = [hit[edges == b].mean() for b in range(bins) if (edges == b).any()]
    fig = Figure(figsize=(4.5, 4.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="calibrated")
    ax.plot(xs, ys, marker="o", label="model")
    ax.set_xlabel("confidence (top probability)")
    ax.set_ylabel("accuracy")
    ax.set_title("reliability")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    return Path(png)
