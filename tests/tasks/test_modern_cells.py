"""The modern cells (--cell slstm|mlstm|minlstm|mingru) in the tasks: train, save, load and answer the same;
a language model's session steps compose and snapshot exactly with every cell's state; every cell exports to ONNX
(its loops as ONNX Loop) and answers there as in PyTorch."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

import lstmkit
from lstmkit.deploy.protocol import ModelState
from lstmkit.registry import export_model, load_onnx

MODERN = ["slstm", "mlstm", "minlstm", "mingru"]


def s0_tensors(model):
    """A model's recurrent state as its layer returns it (a named tuple for the modern cells)."""
    _, state = model.net.rnn(torch.zeros(1, 1, model.net.rnn.input_size))
    return state


TINY = {"max_steps": 3, "progress": False}


def test_a_language_models_slstm_forget_gate_defaults_to_sigmoid_and_old_models_keep_theirs(tmp_path):
    """A language model's stream never ends, so its sLSTM takes the sigmoid forget gate by default; a model saved
    before the option existed (no `slstm_forget` in its config) had the exponential gate and must load with it."""
    from lstmkit.tasks.lm import LanguageModel

    text = tmp_path / "t.txt"
    text.write_text("to be or not to be, that is the question. " * 30, encoding="utf-8")
    opts = dict(text=str(text), cell="slstm", hidden_size=16, embedding_size=8, bptt=16, batch_size=4, **TINY)
    assert LanguageModel(**opts, out=str(tmp_path / "a")).fit().net.rnn.forget == "sigmoid"
    old = LanguageModel(**opts, slstm_forget="exp", out=str(tmp_path / "b")).fit()
    path = old.save(tmp_path / "old")
    config = json.loads((path / "config.json").read_text())
    del config["config"]["task"]["slstm_forget"]  # as written before the option
    (path / "config.json").write_text(json.dumps(config))
    loaded = lstmkit.load(path)
    assert loaded.net.rnn.forget == "exp"
    assert loaded.generate("to be", 12, temperature=0) == old.generate("to be", 12, temperature=0)


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
    # the export: the cell's own state tensors as graph inputs/outputs, PyTorch's numbers and greedy tokens
    sig = export_model(loaded, tmp_path / "onnx")
    names = [p["name"] for p in sig["graphs"]["model"]["inputs"]][1:]
    assert names == list(s0_tensors(loaded)._fields)
    onnx_lm = load_onnx(tmp_path / "onnx")
    assert onnx_lm.generate("to be", 12, temperature=0) == lm.generate("to be", 12, temperature=0)
    text = "to be or not to be, that is"
    assert onnx_lm.evaluate(text)["bpc"] == pytest.approx(loaded.evaluate(text)["bpc"], rel=1e-4)


@pytest.mark.parametrize("cell", MODERN)
def test_a_classifier_with_each_cell_answers_the_same_after_loading(cell, tmp_path):
    from lstmkit.tasks.classify import Classifier

    frame = pd.DataFrame(
        {"text": ["good film", "bad film", "great plot", "awful plot"] * 10, "label": ["pos", "neg", "pos", "neg"] * 10}
    )
    opts = {"tokenizer": "char", "cell": cell, "hidden_size": 8, "embedding_size": 8, "folds": 0, **TINY}
    c = Classifier(out=str(tmp_path / "r"), **opts)
    c.fit(frame)
    again = lstmkit.load(c.save(tmp_path / "m"))
    torch.testing.assert_close(
        torch.tensor(again.predict(["good plot"])["p_pos"].values),
        torch.tensor(c.predict(["good plot"])["p_pos"].values),
    )
    export_model(again, tmp_path / "onnx")
    texts = ["good plot", "an awful film with a bad plot", "great"]
    torch.testing.assert_close(
        torch.tensor(load_onnx(tmp_path / "onnx").predict(texts)["p_pos"].values),
        torch.tensor(again.predict(texts)["p_pos"].values),
        rtol=1e-4,
        atol=1e-5,
    )


