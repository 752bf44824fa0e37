"""Training and evaluation batches of the long-range problems. Every training iterable serves any epoch on
demand (`epoch_batches(e)`, reproducible from its seed and e), so a resumed run continues mid-epoch exactly."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from lstmkit.data import synthetic
from lstmkit.data.synthetic import Batch


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A distinct, reproducible random stream for each (seed, epoch)."""
    return torch.Generator().manual_seed(seed * 100_003 + epoch)


class GeneratedBatches:
    """Fresh batches from a generator: epoch e draws its own data, reproducibly from (seed, e)."""

    def __init__(self, make: Callable[[int, torch.Generator], Batch], batch_size: int, steps: int, seed: int) -> None:
        self.make, self.batch_size, self.steps, self.seed = make, batch_size, steps, seed

    def __len__(self) -> int:
        return self.steps

    def epoch_batches(self, epoch: int) -> Iterator[Batch]:
        gen = _epoch_generator(self.seed, epoch)
        for _ in range(self.steps):
            yield self.make(self.batch_size, gen)

    def __iter__(self) -> Iterator[Batch]:
        return self.epoch_batches(0)


class ShuffledBatches:
    """A fixed training set, reshuffled at every epoch (reproducibly from (seed, epoch))."""

    def __init__(self, data: Batch, batch_size: int, seed: int) -> None:
        self.data, self.batch_size, self.seed = data, batch_size, seed

    def __len__(self) -> int:
        return -(-len(self.data["x"]) // self.batch_size)

    def epoch_batches(self, epoch: int) -> Iterator[Batch]:
        order = torch.randperm(len(self.data["x"]), generator=_epoch_generator(self.seed, epoch))
        for i in range(0, len(order), self.batch_size):
            idx = order[i : i + self.batch_size]
            yield {k: v[idx] for k, v in self.data.items()}

    def __iter__(self) -> Iterator[Batch]:
        return self.epoch_batches(0)


class FixedBatches:
    """A fixed held-out set served in order, in batches."""

    def __init__(self, data: Batch, batch_size: int) -> None:
        self.data, self.batch_size = data, batch_size

    def __len__(self) -> int:
        return -(-len(self.data["x"]) // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        for i in range(0, len(self.data["x"]), self.batch_size):
            yield synthetic.take(self.data, i, i + self.batch_size)
