"""Numeric sequences from few examples: the convolutional branch ignores padding like the LSTM does, window
slicing is an interpolation of the example, folds deal every example once with the class shares kept, a set
too small for a test split is cross-validated (each example scored by a model that never saw it), and the
report says which row won."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from lstmkit.cli import main
from lstmkit.data.labelled import Labelled
from lstmkit.tasks.classify.classifier import verdict
from lstmkit.tasks.classify.features import augmented
from lstmkit.tasks.classify.folds import MIN_TEST, fold_count, stratified_folds
from lstmkit.tasks.classify.model import ClassifierNet, MaskedBatchNorm1d, step_mask

SMALL = {
    "epochs": 3,
    "epoch_size": 64,
    "batch_size": 8,
    "hidden_size": 8,
    "embedding_size": 8,
    "conv_filters": 8,
    "lr": 1e-2,
    "progress": False,
}


def wide_frame(n: int = 40, T: int = 40, seed: int = 0) -> pd.DataFrame:
    """A UCR-style wide table: a label column and one column per step; class b has a bump, class a a dip."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = "b" if i % 2 else "a"
        x = 0.2 * rng.standard_normal(T)
        at = int(rng.integers(5, T - 10))
        x[at : at + 6] += 2.0 if label == "b" else -2.0
        rows.append({"label": label, **{f"t{j}": x[j] for j in range(T)}})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("pooling", ["last", "max", "mean"])
def test_the_conv_branch_with_padding_equals_each_example_alone(pooling):
    torch.manual_seed(0)
    net = ClassifierNet(3, 6, 5, 1, True, pooling, input_size=2, conv_filters=4).eval()
    a, b = torch.randn(12, 2), torch.randn(7, 2)
    x = torch.nn.utils.rnn.pad_sequence([a, b], batch_first=True)  # (2, 12, 2), b padded with zeros
    both = net(x, torch.tensor([12, 7]))
    alone = torch.cat([net(a[None], torch.tensor([12])), net(b[None], torch.tensor([7]))])
    torch.testing.assert_close(both, alone, atol=1e-5, rtol=1e-5)
    assert net.head.in_features == 2 * 5 + 4  # the pooled LSTM beside the conv branch's filters


def test_training_batch_norm_counts_real_steps_only():
    """A ragged batch normalises as nn.BatchNorm1d does over its real steps laid end to end; padding changes
    neither the output at real steps nor the running statistics."""
    torch.manual_seed(0)
    a, b = torch.randn(4, 9) * 3 + 2, torch.randn(4, 5) * 3 + 2  # (K, T) each
    padded = torch.zeros(2, 4, 9)
    padded[0], padded[1, :, :5] = a, b
    mask = step_mask(torch.tensor([9, 5]), 9)[:, None, :].float()  # (2, 1, 9)
    masked, plain = MaskedBatchNorm1d(4).train(), torch.nn.BatchNorm1d(4).train()
    out = masked(padded, mask)
    ref = plain(torch.cat([a, b], dim=1)[None])[0]  # (K, 14): the real steps end to end
    torch.testing.assert_close(torch.cat([out[0], out[1, :, :5]], dim=1), ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(masked.running_mean, plain.running_mean)
    torch.testing.assert_close(masked.running_var, plain.running_var)
    unmasked = torch.nn.BatchNorm1d(4).train()(padded)  # what the zeros did before
    assert (unmasked[0] - out[0]).abs().max() > 0.1
    full = torch.ones(2, 1, 9)  # an all-real batch and evaluation are BatchNorm1d itself
    torch.testing.assert_close(MaskedBatchNorm1d(4).train()(padded, full), torch.nn.BatchNorm1d(4).train()(padded))
    torch.testing.assert_close(
        masked.eval()(padded, mask),
        torch.nn.functional.batch_norm(
            padded, masked.running_mean, masked.running_var, masked.weight, masked.bias, eps=masked.eps
        ),
    )


def test_window_slicing_is_the_identity_at_full_width_and_interpolates_inside():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 3)).astype(np.float32)
    np.testing.assert_allclose(augmented(x, rng, jitter=0.0, keep=1.0), x, atol=1e-6)
    y = augmented(x, rng, jitter=0.0, keep=0.5)
    assert y.shape == x.shape
    assert (y.min(0) >= x.min(0) - 1e-6).all() and (y.max(0) <= x.max(0) + 1e-6).all()  # convex combinations
    ramp = np.arange(50, dtype=np.float32)[:, None]  # a straight line stays straight: evenly spaced steps
    r = augmented(ramp, rng, jitter=0.0, keep=0.6)[:, 0]
    np.testing.assert_allclose(np.diff(r), np.diff(r).mean(), atol=1e-4)
    assert 0.6 * 49 - 1e-3 <= r[-1] - r[0] <= 49 + 1e-3


def test_folds_deal_every_example_once_keeping_class_shares():
    labels = ["a"] * 23 + ["b"] * 12 + ["c"] * 5
    fold = stratified_folds(labels, 5, seed=1)
    assert sorted(np.bincount(fold)) == [8] * 5  # 40 examples over 5 folds, evenly
    for c, n in (("a", 23), ("b", 12), ("c", 5)):
        per = np.bincount(fold[np.array(labels) == c], minlength=5)
        assert per.sum() == n and per.max() - per.min() <= 1
    assert np.array_equal(fold, stratified_folds(labels, 5, seed=1))


