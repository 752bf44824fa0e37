"""A tiny long-range model and example inputs: what the registry-driven tests (tests/deploy/test_protocol.py) and
the saved-model fixtures (tests/fixtures/make_models.py) use for this task. Nothing here runs in normal use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

TINY = {"max_steps": 3, "progress": False}
INPUT = "longrange-input.npy"


def make(out: Path, where: Path) -> None:
    """Train a tiny model on the adding problem (T = 10) and save it to `out`; two input sequences go to `where`."""
    from lstmkit.tasks.longrange import LongRangeModel

    m = LongRangeModel(
        task="adding",
        length=10,
        hidden_size=8,
        steps_per_epoch=3,
        val_size=16,
        test_size=16,
        out=str(where / "run-longrange"),
        **TINY,
    )
    m.fit().save(out)
    np.save(where / INPUT, np.random.default_rng(0).random((2, 10, 2)).astype(np.float32))


def _x(where: Path) -> np.ndarray:
    return np.load(where / INPUT)


def answer(model: Any, where: Path) -> Any:
    """What a saved model must keep answering: its outputs for two fixed sequences."""
    import torch

    return model.predict(torch.from_numpy(_x(where))).round(decimals=6).tolist()


def inputs(where: Path) -> dict[str, Any]:
    x = _x(where)
    return {"records": [{"x": x[0].tolist()}, {"x": x[1].tolist()}], "bad": [{"x": "ten"}], "bad_field": "x"}
