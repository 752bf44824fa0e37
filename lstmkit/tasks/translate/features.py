"""From sentence pairs to token ids and padded, length-bucketed batches (the vocabularies: vocab.py)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

from lstmkit.data.parallel import Parallel
from lstmkit.tasks.translate.vocab import BOS, EOS, PAD, SPECIALS, Vocabularies

__all__ = [
    "BOS",
    "EOS",
    "PAD",
    "SPECIALS",
    "Batch",
    "PairBatches",
    "Vocabularies",
    "encode_pairs",
    "make_batch",
    "pad_ids",
]
Batch = dict[str, Tensor]


def encode_pairs(pairs: Parallel, vocab: Vocabularies, max_tokens: int | None = None) -> tuple[list, list, int]:
    """(source ids, target ids, pairs dropped): pairs with more than `max_tokens` tokens on a side are dropped."""
    src = [vocab.encode_src(s) for s in pairs.src]
    tgt = [vocab.encode_tgt(t) for t in pairs.tgt]
    if max_tokens is None:
        return src, tgt, 0
    keep = [i for i, (s, t) in enumerate(zip(src, tgt)) if len(s) <= max_tokens and len(t) - 2 <= max_tokens]
    return [src[i] for i in keep], [tgt[i] for i in keep], len(src) - len(keep)


def pad_ids(seqs: list[list[int]]) -> tuple[Tensor, Tensor]:
    """Id lists -> (B, T) padded with PAD, and their lengths (B,)."""
    lengths = torch.tensor([len(s) for s in seqs])
    out = torch.full((len(seqs), int(lengths.max())), PAD, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.tensor(s)
    return out, lengths


def make_batch(src: list[list[int]], tgt: list[list[int]] | None = None) -> Batch:
    x, lengths = pad_ids(src)
    batch = {"src": x, "src_lengths": lengths}
    if tgt is not None:
        batch["tgt"] = pad_ids(tgt)[0]  # (B, T+2): BOS ... EOS
    return batch


class PairBatches:
    """Padded batches of pairs of similar length (little padding); with `seed`, epoch e draws a fresh order
    from (seed, e): pairs shuffled, sorted by length within pools of 50 batches, batches shuffled."""

    POOL = 50

    def __init__(self, src: list[list[int]], tgt: list[list[int]], batch_size: int, seed: int | None = None) -> None:
        self.src, self.tgt, self.batch_size, self.seed = src, tgt, batch_size, seed

    def __len__(self) -> int:
        return -(-len(self.src) // self.batch_size)

    def _order(self, epoch: int) -> list[np.ndarray]:
        n, bs = len(self.src), self.batch_size
        lengths = np.asarray([len(s) for s in self.src])
        if self.seed is None:  # validation: sorted by length, fixed
            order = np.argsort(lengths, kind="stable")
            return [order[i : i + bs] for i in range(0, n, bs)]
        rng = np.random.default_rng([self.seed, epoch])
        perm = rng.permutation(n)
        batches = []
        for p in range(0, n, bs * self.POOL):
            pool = perm[p : p + bs * self.POOL]
            pool = pool[np.argsort(lengths[pool], kind="stable")]
            batches += [pool[i : i + bs] for i in range(0, len(pool), bs)]
        return [batches[i] for i in rng.permutation(len(batches))]

    def epoch_batches(self, epoch: int) -> Iterator[Batch]:
        for idx in self._order(epoch):
            yield make_batch([self.src[i] for i in idx], [self.tgt[i] for i in idx])

    def __iter__(self) -> Iterator[Batch]:
        return self.epoch_batches(0)
