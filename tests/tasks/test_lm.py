"""Language models: the stream batcher, carried state, cached generation, sampling controls, learning."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

import lstmkit
from lstmkit.cli import main
from lstmkit.config import ConfigError
from lstmkit.data.text import Corpus, TextError
from lstmkit.errors import UsageError
from lstmkit.tasks.lm import LanguageConfig, LanguageModel
from lstmkit.tasks.lm.predictor import Sampling, filter_logits
from lstmkit.tasks.lm.task import LanguageTask, StreamBatches, bptt_lengths, columns
from tests.helpers import strict_json
from tests.tasks.conformance import check_task

TEXT = "".join(f"{w} " for w in ["the cat sat on the mat.", "a dog ate the hat.", "we sing all day long."] * 200)
SMALL = {"embedding_size": 16, "hidden_size": 32, "num_layers": 1, "bptt": 16}


def corpus() -> Corpus:
    n = len(TEXT)
    return Corpus(TEXT[: int(n * 0.8)], TEXT[int(n * 0.8) : int(n * 0.9)], TEXT[int(n * 0.9) :], "test")


@pytest.mark.parametrize(
    "over",
    [
        {},
        {"tokenizer": "bpe", "vocab_size": 300},
        {"tie_weights": False},
        {"weight_drop": 0.3, "embedding_dropout": 0.1},
    ],
)
def test_conformance(over):
    check_task(LanguageTask(LanguageConfig(**{**SMALL, **over}), corpus(), batch_size=4), batch_size=4)


@pytest.mark.parametrize("variable", [False, True])
def test_stream_batcher_covers_every_token_once_per_epoch(variable):
    data = columns(torch.arange(1003), 4)  # (4, 250): the tail of 3 tokens is dropped
    batches = StreamBatches(data, bptt=7, variable=variable, seed=0)
    for _ in range(2):  # two epochs, each complete
        seen = Counter()
        first = True
        for b in batches:
            assert b["reset"] is first
            first = False
            assert torch.equal(b["y"][:, :-1], b["x"][:, 1:])  # y is x shifted by one within the stream
            seen.update(b["y"].flatten().tolist())
        expected = set(range(1000)) - {0, 250, 500, 750}  # every token but each stream's first is a target
        assert set(seen) == expected and set(seen.values()) == {1}
    lengths = bptt_lengths(250, 20, True, np.random.default_rng(0))
    assert sum(lengths) == 249 and len(set(lengths)) > 1
    # the engine schedules validation by batch count: every epoch must have the same number of batches
    counts = {len(bptt_lengths(1000, 16, True, np.random.default_rng(e))) for e in range(20)}
    assert counts == {len(bptt_lengths(1000, 16, False, np.random.default_rng(0)))}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> LanguageModel:
    out = tmp_path_factory.mktemp("lm") / "run"
    return LanguageModel(
        **{**SMALL, "hidden_size": 64}, epochs=8, batch_size=8, lr=1e-2, grad_clip=0.0, progress=False, out=str(out)
    ).fit_corpus(corpus())


@pytest.mark.slow
def test_short_training_beats_the_unigram_baseline(trained):
    test = corpus().test
    counts = Counter(trained.tokenizer.encode(corpus().train))
    total = sum(counts.values())
    ids = trained.tokenizer.encode(test)[1:]
    unigram = -sum(math.log(counts.get(i, 0.5) / total) for i in ids) / len(ids)
    m = trained.evaluate(test)
    assert m["loss"] < 0.75 * unigram, (m, unigram)


@pytest.mark.slow
def test_carried_state_evaluation_equals_one_pass(trained):
    text = corpus().test
    whole = trained.evaluate(text, chunk=10_000)
    chunked = trained.evaluate(text, chunk=7)
    assert chunked["loss"] == pytest.approx(whole["loss"], rel=1e-5)
    assert whole["bpc"] == pytest.approx(whole["loss"] * whole["tokens"] / whole["chars"] / math.log(2))


@pytest.mark.slow
def test_cached_generation_equals_refeeding(trained):
    net, tok = trained.net, trained.tokenizer
    prompt = tok.encode("the cat")
    new = [int(t[0]) for t in trained.predictor.tokens("the cat", 12, temperature=0.0)]
    seq = list(prompt)
    with torch.no_grad():
        for t in new:
            logits, _ = net(torch.tensor(seq)[None])  # the whole sequence again, from a zero state
            assert int(logits[0, -1].argmax()) == t
            seq.append(t)


def test_sampling_controls_do_what_they_say():
    logits = np.array([[4.0, 3.0, 2.0, 1.0, 0.0]])
    top2 = filter_logits(logits, Sampling(top_k=2))
    assert np.isfinite(top2).tolist() == [[True, True, False, False, False]]
    probs = np.exp(logits[0]) / np.exp(logits[0]).sum()
    nucleus = filter_logits(logits, Sampling(top_p=float(probs[0] + probs[1]) - 1e-4))
    assert np.isfinite(nucleus).flatten().tolist() == [True, True, False, False, False]
    penalised = filter_logits(logits, Sampling(repetition_penalty=2.0), seen=[[0]])
    assert penalised[0, 0] == 2.0 and penalised[0, 1] == 3.0
    np.testing.assert_allclose(filter_logits(logits, Sampling(temperature=2.0)), logits / 2)
    with pytest.raises(ValueError, match="top_p"):
        Sampling(top_p=0.0)


@pytest.mark.slow
def test_seed_reproduces_and_samples_batch(trained):
    a = trained.generate("the ", 30, num_samples=3, seed=5, temperature=1.0)
    b = trained.generate("the ", 30, num_samples=3, seed=5, temperature=1.0)
    assert a == b and len(a) == 3 and len(set(a)) > 1
    streamed = "".join(trained.stream("the ", 30, seed=5, temperature=1.0))
    assert streamed == trained.generate("the ", 30, seed=5, temperature=1.0)[0]
    stopped = trained.generate("the ", 200, seed=1, stop=(".",))[0]
    assert "." not in stopped


@pytest.mark.slow
def test_save_load_and_errors(trained, tmp_path):
    loaded = lstmkit.load(trained.save(tmp_path / "m"))
    assert loaded.config == trained.config
    assert loaded.generate("the", 20, seed=3) == trained.generate("the", 20, seed=3)
    assert loaded.evaluate("the cat sat")["loss"] == pytest.approx(trained.evaluate("the cat sat")["loss"])
    with pytest.raises(TextError, match="at least"):
        LanguageModel(**SMALL, batch_size=64).fit_corpus(Corpus("tiny text", "more", "x", "t"))
    with pytest.raises(UsageError, match="not trained"):
        LanguageModel().generate("x")


def test_cli_train_evaluate_generate(tmp_path, capsys):
    path = tmp_path / "t.txt"
    path.write_text(TEXT)
    run = tmp_path / "run"
    small = ["--embedding-size", "8", "--hidden-size", "16", "--num-layers", "1", "--bptt", "16"]
    assert (
        main(
            [
                "lm",
                "train",
                "--text",
                str(path),
                *small,
                "--max-steps",
                "5",
                "--batch-size",
                "4",
                "--out",
                str(run),
                "--no-progress",
                "--json",
            ]
        )
        == 0
    )
    info = strict_json(capsys.readouterr().out)
    assert info["test_bpc"] > 0 and (run / "model" / "tokenizer.json").is_file()
    assert main(["lm", "evaluate", "--model", str(run), "--text", str(path), "--json"]) == 0
    assert strict_json(capsys.readouterr().out)["tokens"] == len(TEXT) - 1
    assert (
        main(
            [
                "lm",
                "generate",
                "--model",
                str(run),
                "--prompt",
                "the",
                "--max-new-tokens",
                "10",
                "--seed",
                "1",
                "--top-k",
                "5",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.startswith("the")
    assert main(["lm", "train", "--text", str(tmp_path / "nope.txt"), "--no-progress"]) == 2


def test_step_logprobs_add_up_over_split_reads():
    """Reading a text in two steps scores it as reading it at once (the carried state and last logits)."""
    model = lstmkit.load(Path(__file__).parent.parent / "fixtures" / "models" / "v0.4.0" / "lm")
    s0 = model.initial_state()
    out_a, s1 = model.step(s0, {"text": "to be or "})
    out_b, _ = model.step(s1, {"text": "not to be"})
    out_whole, _ = model.step(s0, {"text": "to be or not to be"})
    np.testing.assert_allclose(out_a["logprob"] + out_b["logprob"], out_whole["logprob"], rtol=1e-5)


def test_dynamic_evaluation_scores_each_segment_before_learning_from_it_and_leaves_the_model_alone():
    """--adapt: a text of one segment scores exactly as the static pass (no token is predicted by weights that
    saw it); on a repetitive text the adapting copy beats the static model by far; the model is unchanged."""
    from lstmkit.tasks.lm.config import AdaptConfig

    model = lstmkit.load(Path(__file__).parent.parent / "fixtures" / "models" / "v0.4.0" / "lm")
    before = {k: v.clone() for k, v in model.net.state_dict().items()}
    text = "the cat sat on the mat. " * 3
    n = len(model.tokenizer.encode(text)) - 1
    one = model.evaluate(text, adapt=AdaptConfig(lr=1e-2, segment=n))
    assert one["loss"] == pytest.approx(model.evaluate(text)["loss"], rel=1e-5)
    loop = "in the hat we sat. " * 60
    static, adapted = model.evaluate(loop), model.evaluate(loop, adapt=AdaptConfig(lr=3e-3, segment=20))
    assert adapted["bpc"] < 0.7 * static["bpc"] and adapted["tokens"] == static["tokens"]
    assert all(torch.equal(before[k], v) for k, v in model.net.state_dict().items())
    with pytest.raises(ConfigError, match="segment"):
        AdaptConfig(segment=0)


def test_cli_adapt_reports_the_static_figure_beside_the_adapted_one(tmp_path, capsys):
    """`lm evaluate --adapt --json`: the top-level figures are the model's own (equal to the static pass); the
    dynamic-evaluation figures and their settings sit under "adapted", lower on a repetitive text."""
    fixture = Path(__file__).parent.parent / "fixtures" / "models" / "v0.4.0" / "lm"
    text = tmp_path / "loop.txt"
    text.write_text("in the hat we sat. " * 60, encoding="utf-8")
    capsys.readouterr()
    args = ["lm", "evaluate", "--model", str(fixture), "--text", str(text), "--json"]
    assert main([*args, "--adapt", "--adapt-lr", "3e-3", "--adapt-segment", "20"]) == 0
    out = strict_json(capsys.readouterr().out)
    static = lstmkit.load(fixture).evaluate(text.read_text(encoding="utf-8"))
    assert out["bpc"] == pytest.approx(static["bpc"], rel=1e-5)
    assert out["adapted"]["lr"] == 3e-3 and out["adapted"]["segment"] == 20
    assert out["adapted"]["bpc"] < 0.7 * out["bpc"] and out["adapted"]["tokens"] == out["tokens"]
