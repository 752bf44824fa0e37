"""Gradient flow: how much the loss still feels each step's hidden state.

For a layer, an input and a loss on the layer's output, the norm of dLoss/dh_t for every step t (the total
derivative: through the output at t and through every later step). A plain RNN's norm decays geometrically with
the distance from the loss (the vanishing gradient); a gated cell keeps it up. Norms are averaged over the batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from lstmkit.nn.recurrent import run
from lstmkit.nn.stacked import Stacked


@dataclass(frozen=True)
class GradientFlow:
    """norms (L, D, T): mean over the batch of ‖dLoss/dh_t‖ for each layer, direction and step."""

    norms: Tensor

    def last_layer(self) -> Tensor:
        """(T,) the last layer's forward direction: the usual picture."""
        return self.norms[-1, 0]

    def by_distance(self) -> Tensor:
        """(T,) the last layer's norms ordered by distance from the end of the sequence (0 = last step)."""
        return self.last_layer().flip(0)

    def horizon(self, ratio: float = 1e-3) -> int | None:
        """The smallest distance from the end at which the norm falls below `ratio` × its maximum; None if it
        never does within the sequence (the memory reaches back all the way)."""
        d = self.by_distance()
        below = (d < ratio * d.max()).nonzero()
        return int(below[0]) if len(below) else None


def gradient_flow(
    layer: torch.nn.Module, x: Tensor, loss_of_output: Callable[[Tensor], Tensor], hx=None, lengths=None
) -> GradientFlow:
    """‖dLoss/dh_t‖ for every step of every layer of an lstmkit recurrent layer (for the modern cells, of what
    each step carries to the next: h, or mLSTM's memory C); no parameter .grad is touched."""
    with torch.enable_grad():
        if isinstance(layer, Stacked):  # the modern cells: what each step carries to the next
            output, _, cells = layer.run(x, hx, lengths, collect=True)
            traces = [c["carried"] for c in cells]
            hidden = [h for tr in traces for h in tr]
        else:
            output, _, traces = run(layer, x, hx, lengths, collect=True)
            hidden = [step[-1] for tr in traces for step in tr]  # the state h_t itself, as fed to step t + 1
        loss = loss_of_output(output)
        grads = torch.autograd.grad(loss, hidden, allow_unused=True)
    T = len(traces[0])
    norms = torch.stack([g.flatten(1).norm(dim=-1).mean() if g is not None else x.new_zeros(()) for g in grads])
    dirs = 2 if layer.bidirectional else 1
    return GradientFlow(norms.view(layer.num_layers, dirs, T).detach())


def plot_gradient_flow(flows: dict[str, GradientFlow], png: str | Path, title: str = "") -> Path:
    """The norms against the distance from the loss, log scale, one line per model (e.g. per cell)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for name, flow in flows.items():
        d = flow.by_distance().clamp_min(1e-30)
        horizon = flow.horizon()
        label = f"{name} (memory horizon {'> ' + str(len(d) - 1) if horizon is None else horizon} steps)"
        ax.plot(range(len(d)), d.tolist(), label=label)
    ax.set_yscale("log")
    ax.set_xlabel("distance from the loss (steps back from the last)")
    ax.set_ylabel("‖dLoss/dh_t‖ (batch mean)")
    ax.set_title(title or "gradient flow")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    return Path(png)
