"""Cross-validation for small labelled sets: when the held-out test share would be a handful of examples (a
2-example test split says nothing), every example is scored once by a model trained on the other folds, the
baselines on the same folds, and the report pools the out-of-fold predictions.

Notation: N examples, C classes, k folds.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lstmkit.data.labelled import Labelled
from lstmkit.tasks.classify.baselines import baselines
from lstmkit.tasks.classify.features import by_class

if TYPE_CHECKING:
    from lstmkit.tasks.classify.classifier import Classifier

log = logging.getLogger(__name__)
MIN_TEST = 30  # a held-out test split of fewer examples is replaced by cross-validation
MAX_FOLDS = 5


def fold_count(full: Labelled, test_fraction: float, given_test: bool, folds: int = -1) -> int:
    """How many folds to cross-validate with: `folds` when it is >= 2, 0 when it is 0, when a test set is
    given or when the test share holds >= MIN_TEST examples (or test_fraction is 0); else up to MAX_FOLDS, no
    more than the rarest class has examples."""
    if folds == 0 or given_test or (folds < 0 and (test_fraction == 0 or round(test_fraction * len(full)) >= MIN_TEST)):
        return 0
    want = folds if folds >= 2 else MAX_FOLDS
    if full.multi_label:
        return min(want, len(full))
    rarest = int(min(np.unique(full.labels, return_counts=True)[1]))
    if rarest < 2:
        log.warning("a class has one example: no cross-validation; the test split's score says little")
        return 0
    if rarest < want:
        log.warning("%d folds asked, but the rarest class has %d examples: %d folds", want, rarest, rarest)
    return min(want, rarest)


def stratified_folds(labels: list[str], k: int, seed: int) -> np.ndarray:
    """(N,) fold of each example: each class dealt round-robin over the folds after a seeded shuffle."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(labels), dtype=int)
    start = 0
    for _, idx in sorted(by_class(labels).items()):
        fold[rng.permutation(idx)] = (start + np.arange(len(idx))) % k
        start += len(idx)  # the next class begins where this one ended: folds stay even in size
    return fold


def cross_validate(model: Classifier, full: Labelled, k: int, out: Path) -> dict[str, Any]:
    """Train one model per fold (same settings, under `out`/fold-i), score each held-out fold, and pool: the
    report of `Classifier.evaluate`, with `cv` (folds, per-fold accuracy) and the split named."""
    from lstmkit.tasks.classify.classifier import Classifier

    strata = [""] * len(full) if full.multi_label else full.labels
    fold = stratified_folds(strata, k, model.config.split_seed_or(model.train_config.seed))
    classes = model.classes
    rows: dict[str, list[np.ndarray]] = {}
    probs, order, per_fold = [], [], []
    for i in range(k):
        train, held = full.take(np.flatnonzero(fold != i)), full.take(np.flatnonzero(fold == i))
        log.info("cross-validation: fold %d of %d (%d examples held out)", i + 1, k, len(held))
        cfg = dataclasses.replace(model.config, test_fraction=0.0, test_data=None, folds=0)
        run = dataclasses.replace(model.train_config, out=str(out / f"fold-{i + 1}"), name=None, track=None)
        sub = Classifier(config=cfg, train=run).fit(train)
        p = _aligned(sub.probabilities(held), sub.classes, classes)
        probs.append(p)
        order.append(np.flatnonzero(fold == i))
        enc = sub._ready()[1]
        for name, pred in baselines(train, held, enc.classes, enc.counts).items():
            rows.setdefault(name, []).append(_remap(pred, enc.classes, classes))
        per_fold.append(float(model.score(held, p, {})["test"]["accuracy"]))
    idx = np.concatenate(order)
    ex = full.take(idx)
    report = model.score(ex, np.concatenate(probs), {n: np.concatenate(v) for n, v in rows.items()})
    report["split"] = f"{k}-fold cross-validation of {full.source}"
    report["cv"] = {"folds": k, "accuracy": per_fold, "runs": str(out)}
    return report


def _aligned(p: np.ndarray, have: list[str], want: list[str]) -> np.ndarray:
    """(N, C') probabilities over `have` -> (N, C) over `want` (a class a fold never trained on: 0)."""
    out = np.zeros((len(p), len(want)), dtype=p.dtype)
    for j, c in enumerate(have):
        out[:, want.index(c)] = p[:, j]
    return out


def _remap(pred: np.ndarray, have: list[str], want: list[str]) -> np.ndarray:
    """Class ids (N,) or 0/1 sets (N, C') over `have` -> over `want`."""
    if pred.ndim == 1:
        return np.asarray([want.index(have[j]) for j in pred], dtype=int)
    return _aligned(pred, have, want).astype(int)
