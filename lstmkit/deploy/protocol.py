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

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import torch
from torch import Tensor

from lstmkit.deploy.records import RequestError, check, check_records, frame_of, predict_many, records_of

__all__ = [
    "InferenceModel",
    "ModelState",
    "Probe",
    "RequestError",
    "StatefulModel",
    "check",
    "check_records",
    "frame_of",
    "is_stateful",
    "predict_many",
    "records_of",
]

if TYPE_CHECKING:
    import pandas as pd


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
        tensors = {
            k: {
                "shape": list(v.shape),
                "dtype": str(v.dtype).removeprefix("torch."),
                "data": v.detach().cpu().flatten().tolist(),
            }
            for k, v in self.tensors.items()
        }
        return {"meta": self.meta, "tensors": tensors}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelState:
        try:
            tensors = {
                k: torch.tensor(t["data"], dtype=getattr(torch, t["dtype"])).view(t["shape"])
                for k, t in data["tensors"].items()
            }
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
    """A loaded model as serving, export and inspection see it: its task's name and declared capabilities
    (tasks.spec.Capabilities: generates_text, inputs; serving and the web page read them, never the name)."""

    task: str
    capabilities: Any

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
