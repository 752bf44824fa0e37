"""The modern cells (--cell slstm|mlstm|minlstm|mingru) in the tasks: train, save, load and answer the same;
a language model's session steps compose and snapshot exactly with every cell's state; export says plainly that
these cells have no ONNX graph yet."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

import lstmkit
from lstmkit.deploy.protocol import ModelState
from lstmkit.errors import UsageError
from lstmkit.registry import export_model

MODERN = ["slstm", "mlstm", "minlstm", "mingru"]
TINY = {"max_steps": 3, "progress": False}


@pytest.mark.parametrize("cell", MODERN)
def test_a_language_model_with_each_cell_steps_and_reloads(cell, tmp_path):
    from lstmkit.tasks.lm import LanguageModel

    text = tmp_path / "t.txt"
    text.write_text("to be or not to be, that is the question. " * 30, encoding="utf-8")
    lm = LanguageModel(
        text=str(text),
        cell=cell,
        hidden_size=16,
        embedding_size=8,
        bptt=16,
        batch_size=4,
        out=str(tmp_path / "run"),
        **TINY,
    ).fit()
    loaded = lstmkit.load(lm.save(tmp_path / "m"))
    assert type(loaded.net.rnn).__name__ == type(lm.net.rnn).__name__
    assert loaded.generate("to be", 12, temperature=0) == lm.generate("to be", 12, temperature=0)
    s0 = loaded.initial_state()
    out_a, s1 = loaded.step(s0, {"text": "to be or "})
    out_b, _ = loaded.step(s1, {"text": "not"})
    whole, _ = loaded.step(s0, {"text": "to be or not"})
    assert out_b["next"][0]["token"] == whole["next"][0]["token"]
    assert out_a["logprob"] + out_b["logprob"] == pytest.approx(whole["logprob"], rel=1e-5)
    again, _ = loaded.step(ModelState.from_json(json.loads(json.dumps(s1.to_json()))), {"text": "not"})
    assert again == out_b
    with pytest.raises(UsageError, match="no ONNX export"):
        export_model(loaded, tmp_path / "onnx")


@pytest.mark.parametrize("cell", MODERN)
def test_a_classifier_with_each_cell_answers_the_same_after_loading(cell, tmp_path):
    from lstmkit.tasks.classify import Classifier

    frame = pd.DataFrame(
        {"text": ["good film", "bad film", "great plot", "awful plot"] * 10, "label": ["pos", "neg", "pos", "neg"] * 10}
    )
    c = Classifier(tokenizer="char", cell=cell, hidden_size=8, embedding_size=8, out=str(tmp_path / "r"), **TINY)
    c.fit(frame)
    again = lstmkit.load(c.save(tmp_path / "m"))
    torch.testing.assert_close(
        torch.tensor(again.predict(["good plot"])["p_pos"].values),
        torch.tensor(c.predict(["good plot"])["p_pos"].values),
    )


@pytest.mark.parametrize("cell", MODERN)
def test_a_tagger_with_each_cell_tags(cell, tmp_path):
    from lstmkit.tasks.tag import Tagger
    from lstmkit.tasks.tag.examples import SENTENCES, write_conll

    data = write_conll(tmp_path / "d.conll", SENTENCES, repeat=5)
    t = Tagger(cell=cell, hidden_size=8, embedding_size=8, min_freq=1, out=str(tmp_path / "r"), **TINY).fit(data)
    assert [len(x) for x in t.tag(["John lives in Rome ."])] == [5]
    assert lstmkit.load(t.save(tmp_path / "m")).tag(data) == t.tag(data)
