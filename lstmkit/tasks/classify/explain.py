"""Why the classifier decided: integrated gradients (Sundararajan et al. 2017) over the LSTM's inputs, one
score per token or step, with the completeness check the method promises (the scores sum to the target
logit at the input minus at the all-zero baseline), and the attention weights when pooling is attention.

Notation: T steps, E the LSTM's input size, m integration steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from lstmkit.tasks.classify.model import ClassifierNet


def integrated_gradients(net: ClassifierNet, x: Tensor, target: int, steps: int = 64) -> tuple[Tensor, float, float]:
    """Scores (T,) for one example x (1, T) ids or (1, T, F) numbers, and the target logit at the input
    and at the baseline (inputs 0). Riemann midpoints over `steps` points of the straight path."""
    net.eval()
    lengths = torch.tensor([x.shape[1]])
    with torch.no_grad():
        e = net.inputs(x)  # (1, T, E)
    alphas = (torch.arange(steps, dtype=e.dtype) + 0.5) / steps  # (m,)
    path = (alphas[:, None, None] * e).requires_grad_(True)  # (m, T, E): baseline 0 -> e
    logits = net.from_inputs(path, lengths.expand(steps))  # (m, C)
    (grad,) = torch.autograd.grad(logits[:, target].sum(), path)
    scores = (e[0] * grad.mean(0)).sum(-1)  # (T,)
    with torch.no_grad():
        at_x = float(net.from_inputs(e, lengths)[0, target])
        at_0 = float(net.from_inputs(torch.zeros_like(e), lengths)[0, target])
    return scores.detach(), at_x, at_0


@dataclass
class Explanation:
    """Per-step scores of one example: positive pushed towards `target`, negative away."""

    labels: list[str]  # the tokens (texts) or step numbers (sequences)
    scores: list[float]
    target: str
    probability: float  # the model's probability of `target`
    logit_gap: float  # target logit at the input minus at the baseline: what the scores sum to
    attention: list[float] | None = None

    def to_dict(self) -> dict:
        return {
            "target": self.target,
            "probability": self.probability,
            "tokens": self.labels,
            "scores": self.scores,
            "sum": float(sum(self.scores)),
            "logit_gap": self.logit_gap,
            "attention": self.attention,
        }

    def html(self) -> str:
        from lstmkit.inspect.plots import text_activations_html

        title = f"why {self.target!r} (p = {self.probability:.3f}): integrated gradients"
        return text_activations_html(self.labels, self.scores, title)

    def plot(self, png: str | Path) -> Path:
        from lstmkit.inspect.plots import plot_text_activations

        title = f"why {self.target!r} (p = {self.probability:.3f})"
        return plot_text_activations(self.labels, self.scores, png, title=title)