@pytest.mark.parametrize("cell", MODERN)
def test_a_tagger_with_each_cell_tags(cell, tmp_path):
    from lstmkit.tasks.tag import Tagger
    from lstmkit.tasks.tag.examples import SENTENCES, write_conll

    data = write_conll(tmp_path / "d.conll", SENTENCES, repeat=5)
    t = Tagger(cell=cell, hidden_size=8, embedding_size=8, min_freq=1, out=str(tmp_path / "r"), **TINY).fit(data)
    assert [len(x) for x in t.tag(["John lives in Rome ."])] == [5]
    loaded = lstmkit.load(t.save(tmp_path / "m"))
    assert loaded.tag(data) == t.tag(data)
    export_model(loaded, tmp_path / "onnx")
    assert load_onnx(tmp_path / "onnx").tag(data) == t.tag(data)


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
    export_model(loaded, tmp_path / "onnx")
    onnx_fc = load_onnx(tmp_path / "onnx").predict(df)
    np.testing.assert_allclose(onnx_fc["y_hat"], loaded.predict(df)["y_hat"], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("cell", ["gru", *MODERN])
def test_a_translator_with_each_cell_translates_the_same_after_loading(cell, tmp_path):
    """Encoder and decoder both of the cell; greedy and beam search run on its state (beam search reorders
    it), the saved model translates the same, and its ONNX export (encoder + decoder step with the cell's
    named state) gives PyTorch's greedy and beam translations on onnxruntime."""
    from lstmkit.tasks.translate import Translator

    t = Translator(
        cell=cell, corpus_size=200, hidden_size=8, embedding_size=8, vocab_size=60, out=str(tmp_path / "r"), **TINY
    ).fit("numbers-de-en")
    assert type(t.net.encoder).__name__.lower() == cell
    greedy, beam = t.translate(["one two"]), t.translate(["one two"], beam_size=3)
    assert len(greedy) == len(beam) == 1
    loaded = lstmkit.load(t.save(tmp_path / "m"))
    assert loaded.translate(["one two"]) == greedy and loaded.translate(["one two"], beam_size=3) == beam
    export_model(loaded, tmp_path / "onnx")
    onnx = load_onnx(tmp_path / "onnx")
    texts = ["one two", "three four five six", "seven"]
    assert onnx.translate(texts) == loaded.translate(texts)
    assert onnx.translate(texts, beam_size=3) == loaded.translate(texts, beam_size=3)


@pytest.mark.parametrize("cell", MODERN)
def test_a_longrange_graph_of_each_cell_continues_a_stream(cell, tmp_path):
    """The exported graph reads a padded batch from a state and returns the state after each sequence's last
    real step, as the PyTorch layer does; reading in two parts equals reading at once."""
    from lstmkit.deploy.onnx_runtime import OnnxRunner
    from lstmkit.tasks.longrange import LongRangeModel

    m = LongRangeModel(problem="adding", length=10, cell=cell, hidden_size=8, max_steps=2, progress=False)
    m.fit()
    export_model(m, tmp_path / "onnx")
    runner, net = OnnxRunner(tmp_path / "onnx"), m._ready()
    g = torch.Generator().manual_seed(0)
    x, lengths = torch.randn(3, 9, 2, generator=g), torch.tensor([9, 5, 1])
    with torch.no_grad():
        _, s0 = net.rnn(torch.randn(3, 4, 2, generator=g))
        out, s1 = net.rnn(x, s0, lengths=lengths)
    got = runner.run(
        "model", {"x": x.numpy(), "lengths": lengths.numpy(), **{f"{k}0": v.numpy() for k, v in s0._asdict().items()}}
    )
    np.testing.assert_allclose(got["y"], net.readout(out, lengths).detach().numpy(), rtol=1e-4, atol=1e-5)
    for k, v in s1._asdict().items():
        np.testing.assert_allclose(got[k], v.numpy(), rtol=1e-4, atol=1e-5)
    first = runner.run(
        "model",
        {
            "x": x[:1, :4].numpy(),
            "lengths": np.array([4]),
            **{f"{k}0": v[:, :1].numpy() for k, v in s0._asdict().items()},
        },
    )
    rest = runner.run(
        "model", {"x": x[:1, 4:].numpy(), "lengths": np.array([5]), **{f"{k}0": first[k] for k in s0._fields}}
    )
    for k in s0._fields:
        np.testing.assert_allclose(rest[k], got[k][:, :1], rtol=1e-4, atol=1e-5)
