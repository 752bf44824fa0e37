"""Run reports: merged metrics.csv and the training-curve PNG."""

from __future__ import annotations

import csv
import math
from pathlib import Path


def merge_metrics(logs_dir: Path, out: Path) -> Path | None:
    """Concatenate every attempt's metrics.csv (a resumed run has several) into one file, by step."""
    rows: list[dict[str, str]] = []
    keys: list[str] = []
    for f in sorted(logs_dir.glob("attempt-*/metrics.csv"), key=lambda p: int(p.parent.name.split("-")[1])):
        with open(f, newline="") as fh:
            reader = csv.DictReader(fh)
            for name in reader.fieldnames or []:
                if name not in keys:
                    keys.append(name)
            rows.extend(reader)
    if not rows:
        return None
    keys = ["step"] + sorted(k for k in keys if k != "step")
    tmp = out.with_name(f".{out.name}.tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda r: int(float(r.get("step") or 0))))
    tmp.replace(out)  # rewritten while training runs: a reader never sees half a file
    return out


def read_series(csv_path: Path) -> dict[str, tuple[list[int], list[float]]]:
    """metrics.csv as {column: (steps, values)}, skipping empty cells."""
    series: dict[str, tuple[list[int], list[float]]] = {}
    with open(csv_path, newline="") as fh:
        for row in csv.DictReader(fh):
            step = int(float(row["step"]))
            for k, v in row.items():
                if k in ("step", "epoch") or v in ("", None):
                    continue
                value = float(v)
                if math.isfinite(value):
                    series.setdefault(k, ([], []))
                    series[k][0].append(step)
                    series[k][1].append(value)
    return series


def plot_curves(csv_path: Path, png: Path, title: str = "") -> Path:
    """Training loss and every validation metric against the optimiser step (log scale where positive)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    series = read_series(csv_path)
    names = [k for k in series if k.startswith("train_")] + [k for k in series if k.startswith("val_")]
    cols = min(max(len(names), 1), 4)
    rows = -(-max(len(names), 1) // cols)
    fig = Figure(figsize=(4.5 * cols, 3.4 * rows))
    FigureCanvasAgg(fig)
    for i, name in enumerate(names or ["(no metrics)"]):
        ax = fig.add_subplot(rows, cols, i + 1)
        if name in series:
            steps, values = series[name]
            ax.plot(steps, values, marker="o" if len(steps) < 30 else None, markersize=3)
            if min(values) > 0 and max(values) > 10 * min(values):
                ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_title(name)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    return png
