"""NB-weighted n-gram features beside the recurrent encoder (Wang & Manning 2012, NBSVM): binarized word
uni+bigrams scaled by their naive-Bayes log-count ratio, a logistic regression on them, and its probabilities
mixed with the network's by a weight chosen on the validation split. Strong on short polarity texts, where a
recurrent model trained from scratch has too little data.

Fitting needs scikit-learn (the data extra); applying the fitted model is numpy only (a dictionary of term
weights saved in encoding.json), so the ONNX runtime and serving use it unchanged.

Notation: N texts, V terms, C classes (two classes: one logit, the second class's).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

TOKEN = re.compile(r"(?u)\b\w\w+\b|[!?]")  # scikit-learn's word pattern, plus ! and ? (they carry polarity)
MIXES = (0.0, 0.2, 0.35, 0.5, 0.65, 0.8, 1.0)  # weights of the n-gram model tried on validation


def terms(text: str) -> list[str]:
    """A text's distinct lower-cased word unigrams and bigrams."""
    words = TOKEN.findall(text.lower())
    return sorted(set(words) | {f"{a} {b}" for a, b in itertools.pairwise(words)})


@dataclass
class NgramModel:
    """The fitted n-gram logistic regression: a weight per (term, class) and a bias per class, and `mix`, the
    weight of its log-probabilities against the network's (0: the network alone)."""

    vocab: dict[str, int]
    weights: np.ndarray  # (V, C') with C' = 1 (two classes) or C
    bias: np.ndarray  # (C',)
    mix: float = 0.0

    @classmethod
    def fit(cls, texts: list[str], y: np.ndarray, n_classes: int, alpha: float = 1.0, c: float = 1.0) -> NgramModel:
        """Binarized n-grams seen in >= 2 texts, scaled by their NB log-count ratio (two classes; with more,
        unscaled), then an L2 logistic regression on them."""
        from scipy import sparse
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.linear_model import LogisticRegression

        vec = CountVectorizer(analyzer=terms, binary=True, min_df=2)
        x = vec.fit_transform(texts).astype(np.float64)  # (N, V) 0/1
        # (V,) log p(term | class 1) / p(term | class 0)
        scale = _ratio(x, y == 1, alpha) if n_classes == 2 else np.ones(x.shape[1])
        clf = LogisticRegression(C=c, max_iter=3000).fit(x @ sparse.diags(scale), y)
        weights = clf.coef_.T * scale[:, None]  # (V, C'): the scaled features' weights, folded back onto 0/1
        return cls(dict(vec.vocabulary_), weights.astype(np.float32), clf.intercept_.astype(np.float32))

    def logits(self, texts: list[str]) -> np.ndarray:
        """(N, C) class scores (two classes: 0 and the regression's logit)."""
        out = np.empty((len(texts), self.weights.shape[1]), dtype=np.float32)
        for i, t in enumerate(texts):
            rows = [self.vocab[w] for w in terms(t) if w in self.vocab]
            out[i] = self.weights[rows].sum(0) + self.bias
        return np.concatenate([np.zeros_like(out), out], 1) if out.shape[1] == 1 else out

    def probabilities(self, texts: list[str]) -> np.ndarray:
        return _softmax(self.logits(texts))

    def mixed(self, net_probs: np.ndarray, texts: list[str], mix: float | None = None) -> np.ndarray:
        """The network's (N, C) probabilities mixed with this model's: a weighted mean of log-probabilities,
        renormalised."""
        w = self.mix if mix is None else mix
        if w == 0:
            return net_probs
        log_p = (1 - w) * np.log(np.clip(net_probs, 1e-12, 1)) + w * np.log(self.probabilities(texts))
        return _softmax(log_p)

    def choose_mix(self, net_probs: np.ndarray, texts: list[str], y: np.ndarray) -> dict[str, float]:
        """Set `mix` to the weight with the best validation accuracy (ties: the lower log loss); returns each
        weight's accuracy."""
        scored = {}
        for w in MIXES:
            p = self.mixed(net_probs, texts, w)
            acc = float((p.argmax(1) == y).mean())
            loss = float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1)).mean())
            scored[w] = (acc, -loss)
        self.mix = max(scored, key=lambda w: scored[w])
        return {str(w): a for w, (a, _) in scored.items()}

    def to_dict(self) -> dict[str, Any]:
        terms_ = sorted(self.vocab, key=self.vocab.get)
        return {
            "terms": terms_,
            "weights": np.round(self.weights, 6).tolist(),
            "bias": self.bias.tolist(),
            "mix": self.mix,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NgramModel:
        return cls(
            {t: i for i, t in enumerate(d["terms"])},
            np.asarray(d["weights"], dtype=np.float32).reshape(len(d["terms"]), -1),
            np.asarray(d["bias"], dtype=np.float32),
            float(d["mix"]),
        )


def _ratio(x: Any, positive: np.ndarray, alpha: float) -> np.ndarray:
    """(V,) log of the smoothed, normalised term counts of the positive rows over the others'."""
    p = alpha + np.asarray(x[positive].sum(0)).ravel()
    q = alpha + np.asarray(x[~positive].sum(0)).ravel()
    return np.log((p / p.sum()) / (q / q.sum()))


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)
