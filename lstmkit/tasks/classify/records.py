"""A classifier's records for serving (torch-free: the PyTorch model and the ONNX runtime share them)."""

from __future__ import annotations

from typing import Any

import numpy as np

from lstmkit.data.labelled import Labelled
from lstmkit.deploy.records import RequestError, check_records


def schema(kind: str, classes: list[str], multi_label: bool, n_features: int) -> dict[str, Any]:
    """One input record is a text ({"text"}) or a (time, features) sequence ({"x"}); one output record the
    prediction (a class, or the classes over the threshold) and every class's probability."""
    if kind == "text":
        inp = {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}
    else:
        step = {"type": "array", "items": {"type": "number"}, "minItems": n_features}
        inp = {
            "type": "object",
            "required": ["x"],
            "additionalProperties": False,
            "properties": {"x": {"type": "array", "items": step, "minItems": 1}},
        }
    probs = {"type": "object", "properties": {c: {"type": "number"} for c in classes}}
    pred = (
        {"type": "array", "items": {"type": "string", "enum": classes}}
        if multi_label
        else {"type": "string", "enum": classes}
    )
    out = {"type": "object", "properties": {"prediction": pred, "probabilities": probs}}
    return {
        "task": "classify",
        "stateful": False,
        "per_record": True,
        "classes": classes,
        "multi_label": multi_label,
        "input": inp,
        "output": out,
    }


def examples(records: list[dict[str, Any]], schema_: dict[str, Any]) -> Labelled:
    """Checked records as unlabelled examples."""
    records = check_records(records, schema_)
    if "text" in schema_["input"]["properties"]:
        return Labelled([""] * len(records), texts=[r["text"] for r in records], source="the records")
    try:
        seqs = [np.asarray(r["x"], dtype=np.float32) for r in records]
    except ValueError as err:
        raise RequestError(f"x must be a rectangular (time, features) array of numbers ({err})") from None
    return Labelled([""] * len(records), seqs=seqs, source="the records")


def answers(probs: np.ndarray, classes: list[str], multi_label: bool, threshold: float) -> list[dict[str, Any]]:
    """Probabilities (N, C) as output records."""
    picks = (
        [[c for c, q in zip(classes, p) if q >= threshold] for p in probs]
        if multi_label
        else [classes[int(p.argmax())] for p in probs]
    )
    return [{"prediction": k, "probabilities": dict(zip(classes, map(float, p)))} for k, p in zip(picks, probs)]
