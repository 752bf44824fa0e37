"""The lab's tables and pictures: compare.csv/.md, metric against length, memory horizon against length."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lstmkit.tasks.longrange.config import LongRangeConfig

COLUMNS = ["cell", "hidden", "params", "metric", "test", "baseline", "learned", "steps", "seconds"]
SWEEP_COLUMNS = ["length", *COLUMNS, "horizon"]


def write_comparison(root: Path, rows: list[dict[str, Any]], flows: dict, cfg: LongRangeConfig) -> list[Path]:
    """compare.csv, compare.md, the metric-vs-length plot (sweeps) and the gradient-flow plot."""
    import csv

    from lstmkit.inspect.gradients import plot_gradient_flow

    columns = SWEEP_COLUMNS
    with open(root / "compare.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    (root / "compare.md").write_text(markdown(rows, columns), encoding="utf-8")
    files = [root / "compare.csv", root / "compare.md"]
    longest = max(length for length, _ in flows)
    last = {cell: flow for (length, cell), flow in flows.items() if length == longest}
    files.append(
        plot_gradient_flow(last, root / "gradient-flow.png", title=f"{cfg.problem}, T={longest}, trained models")
    )
    if len({length for length, _ in flows}) > 1:
        files.append(plot_sweep(rows, cfg, root / "metric-vs-length.png"))
        files.append(plot_horizons(rows, root / "memory-horizon.png"))
    return files


def plot_horizons(rows: list[dict], png: Path) -> Path:
    """How far back the gradient reaches (norm >= 1e-3 of its max) for each cell and length; a point on the
    dashed line means all the way to the first step."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    lengths = sorted({r["length"] for r in rows})
    ax.plot(lengths, [t - 1 for t in lengths], color="grey", linestyle="--", label="the whole sequence")
    for cell in dict.fromkeys(r["cell"] for r in rows):
        mine = [r for r in rows if r["cell"] == cell]
        reach = [r["length"] - 1 if r["horizon"] == "full" else r["horizon"] for r in mine]
        ax.plot([r["length"] for r in mine], reach, marker="o", label=cell)
    ax.set_xscale("log")
    ax.set_yscale("symlog")
    ax.set_xlabel("sequence length T")
    ax.set_ylabel("memory horizon (steps)")
    ax.set_title("how far back the gradient reaches (trained models)")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    return png


def plot_sweep(rows: list[dict], cfg: LongRangeConfig, png: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    p = cfg.problem_spec
    fig = Figure(figsize=(6.5, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for cell in dict.fromkeys(r["cell"] for r in rows):
        mine = [r for r in rows if r["cell"] == cell]
        ax.plot([r["length"] for r in mine], [r["test"] for r in mine], marker="o", label=cell)
    ax.axhline(p.baseline, color="grey", linestyle="--", label=f"baseline ({p.baseline_is})")
    ax.axhline(p.solved_at, color="green", linestyle=":", label="learned")
    ax.set_xscale("log")
    if p.mode == "min":
        ax.set_yscale("log")
    ax.set_xlabel("sequence length T")
    ax.set_ylabel(f"test {p.metric}")
    ax.set_title(f"{cfg.problem}: who learns it, by length")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    return png


def markdown(rows: list[dict], columns: list[str]) -> str:
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    return head + "".join("| " + " | ".join(str(r[c]) for c in columns) + " |\n" for r in rows)
