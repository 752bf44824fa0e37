"""Scores of tag sequences (torch-free): token accuracy, entity-level F1 over BIO spans (as seqeval counts them),
the F1 of a series' positive flag, per-tag precision/recall/F1; and Viterbi decoding for the CRF layer.

Notation: T steps, K tags.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np


def entities(tags: list[str]) -> set[tuple[str, int, int]]:
    """The (type, first, last) spans of one BIO/IOBES sequence. A span starts at B- or S-, or at an I-/E- whose
    type differs from the step before (seqeval's default, lenient mode); it ends before O, B-, S- or a type
    change, and after E- or S-."""
    spans, start, kind = set(), None, None
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, typ = tag.partition("-") if tag != "O" else ("O", "", "")
        ends = start is not None and (prefix in ("O", "B", "S") or typ != kind)
        if ends:
            spans.add((kind, start, i - 1))
            start, kind = None, None
        if prefix in ("B", "S") or (prefix in ("I", "E") and start is None):
            start, kind = i, typ
        if prefix in ("E", "S") and start is not None:
            spans.add((kind, start, i))
            start, kind = None, None
    return spans


def _prf(tp: int, n_pred: int, n_true: int) -> dict[str, float]:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_true if n_true else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def entity_scores(true: list[list[str]], pred: list[list[str]]) -> dict[str, Any]:
    """Micro precision/recall/F1 over entity spans, and per entity type."""
    tp, n_pred, n_true = Counter(), Counter(), Counter()
    for t, p in zip(true, pred):
        ts, ps = entities(t), entities(p)
        for typ, *_ in ts:
            n_true[typ] += 1
        for typ, *_ in ps:
            n_pred[typ] += 1
        for typ, *_ in ts & ps:
            tp[typ] += 1
    per = {k: {**_prf(tp[k], n_pred[k], n_true[k]), "support": n_true[k]} for k in sorted(n_true | n_pred)}
    return {**_prf(sum(tp.values()), sum(n_pred.values()), sum(n_true.values())), "per_type": per}


def tag_scores(true: list[list[str]], pred: list[list[str]], scheme: str, positive: str | None) -> dict[str, Any]:
    """Token accuracy and per-tag scores, with entity-level F1 (bio) or the positive flag's F1 (flags) as `f1`."""
    flat_t = [x for s in true for x in s]
    flat_p = [x for s in pred for x in s]
    if len(flat_t) != len(flat_p):
        raise ValueError("predicted and true tag sequences differ in length")
    hits = sum(a == b for a, b in zip(flat_t, flat_p))
    labels = sorted(set(flat_t) | set(flat_p))
    per = {}
    for lab in labels:
        tp = sum(a == b == lab for a, b in zip(flat_t, flat_p))
        per[lab] = {**_prf(tp, flat_p.count(lab), flat_t.count(lab)), "support": flat_t.count(lab)}
    out: dict[str, Any] = {"accuracy": hits / max(len(flat_t), 1), "steps": len(flat_t), "per_tag": per}
    if scheme == "bio":
        ent = entity_scores(true, pred)
        out |= {"f1": ent["f1"], "precision": ent["precision"], "recall": ent["recall"], "per_type": ent["per_type"]}
    elif scheme == "flags" and positive is not None:
        out |= {k: per.get(positive, _prf(0, 0, 0))[k] for k in ("f1", "precision", "recall")}
    else:
        out["f1"] = float(np.mean([v["f1"] for v in per.values()]))  # macro over tags
    return out


def viterbi(emissions: np.ndarray, length: int, crf: dict[str, np.ndarray]) -> list[int]:
    """The best tag path of one sequence: emissions (T, K) up to `length`, CRF scores start (K,), end (K,),
    transitions (K, K) (from row to column)."""
    e = emissions[:length].astype(np.float64)
    trans = crf["transitions"].astype(np.float64)
    score = crf["start"].astype(np.float64) + e[0]  # (K,)
    back = np.zeros((length, e.shape[1]), dtype=np.int64)
    for t in range(1, length):
        total = score[:, None] + trans  # (K, K): previous tag -> tag
        back[t] = total.argmax(0)
        score = total.max(0) + e[t]
    path = [int((score + crf["end"]).argmax())]
    for t in range(length - 1, 0, -1):
        path.append(int(back[t, path[-1]]))
    return path[::-1]
