"""Sequence labelling: scores against seqeval's published example and brute force, the CRF against enumeration,
readers and their errors, a short run that beats the most-frequent-tag baseline where context decides the tag,
the CLI, and the ONNX runtime tagging as PyTorch does (without torch)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

import lstmkit
from lstmkit.cli import main
from lstmkit.data.timeseries import DataError
from lstmkit.deploy.protocol import RequestError
from lstmkit.tasks.tag import Tagger
from lstmkit.tasks.tag.data import read_conll, synthetic_anomalies
from lstmkit.tasks.tag.examples import write_conll
from lstmkit.tasks.tag.metrics import entities, entity_scores, tag_scores, viterbi
from lstmkit.tasks.tag.model import TagNet, crf_loss

TINY = {"progress": False}


def test_entity_f1_matches_seqevals_documented_example():
    true = [["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    pred = [["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    s = entity_scores(true, pred)  # seqeval's README: f1_score(y_true, y_pred) == 0.50
    assert s["f1"] == pytest.approx(0.5) and s["precision"] == pytest.approx(0.5)
    assert entities(["I-LOC", "I-LOC", "B-LOC", "O", "S-PER", "B-ORG", "E-ORG"]) == {
        ("LOC", 0, 1),
        ("LOC", 2, 2),
        ("PER", 4, 4),
        ("ORG", 5, 6),
    }


def test_token_scores_and_flag_f1_by_hand():
    s = tag_scores([["0", "1", "1", "0"]], [["0", "1", "0", "1"]], "flags", "1")
    assert s["accuracy"] == 0.5 and s["precision"] == 0.5 and s["recall"] == 0.5 and s["f1"] == 0.5


def _paths(T: int, K: int):
    return itertools.product(range(K), repeat=T)


def _path_score(e: np.ndarray, crf: dict, path) -> float:
    s = crf["start"][path[0]] + e[0, path[0]] + crf["end"][path[-1]]
    return float(s + sum(crf["transitions"][a, b] + e[t + 1, b] for t, (a, b) in enumerate(itertools.pairwise(path))))


def test_viterbi_finds_the_best_path_of_all():
    rng = np.random.default_rng(0)
    T, K = 5, 3
    e = rng.normal(size=(T, K))
    crf = {"transitions": rng.normal(size=(K, K)), "start": rng.normal(size=K), "end": rng.normal(size=K)}
    best = max(_paths(T, K), key=lambda p: _path_score(e, crf, p))
    assert viterbi(e, T, crf) == list(best)
    assert viterbi(np.vstack([e, np.zeros((2, K))]), T, crf) == list(best)  # padding past the length is ignored


def test_crf_loss_is_log_partition_minus_the_gold_score():
    torch.manual_seed(0)
    net = TagNet(3, 4, 4, vocab_size=5, suffix_size=5, crf=True)
    with torch.no_grad():
        for p in net.crf_scores().values():
            p.normal_()
    em = torch.randn(2, 4, 3, dtype=torch.float32)
    y = torch.tensor([[0, 2, 1, 1], [1, 0, 0, 0]])
    lengths = torch.tensor([4, 2])
    crf = {k: v.detach().double().numpy() for k, v in net.crf_scores().items()}
    total = 0.0
    for b in range(2):
        n = int(lengths[b])
        e = em[b, :n].double().numpy()
        log_z = np.log(sum(np.exp(_path_score(e, crf, p)) for p in _paths(n, 3)))
        total += log_z - _path_score(e, crf, y[b, :n].tolist())
    got = crf_loss(net, em, y, lengths)
    assert float(got) == pytest.approx(total / 6, rel=1e-5)


def test_conll_reader_and_its_errors(tmp_path):
    f = tmp_path / "a.conll"
    f.write_text("-DOCSTART- O\n\n# a comment\nJohn NNP B-PER\nruns VBZ O\n\n\nHe PRP O\n", encoding="utf-8")
    s = read_conll(f)
    assert s.seqs == [["John", "runs"], ["He"]] and s.tags == [["B-PER", "O"], ["O"]]
    assert read_conll(f, tag_col=1).tags[0] == ["NNP", "VBZ"]
    (tmp_path / "notags.conll").write_text("John\nruns\n", encoding="utf-8")
    with pytest.raises(DataError, match="without a tag column"):
        read_conll(tmp_path / "notags.conll")
    assert read_conll(tmp_path / "notags.conll", need_tags=False).tags == []
    (tmp_path / "blank.conll").write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataError, match="no tokens"):
        read_conll(tmp_path / "blank.conll")


def _context_data(tmp_path):
    """'Washington' is a person after 'George' and a place after 'in': only context tells them apart."""
    rng = np.random.default_rng(0)
    sents = []
    for _ in range(160):
        name, city = rng.choice(["Anna", "Paul", "Rosa"]), rng.choice(["Rome", "Oslo", "Lima"])
        if rng.random() < 0.5:
            sents.append((f"George Washington met {name} .", "B-PER I-PER O B-PER O"))
        else:
            sents.append((f"{name} lives in Washington now .", "B-PER O O B-LOC O O"))
        sents.append((f"{name} flew to {city} .", "B-PER O O B-LOC O"))
    return write_conll(tmp_path / "context.conll", sents)


@pytest.mark.slow
def test_a_short_run_beats_the_most_frequent_tag_where_context_decides(tmp_path):
    t = Tagger(epochs=8, hidden_size=16, embedding_size=16, min_freq=1, out=str(tmp_path / "run"), **TINY)
    t.fit(_context_data(tmp_path))
    mine, base = t.report["table"][0], t.report["table"][1]
    assert base["method"] == "most_frequent_tag"
    assert mine["f1"] > base["f1"] + 0.05 and mine["f1"] > 0.9
    tags = t.tag(["George Washington lives in Washington ."])[0]
    assert tags[:2] == ["B-PER", "I-PER"] and tags[4] == "B-LOC"


@pytest.fixture(scope="module")
def tiny_tagger(tmp_path_factory):
    where = tmp_path_factory.mktemp("tag")
    data = write_conll(where / "d.conll", [("John lives in Berlin .", "B-PER O O B-LOC O")] * 20)
    t = Tagger(max_steps=4, hidden_size=8, embedding_size=8, min_freq=1, crf=True, out=str(where / "run"), **TINY)
    return t.fit(data), data


def test_records_frames_and_bad_requests(tiny_tagger):
    t, _ = tiny_tagger
    out = t.predict_records([{"tokens": ["John", "lives"]}, {"text": "in Berlin ."}])
    assert [len(r["tags"]) for r in out] == [2, 3] and all(x in t.encoding.tags for r in out for x in r["tags"])
    with pytest.raises(RequestError, match="no tokens"):
        t.predict_records([{"text": "   "}])
    with pytest.raises(RequestError, match="tokens"):
        t.predict_records([{"tokens": "John"}])
    frame = t.predict(["John lives here"])
    assert list(frame.columns[:4]) == ["sequence", "position", "token", "prediction"]
    np.testing.assert_allclose(frame.filter(like="p_").sum(1), 1.0, rtol=1e-6)


def test_evaluate_names_an_unknown_tag(tiny_tagger, tmp_path):
    t, _ = tiny_tagger
    f = write_conll(tmp_path / "other.conll", [("Paris is big", "B-GPE O O")])
    with pytest.raises(DataError, match="B-GPE"):
        t.evaluate(f)


def test_numeric_series_windows_and_their_errors(tmp_path):
    frame = synthetic_anomalies(n_series=6, length=120, seed=1)
    assert set(frame["label"]) == {0, 1} and frame.groupby("unique_id").size().eq(120).all()
    t = Tagger(max_steps=3, window=50, hidden_size=8, embedding_size=8, out=str(tmp_path / "run"), **TINY).fit(frame)
    pred = t.predict(frame)
    assert len(pred) == len(frame) and {"value", "prediction", "p_1"} <= set(pred.columns)
    assert pred.groupby("sequence")["position"].max().eq(119).all()  # windows joined back per series
    bad = frame.assign(value=frame["value"].where(frame.index != 5))
    with pytest.raises(DataError, match="row 5"):
        t.predict(bad)
    with pytest.raises(DataError, match="'label' column"):
        Tagger(**TINY).fit(frame.drop(columns="label"))


def test_cli_train_evaluate_predict(tmp_path, capsys):
    data = _context_data(tmp_path)
    run = str(tmp_path / "run")
    args = ["--data", str(data), "--max-steps", "4", "--hidden-size", "8", "--min-freq", "1", "--out", run]
    assert main(["tag", "train", *args, "--no-progress", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["method"] for r in report["table"]] == ["lstmkit", "most_frequent_tag"]
    assert main(["tag", "evaluate", "--model", run, "--data", str(data), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["scheme"] == "bio"
    out = tmp_path / "tags.csv"
    assert main(["tag", "predict", "--model", run, "--data", str(data), "--out", str(out)]) == 0
    assert "rows written" in capsys.readouterr().out
    assert len(pd.read_csv(out)) == sum(1 for line in data.read_text().splitlines() if line.strip())
    assert main(["tag", "evaluate", "--model", run, "--data", str(data), "--tag-col", "0"]) == 2  # tokens as tags
    assert "never saw" in capsys.readouterr().err


def test_onnx_runtime_tags_as_pytorch_without_torch(tiny_tagger, tmp_path):
    t, data = tiny_tagger
    from lstmkit.registry import export_model

    t.save(tmp_path / "m")
    sig = export_model(lstmkit.load(tmp_path / "m"), tmp_path / "m" / "onnx")
    assert sig["task"] == "tag"
    code = (
        "import sys, json; from lstmkit.registry import load_onnx; "
        f"m = load_onnx({str(tmp_path / 'm')!r}); "
        f"print(json.dumps([m.tag({str(data)!r}), m.predict({str(data)!r}).filter(like='p_').values.tolist(), "
        "'torch' in sys.modules]))"
    )
    tags, probs, torch_loaded = json.loads(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    )
    assert not torch_loaded
    assert tags == t.tag(data)
    np.testing.assert_allclose(probs, t.predict(data).filter(like="p_").values, atol=1e-4)


def test_the_task_keeps_the_engines_protocol(tmp_path):
    from lstmkit.tasks.tag.config import TagConfig
    from lstmkit.tasks.tag.encoding import TagEncoding
    from lstmkit.tasks.tag.task import TagTask
    from tests.tasks.conformance import check_task

    s = read_conll(_context_data(tmp_path))
    check_task(TagTask(TagConfig(crf=True), s.take(range(20)), s.take(range(20, 30)), TagEncoding.fit(s, 1)))
