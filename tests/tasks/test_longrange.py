"""Long-range tasks: baselines, conformance, scoring, a saved model that reloads."""

import pytest
import torch

from lstmkit import load
from lstmkit.data import synthetic
from lstmkit.tasks.longrange import LongRangeConfig, LongRangeModel, LongRangeTask, build_model, load_saved
from lstmkit.tasks.longrange.config import ADDING_BASELINE_MSE, PROBLEMS
from tests.tasks.conformance import check_task


def test_baseline_of_always_one_is_one_sixth():
    y = synthetic.adding(20000, 10, torch.Generator().manual_seed(0))["y"]
    assert abs(float(((y - 1.0) ** 2).mean()) - ADDING_BASELINE_MSE) < 0.005


GENERATED = sorted(k for k, p in PROBLEMS.items() if p.make is not None)


@pytest.mark.parametrize("task", GENERATED)
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_conformance(task, cell):
    cfg = LongRangeConfig(problem=task, length=20, cell=cell, hidden_size=8, val_size=20, test_size=20)
    check_task(LongRangeTask(cfg))


def test_conformance_of_a_dataset_task():
    pytest.importorskip("sklearn")
    check_task(LongRangeTask(LongRangeConfig(problem="digits", hidden_size=8)))


@pytest.mark.parametrize("task", GENERATED)
def test_a_perfect_answer_scores_perfectly(task):
    """The metrics rank the truth above the trivial baseline: feed outputs built from the targets."""
    p = PROBLEMS[task]
    b = p.make(64, 20, torch.Generator().manual_seed(1))
    if task == "adding":
        out = b["y"]
    elif task == "copy":
        out = torch.nn.functional.one_hot(b["y"], p.output_size).float() * 20
    elif task == "order":
        out = torch.nn.functional.one_hot(b["y"], 4).float() * 20
    elif task == "recall":
        out = torch.nn.functional.one_hot(b["y"].clamp(min=0), p.output_size).float() * 20
    else:
        out = (b["y"] * 2 - 1) * 20
    value = float(p.metrics(out, b)[p.metric])
    assert p.learned(value) and not p.learned(p.baseline)


def test_test_and_val_sets_are_fixed_and_distinct():
    a = LongRangeTask(LongRangeConfig(length=8, val_size=16, test_size=16))
    b = LongRangeTask(LongRangeConfig(length=8, val_size=16, test_size=16))
    torch.testing.assert_close(next(iter(a.test_batches(16)))["x"], next(iter(b.test_batches(16)))["x"])
    assert not torch.equal(next(iter(a.test_batches(16)))["x"], next(iter(a.val_batches(16)))["x"])


@pytest.mark.parametrize("task", ["adding", "reber"])
def test_saved_model_reloads_to_identical_outputs(tmp_path, task):
    from lstmkit.deploy.saved_model import read_saved, save_model

    cfg = LongRangeConfig(problem=task, length=8, cell="gru", hidden_size=6, num_layers=2)
    model = build_model(cfg).eval()
    save_model(tmp_path / "m", task="longrange", config={"task": cfg.__dict__}, tensors=model.state_dict())
    loaded = load(tmp_path / "m")
    b = cfg.problem_spec.make(4, 8, torch.Generator().manual_seed(0))
    torch.testing.assert_close(loaded.predict(b["x"], b.get("lengths")), model(b["x"], b.get("lengths")))
    assert loaded.config == cfg
    assert load_saved(read_saved(tmp_path / "m"), torch.device("cpu")).config == cfg
    with pytest.raises(ValueError, match="expected inputs of shape"):
        loaded.predict(torch.zeros(2, 3, 99))


