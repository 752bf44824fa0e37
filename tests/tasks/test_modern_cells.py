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


ALL = ["gru", "rnn", *MODERN]


def _series_frame(n: int = 60) -> pd.DataFrame:
    t = torch.arange(n, dtype=torch.float64)
    y = 20 + 0.3 * t + 4 * torch.sin(2 * torch.pi * t / 12)
    return pd.DataFrame({"ds": pd.date_range("2021-01-01", periods=n, freq="MS"), "y": y.numpy()})


@pytest.mark.parametrize("cell", ALL)
def test_a_forecaster_with_each_cell_folds_rows_as_one_pass_and_reloads(cell, tmp_path):
    """The encoder's state, whatever its layout, is carried: rows folded in two parts forecast as reading them
    all at once; the carried state snapshots through JSON; the saved model forecasts the same."""
    from lstmkit.tasks.forecast import Forecaster

    df = _series_frame()
    f = Forecaster(horizon=4, cell=cell, hidden_size=8, num_layers=2, epochs=1, out=str(tmp_path / "r"), progress=False)
    f.fit(df)
    assert type(f.net.rnn).__name__.lower() == cell
    full = f.predict(df, context="all")
    carried = f.update(df.head(40)).update(df.tail(20)).predict()
    pd.testing.assert_frame_equal(carried, full, atol=1e-4, rtol=1e-4)
    loaded = lstmkit.load(f.save(tmp_path / "m"))
    pd.testing.assert_frame_equal(loaded.predict(df, context="all"), full)
    rows = json.loads(df.assign(ds=df.ds.astype(str)).to_json(orient="records"))
    _, s1 = loaded.step(loaded.initial_state(), {"rows": rows[:40]})
    out, _ = loaded.step(ModelState.from_json(json.loads(json.dumps(s1.to_json()))), {"rows": rows[40:]})
    assert [r["y_hat"] for r in out["forecast"]] == pytest.approx(full["y_hat"].tolist(), abs=1e-4)


@pytest.mark.parametrize("cell", ["gru", *MODERN])
def test_a_translator_with_each_cell_translates_the_same_after_loading(cell, tmp_path):
    """Encoder and decoder both of the cell; greedy and beam search run on its state (beam search reorders
    it), the saved model translates the same, and ONNX export says it covers the lstm cell only."""
    from lstmkit.tasks.translate import Translator

    t = Translator(
        cell=cell, corpus_size=200, hidden_size=8, embedding_size=8, vocab_size=60, out=str(tmp_path / "r"), **TINY
    ).fit("numbers-de-en")
    assert type(t.net.encoder).__name__.lower() == cell
    greedy, beam = t.translate(["one two"]), t.translate(["one two"], beam_size=3)
    assert len(greedy) == len(beam) == 1
    loaded = lstmkit.load(t.save(tmp_path / "m"))
    assert loaded.translate(["one two"]) == greedy and loaded.translate(["one two"], beam_size=3) == beam
    with pytest.raises(UsageError, match="covers the lstm cell"):
        export_model(loaded, tmp_path / "onnx")
