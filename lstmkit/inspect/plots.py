"""Pictures of what a recurrent layer does: gate heatmaps over time."""

from __future__ import annotations

from pathlib import Path

from lstmkit.inspect.trace import GateTrace


def plot_gates(
    trace: GateTrace,
    png: str | Path,
    names: list[str] | None = None,
    index: int = 0,
    layer: int = -1,
    direction: int = 0,
    max_units: int = 64,
    length: int | None = None,
) -> Path:
    """Heatmaps (units × time) of the chosen gates and states for sequence `index` of a traced batch: gates on
    a fixed 0..1 scale, states on a symmetric one. `length` trims padding."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = names or list(trace.names)
    fig = Figure(figsize=(10, 1.9 * len(names) + 0.6))
    FigureCanvasAgg(fig)
    axes = []
    for k, name in enumerate(names):
        values = trace[name][layer, direction, index, :length, :max_units].detach().float().cpu().T  # (H, T)
        ax = fig.add_subplot(len(names), 1, k + 1)
        gate = name not in ("cell", "hidden", "candidate")
        limit = 1.0 if gate else max(float(values.abs().max()), 1e-6)
        image = ax.imshow(
            values,
            aspect="auto",
            interpolation="nearest",
            cmap="viridis" if gate else "RdBu_r",
            vmin=0 if gate else -limit,
            vmax=limit,
        )
        ax.set_ylabel(f"{name}\nunit")
        fig.colorbar(image, ax=ax, pad=0.01)
        axes.append(ax)
    layers = trace[names[0]].shape[0]
    axes[0].set_title(
        f"{trace.kind.upper()}, sequence {index}, layer {layer % layers + 1} of {layers}"
        + (", reverse direction" if direction else "")
    )
    axes[-1].set_xlabel("time step")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    return Path(png)


def _rgb(v: float, limit: float) -> tuple[float, float, float]:
    """Diverging colour of an activation: blue for negative, white at zero, red for positive."""
    a = max(-1.0, min(1.0, v / limit)) if limit > 0 else 0.0
    return (1.0, 1 - a, 1 - a) if a >= 0 else (1 + a, 1 + a, 1.0)


def plot_text_activations(
    labels: list[str], values: list[float], png: str | Path, title: str = "", per_line: int = 80
) -> Path:
    """The text step by step, each step's label on a background coloured by one unit's activation (Karpathy,
    Johnson & Fei-Fei 2015): red positive, blue negative; newlines start a new row."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    limit = max((abs(v) for v in values), default=1.0) or 1.0
    cells, row, col = [], 0, 0
    for label, v in zip(labels, values):
        for ch in label:
            if ch == "\n" or col >= per_line:
                row, col = row + 1, 0
                if ch == "\n":
                    continue
            cells.append((row, col, ch, v))
            col += 1
    rows = row + 1
    width = max((c for _, c, _, _ in cells), default=0) + 2  # the text's own width (a short text: a narrow image)
    fig = Figure(figsize=(max(width * 0.11, 4.0) + 0.4, rows * 0.22 + 0.6))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.02, 0.0, 0.96, 1.0 - 0.35 / (rows * 0.22 + 0.6)))
    ax.set_xlim(0, max(width, 4.0 / 0.11))
    ax.set_ylim(rows, 0)
    ax.axis("off")
    for r, c, ch, v in cells:
        ax.add_patch(Rectangle((c, r), 1, 1, color=_rgb(v, limit), linewidth=0))
        ax.text(c + 0.5, r + 0.72, ch, ha="center", fontsize=8, family="monospace")
    fig.suptitle(f"{title} (red > 0 > blue, |max| {limit:.2f})", fontsize=9)
    fig.savefig(png, dpi=110)
    return Path(png)


def text_activations_html(labels: list[str], values: list[float], title: str) -> str:
    """The same picture as HTML: one span per step, its activation in the tooltip."""
    import html

    limit = max((abs(v) for v in values), default=1.0) or 1.0
    spans = []
    for label, v in zip(labels, values):
        r, g, b = (int(255 * x) for x in _rgb(v, limit))
        text = html.escape(label).replace("\n", "<br>\n")
        spans.append(f'<span style="background: rgb({r},{g},{b})" title="{v:.3f}">{text}</span>')
    return (
        f"<!doctype html>\n<meta charset=utf-8><title>{html.escape(title)}</title>\n<h3>{html.escape(title)}"
        f'</h3>\n<pre style="font: 14px monospace; white-space: pre-wrap">{"".join(spans)}</pre>\n'
    )
