"""A tiny tagger and example inputs: what the registry-driven tests (tests/deploy/test_protocol.py) and the
saved-model fixtures (tests/fixtures/make_models.py) use for this task. Nothing here runs in normal use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

TINY = {"max_steps": 3, "progress": False}
SENTENCES = [
    ("John lives in Berlin .", "B-PER O O B-LOC O"),
    ("Mary visited Paris and Rome .", "B-PER O B-LOC O B-LOC O"),
    ("the film was good .", "O O O O O"),
    ("Anna Smith works in London .", "B-PER I-PER O O B-LOC O"),
]


def write_conll(path: Path, sentences: list[tuple[str, str]], repeat: int = 1) -> Path:
    """Sentences (tokens, tags as space-separated strings) as a CoNLL file: a token and its tag per line."""
    blocks = ["\n".join(f"{w} {t}" for w, t in zip(s.split(), tags.split())) for s, tags in sentences * repeat]
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return path


def make(out: Path, where: Path) -> None:
    """Train a tiny named-entity tagger on a few sentences (written to `where`/tiny.conll) and save it to `out`."""
    from lstmkit.tasks.tag import Tagger

    data = write_conll(where / "tiny.conll", SENTENCES, repeat=10)
    t = Tagger(hidden_size=8, embedding_size=8, min_freq=1, out=str(where / "run-tag"), **TINY)
    t.fit(data).save(out)


def answer(model: Any, where: Path) -> Any:
    """What a saved model must keep answering: each tag's probability at every step of a sentence."""
    frame = model.predict(["Mary lives in London ."])
    return frame[[c for c in frame.columns if c.startswith("p_")]].round(6).to_numpy().tolist()


def inputs(where: Path) -> dict[str, Any]:
    return {
        "records": [{"tokens": ["John", "visited", "Rome", "."]}, {"text": "the film was good"}],
        "bad": [{"tokens": "John"}],
        "bad_field": "tokens",
        "probe": {"text": "John lives in Berlin ."},
    }
