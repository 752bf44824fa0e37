"""A tiny translator and example inputs: what the registry-driven tests (tests/deploy/test_protocol.py) and the
saved-model fixtures (tests/fixtures/make_models.py) use for this task. Nothing here runs in normal use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

TINY = {"max_steps": 3, "progress": False}


def make(out: Path, where: Path) -> None:
    """Train a tiny German-to-English numbers model and save it to `out`."""
    from lstmkit.tasks.translate import Translator

    t = Translator(
        corpus_size=300, hidden_size=8, embedding_size=8, vocab_size=120, out=str(where / "run-translate"), **TINY
    )
    t.fit("numbers-de-en").save(out)


def answer(model: Any, where: Path) -> Any:
    """What a saved model must keep answering: two beam-search translations."""
    return model.translate(["siebzehn", "dreihundertzwei"], beam_size=3)


def inputs(where: Path) -> dict[str, Any]:
    return {
        "records": [{"text": "siebzehn"}, {"text": "dreihundertzwei"}],
        "bad": [{"txt": "x"}],
        "bad_field": "text",
        "probe": {"text": "siebzehn"},
    }
