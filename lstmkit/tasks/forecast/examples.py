"""A tiny forecaster and example inputs: what the registry-driven tests (tests/deploy/test_protocol.py) and the
saved-model fixtures (tests/fixtures/make_models.py) use for this task. Nothing here runs in normal use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TINY = {"max_steps": 3, "progress": False}


def _air() -> Any:
    from lstmkit.data.builtin_series import load_builtin

    return load_builtin("air-passengers")[0]


def make(out: Path, where: Path) -> None:
    """Train a tiny model on air-passengers and save it to `out` (`where`: a folder for inputs and runs)."""
    from lstmkit.tasks.forecast import Forecaster

    f = Forecaster(horizon=4, hidden_size=8, num_layers=1, steps_per_epoch=3, out=str(where / "run-forecast"), **TINY)
    f.fit("air-passengers").save(out)


def answer(model: Any, where: Path) -> Any:
    """What a saved model must keep answering: the median forecast of air-passengers."""
    return model.predict("air-passengers")["y_hat"].round(6).tolist()


def inputs(where: Path) -> dict[str, Any]:
    """Records (history rows), a bad request and the field it lacks, step inputs (two halves and the whole),
    and the probe's inputs."""
    rows = json.loads(_air().assign(ds=lambda d: d.ds.astype(str)).to_json(orient="records"))
    return {
        "records": rows,
        "bad": [{"unique_id": "x", "y": 1.0}],
        "bad_field": "ds",
        "steps": ({"rows": rows[:100]}, {"rows": rows[100:]}, {"rows": rows}),
        "probe": {"data": "air-passengers"},
    }


def step_answer(out: dict[str, Any]) -> Any:
    """The part of a step's output that reading in two steps must share with reading at once."""
    return [r["y_hat"] for r in out["forecast"]]
