"""Classification: every reader on hand-built files, pooling that ignores padding, attributions that keep
their method's promise, a short real run that beats the baselines, the CLI end to end."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from lstmkit.cli import main
from lstmkit.data.labelled import read_labelled
from lstmkit.data.timeseries import DataError
from lstmkit.tasks.classify import Classifier, ClassifyConfig
from lstmkit.tasks.classify.explain import integrated_gradients
from lstmkit.tasks.classify.features import Encoding, stratified_split
from lstmkit.tasks.classify.model import ClassifierNet
from lstmkit.tasks.classify.task import ClassifyTask
from tests.helpers import strict_json
from tests.tasks.conformance import check_task

WORDS = {"pos": ["good", "great", "fine", "lovely", "superb"], "neg": ["bad", "awful", "poor", "dire", "grim"]}
FAST = {
    "epochs": 8,
    "lr": 5e-3,
    "batch_size": 16,
    "hidden_size": 16,
    "embedding_size": 16,
    "vocab_size": 300,
    "progress": False,
}


def toy_frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    """Sentences whose label is carried by one word among filler."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = "pos" if i % 2 else "neg"
        filler = rng.choice(["the", "film", "was", "really", "quite", "and", "a", "plot"], size=rng.integers(3, 9))
        words = list(filler)
        words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(WORDS[label])))
        rows.append({"review": " ".join(words), "label": label})
    return pd.DataFrame(rows)


def test_readers_on_hand_built_files(tmp_path):
    df = toy_frame(20)
    df.to_csv(tmp_path / "a.csv", index=False)
    df.to_csv(tmp_path / "a.tsv", index=False, sep="\t")
    df.to_json(tmp_path / "a.jsonl", orient="records", lines=True)
    df.to_parquet(tmp_path / "a.parquet")
    for name in ("a.csv", "a.tsv", "a.jsonl", "a.parquet"):
        ex = read_labelled(tmp_path / name, text_col="review")
        assert ex.texts == df["review"].tolist() and ex.labels == df["label"].tolist(), name
    for label in ("pos", "neg"):
        (tmp_path / "dir" / label).mkdir(parents=True)
        (tmp_path / "dir" / label / "1.txt").write_text(f"{label} text")
    ex = read_labelled(tmp_path / "dir")
    assert sorted(zip(ex.labels, ex.texts)) == [("neg", "neg text"), ("pos", "pos text")]
    # wide numeric, ragged: trailing empty cells are padding
    (tmp_path / "w.csv").write_text("label,t1,t2,t3\na,1,2,3\nb,4,5,\n")
    ex = read_labelled(tmp_path / "w.csv")
    assert [s[:, 0].tolist() for s in ex.seqs] == [[1, 2, 3], [4, 5]] and ex.labels == ["a", "b"]
    # long format, two features
    long = pd.DataFrame(
        {
            "id": [1, 1, 2, 2, 2],
            "step": [0, 1, 0, 1, 2],
            "f1": [1, 2, 3, 4, 5.0],
            "f2": [0, 0, 1, 1, 1.0],
            "label": ["a", "a", "b", "b", "b"],
        }
    )
    long.to_csv(tmp_path / "l.csv", index=False)
    ex = read_labelled(tmp_path / "l.csv", long=("id", "step"))
    assert [s.shape for s in ex.seqs] == [(2, 2), (3, 2)] and ex.labels == ["a", "b"]
    np.savez(tmp_path / "x.npz", x=np.zeros((3, 5)), y=np.array([0, 1, 0]))
    assert [s.shape for s in read_labelled(tmp_path / "x.npz").seqs] == [(5, 1)] * 3


def test_bad_input_is_named(tmp_path):
    df = toy_frame(10)
    with pytest.raises(DataError, match="no text column 'text'.*columns: review, label"):
        read_labelled(df.assign(review=["x"] * 10), text_col="text")  # (review is not numeric)
    with pytest.raises(DataError, match="no label column 'stars'"):
        read_labelled(df, text_col="review", label_col="stars")
    with pytest.raises(DataError, match="row 3 has an empty 'review'"):
        read_labelled(df.assign(review=df.review.where(df.index != 2, " ")), text_col="review")
    (tmp_path / "gap.csv").write_text("label,t1,t2,t3\na,1,,3\n")
    with pytest.raises(DataError, match="row 1 has an empty or non-numeric cell at step 2"):
        read_labelled(tmp_path / "gap.csv")
    one = read_labelled(df.assign(label="pos"), text_col="review")
    with pytest.raises(DataError, match="one class only"):
        Encoding.fit(one, "char", 100, 50, True)
    enc = Encoding.fit(read_labelled(df, text_col="review"), "char", 100, 50, True)
    with pytest.raises(DataError, match=r"label\(s\) \['meh'\] that the training data never had"):
        enc.targets(read_labelled(df.assign(label="meh"), text_col="review"))


