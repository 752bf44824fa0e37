"""Translation: readers with clear errors, attention that ignores padding, decoding checked against
independent truth (greedy, exhaustive search, one sentence at a time, the penalties' formulas), a short run
that learns the numbers task far above the copy baseline, save/load and the CLI end to end."""

import gzip
import itertools
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import lstmkit
from lstmkit.cli import main
from lstmkit.data.parallel import numbers_corpus, read_pairs, read_parallel
from lstmkit.data.timeseries import DataError
from lstmkit.tasks.translate import DecodeConfig, TranslateConfig, Translator
from lstmkit.tasks.translate.decode import banned, beam_search, greedy
from lstmkit.tasks.translate.features import BOS, EOS, Vocabularies, encode_pairs, make_batch
from lstmkit.tasks.translate.model import Seq2Seq, TorchStepper
from lstmkit.tasks.translate.task import TranslateTask
from tests.helpers import strict_json
from tests.tasks.conformance import check_task

TINY = {"hidden_size": 16, "embedding_size": 16, "vocab_size": 200, "progress": False}


def _random_model(V: int = 12, seed: int = 0, scale: float = 3.0, **kw) -> Seq2Seq:
    """An untrained model with larger weights than the default init, so its distributions are peaked."""
    torch.manual_seed(seed)
    m = Seq2Seq(V, V, 8, 8, **kw).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(scale)
    return m


