"""Pictures of what a recurrent layer does: gate heatmaps over time."""

from __future__ import annotations

from pathlib import Path

from lstmkit.inspect.trace import GateTrace


def plot_gates(trace: GateTrace, png: str | Path, names: list[str] | None = None, index: int = 0,
               layer: int = -1, direction: int = 0, max_units: int = 64, length: int | None = None) -> Path:  # fmt: skip
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
        image = ax.imshow(values, aspect="auto", interpolation="nearest", cmap="viridis" if gate else "RdBu_r",
                          vmin=0 if gate else -limit, vmax=limit)  # fmt: skip
        ax.set_ylabel(f"{name}\nunit")
        fig.colorbar(image, ax=ax, pad=0.01)
        axes.append(ax)
    layers = trace[names[0]].shape[0]
    axes[0].set_title(
        f"{trace.cell.upper()}, sequence {index}, layer {layer % layers + 1} of {layers}"
        + (", reverse direction" if direction else "")
    )
    axes[-1].set_xlabel("time step")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    return Path(png)