def test_cross_validation_only_when_the_test_split_would_say_nothing():
    few = Labelled(["a", "b"] * 20, seqs=[np.zeros((3, 1), np.float32)] * 40)
    many = Labelled(["a", "b"] * 200, seqs=[np.zeros((3, 1), np.float32)] * 400)
    assert round(0.1 * 40) < MIN_TEST <= round(0.1 * 400)
    assert fold_count(few, 0.1, given_test=False) == 5
    assert fold_count(few, 0.1, given_test=True) == 0 and fold_count(few, 0.0, given_test=False) == 0
    assert fold_count(many, 0.1, given_test=False) == 0
    rare = Labelled(["a"] * 30 + ["b"] * 3, seqs=[np.zeros((3, 1), np.float32)] * 33)
    assert fold_count(rare, 0.1, given_test=False) == 3  # no more folds than the rarest class has examples
    assert fold_count(many, 0.1, given_test=False, folds=4) == 4 and fold_count(few, 0.1, False, folds=0) == 0


def test_the_verdict_names_the_row_with_the_best_accuracy():
    rows = [{"method": "lstmkit", "accuracy": 0.7}, {"method": "majority", "accuracy": 0.5}]
    assert verdict(rows).startswith("lstmkit won")
    rows.append({"method": "nn1_dtw", "accuracy": 0.9})
    assert verdict(rows).startswith("nn1_dtw won") and "0.700" in verdict(rows)


def test_a_small_wide_table_is_cross_validated_end_to_end(tmp_path, capsys):
    frame = wide_frame()
    frame.to_csv(tmp_path / "small.csv", index=False)
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in SMALL.items() if k != "progress"]
    code = main(
        ["classify", "train", "--data", str(tmp_path / "small.csv"), "--out", str(tmp_path / "run"), "--json"]
        + flags
        + ["--no-progress"]
    )
    assert code in (0, None)
    out = json.loads(capsys.readouterr().out)
    assert out["cv"]["folds"] == 5 and len(out["cv"]["accuracy"]) == 5 and out["split"].startswith("5-fold")
    assert out["test"]["n"] == len(frame)  # every example scored once, out of fold
    table = {r["method"]: r["accuracy"] for r in out["table"]}
    assert {"lstmkit", "majority", "nn1_euclidean"} <= set(table) and out["verdict"].split()[0] in table
    assert table["majority"] == pytest.approx(0.5)
    assert table["lstmkit"] > 0.75  # a bump against a dip: learnable from 32 examples per fold
    assert all((tmp_path / "run" / "folds" / f"fold-{i}" / "model").is_dir() for i in range(1, 6))
    saved = json.loads((tmp_path / "run" / "model" / "config.json").read_text())
    assert saved["config"]["task"]["conv"] == "on"  # auto, resolved for numbers, and saved so


def test_the_conv_branch_exports_and_onnx_gives_torchs_probabilities(tmp_path):
    import lstmkit
    from lstmkit.registry import export_model, load_onnx
    from lstmkit.tasks.classify import Classifier

    opts = {**SMALL, "epochs": 1, "folds": 0}
    c = Classifier(out=str(tmp_path / "r"), **opts).fit(wide_frame(60))
    loaded = lstmkit.load(c.save(tmp_path / "m"))
    rng = np.random.default_rng(3)
    ex = Labelled(["a"] * 3, seqs=[rng.standard_normal((n, 1)).astype(np.float32) for n in (40, 17, 29)])
    np.testing.assert_allclose(loaded.probabilities(ex), c.probabilities(ex), atol=1e-6)
    export_model(loaded, tmp_path / "onnx")
    np.testing.assert_allclose(load_onnx(tmp_path / "onnx").probabilities(ex), c.probabilities(ex), atol=1e-5)


def test_per_series_view_is_each_series_shape_level_and_scale():
    from lstmkit.tasks.classify.encoding import per_series, scale_spread

    rng = np.random.default_rng(0)
    s = rng.standard_normal((50, 2)) * [3.0, 0.5] + [10.0, -2.0]  # (T, F)
    v = per_series(s)  # (T, 3F)
    np.testing.assert_allclose(v[:, :2], (s - s.mean(0)) / s.std(0), rtol=1e-5)
    np.testing.assert_allclose(v[0, 2:4], np.arcsinh(s.mean(0)), rtol=1e-5)
    np.testing.assert_allclose(v[0, 4:], np.log(s.std(0) + 1e-6), rtol=1e-5)
    big = per_series(1000 * s)  # amplitude moves only the scale (and level) columns, never the shape
    np.testing.assert_allclose(big[:, :2], v[:, :2], atol=1e-5)
    np.testing.assert_allclose(big[0, 4:] - v[0, 4:], np.log(1000.0), atol=1e-4)
    assert np.isfinite(per_series(np.ones((5, 1)))).all()  # a flat series: shape 0, no division by zero
    assert scale_spread([s, 2 * s, 3 * s]) == pytest.approx(2.8 / 1.2)  # percentiles 90 / 10 of stds 1x, 2x, 3x