def test_stratified_split_keeps_class_shares_and_is_seeded():
    labels = ["a"] * 80 + ["b"] * 20
    rest, val, test = stratified_split(labels, (0.1, 0.2), seed=3)
    assert len(set(rest) | set(val) | set(test)) == 100 and len(rest) + len(val) + len(test) == 100
    assert sum(labels[i] == "b" for i in test) == 4 and sum(labels[i] == "b" for i in val) == 2
    assert all(np.array_equal(a, b) for a, b in zip((rest, val, test), stratified_split(labels, (0.1, 0.2), 3)))


def test_split_seed_fixes_the_split_while_the_seed_varies():
    """--split-seed: runs with other --seed values see the same validation and test examples (a seed ensemble
    is validated on data none of its members trained on); without it the split follows --seed."""
    df = toy_frame()

    def held(**kw):
        _, val, test = Classifier(text_col="review", **kw).splits(df)
        return sorted(val.texts), sorted(test.texts)

    assert held(seed=1, split_seed=0) == held(seed=0) == held(seed=5, split_seed=0)
    assert held(seed=1) != held(seed=0)


@pytest.mark.parametrize("pooling", ["last", "max", "mean", "attention"])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_pooling_with_padding_equals_each_example_alone(pooling, bidirectional):
    net = ClassifierNet(3, 6, 5, 2, bidirectional, pooling, vocab_size=20).eval()
    a, b = torch.tensor([3, 4, 5, 6, 7]), torch.tensor([8, 9])
    x = torch.nn.utils.rnn.pad_sequence([a, b], batch_first=True)  # (2, 5), b padded with zeros
    both = net(x, torch.tensor([5, 2]))
    alone = torch.cat([net(a[None], torch.tensor([5])), net(b[None], torch.tensor([2]))])
    torch.testing.assert_close(both, alone, atol=1e-5, rtol=1e-5)


def test_integrated_gradients_sum_to_the_logit_difference():
    torch.manual_seed(0)
    net = ClassifierNet(2, 8, 8, 1, True, "max", vocab_size=30).eval()
    x = torch.tensor([[3, 7, 1, 9, 12, 4]])
    scores, at_x, at_0 = integrated_gradients(net, x, target=1, steps=256)
    assert scores.shape == (6,)
    assert float(scores.sum()) == pytest.approx(at_x - at_0, rel=0.02, abs=1e-3)  # completeness
    # a step the model cannot see gets no credit: padding id 0 embeds to zero, so its path is all zeros
    s0, _, _ = integrated_gradients(net, torch.tensor([[3, 0, 9]]), target=1, steps=64)
    assert float(s0[1]) == 0.0


def test_conformance():
    df = toy_frame(60)
    ex = read_labelled(df, text_col="review")
    cfg = ClassifyConfig(text_col="review", tokenizer="char", hidden_size=8, embedding_size=8)
    check_task(ClassifyTask(cfg, ex, ex, Encoding.fit(ex, "char", 100, 64, True)))


@pytest.mark.slow
def test_a_short_run_learns_the_word_that_carries_the_label(tmp_path):
    c = Classifier(text_col="review", out=str(tmp_path / "r"), **FAST).fit(toy_frame(400))
    table = {r["method"]: r["accuracy"] for r in c.report["table"]}
    assert table["lstmkit"] >= 0.95 > 0.6 > table["majority"]
    e = c.explain("the film was really superb and quite a plot")
    assert e.target == "pos" and e.labels[int(np.argmax(e.scores))].strip() == "superb"
    assert sum(e.scores) == pytest.approx(e.logit_gap, rel=0.05, abs=0.05)


def test_numeric_sequences_beat_the_majority(tmp_path):
    rng = np.random.default_rng(0)
    t = np.linspace(0, 4 * np.pi, 30)
    x = np.stack([np.sin(t * (1 + (i % 2))) + 0.3 * rng.standard_normal(30) for i in range(200)])  # two frequencies
    np.savez(tmp_path / "s.npz", x=x, y=np.arange(200) % 2)
    opts = {**FAST, "epochs": 8, "lr": 1e-2, "epoch_size": 0}  # one pass per epoch: 200 examples are enough
    c = Classifier(out=str(tmp_path / "r"), pooling="mean", **opts).fit(str(tmp_path / "s.npz"))
    table = {r["method"]: r["accuracy"] for r in c.report["table"]}
    assert table["lstmkit"] >= 0.9 and table["majority"] == pytest.approx(0.5, abs=0.1) and "nn1_euclidean" in table


