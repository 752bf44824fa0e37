"""The baselines every evaluation table shows, trained on the same training split: the majority class, and
TF-IDF + logistic regression (texts; scikit-learn, in the data extra) or 1-nearest-neighbour with Euclidean
distance on sequences resampled to one length (numbers, the UCR archive's classic 1-NN ED)."""

from __future__ import annotations

import logging

import numpy as np

from lstmkit.data.labelled import Labelled

log = logging.getLogger(__name__)


def majority(counts: list[int], n: int) -> np.ndarray:
    """(n,) predictions of the most frequent training class."""
    return np.full(n, int(np.argmax(counts)))


def tfidf_logreg(train: Labelled, test: Labelled, classes: list[str]) -> np.ndarray | None:
    """Word uni+bigram TF-IDF and a logistic regression, or None without scikit-learn."""
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        log.warning("scikit-learn is not installed: no TF-IDF baseline (pip install 'lstmkit[data]')")
        return None
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    xtr = vec.fit_transform(train.texts)
    index = {c: i for i, c in enumerate(classes)}
    clf = LogisticRegression(max_iter=2000, C=4.0).fit(xtr, [index[y] for y in train.labels])
    return clf.predict(vec.transform(test.texts))


def _resample(seqs: list[np.ndarray], length: int) -> np.ndarray:
    """Each (T, F) sequence linearly resampled to `length` steps -> (N, length * F)."""
    out = []
    for s in seqs:
        grid = np.linspace(0, len(s) - 1, length)
        out.append(np.stack([np.interp(grid, np.arange(len(s)), s[:, f]) for f in range(s.shape[1])], 1).ravel())
    return np.stack(out)


def nearest_neighbour(train: Labelled, test: Labelled, classes: list[str], chunk: int = 512) -> np.ndarray:
    """1-NN, Euclidean distance, after resampling every sequence to the training median length."""
    length = int(np.median([len(s) for s in train.seqs]))
    a, b = _resample(train.seqs, length), _resample(test.seqs, length)
    index = {c: i for i, c in enumerate(classes)}
    ytr = np.array([index[y] for y in train.labels])
    preds = []
    for i in range(0, len(b), chunk):
        d = ((b[i : i + chunk, None, :] - a[None]) ** 2).sum(-1)  # (chunk, N)
        preds.append(ytr[d.argmin(1)])
    return np.concatenate(preds)


def baselines(train: Labelled, test: Labelled, classes: list[str], counts: list[int]) -> dict[str, np.ndarray]:
    out = {"majority": majority(counts, len(test))}
    if train.texts is not None:
        tfidf = tfidf_logreg(train, test, classes)
        if tfidf is not None:
            out["tfidf_logreg"] = tfidf
    else:
        out["nn1_euclidean"] = nearest_neighbour(train, test, classes)
    return out
