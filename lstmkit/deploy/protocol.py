"""The inference protocol: what serving, export and inspection call on any loaded model, with no task branches.

Every task's loaded model (what `lstmkit.load` returns) implements `InferenceModel`:

    schema()                     JSON schemas of one input record and one output record
    predict_records(records)     batch prediction: list of dicts in, list of dicts out
    predict_frame(frame)         the same on a pandas DataFrame
    probe(inputs=None)           a `Probe` for `lstmkit inspect`: the recurrent layer and its input

Stateful tasks (a forecaster, a language model) also implement `StatefulModel`:

    initial_state()              the state before any input
    step(state, inputs)          -> (outputs, new state); the state passed in is never modified
    step_inputs(records, extra)  a session's records (and extra request fields) as `step` inputs

Batch serving calls `predict_many(model, requests)`: a model's own `predict_many` where it has one, else one
call over all requests' records when its schema says `"per_record": true` (output i answers input i), else
one call per request.

A `ModelState` is named tensors plus JSON metadata; it snapshots to bytes (safetensors) or to JSON and
restores exactly, so a server can keep a session's state anywhere. Nothing here imports a training framework.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import torch
from torch import Tensor

from lstmkit.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd


class RequestError(UsageError):
    """A record or a state does not fit the model's schema; the message names the field and what it needs."""


@dataclass
class ModelState:
    """A recurrent model's state between steps: named tensors and JSON-able metadata."""

    tensors: dict[str, Tensor] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def copy(self) -> ModelState:
        return ModelState({k: v.detach().clone() for k, v in self.tensors.items()}, json.loads(json.dumps(self.meta)))

    def to_bytes(self) -> bytes:
        from safetensors.torch import save

        tensors = {k: v.detach().to("cpu").contiguous() for k, v in self.tensors.items()}
        return save(tensors, metadata={"lstmkit_state": json.dumps(self.meta, allow_nan=False)})

    @classmethod
    def from_bytes(cls, data: bytes) -> ModelState:
        from safetensors import SafetensorError
        from safetensors.torch import load

        try:
            tensors = load(data)
            header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])  # safetensors' JSON header
        except (SafetensorError, ValueError, IndexError) as err:
            raise RequestError(f"the state bytes are not an lstmkit state snapshot ({err})") from err
        meta = header.get("__metadata__", {}).get("lstmkit_state")
        if meta is None:
            raise RequestError("the state bytes carry no lstmkit state metadata; snapshot them with to_bytes()")
        return cls(tensors, json.loads(meta))

    def to_json(self) -> dict[str, Any]:
        tensors = {k: {"shape": list(v.shape), "dtype": str(v.dtype).removeprefix("torch."),
                       "data": v.detach().cpu().flatten().tolist()} for k, v in self.tensors.items()}  # fmt: skip
        return {"meta": self.meta, "tensors": tensors}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelState:
        try:
            tensors = {k: torch.tensor(t["data"], dtype=getattr(torch, t["dtype"])).view(t["shape"])
                       for k, t in data["tensors"].items()}  # fmt: skip
            return cls(tensors, dict(data["meta"]))
        except (KeyError, TypeError, AttributeError, RuntimeError) as err:
            raise RequestError(f"the JSON state is malformed ({err!r}); pass what ModelState.to_json() gave") from err


@dataclass
class Probe:
    """What `lstmkit inspect` looks at: a recurrent layer (lstmkit.nn), an input batch (B, T, I) for it,
    the lengths, the loss as a function of the layer's output (for gradient flow), and per-step labels
    (e.g. the characters of a text) where the steps have names."""

    layer: torch.nn.Module
    x: Tensor
    lengths: Tensor | None = None
    loss_of_output: Callable[[Tensor], Tensor] | None = None
    labels: list[list[str]] | None = None
    loss_name: str = "the task loss"


@runtime_checkable
class InferenceModel(Protocol):
    """A loaded model as serving, export and inspection see it."""

    task: str

    def schema(self) -> dict[str, Any]: ...

    def predict_records(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]: ...

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame: ...

    def probe(self, inputs: dict[str, Any] | None = None) -> Probe: ...


