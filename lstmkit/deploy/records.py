"""Records as serving and the inference protocol see them: checked against a JSON schema, to and from pandas,
several requests predicted together. Torch-free, so the ONNX runtimes share it."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from lstmkit.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd


class RequestError(UsageError):
    """A record or a state does not fit the model's schema; the message names the field and what it needs."""


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

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list, tuple),
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
}


def check(value: Any, schema: dict[str, Any], where: str = "record") -> None:
    """Check a value against the JSON-schema subset our schemas use (type, properties, required,
    additionalProperties, items, minItems, enum); a RequestError names the first field that does not fit."""
    types = schema.get("type")
    if types is not None:
        names = types if isinstance(types, list) else [types]
        ok = any(
            isinstance(value, _TYPES[t]) and not (t in ("number", "integer") and isinstance(value, bool))
            for t in names
            if t != "null"
        ) or ("null" in names and value is None)
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

    return [
        {k: v for k, v in row.items() if not (isinstance(v, float) and pd.isna(v))}
        for row in frame.to_dict(orient="records")
    ]


def frame_of(records: list[dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame.from_records(records)
