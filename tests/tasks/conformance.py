"""The shared conformance check every task must pass before it plugs into the engine."""

from __future__ import annotations

import json

import torch
from torch import nn


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def check_task(task, batch_size: int = 8) -> None:
    """Asserts the Task protocol's contract on a real instance."""
    assert isinstance(task.name, str) and task.name
    assert task.monitor_mode in ("min", "max")
    model = task.build_model()
    assert isinstance(model, nn.Module)
    train = task.train_batches(batch_size, seed=0)
    batch = next(iter(train))
    loss = task.loss(model, batch)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters()), "loss must train the model"
    val = list(task.val_batches(batch_size))
    assert val and _same(val, list(task.val_batches(batch_size))), "validation batches must be the same every time"
    metrics = task.metrics(model, val[0])
    assert task.monitor in metrics and all(torch.isfinite(torch.as_tensor(v)) for v in metrics.values())
    test = task.test_batches(batch_size)
    if test is not None:
        assert _same(list(test), list(task.test_batches(batch_size)))
    json.dumps(task.config_dict())
    json.dumps(task.saved_state())
