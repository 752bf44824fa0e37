"""Evaluation loop shared by the engine and the inference path (imports no training framework)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

from lstmkit.errors import UsageError


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor in a (nested) batch to `device`."""
    if isinstance(batch, Tensor):
        return batch.to(device)
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch


def batch_size_of(batch: Any) -> int:
    """Examples in a batch: the leading size of its first tensor."""
    if isinstance(batch, Tensor):
        return int(batch.shape[0]) if batch.dim() else 0
    if not isinstance(batch, (dict, list, tuple)):
        return 0  # flags and numbers riding along in a batch
    items = batch.values() if isinstance(batch, dict) else batch
    for b in items:
        n = batch_size_of(b)
        if n:
            return n
    return 0


@torch.no_grad()
def evaluate(
    metrics: Callable[[nn.Module, Any], dict[str, Tensor]], model: nn.Module, batches: Iterable[Any]
) -> dict[str, float]:
    """Average per-batch metrics over all batches, weighted by batch size, in eval mode (fp32)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    totals: dict[str, float] = {}
    count = 0
    try:
        for batch in batches:
            batch = to_device(batch, device)
            n = batch_size_of(batch)
            for k, v in metrics(model, batch).items():
                totals[k] = totals.get(k, 0.0) + float(v) * n
            count += n
    finally:
        model.train(was_training)
    if count == 0:
        raise UsageError("evaluation got no batches: the evaluation set is empty")
    return {k: v / count for k, v in totals.items()}
