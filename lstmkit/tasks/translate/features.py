"""From sentence pairs to token ids and padded, length-bucketed batches; the vocabularies are saved beside
the weights as JSON so a loaded model tokenizes exactly as in training.

Ids: 0 padding, 1 begin of sentence, 2 end of sentence, then the tokenizer's ids shifted by 3.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from lstmkit.data.parallel import Parallel
from lstmkit.data.tokenizers import build_tokenizer, tokenizer_from_dict

PAD, BOS, EOS = 0, 1, 2
SPECIALS = 3
Batch = dict[str, Tensor]


@dataclass
class Vocabularies:
    """The source and target tokenizers (the same one when the vocabulary is joint)."""

    src: dict[str, Any]
    tgt: dict[str, Any]
    joint: bool

    @classmethod
    def fit(cls, train: Parallel, kind: str, vocab_size: int, joint: bool) -> Vocabularies:
        if joint:
            tok = build_tokenizer(kind, "\n".join(train.src + train.tgt), vocab_size).to_dict()
            return cls(tok, tok, True)
        return cls(build_tokenizer(kind, "\n".join(train.src), vocab_size).to_dict(),
                   build_tokenizer(kind, "\n".join(train.tgt), vocab_size).to_dict(), False)  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Vocabularies:
        return cls(data["src"], data["tgt"], bool(data.get("joint", False)))

    def _tok(self, side: str) -> Any:
        key = f"_cached_{side}"
        if key not in self.__dict__:
            self.__dict__[key] = tokenizer_from_dict(getattr(self, side))
        return self.__dict__[key]

    @property
    def src_size(self) -> int:
        return self._tok("src").vocab_size + SPECIALS

    @property
    def tgt_size(self) -> int:
        return self._tok("tgt").vocab_size + SPECIALS

    def encode_src(self, text: str) -> list[int]:
        """A source sentence's ids; never empty (an empty line reads as its end of sentence)."""
        return [i + SPECIALS for i in self._tok("src").encode(text)] or [EOS]

    def encode_tgt(self, text: str) -> list[int]:
        """A target sentence as the decoder learns it: BOS, its ids, EOS."""
        return [BOS, *(i + SPECIALS for i in self._tok("tgt").encode(text)), EOS]

    def decode_tgt(self, ids: list[int]) -> str:
        """Target ids (specials dropped) -> detokenized text."""
        return self._tok("tgt").decode([i - SPECIALS for i in ids if i >= SPECIALS])

    def src_pieces(self, ids: list[int]) -> list[str]:
        tok = self._tok("src")
        return [tok.decode([i - SPECIALS]) if i >= SPECIALS else ["<pad>", "<s>", "</s>"][i] for i in ids]

    def tgt_pieces(self, ids: list[int]) -> list[str]:
        tok = self._tok("tgt")
        return [tok.decode([i - SPECIALS]) if i >= SPECIALS else ["<pad>", "<s>", "</s>"][i] for i in ids]


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
