"""From sequences to model inputs and back, with everything fitted on the training split saved as JSON (the tags,
the word and suffix vocabularies, the most frequent tag of each word for the baseline, the value statistics),
so a loaded model encodes exactly as it did in training. Torch-free: the ONNX runtime uses it too.

Tokens become three ids per step (word, 3-letter suffix, shape); 0 is padding and 1 unknown. Numbers are
scaled per value column (by each window's median and spread, or the training mean and std), and each step
also carries its change from the step before.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from lstmkit.data.timeseries import DataError
from lstmkit.tasks.tag.data import Sequences

PAD, UNK = 0, 1
SHAPES = ("pad", "lower", "title", "upper", "digit", "other")  # the shape feature of a token
BIO = re.compile(r"^([BIES])-.+$")


def shape_of(token: str) -> int:
    if any(ch.isdigit() for ch in token):
        return SHAPES.index("digit")
    if token.islower():
        return SHAPES.index("lower")
    if token.isupper():
        return SHAPES.index("upper")
    if token[:1].isupper():
        return SHAPES.index("title")
    return SHAPES.index("other")


def scheme_of(tags: list[str], kind: str) -> str:
    """How results are scored: "bio" (entity spans, seqeval-style), "flags" (a series' rare positive tag), or
    "tags" (token accuracy, e.g. part of speech)."""
    if kind == "numeric":
        return "flags"
    return "bio" if all(t == "O" or BIO.match(t) for t in tags) and any(t != "O" for t in tags) else "tags"


@dataclass
class TagEncoding:
    """What training fitted: the tags (and their training counts), vocabularies or value statistics."""

    kind: str
    tags: list[str]
    counts: list[int]
    scheme: str
    words: list[str] = field(default_factory=list)
    suffixes: list[str] = field(default_factory=list)
    frequent: dict[str, str] = field(default_factory=dict)  # word -> its most frequent training tag (baseline)
    columns: list[str] = field(default_factory=list)
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    z_threshold: float = 0.0  # series: the robust-z baseline flags steps this far from their rolling median
    scale: str = "global"  # series: "window" (each window by its median and spread) or "global" (training stats)

    @classmethod
    def fit(cls, train: Sequences, min_freq: int, scale: str = "window") -> TagEncoding:
        if not train.labelled:
            raise DataError(f"{train.source} has no tags; training needs a tag for every token (or step)")
        counts = Counter(t for ts in train.tags for t in ts)
        tags = sorted(counts)
        if len(tags) < 2:
            raise DataError(f"{train.source} has one tag only ({tags[0]!r}); a tagger needs at least two")
        enc = cls(train.kind, tags, [counts[t] for t in tags], scheme_of(tags, train.kind))
        if train.kind == "tokens":
            words = Counter(w.lower() for s in train.seqs for w in s)
            enc.words = sorted(w for w, n in words.items() if n >= min_freq)
            enc.suffixes = sorted({w.lower()[-3:] for s in train.seqs for w in s})
            by_word: dict[str, Counter] = {}
            for s, ts in zip(train.seqs, train.tags):
                for w, t in zip(s, ts):
                    by_word.setdefault(w.lower(), Counter())[t] += 1
            enc.frequent = {w: c.most_common(1)[0][0] for w, c in by_word.items()}
        else:
            values = np.concatenate(train.seqs)  # (N, F)
            enc.columns, enc.scale = list(train.columns), scale
            enc.mean = values.mean(0).astype(float).tolist()
            enc.std = np.maximum(values.std(0), 1e-8).astype(float).tolist()
            enc.z_threshold = _best_threshold(train, enc.positive)
        return enc

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TagEncoding:
        return cls(**d)

    @property
    def n_features(self) -> int:
        return len(self.columns)

    @property
    def input_width(self) -> int:
        """Values per step the network reads: each column scaled, and its change from the step before."""
        return 2 * len(self.columns)

    # ---- inputs and targets

    def inputs(self, seqs: Sequences) -> list[np.ndarray]:
        """One array per sequence: (T, 3) int64 ids for tokens, (T, F) float32 standardised values."""
        if seqs.kind != self.kind:
            raise DataError(f"{seqs.source} holds {seqs.kind} sequences; this model tags {self.kind} ones")
        if self.kind == "numeric":
            if seqs.columns and seqs.columns != self.columns:
                raise DataError(f"{seqs.source} has value columns {seqs.columns}; the model reads {self.columns}")
            mean, std = np.asarray(self.mean, np.float32), np.asarray(self.std, np.float32)
            scaled = [window_scaled(s) if self.scale == "window" else (s - mean) / std for s in seqs.seqs]
            return [with_changes(s) for s in scaled]
        word = {w: i + 2 for i, w in enumerate(self.words)}
        suffix = {s: i + 2 for i, s in enumerate(self.suffixes)}
        out = []
        for s in seqs.seqs:
            low = [w.lower() for w in s]
            ids = [[word.get(w, UNK), suffix.get(w[-3:], UNK), shape_of(t)] for w, t in zip(low, s)]
            out.append(np.asarray(ids, dtype=np.int64).reshape(len(s), 3))
        return out

    def targets(self, seqs: Sequences) -> list[np.ndarray]:
        """Tag ids per sequence; a tag unseen in training is an error that names it."""
        index = {t: i for i, t in enumerate(self.tags)}
        unknown = {t for ts in seqs.tags for t in ts} - set(index)
        if unknown:
            raise DataError(
                f"{seqs.source} has tag(s) {sorted(unknown)[:5]} the model never saw (it knows {self.tags})"
            )
        return [np.asarray([index[t] for t in ts], dtype=np.int64) for ts in seqs.tags]

    def baseline(self, seqs: Sequences) -> list[list[str]]:
        """The most frequent training tag of each word (unknown words: the most frequent tag overall); for series,
        the most frequent flag at every step."""
        top = self.tags[int(np.argmax(self.counts))]
        if self.kind == "numeric":
            return [[top] * len(s) for s in seqs.seqs]
        return [[self.frequent.get(w.lower(), top) for w in s] for s in seqs.seqs]

    def robust_z(self, seqs: Sequences) -> list[list[str]]:
        """Series: the positive flag where a step lies more than `z_threshold` robust deviations from the
        rolling median of its first value column (the threshold chosen on the training split)."""
        top = self.tags[int(np.argmax(self.counts))]
        return [[self.positive if z > self.z_threshold else top for z in robust_z(s)] for s in seqs.seqs]

    @property
    def positive(self) -> str | None:
        """For flags: the rare tag that marks an event (the least frequent one)."""
        return self.tags[int(np.argmin(self.counts))] if self.scheme == "flags" else None


def window_scaled(seq: np.ndarray) -> np.ndarray:
    """(T, F) -> (T, F): each column minus its median, over its spread (1.4826 MAD, or the std when MAD is 0)."""
    med = np.median(seq, 0)
    spread = 1.4826 * np.median(np.abs(seq - med), 0)
    spread = np.where(spread > 1e-8, spread, np.maximum(seq.std(0), 1e-8))
    return ((seq - med) / spread).astype(np.float32)


def with_changes(seq: np.ndarray) -> np.ndarray:
    """(T, F) -> (T, 2F): the values and their change from the step before (0 at the first step)."""
    diff = np.diff(seq, axis=0, prepend=seq[:1])
    return np.concatenate([seq, diff], 1).astype(np.float32)


def robust_z(seq: np.ndarray, width: int = 11) -> np.ndarray:
    """(T, F) -> (T,): |x - centred rolling median| of the first column, over the spread of those deviations."""
    import pandas as pd

    x = pd.Series(seq[:, 0].astype(np.float64))
    dev = (x - x.rolling(width, center=True, min_periods=1).median()).abs()
    return (dev / (1.4826 * float(dev.median()) + 1e-8)).to_numpy()


def _best_threshold(train: Sequences, positive: str | None) -> float:
    """The robust-z threshold with the best F1 of the positive flag on the training split."""
    zs = np.concatenate([robust_z(s) for s in train.seqs])
    hit = np.concatenate([np.asarray(t) == positive for t in train.tags])
    best, best_f1 = 3.0, -1.0
    for k in (1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0):
        flag = zs > k
        tp = float((flag & hit).sum())
        f1 = 2 * tp / max(float(flag.sum() + hit.sum()), 1.0)
        if f1 > best_f1:
            best, best_f1 = k, f1
    return best


def pad(arrays: list[np.ndarray], value: float = 0) -> tuple[np.ndarray, np.ndarray]:
    """Sequences (T_i, ...) -> padded (B, T, ...) and lengths (B,)."""
    lengths = np.asarray([len(a) for a in arrays], dtype=np.int64)
    shape = (len(arrays), int(lengths.max()), *arrays[0].shape[1:])
    out = np.full(shape, value, dtype=arrays[0].dtype)
    for i, a in enumerate(arrays):
        out[i, : len(a)] = a
    return out, lengths
