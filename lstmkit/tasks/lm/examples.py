"""A tiny language model and example inputs: what the registry-driven tests (tests/deploy/test_protocol.py) and
the saved-model fixtures (tests/fixtures/make_models.py) use for this task. Nothing here runs in normal use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

TINY = {"max_steps": 3, "progress": False}


def make(out: Path, where: Path) -> None:
    """Train a tiny model on a repeated line (written to `where`/tiny.txt) and save it to `out`."""
    from lstmkit.tasks.lm import LanguageModel

    text = where / "tiny.txt"
    text.write_text("to be or not to be, that is the question. " * 40, encoding="utf-8")
    lm = LanguageModel(
        text=str(text),
        hidden_size=16,
        embedding_size=8,
        num_layers=1,
        bptt=16,
        batch_size=4,
        out=str(where / "run-lm"),
        **TINY,
    )
    lm.fit().save(out)


def answer(model: Any, where: Path) -> Any:
    """What a saved model must keep answering: a greedy continuation."""
    return model.generate("to be", max_new_tokens=20, temperature=0)[0]


def inputs(where: Path) -> dict[str, Any]:
    return {
        "records": [{"prompt": "to be", "max_new_tokens": 8, "temperature": 0, "seed": 1}],
        "bad": [{"prompt": 3}],
        "bad_field": "prompt",
        "steps": ({"text": "to be or "}, {"text": "not to be"}, {"text": "to be or not to be"}),
        "probe": None,
    }


def step_answer(out: dict[str, Any]) -> Any:
    """The likeliest next token and its probability after reading the text."""
    return [out["next"][0]["token"], out["next"][0]["prob"]]
