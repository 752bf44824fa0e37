"""A translator's records for serving (torch-free: the PyTorch model and the ONNX runtime share them)."""

from __future__ import annotations

from typing import Any

from lstmkit.deploy.records import check_records


def schema(decoding: dict[str, Any]) -> dict[str, Any]:
    """One input record is a source sentence; one output record its best translation and its score."""
    inp = {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}
    out = {"type": "object", "properties": {"translation": {"type": "string"}, "score": {"type": "number"}}}
    return {
        "task": "translate",
        "stateful": False,
        "per_record": True,
        "input": inp,
        "output": out,
        "decoding": decoding,
    }


def predict_records(model: Any, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each {"text": source} -> {"translation", "score"}, decoded together with the model's default decoding."""
    records = check_records(records, model.schema())
    hyps = model.hypotheses([r["text"] for r in records])
    return [{"translation": model.vocab.decode_tgt(h[0].tokens), "score": h[0].score} for h in hyps]