@runtime_checkable
class StatefulModel(InferenceModel, Protocol):
    """A model whose outputs depend on what it has seen: state in, state out."""

    def initial_state(self) -> ModelState: ...

    def step(self, state: ModelState, inputs: dict[str, Any]) -> tuple[dict[str, Any], ModelState]: ...

    def step_inputs(self, records: list[dict[str, Any]], extra: dict[str, Any]) -> dict[str, Any]: ...


def is_stateful(model: Any) -> bool:
    return isinstance(model, StatefulModel)


def predict_many(model: Any, requests: list[list[dict[str, Any]]]) -> list[list[dict[str, Any]]]:
    """The predictions of several requests (lists of records), batched as far as the model allows."""
    own = getattr(model, "predict_many", None)
    if own is not None:
        return own(requests)
    if len(requests) > 1 and model.schema().get("per_record"):
        out = model.predict_records([r for req in requests for r in req])
        ends = list(itertools.accumulate((len(req) for req in requests), initial=0))
        return [out[a:b] for a, b in itertools.pairwise(ends)]
    return [model.predict_records(req) for req in requests]


# ----------------------------------------------------------------------------------------------------------
# records: checked against a schema, to and from DataFrames

_TYPES: dict[str, tuple[type, ...]] = {"object": (dict,), "array": (list, tuple), "string": (str,),
                                       "number": (int, float), "integer": (int,), "boolean": (bool,)}  # fmt: skip


def check(value: Any, schema: dict[str, Any], where: str = "record") -> None:
    """Check a value against the JSON-schema subset our schemas use (type, properties, required,
    additionalProperties, items, minItems, enum); a RequestError names the first field that does not fit."""
    types = schema.get("type")
    if types is not None:
        names = types if isinstance(types, list) else [types]
        ok = any(isinstance(value, _TYPES[t]) and not (t in ("number", "integer") and isinstance(value, bool))
                 for t in names if t != "null") or ("null" in names and value is None)  # fmt: skip
        if not ok:
            raise RequestError(f"{where} must be {' or '.join(names)}; got {type(value).__name__} {value!r:.60}")
    if "enum" in schema and value not in schema["enum"]:
        raise RequestError(f"{where} must be one of {schema['enum']}; got {value!r}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        missing = [k for k in schema.get("required", []) if k not in value]
        if missing:
            raise RequestError(f"{where} lacks {', '.join(missing)} (required: {', '.join(schema['required'])})")
        if schema.get("additionalProperties") is False:
            extra = sorted(set(value) - set(props))
            if extra:
                raise RequestError(f"{where} has unknown field(s) {', '.join(extra)}; known: {', '.join(props)}")
        for k, v in value.items():
            if k in props:
                check(v, props[k], f"{where}.{k}")
    if isinstance(value, (list, tuple)):
        if len(value) < schema.get("minItems", 0):
            raise RequestError(f"{where} needs at least {schema['minItems']} item(s); got {len(value)}")
        if "items" in schema:
            for i, v in enumerate(value):
                check(v, schema["items"], f"{where}[{i}]")


def check_records(records: Any, schema: dict[str, Any]) -> list[dict[str, Any]]:
    """A list of input records, each checked against the model's input schema."""
    if isinstance(records, dict):
        records = [records]
    if not isinstance(records, (list, tuple)) or not records:
        raise RequestError("expected a non-empty list of input records (JSON objects)")
    for i, r in enumerate(records):
        check(r, schema["input"], f"records[{i}]")
    return list(records)


def records_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """DataFrame rows as records (NaN cells left out, so optional fields take their defaults)."""
    import pandas as pd

    return [{k: v for k, v in row.items() if not (isinstance(v, float) and pd.isna(v))}
            for row in frame.to_dict(orient="records")]  # fmt: skip


def frame_of(records: list[dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame.from_records(records)
