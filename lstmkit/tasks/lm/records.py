"""A language model's records for serving (torch-free: the PyTorch model and the ONNX runtime share them)."""

from __future__ import annotations

import math
from typing import Any

from lstmkit.deploy.records import check_records
from lstmkit.errors import UsageError

NUM = {"type": "number"}
GENERATE = {
    "type": "object",
    "required": ["prompt"],
    "additionalProperties": False,
    "properties": {
        "prompt": {"type": "string"},
        "max_new_tokens": {"type": "integer"},
        "temperature": NUM,
        "top_k": {"type": "integer"},
        "top_p": NUM,
        "repetition_penalty": NUM,
        "seed": {"type": ["integer", "null"]},
    },
}


def schema(stateful: bool) -> dict[str, Any]:
    """One input record is a prompt with sampling options; one output record its completion. A stateful
    model (the PyTorch one) also reads text step by step: `step_input` / `step_output`."""
    out = {"type": "object", "properties": {"prompt": {"type": "string"}, "completion": {"type": "string"}}}
    doc: dict[str, Any] = {"task": "lm", "stateful": stateful, "input": GENERATE, "output": out}
    if stateful:
        top = {"type": "array", "items": {"type": "object", "properties": {"token": {"type": "string"}, "prob": NUM}}}
        doc["step_input"] = {
            "type": "object",
            "required": ["text"],
            "additionalProperties": False,
            "properties": {"text": {"type": "string"}},
        }
        doc["step_output"] = {
            "type": "object",
            "properties": {"tokens": {"type": "integer"}, "logprob": NUM, "next": top},
        }
    return doc


def predict_records(model: Any, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each {"prompt": ..., sampling options} -> {"prompt", "completion"} (default: 100 tokens, T 0.8)."""
    out = []
    for r in check_records(records, model.schema()):
        opts = {k: v for k, v in r.items() if k not in ("prompt", "max_new_tokens")}
        text = model.generate(r["prompt"], r.get("max_new_tokens", 100), **{"temperature": 0.8, **opts})[0]
        out.append({"prompt": r["prompt"], "completion": text})
    return out


def check_sampling(temperature: float, top_k: int, top_p: float, repetition_penalty: float, seed: int | None) -> None:
    """Sampling options every generator accepts (a UsageError names the rule broken)."""
    finite = all(math.isfinite(v) for v in (temperature, top_p, repetition_penalty))
    if not finite or temperature < 0 or top_k < 0 or not 0 < top_p <= 1 or repetition_penalty <= 0:
        raise UsageError(
            "sampling needs a finite temperature >= 0, top_k >= 0, 0 < top_p <= 1 and repetition_penalty "
            f"> 0; got temperature={temperature}, top_k={top_k}, top_p={top_p}, "
            f"repetition_penalty={repetition_penalty}"
        )
    if seed is not None and not 0 <= seed < 2**63:
        raise UsageError(f"the sampling seed must be in [0, 2**63); got {seed}")