def test_equal_parameter_budget_matches_the_lstm():
    from lstmkit.tasks.longrange import hidden_size_for

    lstm = LongRangeConfig(hidden_size=32)
    n_lstm = sum(p.numel() for p in build_model(lstm).parameters())
    for cell, tolerance in (("gru", 0.05), ("rnn", 0.05)):
        cfg = LongRangeConfig(hidden_size=32, cell=cell, budget="params")
        n = sum(p.numel() for p in build_model(cfg).parameters())
        assert abs(n - n_lstm) / n_lstm < tolerance and hidden_size_for(cfg) > 32
    assert hidden_size_for(LongRangeConfig(hidden_size=32, cell="gru")) == 32


def test_lstm_variants_reach_the_layer():
    assert build_model(LongRangeConfig(layer_norm=True)).rnn.variants.layer_norm
    chrono = build_model(LongRangeConfig(chrono_init=True, length=50)).rnn
    assert chrono.variants.chrono_init == 50
    with pytest.raises(ValueError, match="LSTM variant"):
        LongRangeConfig(cell="gru", layer_norm=True)
    gru = build_model(LongRangeConfig(cell="gru", chrono_init=True, length=50)).rnn
    assert gru.variants.chrono_init == 50
    with pytest.raises(ValueError, match="no gate"):
        LongRangeConfig(cell="rnn", chrono_init=True)


@pytest.mark.slow
def test_lstm_learns_adding_where_the_rnn_does_not(tmp_path):
    """The point of the lab, at a size CI affords: T = 40, 800 steps, the same budget for both cells."""
    results = {}
    for cell in ("lstm", "rnn"):
        m = LongRangeModel(
            length=40,
            cell=cell,
            hidden_size=32,
            steps_per_epoch=200,
            val_size=500,
            test_size=1000,
            epochs=4,
            lr=1e-2,
            lr_schedule="constant",
            precision="32",
            progress=False,
            out=str(tmp_path / cell),
        ).fit()
        results[cell] = m.fit_metrics["test_mse"]
        assert m.evaluate()["test_mse"] == pytest.approx(results[cell], abs=1e-6)  # the public API agrees
    assert results["lstm"] < 0.01 < 0.1 < results["rnn"], results


def test_recall_sequences_ask_for_values_their_pairs_gave():
    b = synthetic.associative_recall(50, 20, torch.Generator().manual_seed(0))
    tokens = b["x"].argmax(-1)  # (n, T)
    K = synthetic.RECALL_KEYS
    for seq, y in zip(tokens.tolist(), b["y"].tolist()):
        pairs = dict(zip(seq[0:10:2], seq[1:10:2]))  # 5 pairs, then 10 queries
        assert len(pairs) == 5 and all(k < K <= v for k, v in pairs.items())
        assert y[:10] == [-1] * 10 and all(y[t] == pairs[seq[t]] - K for t in range(10, 20))


@pytest.mark.parametrize("cell", ["slstm", "mlstm", "minlstm", "mingru"])
def test_the_modern_cells_plug_into_every_problem(cell):
    for task in ("adding", "recall"):
        cfg = LongRangeConfig(problem=task, length=12, cell=cell, hidden_size=8, val_size=8, test_size=8)
        check_task(LongRangeTask(cfg))
    params = LongRangeConfig(cell=cell, hidden_size=16, budget="params")
    from lstmkit.tasks.longrange.model import hidden_size_for, parameter_count

    lstm = parameter_count("lstm", 2, 16, 1, 1)
    mine = parameter_count(cell, 2, hidden_size_for(params), 1, 1)
    assert abs(mine - lstm) < 0.25 * lstm  # an equal parameter budget, to a head or a unit


@pytest.mark.slow
def test_mlstm_recalls_where_the_lstm_cannot():
    """Associative recall (8 pairs, 24 queries): the matrix memory learns it within 1,200 steps."""
    kw = {"problem": "recall", "length": 32, "hidden_size": 64, "epochs": 6, "progress": False, "val_size": 256}
    mlstm = LongRangeModel(cell="mlstm", **kw).fit()
    assert mlstm.fit_metrics["test_accuracy"] > 0.9
