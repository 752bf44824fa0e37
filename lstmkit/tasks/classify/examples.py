"""A tiny classifier and example inputs: what the registry-driven tests (tests/deploy/test_protocol.py) and the
saved-model fixtures (tests/fixtures/make_models.py) use for this task. Nothing here runs in normal use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

TINY = {"max_steps": 3, "progress": False}


def make(out: Path, where: Path) -> None:
    """Train a tiny char-level sentiment model on four phrases and save it to `out`."""
    import pandas as pd

    from lstmkit.tasks.classify import Classifier

    words = ["good film", "great plot", "bad film", "awful plot"] * 30
    frame = pd.DataFrame({"text": words, "label": ["pos", "pos", "neg", "neg"] * 30})
    c = Classifier(tokenizer="char", hidden_size=8, embedding_size=8, out=str(where / "run-classify"), **TINY)
    c.fit(frame).save(out)


def answer(model: Any, where: Path) -> Any:
    """What a saved model must keep answering: the positive class's probability of two texts."""
    return model.predict(["good plot", "awful film"])["p_pos"].round(6).tolist()


def inputs(where: Path) -> dict[str, Any]:
    return {
        "records": [{"text": "good plot"}, {"text": "awful film"}],
        "bad": [{"text": 3}],
        "bad_field": "text",
        "probe": {"text": "good film"},
    }
