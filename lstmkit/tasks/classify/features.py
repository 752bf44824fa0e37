"""Training-side helpers: the seeded stratified split and padded batches of tensors. The encoding itself
(examples -> arrays, fitted on the training split) is torch-free in encoding.py, shared with the ONNX runtime."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

from lstmkit.tasks.classify.encoding import Encoding

Batch = dict[str, Tensor]
__all__ = ["Batch", "Encoding", "ExampleBatches", "pad", "stratified_split"]


def pad(xs: list[Tensor]) -> tuple[Tensor, Tensor]:
    """Examples of different lengths -> (B, T) or (B, T, F) padded with zeros, and their lengths (B,)."""
    lengths = torch.tensor([len(x) for x in xs])
    return torch.nn.utils.rnn.pad_sequence(xs, batch_first=True), lengths


def stratified_split(labels: list[str], fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Index arrays: the rest, then one part per fraction, each class split in the same proportions."""
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in range(len(fractions) + 1)]
    by_class: dict[str, list[int]] = {}
    for i, y in enumerate(labels):
        by_class.setdefault(y, []).append(i)
    for _, idx in sorted(by_class.items()):
        idx = list(rng.permutation(idx))
        cuts = [round(f * len(idx)) for f in fractions]
        start = 0
        for k, n in enumerate(cuts):
            parts[k + 1] += idx[start : start + n]
            start += n
        parts[0] += idx[start:]
    return [np.sort(np.asarray(p, dtype=int)) for p in parts]


class ExampleBatches:
    """Padded batches; with `seed`, epoch e is a fresh shuffle drawn from (seed, e), served on demand."""

    def __init__(self, xs: list[Tensor], y: Tensor, batch_size: int, seed: int | None = None) -> None:
        self.xs, self.y, self.batch_size, self.seed = xs, y, batch_size, seed

    def __len__(self) -> int:
        return -(-len(self.xs) // self.batch_size)

    def epoch_batches(self, epoch: int) -> Iterator[Batch]:
        n = len(self.xs)
        order = np.arange(n) if self.seed is None else np.random.default_rng([self.seed, epoch]).permutation(n)
        for i in range(0, n, self.batch_size):
            idx = order[i : i + self.batch_size]
            x, lengths = pad([self.xs[j] for j in idx])
            yield {"x": x, "lengths": lengths, "y": self.y[torch.from_numpy(idx)]}

    def __iter__(self) -> Iterator[Batch]:
        return self.epoch_batches(0)
