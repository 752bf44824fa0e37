"""Training-side helpers: the seeded stratified split and padded batches of tensors. The encoding itself
(examples -> arrays, fitted on the training split) is torch-free in encoding.py, shared with the ONNX runtime."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

from lstmkit.tasks.classify.encoding import Encoding

Batch = dict[str, Tensor]
__all__ = ["Batch", "Encoding", "ExampleBatches", "by_class", "pad", "stratified_split"]


def pad(xs: list[Tensor]) -> tuple[Tensor, Tensor]:
    """Examples of different lengths -> (B, T) or (B, T, F) padded with zeros, and their lengths (B,)."""
    lengths = torch.tensor([len(x) for x in xs])
    return torch.nn.utils.rnn.pad_sequence(xs, batch_first=True), lengths


def by_class(labels: list[str]) -> dict[str, list[int]]:
    """Each label's example indices, in order."""
    out: dict[str, list[int]] = {}
    for i, y in enumerate(labels):
        out.setdefault(y, []).append(i)
    return out


def stratified_split(labels: list[str], fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Index arrays: the rest, then one part per fraction, each class split in the same proportions."""
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in range(len(fractions) + 1)]
    for _, idx in sorted(by_class(labels).items()):
        idx = list(rng.permutation(idx))
        cuts = [round(f * len(idx)) for f in fractions]
        start = 0
        for k, n in enumerate(cuts):
            parts[k + 1] += idx[start : start + n]
            start += n
        parts[0] += idx[start:]
    return [np.sort(np.asarray(p, dtype=int)) for p in parts]


def augmented(x: np.ndarray, rng: np.random.Generator, jitter: float = 0.03, keep: float = 0.8) -> np.ndarray:
    """A (T, F) numeric example, randomly window-sliced (a window of `keep`..100 % of its steps, stretched back
    to T steps by linear interpolation; Le Guennec et al. 2016) and jittered (Gaussian noise of `jitter`
    standard deviations): a new example of the same class for small training sets."""
    T = len(x)
    width = (T - 1) * rng.uniform(keep, 1.0)
    start = rng.uniform(0, T - 1 - width)
    grid = start + np.linspace(0, width, T)  # (T,) positions in the original
    lo = np.floor(grid).astype(int).clip(0, T - 1)
    hi, frac = np.minimum(lo + 1, T - 1), (grid - lo)[:, None]
    out = x[lo] * (1 - frac) + x[hi] * frac  # (T, F)
    return (out + rng.normal(0, jitter, out.shape)).astype(np.float32)


class ExampleBatches:
    """Padded batches; with `seed`, epoch e is a fresh shuffle drawn from (seed, e), served on demand. An epoch
    covers at least `epoch_size` examples (a small set is passed over several times, each pass reshuffled), and
    with `augment` numeric examples are window-sliced and jittered afresh each time they are served."""

    def __init__(
        self,
        xs: list[Tensor],
        y: Tensor,
        batch_size: int,
        seed: int | None = None,
        epoch_size: int = 0,
        augment: bool = False,
    ) -> None:
        self.xs, self.y, self.batch_size, self.seed, self.augment = xs, y, batch_size, seed, augment
        self.passes = max(1, -(-epoch_size // max(1, len(xs))))

    def __len__(self) -> int:
        return -(-len(self.xs) * self.passes // self.batch_size)

    def epoch_batches(self, epoch: int) -> Iterator[Batch]:
        n = len(self.xs)
        rng = np.random.default_rng([self.seed or 0, epoch])
        order = np.concatenate([np.arange(n) if self.seed is None else rng.permutation(n) for _ in range(self.passes)])
        for i in range(0, len(order), self.batch_size):
            idx = order[i : i + self.batch_size]
            xs = [self.xs[j] for j in idx]
            if self.augment:
                xs = [torch.from_numpy(augmented(x.numpy(), rng)) for x in xs]
            x, lengths = pad(xs)
            yield {"x": x, "lengths": lengths, "y": self.y[torch.from_numpy(idx)]}

    def __iter__(self) -> Iterator[Batch]:
        return self.epoch_batches(0)