def test_series_norm_auto_learns_shapes_whose_amplitudes_differ_by_orders(tmp_path):
    """Bumps against dips, each series scaled by 10^U(-3, 3): auto turns per-series normalisation on, the
    model learns the shape, and the saved model (and its ONNX export) encode requests the same way."""
    import lstmkit
    from lstmkit.registry import export_model, load_onnx
    from lstmkit.tasks.classify import Classifier

    frame = wide_frame(80)
    amp = 10.0 ** np.random.default_rng(1).uniform(-3, 3, len(frame))
    steps = [c for c in frame.columns if c != "label"]
    frame[steps] = frame[steps].to_numpy() * amp[:, None]
    c = Classifier(out=str(tmp_path / "r"), **{**SMALL, "epochs": 4, "folds": 0, "test_fraction": 0.25}).fit(frame)
    assert c.config.series_norm == "on" and c.report["series_norm"]["scale_spread"] > 100
    assert c.report["test"]["accuracy"] > 0.75  # majority 0.5
    loaded = lstmkit.load(c.save(tmp_path / "m"))
    assert loaded.encoding.series_norm and loaded.encoding.n_features == 1  # requests give one value per step
    assert loaded.predict_records([{"x": [[0.5], [3.0], [1.0]]}])[0]["prediction"] in {"a", "b"}
    ex = Labelled(
        ["a"] * 2, seqs=[500 * np.random.default_rng(2).standard_normal((n, 1)).astype(np.float32) for n in (40, 23)]
    )
    np.testing.assert_allclose(loaded.probabilities(ex), c.probabilities(ex), atol=1e-6)
    export_model(loaded, tmp_path / "onnx")
    np.testing.assert_allclose(load_onnx(tmp_path / "onnx").probabilities(ex), c.probabilities(ex), atol=1e-5)
    plain = Classifier(out=str(tmp_path / "p"), **{**SMALL, "epochs": 1, "folds": 0}).fit(wide_frame(40))
    assert plain.config.series_norm == "off" and plain.report["series_norm"]["scale_spread"] < 100


def test_training_reports_the_model_beside_the_baselines_on_validation(tmp_path, caplog):
    """The validation table holds the kept model's accuracy and the baselines' fitted on the training split
    (1-NN computed here by hand), and a baseline ahead on validation is warned about."""
    from lstmkit.tasks.classify import Classifier

    frame = wide_frame(60)
    opts = {**SMALL, "epochs": 1, "epoch_size": 8, "folds": 0, "test_fraction": 0.25, "val_fraction": 0.25}
    with caplog.at_level("WARNING", logger="lstmkit.tasks.classify.classifier"):
        c = Classifier(out=str(tmp_path / "r"), **opts).fit(frame)
    train, val, _ = c.splits(frame)
    table = {r["method"]: r["accuracy"] for r in c.report["validation"]["table"]}
    y = np.asarray(val.labels)
    tr, va = np.stack(train.seqs)[..., 0], np.stack(val.seqs)[..., 0]  # (N, T) each
    nearest = ((va[:, None, :] - tr[None, :, :]) ** 2).sum(-1).argmin(1)
    assert table["nn1_euclidean"] == pytest.approx((np.asarray(train.labels)[nearest] == y).mean())
    assert table["lstmkit"] == pytest.approx((c.predict(val_frame(val))["prediction"].to_numpy() == y).mean())
    common = max(set(train.labels), key=train.labels.count)
    assert table["majority"] == pytest.approx((y == common).mean())
    ahead = max(v for k, v in table.items() if k != "lstmkit") > table["lstmkit"]
    assert ahead == ("ahead of the network" in caplog.text)
    assert c.report["validation"]["n"] == len(val)


def val_frame(ex: Labelled) -> pd.DataFrame:
    """Labelled numeric examples back into the wide layout the Classifier reads."""
    return pd.DataFrame([{f"t{j}": v for j, v in enumerate(s[:, 0])} for s in ex.seqs])


def test_no_test_split_reports_validation_and_keeps_the_model(tmp_path, capsys):
    """--test-fraction 0 holds nothing out: the CLI reports the validation comparison and the model it saved."""
    frame = wide_frame(40)
    frame.to_csv(tmp_path / "small.csv", index=False)
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in SMALL.items() if k != "progress"]
    args = ["classify", "train", "--data", str(tmp_path / "small.csv"), "--out", str(tmp_path / "run"), "--json"]
    assert main(args + flags + ["--test-fraction", "0", "--no-progress"]) in (0, None)
    out = json.loads(capsys.readouterr().out)
    assert "test" not in out and out["split"].startswith("no test split")
    assert out["validation"]["n"] == round(0.1 * len(frame))  # val_fraction of the whole set
    assert [r["method"] for r in out["validation"]["table"]][:2] == ["lstmkit", "majority"]
    assert (tmp_path / "run" / "model" / "config.json").is_file()
