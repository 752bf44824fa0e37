"""A language model's records for serving (torch-free: the PyTorch model and the ONNX runtime share them)."""

from __future__ import annotations

from typing import Any

from lstmkit.deploy.records import check_records

NUM = {"type": "number"}
GENERATE = {"type": "object", "required": ["prompt"], "additionalProperties": False,
            "properties": {"prompt": {"type": "string"}, "max_new_tokens": {"type": "integer"},
                           "temperature": NUM, "top_k": {"type": "integer"}, "top_p": NUM,
                           "repetition_penalty": NUM, "seed": {"type": ["integer", "null"]}}}  # fmt: skip


def schema(stateful: bool) -> dict[str, Any]:
    """One input record is a prompt with sampling options; one output record its completion. A stateful
    model (the PyTorch one) also reads text step by step: `step_input` / `step_output`."""
    out = {"type": "object", "properties": {"prompt": {"type": "string"}, "completion": {"type": "string"}}}
    doc: dict[str, Any] = {"task": "lm", "stateful": stateful, "input": GENERATE, "output": out}
    if stateful:
        top = {"type": "array", "items": {"type": "object", "properties": {"token": {"type": "string"}, "prob": NUM}}}
        doc["step_input"] = {"type": "object", "required": ["text"], "additionalProperties": False,
                             "properties": {"text": {"type": "string"}}}  # fmt: skip
        doc["step_output"] = {"type": "object", "properties": {"tokens": {"type": "integer"}, "logprob": NUM,
                                                               "next": top}}  # fmt: skip
    return doc


def predict_records(model: Any, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each {"prompt": ..., sampling options} -> {"prompt", "completion"} (default: 100 tokens, T 0.8)."""
    out = []
    for r in check_records(records, model.schema()):
        opts = {k: v for k, v in r.items() if k not in ("prompt", "max_new_tokens")}
        text = model.generate(r["prompt"], r.get("max_new_tokens", 100), **{"temperature": 0.8, **opts})[0]
        out.append({"prompt": r["prompt"], "completion": text})
    return out
