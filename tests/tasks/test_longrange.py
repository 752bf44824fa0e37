"""The adding problem: labels, baseline, conformance, a saved model that reloads, and learning."""

import torch

from lstmkit import load
from lstmkit.tasks.longrange import (
    ADDING_BASELINE_MSE,
    LongRangeConfig,
    LongRangeTask,
    adding_problem,
    build_model,
    load_saved,
)  # fmt: skip
from tests.tasks.conformance import check_task


def test_adding_labels_by_hand():
    x, y = adding_problem(50, 12, torch.Generator().manual_seed(3))
    assert x.shape == (50, 12, 2) and y.shape == (50, 1)
    for k in range(50):
        marks = x[k, :, 1].nonzero().flatten().tolist()
        assert len(marks) == 2 and marks[0] < 6 <= marks[1], "one mark in each half"
        assert abs(float(y[k, 0]) - (float(x[k, marks[0], 0]) + float(x[k, marks[1], 0]))) < 1e-6
    assert float(x[..., 0].min()) >= 0 and float(x[..., 0].max()) <= 1


def test_baseline_of_always_one_is_one_sixth():
    _, y = adding_problem(20000, 10, torch.Generator().manual_seed(0))
    assert abs(float(((y - 1.0) ** 2).mean()) - ADDING_BASELINE_MSE) < 0.005


def test_conformance():
    for cell in ("lstm", "gru", "rnn"):
        check_task(LongRangeTask(LongRangeConfig(length=8, cell=cell, hidden_size=8, val_size=20, test_size=20)))


def test_test_and_val_sets_are_fixed_and_distinct():
    a = LongRangeTask(LongRangeConfig(length=8, val_size=16, test_size=16))
    b = LongRangeTask(LongRangeConfig(length=8, val_size=16, test_size=16))
    torch.testing.assert_close(next(iter(a.test_batches(16)))[0], next(iter(b.test_batches(16)))[0])
    assert not torch.equal(next(iter(a.test_batches(16)))[0], next(iter(a.val_batches(16)))[0])


def test_saved_model_reloads_to_identical_outputs(tmp_path):
    from lstmkit.deploy.saved_model import read_saved, save_model

    cfg = LongRangeConfig(length=8, cell="gru", hidden_size=6, num_layers=2)
    model = build_model(cfg).eval()
    save_model(tmp_path / "m", task="longrange", config={"task": cfg.__dict__}, tensors=model.state_dict())
    loaded = load(tmp_path / "m")
    x, _ = adding_problem(4, 8, torch.Generator().manual_seed(0))
    torch.testing.assert_close(loaded.predict(x), model(x))
    assert loaded.config == cfg
    assert load_saved(read_saved(tmp_path / "m"), torch.device("cpu")).config == cfg