def test_cli_train_predict_evaluate_explain(tmp_path, capsys):
    df = toy_frame(300)
    df.to_csv(tmp_path / "reviews.csv", index=False)
    run = tmp_path / "run"
    args = [
        "--data",
        str(tmp_path / "reviews.csv"),
        "--text-col",
        "review",
        "--epochs",
        "8",
        "--lr",
        "5e-3",
        "--hidden-size",
        "16",
        "--embedding-size",
        "16",
        "--vocab-size",
        "300",
        "--batch-size",
        "16",
        "--no-progress",
        "--out",
        str(run),
    ]
    assert main(["classify", "train", *args, "--json"]) == 0
    out = strict_json(capsys.readouterr().out)
    assert out["classes"] == ["neg", "pos"] and out["test"]["accuracy"] > 0.9
    assert (run / "confusion.png").is_file() and json.loads((run / "report.json").read_text())["table"]
    new = pd.DataFrame({"id": [7, 8], "review": ["a great plot", "an awful film"], "label": ["x", "y"]})
    new.to_csv(tmp_path / "new.csv", index=False)
    assert (
        main(
            [
                "classify",
                "predict",
                "--model",
                str(run),
                "--data",
                str(tmp_path / "new.csv"),
                "--out",
                str(tmp_path / "p.csv"),
            ]
        )
        == 0
    )
    capsys.readouterr()
    pred = pd.read_csv(tmp_path / "p.csv")
    assert list(pred.columns) == ["id", "review", "label", "prediction", "p_neg", "p_pos"]
    assert pred["prediction"].tolist() == ["pos", "neg"] and np.allclose(pred.p_neg + pred.p_pos, 1)
    assert main(["classify", "evaluate", "--model", str(run), "--data", str(tmp_path / "reviews.csv"), "--json"]) == 0
    ev = strict_json(capsys.readouterr().out)
    assert ev["test"]["accuracy"] > 0.9 and [r["method"] for r in ev["table"]] == ["lstmkit", "majority"]
    png = tmp_path / "why.png"
    assert (
        main(["classify", "explain", "--model", str(run), "--text", "a lovely film", "--out", str(png), "--json"]) == 0
    )
    why = strict_json(capsys.readouterr().out)
    assert why["target"] == "pos" and png.is_file() and png.with_suffix(".html").is_file()
    assert main(["classify", "evaluate", "--model", str(run), "--data", str(tmp_path / "new.csv")]) == 2
    assert "never had" in capsys.readouterr().err


def test_transfer_from_a_language_model_reuses_its_tokenizer_and_weights(tmp_path):
    """ULMFiT-style: the classifier starts from an lstmkit LM; frozen for every epoch, its LSTM stays the LM's."""
    from lstmkit.tasks.lm import LanguageModel

    df = toy_frame(200)
    text = tmp_path / "corpus.txt"
    text.write_text("\n".join(df["review"]) * 3, encoding="utf-8")
    lm = LanguageModel(
        text=str(text),
        tokenizer="char",
        hidden_size=16,
        embedding_size=8,
        num_layers=1,
        bptt=16,
        batch_size=4,
        max_steps=20,
        progress=False,
        out=str(tmp_path / "lm"),
    ).fit()
    frozen = Classifier(
        text_col="review",
        init_from=str(tmp_path / "lm"),
        freeze_epochs=99,
        out=str(tmp_path / "c"),
        **{**FAST, "epochs": 2, "folds": 0},
    ).fit(df)
    assert frozen.config.hidden_size == 16 and not frozen.config.bidirectional  # the LM's shape
    for k, v in lm.net.rnn.state_dict().items():
        torch.testing.assert_close(frozen.net.rnn.state_dict()[k], v)  # never unfrozen: unchanged
    torch.testing.assert_close(frozen.net.embed.weight[1:], lm.net.embed.weight)  # shifted: 0 is padding
    assert frozen.encoding.tokens("good") == [i + 1 for i in lm.tokenizer.encode("good")]
    tuned = Classifier(
        text_col="review",
        init_from=str(tmp_path / "lm"),
        freeze_epochs=0,
        out=str(tmp_path / "t"),
        **{**FAST, "epochs": 2, "folds": 0},
    ).fit(df)
    assert not torch.equal(tuned.net.rnn.weight_hh_l0, lm.net.rnn.weight_hh_l0)  # not frozen: fine-tuned