def _sources(n: int, V: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    seqs = [torch.randint(3, V, (int(torch.randint(2, 7, (1,), generator=g)),), generator=g).tolist() for _ in range(n)]
    b = make_batch(seqs)
    return b["src"], b["src_lengths"]


def test_readers_and_their_errors(tmp_path):
    (tmp_path / "a.en").write_text("a cat\nthe dog\n", encoding="utf-8")
    with gzip.open(tmp_path / "a.de.gz", "wt", encoding="utf-8") as f:
        f.write("eine Katze\nder Hund\n")
    p = read_parallel(tmp_path / "a.en", tmp_path / "a.de.gz")
    assert p.src == ["a cat", "the dog"] and p.tgt == ["eine Katze", "der Hund"]
    (tmp_path / "p.tsv").write_text("Go.\tGeh.\tCC-BY attribution\n\nHi.\tHallo!\n", encoding="utf-8")
    assert read_pairs(tmp_path / "p.tsv").tgt == ["Geh.", "Hallo!"]
    (tmp_path / "t.csv").write_text("en,de\nyes,ja\n", encoding="utf-8")
    assert read_pairs(tmp_path / "t.csv", "en", "de").src == ["yes"]
    with pytest.raises(DataError, match="lacks column"):
        read_pairs(tmp_path / "t.csv")
    (tmp_path / "b.de").write_text("eine Katze\n", encoding="utf-8")
    with pytest.raises(DataError, match="line-aligned"):
        read_parallel(tmp_path / "a.en", tmp_path / "b.de")
    (tmp_path / "c.de").write_text("eine Katze\n\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 2"):
        read_parallel(tmp_path / "a.en", tmp_path / "c.de")
    (tmp_path / "d.de").write_bytes("eine Katze\nder M\xfcll\n".encode("latin-1"))
    with pytest.raises(DataError, match="line 2 is not UTF-8"):
        read_parallel(tmp_path / "a.en", tmp_path / "d.de")
    (tmp_path / "e.tsv").write_text("no tab here\n", encoding="utf-8")
    with pytest.raises(DataError, match="no TAB"):
        read_pairs(tmp_path / "e.tsv")


def test_numbers_corpus_reorders_and_splits_disjointly():
    from num2words import num2words

    p = numbers_corpus("de", "en", n=400, seed=3)
    assert len(set(p.src)) == 400  # distinct numbers
    assert num2words(42, lang="de") == "zweiundvierzig" and "forty-two" in num2words(42, lang="en")  # units first
    t = Translator(corpus_size=400, **TINY)
    train, val, test = t.splits("numbers-de-en")
    assert not (set(train.src) & set(val.src)) and not (set(train.src) & set(test.src)) and len(val) == len(test) == 20


def test_attention_sums_to_one_and_ignores_padding():
    m = _random_model()
    src, lengths = _sources(5, 12)
    memory, state = m.encode(src, lengths)
    _, _, _, w = m.step(torch.full((5,), BOS), state, m.initial_feed(memory), memory)
    torch.testing.assert_close(w.sum(-1), torch.ones(5))
    assert all(float(w[i, n:].detach().abs().sum()) == 0 for i, n in enumerate(lengths.tolist()))
    noisy = src.clone()  # other tokens where the padding is: nothing may change
    for i, n in enumerate(lengths.tolist()):
        noisy[i, n:] = torch.randint(3, 12, (src.shape[1] - n,))
    tgt = torch.randint(3, 12, (5, 4))
    torch.testing.assert_close(m(src, lengths, tgt)[0], m(noisy, lengths, tgt)[0])


def test_beam_of_one_is_greedy_and_batched_beam_is_sentence_by_sentence():
    m = _random_model(V=20, attention="bahdanau")
    src, lengths = _sources(6, 20)
    opts = DecodeConfig(beam_size=1, length_penalty="none", max_length=12)
    g = greedy(TorchStepper(m), src, lengths, opts)
    b1 = beam_search(TorchStepper(m), src, lengths, opts)
    assert [h.tokens for h in g] == [hs[0].tokens for hs in b1]
    np.testing.assert_allclose([h.logprob for h in g], [hs[0].logprob for hs in b1], rtol=1e-5)
    opts5 = DecodeConfig(beam_size=5, n_best=3, max_length=12, length_penalty="wu", coverage_penalty=0.2)
    batched = beam_search(TorchStepper(m), src, lengths, opts5)
    for i in range(6):
        n = int(lengths[i])
        alone = beam_search(TorchStepper(m), src[i : i + 1, :n], lengths[i : i + 1], opts5)[0]
        assert [h.tokens for h in alone] == [h.tokens for h in batched[i]]
        np.testing.assert_allclose([h.score for h in alone], [h.score for h in batched[i]], rtol=1e-4)


def _teacher_forced(m: Seq2Seq, src, lengths, tokens: list[int]) -> tuple[float, torch.Tensor]:
    """log P(tokens + EOS | src) and the attention (T, S), computed by teacher forcing (not by the search)."""
    tgt = torch.tensor([[BOS, *tokens, EOS]])
    with torch.no_grad():
        logits, w = m(src, lengths, tgt[:, :-1])
    logp = torch.log_softmax(logits.float(), -1)[0]
    return float(logp.gather(1, tgt[0, 1:, None]).sum()), w[0]


@pytest.mark.parametrize("penalty", ["none", "avg", "wu", "coverage"])
def test_beam_search_finds_the_exhaustive_optimum_and_scores_by_the_formulas(penalty):
    V, limit = 5, 4  # 2 real tokens (3, 4); at most 3 of them, then EOS
    m = _random_model(V=V, seed=7, scale=4.0)
    src, lengths = _sources(1, V, seed=2)
    opts = DecodeConfig(
        beam_size=32,
        n_best=1,
        max_length=limit,
        max_length_ratio=0,
        length_penalty="none" if penalty == "coverage" else penalty,
        alpha=0.6,
        coverage_penalty=0.3 if penalty == "coverage" else 0.0,
    )
    best, best_score = None, -np.inf
    for n in range(limit):
        for toks in itertools.product([3, 4], repeat=n):
            lp, w = _teacher_forced(m, src, lengths, list(toks))
            L = n + 1
            score = {
                "none": lp,
                "avg": lp / L,
                "wu": lp / ((5 + L) / 6) ** 0.6,
                "coverage": lp + 0.3 * float(torch.log(w[:, : int(lengths[0])].sum(0).clamp(1e-10, 1)).sum()),
            }[penalty]
            if score > best_score:
                best, best_score = list(toks), score
    hyp = beam_search(TorchStepper(m), src, lengths, opts)[0][0]
    assert hyp.tokens == best
    assert hyp.score == pytest.approx(best_score, rel=1e-4)


def test_ngram_blocking_and_length_limits():
    assert banned([5, 6, 5], 2) == [6] and banned([5, 6], 1) == [5, 6] and banned([5], 3) == []
    m = _random_model(V=8, seed=3)
    src, lengths = _sources(8, 8)
    for beam in (1, 4):
        opts = DecodeConfig(beam_size=beam, block_ngram=2, min_length=3, max_length=9, max_length_ratio=0)
        for hyp in (
            (h[0] for h in beam_search(TorchStepper(m), src, lengths, opts))
            if beam > 1
            else greedy(TorchStepper(m), src, lengths, opts)
        ):
            pairs = list(zip(hyp.tokens, hyp.tokens[1:]))
            assert len(pairs) == len(set(pairs)), hyp.tokens
            assert 3 <= len(hyp.tokens) + 1 <= 9


def test_task_conformance():
    p = numbers_corpus("de", "en", n=200)
    cfg = TranslateConfig(**{k: v for k, v in TINY.items() if k != "progress"})
    vocab = Vocabularies.fit(p, "bpe", 200, True)
    ids = encode_pairs(p, vocab)[:2]
    check_task(TranslateTask(cfg, vocab, ids, ids))


@pytest.fixture(scope="module")
def numbers_model(tmp_path_factory):
    """A short run on the built-in numbers task (German number words -> English)."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("numbers")
    t = Translator(
        corpus_size=6000,
        hidden_size=64,
        embedding_size=64,
        vocab_size=300,
        epochs=4,
        lr=5e-3,
        batch_size=64,
        progress=False,
        out=str(out),
        beam_size=3,
    )
    return t.fit("numbers-de-en")


@pytest.mark.slow
def test_a_short_run_learns_the_numbers_far_above_copying(numbers_model):
    rows = {r["method"].split()[0]: r for r in numbers_model.report["table"]}
    assert rows["copy"]["bleu"] < 5
    assert rows["greedy"]["bleu"] > 40 and rows["beam"]["bleu"] > 40, rows
    assert rows["greedy"]["chrf"] > rows["copy"]["chrf"] + 30


@pytest.mark.slow
def test_save_load_translates_the_same(numbers_model, tmp_path):
    numbers_model.save(tmp_path / "m")
    again = lstmkit.load(tmp_path / "m")
    texts = ["dreihundertzweiundvierzig", "siebzehn", ""]
    assert again.translate(texts) == numbers_model.translate(texts)
    assert again.decoding == numbers_model.decoding
    nb = again.nbest(texts[:1], 3)[0]
    assert len(nb) == 3 and nb[0]["score"] >= nb[1]["score"] >= nb[2]["score"]
    assert again.predict_records([{"text": "siebzehn"}])[0]["translation"] == again.translate("siebzehn")[0]


@pytest.mark.slow
def test_cli_evaluate_predict_align(numbers_model, tmp_path, capsys):
    run = str(numbers_model.run_dir)
    src, ref = tmp_path / "s.txt", tmp_path / "r.txt"
    pairs = numbers_corpus("de", "en", n=30, seed=99)
    src.write_text("\n".join(pairs.src) + "\n", encoding="utf-8")
    ref.write_text("\n".join(pairs.tgt) + "\n", encoding="utf-8")
    main(["translate", "evaluate", "--model", run, "--src", str(src), "--tgt", str(ref), "--beam-size", "2", "--json"])
    out = strict_json(capsys.readouterr().out)
    assert {r["method"].split()[0] for r in out["table"]} == {"copy", "greedy", "beam"}
    assert "nrefs:1|case:mixed" in out["test"]["bleu_signature"]
    lines = ["siebzehn", "", "dreihundert"]
    done = subprocess.run(
        [sys.executable, "-m", "lstmkit.cli", "translate", "predict", "--model", run, "--beam-size", "2"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    got = done.stdout.split("\n")
    assert len(got) == 4 and got[1] == "" and got[3] == ""  # one line out per line in, the empty one kept
    assert got[0] == numbers_model.translate("siebzehn", beam_size=2)[0]
    main(
        [
            "translate",
            "predict",
            "--model",
            run,
            "--input",
            str(src),
            "--output",
            str(tmp_path / "h.txt"),
            "--n-best",
            "2",
            "--beam-size",
            "2",
        ]
    )
    nbest = (tmp_path / "h.txt").read_text(encoding="utf-8").splitlines()
    assert len(nbest) == 60 and nbest[0].startswith("0 ||| ") and nbest[2].startswith("1 ||| ")
    main(["translate", "align", "--model", run, "--text", "siebzehn", "--out", str(tmp_path / "a.png"), "--json"])
    assert json.loads(capsys.readouterr().out)["png"] == str(tmp_path / "a.png")
    assert (tmp_path / "a.png").stat().st_size > 1000
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\n\xff\xfe\n")
    assert main(["translate", "predict", "--model", run, "--input", str(bad)]) == 2
    assert "line 2 is not UTF-8" in capsys.readouterr().err


def test_pieces_of_a_multibyte_character_read_as_the_character():
    from pathlib import Path

    from lstmkit.registry import load

    v = load(Path(__file__).parent.parent / "fixtures" / "models" / "v0.4.0" / "translate").vocab
    pieces = v.src_pieces(v.encode_src("schön"))
    assert "ö" in pieces and not any("\ufffd" in p for p in pieces)
