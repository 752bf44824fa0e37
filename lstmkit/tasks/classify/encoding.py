"""From labelled examples to model inputs, with the fitted state saved beside the weights as JSON: the
classes, the tokenizer (texts) or the feature statistics (numbers), so a loaded model encodes exactly as it
did in training. Torch-free: the ONNX runtime encodes with it too (tensors only where training asks).

Token ids are shifted by one: 0 is padding.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from lstmkit.data.labelled import Labelled
from lstmkit.data.timeseries import DataError
from lstmkit.data.tokenizers import build_tokenizer, tokenizer_from_dict


@dataclass
class Encoding:
    """Everything fitted on the training split that turns examples into tensors and labels into ids."""

    kind: str  # "text" or "numeric"
    classes: list[str]
    counts: list[int]  # training examples per class (the majority baseline; class weights)
    max_length: int
    tokenizer: dict[str, Any] | None = None
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    multi_label: bool = False  # each example has a set of classes (sigmoid per class), not one (softmax)
    n_train: int = 0  # training examples (multi-label: the negatives of a class are n_train - counts)
    ngram: dict[str, Any] | None = None  # texts: the n-gram model mixed with the network's (ngrams.py), or none
    series_norm: bool = False  # numbers: each series z-normalised by itself, its level and scale as features

    @classmethod
    def fit(
        cls,
        train: Labelled,
        tokenizer: str,
        vocab_size: int,
        max_length: int,
        normalize: bool,
        given: dict[str, Any] | None = None,
        series_norm: bool = False,
    ) -> Encoding:
        """Fitted on the training split; `given`: a tokenizer to reuse (a pretrained language model's);
        `series_norm`: numbers are z-normalised series by series first (`per_series`)."""
        counts = Counter(y for ys in train.label_sets() for y in ys)
        classes = sorted(counts)
        if len(classes) < 2:
            what = f"one class only ({classes[0]!r})" if classes else "no labels"
            raise DataError(f"{train.source} has {what}; a classifier needs at least two classes")
        enc = cls(
            train.kind,
            classes,
            [counts[c] for c in classes],
            max_length,
            multi_label=train.multi_label,
            n_train=len(train),
            series_norm=series_norm and train.kind == "numeric",
        )
        if train.texts is not None:
            enc.tokenizer = given or build_tokenizer(tokenizer, "\n".join(train.texts), vocab_size).to_dict()
        else:
            allx = np.concatenate([enc._view(s) for s in train.seqs])  # (sum T, F) or (sum T, 3F)
            enc.mean = allx.mean(0).tolist() if normalize else [0.0] * allx.shape[1]
            enc.std = [float(s) if s > 1e-8 and normalize else 1.0 for s in allx.std(0)]
        return enc

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Encoding:
        return cls(**data)

    @property
    def n_features(self) -> int:
        """Values per step in the data (what a request gives)."""
        return len(self.mean) // 3 if self.series_norm else len(self.mean)

    @property
    def input_features(self) -> int:
        """Values per step the network reads: the data's, or with series_norm each one's shape, level, scale."""
        return len(self.mean)

    def _view(self, s: np.ndarray) -> np.ndarray:
        return per_series(s) if self.series_norm else s

    @property
    def vocab_size(self) -> int:
        return self._tok().vocab_size + 1 if self.kind == "text" else 0

    def set_ngram(self, model: Any) -> None:
        """Mix this fitted NgramModel with the network from now on, exactly as it is saved (its JSON form)."""
        self.ngram = model.to_dict()
        self.__dict__.pop("_cached_ngram", None)

    def ngram_model(self) -> Any:
        """The fitted NgramModel (cached), or None."""
        if self.ngram is None:
            return None
        if "_cached_ngram" not in self.__dict__:
            from lstmkit.tasks.classify.ngrams import NgramModel

            self.__dict__["_cached_ngram"] = NgramModel.from_dict(self.ngram)
        return self.__dict__["_cached_ngram"]

    def _tok(self) -> Any:
        if "_cached_tokenizer" not in self.__dict__:
            self.__dict__["_cached_tokenizer"] = tokenizer_from_dict(self.tokenizer or {})
        return self.__dict__["_cached_tokenizer"]

    def tokens(self, text: str) -> list[int]:
        """A text's token ids as the model sees them (shifted; at most max_length); never empty."""
        ids = [i + 1 for i in self._tok().encode(text)][: self.max_length]
        return ids or [1]  # an empty text reads as one unknown token

    def token_text(self, ids: list[int]) -> list[str]:
        return [self._tok().decode([i - 1]) for i in ids]

    def arrays(self, ex: Labelled) -> list[np.ndarray]:
        """Each example as (T,) int64 token ids or (T, F) float32 standardised numbers."""
        if self.kind == "text":
            if ex.texts is None:
                raise DataError(f"{ex.source}: the model reads texts, but these examples are numeric sequences")
            return [np.asarray(self.tokens(t), dtype=np.int64) for t in ex.texts]
        if ex.seqs is None:
            raise DataError(f"{ex.source}: the model reads numeric sequences, but these examples are texts")
        mean, std = np.asarray(self.mean, np.float32), np.asarray(self.std, np.float32)
        bad = [i for i, s in enumerate(ex.seqs) if s.shape[1] != self.n_features]
        if bad:
            raise DataError(
                f"{ex.source} row {bad[0] + 1} has {ex.seqs[bad[0]].shape[1]} features per step; the model "
                f"was trained on {self.n_features}"
            )
        return [((self._view(s) - mean) / std).astype(np.float32) for s in ex.seqs]

    def inputs(self, ex: Labelled) -> list[Any]:
        """`arrays` as tensors (training and the PyTorch model)."""
        import torch

        return [torch.from_numpy(a) for a in self.arrays(ex)]

    def targets(self, ex: Labelled) -> Any:
        """(N,) class ids, or (N, C) 0/1 floats for multi-label examples, as a tensor."""
        import torch

        index = {c: i for i, c in enumerate(self.classes)}
        sets = ex.label_sets()
        unknown = sorted({y for ys in sets for y in ys} - set(index))
        if unknown:
            raise DataError(
                f"{ex.source} has label(s) {unknown} that the training data never had "
                f"(classes: {', '.join(self.classes)}); drop those rows or add them to training"
            )
        if not self.multi_label:
            return torch.tensor([index[ys[0]] for ys in sets])
        y = torch.zeros(len(sets), len(self.classes))  # (N, C)
        for i, ys in enumerate(sets):
            y[i, [index[c] for c in ys]] = 1.0
        return y


SPREAD_LIMIT = 100.0  # series_norm auto: on when the training series' scales differ by more than this


def per_series(s: np.ndarray) -> np.ndarray:
    """(T, F) -> (T, 3F): each feature z-normalised by this series' own mean and std (its shape), then the
    series' level asinh(mean) and log-scale log(std) repeated along T, so amplitude is kept but no longer
    swamps the shape (sets whose series differ in scale by orders of magnitude, such as appliance currents)."""
    mu, sd = s.mean(0, keepdims=True), s.std(0, keepdims=True)  # (1, F) each
    shape = (s - mu) / np.where(sd > 1e-8, sd, 1.0)  # (T, F)
    level = np.broadcast_to(np.arcsinh(mu), s.shape)  # (T, F)
    scale = np.broadcast_to(np.log(sd + 1e-6), s.shape)  # (T, F)
    return np.concatenate([shape, level, scale], axis=1).astype(np.float32)  # (T, 3F)


def scale_spread(seqs: list[np.ndarray]) -> float:
    """How far the series' scales differ: the 90th over the 10th percentile of their std, worst feature
    (1 for sets already z-normalised series by series, like most of the UCR archive)."""
    sd = np.stack([s.std(0) for s in seqs])  # (N, F)
    lo, hi = np.percentile(sd, [10, 90], axis=0)  # (F,) each
    return float(np.max(hi / np.maximum(lo, 1e-12)))
