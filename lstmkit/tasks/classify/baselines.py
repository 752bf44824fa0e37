"""The baselines every evaluation table shows, trained on the same training split: the majority class;
TF-IDF + logistic regression and NBSVM for texts (NBSVM with two classes; scikit-learn, the data extra); 1-NN
with Euclidean distance on sequences resampled to one length and 1-NN with dynamic time warping for numbers
(the UCR archive's classic 1-NN ED and 1-NN DTW, full window)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from lstmkit.data.labelled import Labelled

log = logging.getLogger(__name__)


def majority(counts: list[int], n: int) -> np.ndarray:
    """(n,) predictions of the most frequent training class."""
    return np.full(n, int(np.argmax(counts)))


def tfidf_logreg(train: Labelled, test: Labelled, classes: list[str]) -> np.ndarray | None:
    """Word uni+bigram TF-IDF and a logistic regression, or None without scikit-learn."""
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        log.warning("scikit-learn is not installed: no TF-IDF baseline (pip install 'lstmkit[data]')")
        return None
    vec, clf = _tfidf(), LogisticRegression(max_iter=2000, C=4.0)
    index = {c: i for i, c in enumerate(classes)}
    clf.fit(vec.fit_transform(train.texts), [index[y] for y in train.labels])
    return clf.predict(vec.transform(test.texts))


def nbsvm(train: Labelled, test: Labelled, classes: list[str]) -> np.ndarray:
    """NB-weighted binarized uni+bigrams and a logistic regression (Wang & Manning 2012's NBSVM, LR form):
    the n-gram model lstmkit mixes with its network, alone."""
    from lstmkit.tasks.classify.ngrams import NgramModel

    index = {c: i for i, c in enumerate(classes)}
    model = NgramModel.fit(train.texts, np.array([index[y] for y in train.labels]), len(classes))
    return model.probabilities(test.texts).argmax(1)


def _tfidf() -> Any:
    """Word uni+bigram TF-IDF, sublinear counts (the baseline's features, single- and multi-label alike)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)


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


def dtw(a: list[np.ndarray], b: list[np.ndarray]) -> np.ndarray:
    """(len(b), len(a)) DTW distances (full window; squared Euclidean cost over features, the sum along the
    best path, as the UCR archive's DTW). Sequences may differ in length: padded cells never reach a result."""
    A, la = _padded(a)  # (Na, Ta, F), (Na,)
    B, lb = _padded(b)  # (Nb, Tb, F)
    out = np.empty((len(b), len(a)))
    prev = np.full((A.shape[1] + 1, len(b), len(a)), np.inf)  # D[i-1, :] with a border column
    prev[0] = 0.0
    for i in range(B.shape[1]):
        cost = ((B[:, None, None, i] - A[None]) ** 2).sum(-1).transpose(2, 0, 1)  # (Ta, Nb, Na)
        row = np.full_like(prev, np.inf)
        diag_or_up = np.minimum(prev[:-1], prev[1:])  # (Ta, Nb, Na): D[i-1, j-1], D[i-1, j]
        for j in range(A.shape[1]):
            row[j + 1] = cost[j] + np.minimum(diag_or_up[j], row[j])
        done = lb == i + 1
        out[done] = np.take_along_axis(row[1:, done], (la - 1)[None, None, :].repeat(done.sum(), 1), 0)[0]
        prev = row
    return out


def _padded(seqs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(s) for s in seqs])
    x = np.zeros((len(seqs), lengths.max(), seqs[0].shape[1]))
    for k, s in enumerate(seqs):
        x[k, : len(s)] = s
    return x, lengths


def nearest_dtw(train: Labelled, test: Labelled, classes: list[str], chunk: int = 64) -> np.ndarray:
    """1-NN under full-window DTW. Both sides are sorted by length and compared in blocks of `chunk`, so a
    ragged set pads each block only to its own longest sequence (PLAID: 100 to 1,344 steps)."""
    index = {c: i for i, c in enumerate(classes)}
    ytr = np.array([index[y] for y in train.labels])
    by_tr = np.argsort([len(s) for s in train.seqs], kind="stable")
    by_te = np.argsort([len(s) for s in test.seqs], kind="stable")
    dist = np.empty((len(test), len(train)))  # (N_test, N_train)
    for i in range(0, len(test), chunk):
        rows = by_te[i : i + chunk]
        for j in range(0, len(train), chunk):
            cols = by_tr[j : j + chunk]
            dist[np.ix_(rows, cols)] = dtw([train.seqs[k] for k in cols], [test.seqs[k] for k in rows])
    return ytr[dist.argmin(1)]


def dtw_work(train: Labelled, test: Labelled) -> int:
    """Cells DTW fills for every (train, test) pair: the product of the total lengths."""
    return sum(map(len, train.seqs)) * sum(map(len, test.seqs))


DTW_BUDGET = 2e9  # cells x pairs (about 20 s in numpy here); beyond it the DTW baseline is skipped with a warning


def multi_hot(ex: Labelled, classes: list[str]) -> np.ndarray:
    """(N, C) 0/1 of each example's classes (unknown classes ignored)."""
    index = {c: i for i, c in enumerate(classes)}
    y = np.zeros((len(ex), len(classes)), dtype=int)
    for i, ys in enumerate(ex.label_sets()):
        y[i, [index[c] for c in ys if c in index]] = 1
    return y


def multi_label_baselines(train: Labelled, test: Labelled, classes: list[str]) -> dict[str, np.ndarray]:
    """(N, C) 0/1 predictions: every class more common than not (the majority per class), and TF-IDF + one
    logistic regression per class (texts) or the nearest training example's set (numbers)."""
    ytr = multi_hot(train, classes)
    out = {"majority": np.repeat((ytr.mean(0) > 0.5)[None].astype(int), len(test), 0)}
    if train.texts is not None:
        try:
            from sklearn.linear_model import LogisticRegression
            from sklearn.multiclass import OneVsRestClassifier
        except ImportError:
            log.warning("scikit-learn is not installed: no TF-IDF baseline (pip install 'lstmkit[data]')")
            return out
        vec = _tfidf()
        clf = OneVsRestClassifier(LogisticRegression(max_iter=2000, C=4.0)).fit(vec.fit_transform(train.texts), ytr)
        out["tfidf_logreg"] = clf.predict(vec.transform(test.texts))
    else:
        single = Labelled([str(i) for i in range(len(train))], seqs=train.seqs)
        out["nn1_euclidean"] = ytr[nearest_neighbour(single, test, single.labels)]
    return out


def baselines(train: Labelled, test: Labelled, classes: list[str], counts: list[int]) -> dict[str, np.ndarray]:
    """Each baseline's test predictions: (N,) class ids, or (N, C) 0/1 for multi-label data."""
    if train.multi_label:
        return multi_label_baselines(train, test, classes)
    out = {"majority": majority(counts, len(test))}
    if train.texts is not None:
        tfidf = tfidf_logreg(train, test, classes)
        if tfidf is not None:
            out["tfidf_logreg"] = tfidf
        if tfidf is not None and len(classes) == 2:
            out["nbsvm"] = nbsvm(train, test, classes)
    else:
        out["nn1_euclidean"] = nearest_neighbour(train, test, classes)
        work = dtw_work(train, test)
        if work <= DTW_BUDGET:
            out["nn1_dtw"] = nearest_dtw(train, test, classes)
        else:
            log.warning("1-NN DTW baseline skipped: %.1e cell comparisons is too much work", work)
    return out
