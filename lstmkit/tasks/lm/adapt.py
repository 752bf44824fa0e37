"""Dynamic evaluation (Krause et al. 2018, "Dynamic Evaluation of Neural Sequence Models"): the model keeps
learning from the text it is scoring. Each segment is scored first, with the weights as they are, and only then
used for one gradient step, so no token is ever predicted by weights that have seen it. A decay pulls the
weights back towards the trained ones, so the model follows the text's style (an author, a domain) without
drifting away from what it learned.

    score segment i with theta_i;  theta_{i+1} = theta_i - lr * grad_i + decay * (theta_0 - theta_i)

The update is SGD scaled by the running root mean square of each weight's gradients (RMSprop, Krause et al.'s
"RMS" variant without their training-set statistics). A copy of the network adapts; the model itself is left
unchanged. Notation: T tokens per segment, state (h, c) carried across segments (detached).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lstmkit.nn.state import detach_state
from lstmkit.tasks.lm.config import AdaptConfig


def dynamic_nll(
    net: nn.Module, ids: np.ndarray, cfg: AdaptConfig, progress: Callable[[int, int], None] | None = None
) -> float:
    """Total negative log-likelihood (nats) of ids[1:] given the tokens before each, scored by a copy of `net`
    that takes one RMS-scaled gradient step after each segment it has scored."""
    model = copy.deepcopy(net).eval()  # dropout off; the caller's network is never changed
    params = [p for p in model.parameters() if p.requires_grad]
    start = [p.detach().clone() for p in params]
    mean_sq = [torch.zeros_like(p) for p in params]
    device = params[0].device
    x = torch.as_tensor(np.asarray(ids, np.int64), device=device)[None]  # (1, N)
    n = x.shape[1] - 1
    total, state = 0.0, None
    for steps, i in enumerate(range(0, n, cfg.segment), start=1):
        y = x[:, i + 1 : i + 1 + cfg.segment]  # (1, T)
        logits, state = model(x[:, i : i + y.shape[1]], state)  # (1, T, V)
        loss = F.cross_entropy(logits[0].float(), y[0], reduction="sum")
        total += loss.item()  # scored before the update below
        model.zero_grad(set_to_none=True)
        (loss / y.shape[1]).backward()
        _step(params, start, mean_sq, cfg, 1.0 - 0.99**steps)
        state = detach_state(state)
        if progress is not None:
            progress(i + y.shape[1], n)
    return total


@torch.no_grad()
def _step(params: list, start: list, mean_sq: list, cfg: AdaptConfig, debias: float) -> None:
    """One RMS-scaled step (the mean square's start from zero corrected by `debias`), then the decay."""
    for p, p0, ms in zip(params, start, mean_sq):
        if p.grad is None:
            continue
        ms.mul_(0.99).addcmul_(p.grad, p.grad, value=0.01)
        p.sub_(cfg.lr * p.grad / ((ms / debias).sqrt() + 1e-8))
        p.add_(cfg.decay * (p0 - p))
