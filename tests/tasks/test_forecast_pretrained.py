"""The pretrained forecaster's pieces: non-crossing quantiles, per-series standardisation, the engine's
pretraining task learning a season it is shown, and the zero-shot model behind predict, backtest, serving
and the saved-model format."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import lstmkit
from lstmkit.cli import main
from lstmkit.engine import TrainConfig
from lstmkit.engine.trainer import fit
from lstmkit.errors import LstmkitError
from lstmkit.tasks.forecast import Forecaster
from lstmkit.tasks.forecast.metrics import mase_scale
from lstmkit.tasks.forecast.patchnet import PatchNet
from lstmkit.tasks.forecast.pretrain import Pool, ZeroShotTask
from lstmkit.tasks.forecast.pretrained import PretrainedForecaster
from lstmkit.tasks.forecast.zeroshot import ZeroShotConfig, standardise

TINY = ZeroShotConfig(context=48, patch=4, horizon=8, hidden_size=32, num_layers=1)


def test_quantiles_never_cross_and_standardising_masks_what_is_missing():
    net = PatchNet(TINY)
    q = net(torch.randn(5, 48) * 10, torch.ones(5, 48))
    assert (q.diff(dim=-1) >= 0).all()
    y = np.array([[np.nan, 1.0, 3.0, np.nan], [5.0, 5.0, 5.0, 5.0]])
    x, mask, loc, scale = standardise(y)
    np.testing.assert_array_equal(mask, [[0, 1, 1, 0], [1, 1, 1, 1]])
    np.testing.assert_allclose(loc, [2.0, 5.0])
    np.testing.assert_allclose(scale, [1.0, 5.0])  # a flat series: scaled by its level
    np.testing.assert_allclose(x, [[0, -1, 1, 0], [0, 0, 0, 0]])


def _seasonal(n, rng, length=120):
    t = np.arange(length)
    return [
        rng.uniform(10, 100)
        + rng.uniform(1, 10) * np.sin(2 * np.pi * (t + rng.integers(12)) / 12)
        + rng.normal(0, 0.3, length)
        for _ in range(n)
    ]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A tiny model pretrained for a few hundred steps on noisy period-12 sinusoids."""
    rng = np.random.default_rng(0)
    task = ZeroShotTask(TINY, [Pool("sines", _seasonal(200, rng), 1.0)], [Pool("val", _seasonal(20, rng), 1.0)], 50)
    out = tmp_path_factory.mktemp("pretrained") / "run"
    tc = TrainConfig(epochs=8, batch_size=64, lr=3e-3, out=str(out), progress=False, seed=0)
    result = fit(task, tc)
    return lstmkit.load(result.model_dir)


def test_a_model_pretrained_on_a_season_forecasts_unseen_series_better_than_naive(model):
    assert isinstance(model, PretrainedForecaster)
    rng = np.random.default_rng(7)
    series = _seasonal(30, rng, length=60)
    q = model.forecast_values([y[:-8] for y in series], 8)  # (S, 8, Q)
    mid = q[..., list(TINY.levels).index(0.5)]
    err = [np.mean(np.abs(m - y[-8:])) / mase_scale(y[:-8], 1) for m, y in zip(mid, series)]
    naive = [np.mean(np.abs(y[-9] - y[-8:])) / mase_scale(y[:-8], 1) for y in series]
    assert np.mean(err) < 0.7 * np.mean(naive)


def test_predict_backtest_and_the_saved_format(model, tmp_path, capsys):
    t = np.arange(60)
    df = pd.DataFrame(
        {"unique_id": np.repeat(["a", "b"], 60), "ds": np.tile(pd.date_range("2020-01-01", periods=60, freq="MS"), 2)}
    )
    df["y"] = np.r_[50 + 5 * np.sin(2 * np.pi * t / 12), 20 + 2 * np.cos(2 * np.pi * t / 12)]
    model.config = model.config.__class__(horizon=6, quantiles=TINY.levels)
    fc = model.predict(df)
    assert len(fc) == 12 and {"y_hat", "y_hat_q10", "y_hat_q90"} <= set(fc.columns)
    assert (fc["y_hat_q10"] <= fc["y_hat"]).all() and (fc["y_hat"] <= fc["y_hat_q90"]).all()
    saved = model.save(tmp_path / "m")
    pd.testing.assert_frame_equal(lstmkit.load(saved).predict(df).head(6), model.predict(df).head(6), atol=1e-6)
    records = json.loads(df.assign(ds=df.ds.astype(str)).to_json(orient="records"))
    assert len(model.predict_records(records)) == 12
    df.to_csv(tmp_path / "d.csv", index=False)
    args = ["forecast", "predict", "--model", str(saved), "--data", str(tmp_path / "d.csv"), "--out"]
    assert main([*args, str(tmp_path / "f.csv"), "--horizon", "5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 10
    assert main([*args, str(tmp_path / "f.csv"), "--horizon", "9"]) != 0
    assert "forecasts up to 8 steps ahead" in capsys.readouterr().err
    with pytest.raises(LstmkitError, match="up to 8 steps"):
        model.forecast_values([df["y"].to_numpy()], 9)
    bt = ["forecast", "backtest", "--model", str(saved), "--data", str(tmp_path / "d.csv"), "--horizon", "6"]
    assert main([*bt, "--windows", "2", "--no-statistical", "--out", str(tmp_path / "bt"), "--json"]) == 0
    table = {r["method"]: r for r in json.loads(capsys.readouterr().out)["table"]}
    assert {"lstmkit", "naive", "seasonal_naive"} <= set(table)


def _frame(n=60):
    t = np.arange(n)
    df = pd.DataFrame(
        {"unique_id": np.repeat(["a", "b"], n), "ds": np.tile(pd.date_range("2020-01-01", periods=n, freq="MS"), 2)}
    )
    df["y"] = np.r_[50 + 5 * np.sin(2 * np.pi * t / 12), 20 + 2 * np.cos(2 * np.pi * t / 12)]
    return df


def test_the_onnx_export_forecasts_as_pytorch(model, tmp_path):
    from lstmkit.registry import export_model, load_onnx

    export_model(model, tmp_path / "onnx")
    onnx = load_onnx(tmp_path / "onnx")
    assert isinstance(onnx, PretrainedForecaster)
    onnx.config = model.config  # the same horizon and columns (another test sets the fixture's)
    df = _frame()
    np.testing.assert_allclose(onnx.predict(df)["y_hat"], model.predict(df)["y_hat"], rtol=1e-4, atol=1e-4)


def test_finetuning_from_a_pretrained_model_keeps_the_mix_that_validates_best(model, tmp_path, capsys):
    saved = model.save(tmp_path / "base")
    _frame(72).to_csv(tmp_path / "d.csv", index=False)
    args = ["forecast", "train", "--init-from", str(saved), "--data", str(tmp_path / "d.csv"), "--horizon", "6"]
    assert main([*args, "--max-steps", "15", "--out", str(tmp_path / "run"), "--no-progress", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    losses = {float(w): v for w, v in out["val_loss_by_mix"].items()}
    assert set(losses) == {0.0, 0.25, 0.5, 0.75, 1.0}
    assert losses[0.0] == out["val_loss_pretrained"] and losses[1.0] == out["val_loss_finetuned"]
    assert losses[out["mix"]] == min(losses.values())  # the kept weights validate best
    assert out["kept"] == {0.0: "pretrained", 1.0: "finetuned"}.get(out["mix"], "mixed")
    tuned = lstmkit.load(out["model"])
    assert isinstance(tuned, PretrainedForecaster) and len(pd.read_csv(out["forecast"])) == 2 * 6


def test_the_shipped_model_loads_by_name_and_beats_naive_on_seasonal_series():
    """`lstmkit.load("pretrained")` reads the weights inside the package; on noisy seasonal series it has never
    seen, its median beats the naive forecast (BENCHMARKS.md `pretrained-m3-*` has the real-data figures)."""
    shipped = lstmkit.load("pretrained")
    assert isinstance(shipped, PretrainedForecaster) and shipped.arch.horizon >= 48
    rng = np.random.default_rng(11)
    series = _seasonal(40, rng, length=96)
    q = shipped.forecast_values([y[:-12] for y in series], 12)
    assert np.isfinite(q).all() and (np.diff(q, axis=-1) >= 0).all()
    mid = q[..., list(shipped.arch.levels).index(0.5)]
    err = np.mean([np.mean(np.abs(m - y[-12:])) for m, y in zip(mid, series)])
    naive = np.mean([np.mean(np.abs(y[-13] - y[-12:])) for y in series])
    assert err < naive


def test_integer_times_forecast_the_next_integers(tmp_path):
    """A long frame whose time column is a step index: zero-shot and a trained forecaster both continue it."""
    rng = np.random.default_rng(2)
    t = np.arange(120)
    df = pd.concat(
        [pd.DataFrame({"unique_id": k, "ds": t, "y": 5 + np.sin(t / 4) + rng.normal(0, 0.1, 120)}) for k in "ab"]
    )
    fc = lstmkit.load("pretrained").predict(df)
    assert fc["ds"].tolist() == list(range(120, 132)) * 2 and np.isfinite(fc["y_hat"]).all()
    trained = Forecaster(horizon=4, max_steps=3, out=str(tmp_path / "run"))
    trained.fit(df)
    assert trained.predict(df)["ds"].tolist() == [120, 121, 122, 123] * 2


def test_a_forecaster_refuses_init_from_rather_than_train_from_scratch():
    from lstmkit.errors import UsageError
    from lstmkit.tasks.forecast import Forecaster

    with pytest.raises(UsageError, match="finetune"):
        Forecaster(init_from="pretrained", progress=False).fit("air-passengers")


def test_the_anchor_path_is_the_theta_method_fitted_on_each_context():
    """theta_paths (batched, the season found in the context) against anchors.py's per-series theta with that
    season; the season found is the one the series has (12), none on noise."""
    from lstmkit.tasks.forecast import anchors
    from lstmkit.tasks.forecast.zeroshot_anchor import detect_season, theta_paths

    rng = np.random.default_rng(3)
    series = _seasonal(6, rng, length=100) + [np.cumsum(rng.normal(0.2, 1, 70)), rng.normal(0, 1, 30)]
    series[1][40:45] = np.nan  # missing values inside a context
    x, mask, _, _ = standardise(np.array([np.r_[np.full(120 - len(y), np.nan), y] for y in series]))
    paths = theta_paths(x, mask, 10)
    assert detect_season(x[0][mask[0] > 0]) == 12 and detect_season(rng.normal(0, 1, 200)) == 1
    for i, row in enumerate(np.where(mask > 0, x, np.nan).astype(np.float64)):
        m = detect_season(row[np.isfinite(row)])
        pos, future = np.arange(120) % m, (120 + np.arange(10)) % m
        ref = anchors.anchor_forecast(row, pos, future, m, anchors.fit(row, pos, m, "theta"))
        np.testing.assert_allclose(paths[i], ref, atol=1e-5)


def test_an_anchored_model_trains_exports_and_needs_its_path(tmp_path):
    from lstmkit.registry import export_model, load_onnx

    cfg = ZeroShotConfig(context=48, patch=4, horizon=8, hidden_size=16, num_layers=1, anchor="theta")
    rng = np.random.default_rng(1)
    task = ZeroShotTask(cfg, [Pool("s", _seasonal(40, rng), 1.0)], [Pool("v", _seasonal(8, rng), 1.0)], 10)
    tc = TrainConfig(epochs=1, batch_size=16, out=str(tmp_path / "run"), progress=False, seed=0)
    anchored = lstmkit.load(fit(task, tc).model_dir)
    assert anchored.arch.anchor == "theta"
    series = _seasonal(3, rng, length=60)
    q = anchored.forecast_values(series, 8)  # (3, 8, Q)
    assert np.isfinite(q).all() and (np.diff(q, axis=-1) >= 0).all()
    export_model(anchored, tmp_path / "onnx")
    np.testing.assert_allclose(load_onnx(tmp_path / "onnx").forecast_values(series, 8), q, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="anchor path"):
        anchored.net(torch.zeros(1, 48), torch.ones(1, 48))


def test_a_partial_correction_moves_the_median_towards_the_path_and_keeps_the_interval():
    from lstmkit.config import ConfigError
    from lstmkit.tasks.forecast.zeroshot import shrink

    cfg = ZeroShotConfig(context=48, patch=4, horizon=3, anchor="theta", correction=0.25, levels=(0.1, 0.5, 0.9))
    q = np.array([[[1.0, 2.0, 4.0], [0.0, 1.0, 1.5], [-1.0, 0.0, 3.0]]])  # (1, 3, 3)
    base = np.array([[6.0, 1.0, -4.0]])
    out = shrink(cfg, q, base)
    np.testing.assert_allclose(out[..., 1], base + 0.25 * (q[..., 1] - base))  # a quarter of the way
    np.testing.assert_allclose(np.diff(out, axis=-1), np.diff(q, axis=-1))  # the same spread around it
    assert shrink(ZeroShotConfig(context=48, patch=4, horizon=3, levels=(0.1, 0.5, 0.9)), q, None) is q
    with pytest.raises(ConfigError, match="correction"):
        ZeroShotConfig(correction=1.5)


def test_finetuning_skips_series_too_short_to_give_a_window(model, tmp_path):
    """A series with exactly the minimum context before its validation horizon leaves no window to draw (it
    crashed the window sampler); it is left out, and with only such series the base forecasts, said aloud."""
    from lstmkit.tasks.forecast.pretrain import MIN_CONTEXT, finetune

    rng = np.random.default_rng(5)
    short = _seasonal(1, rng, length=MIN_CONTEXT + 6)[0]
    tc = TrainConfig(max_steps=3, batch_size=8, out=str(tmp_path / "ft"), progress=False)
    _, report = finetune(model, [short, *_seasonal(4, rng, length=60)], 6, tc)
    assert report["kept"] in ("pretrained", "mixed", "finetuned")
    kept, report = finetune(model, [short], 6, dataclasses.replace(tc, out=str(tmp_path / "ft-short")))
    assert kept is model and report["kept"] == "pretrained" and "more than 8 values" in report["note"]
    assert lstmkit.load(report["model"]).arch == model.arch  # the run's model is the base, zero-shot


def test_weight_space_mixes_interpolate_every_floating_tensor():
    from lstmkit.tasks.forecast.pretrain import mix_states

    base = {"w": torch.tensor([0.0, 2.0]), "steps": torch.tensor([3])}
    tuned = {"w": torch.tensor([4.0, -2.0]), "steps": torch.tensor([7])}
    torch.testing.assert_close(mix_states(base, tuned, 0.0)["w"], base["w"])
    torch.testing.assert_close(mix_states(base, tuned, 1.0)["w"], tuned["w"])
    torch.testing.assert_close(mix_states(base, tuned, 0.25)["w"], torch.tensor([1.0, 1.0]))
    assert mix_states(base, tuned, 0.5)["steps"].item() == 7  # integer buffers are not averaged


def test_spread_factors_scale_each_levels_distance_from_the_median_and_never_cross():
    from lstmkit.config import ConfigError
    from lstmkit.tasks.forecast.zeroshot import widen

    levels = (0.1, 0.5, 0.9)
    q = np.array([[[-1.0, 0.0, 2.0], [3.0, 4.0, 4.5]]])  # (1, 2, 3)
    cfg = ZeroShotConfig(context=48, patch=4, horizon=2, levels=levels, spread=(2.0, 1.0, 1.5))
    np.testing.assert_allclose(widen(cfg, q), [[[-2.0, 0.0, 3.0], [2.0, 4.0, 4.75]]])  # mid + f * (q - mid)
    crossing = ZeroShotConfig(context=48, patch=4, horizon=2, levels=(0.1, 0.2, 0.5), spread=(1.0, 3.0, 1.0))
    out = widen(crossing, np.array([[[-1.0, -0.5, 0.0]]]))  # 0.2's offset tripled passes 0.1's: rearranged
    np.testing.assert_allclose(out, [[[-1.5, -1.0, 0.0]]])
    assert widen(ZeroShotConfig(context=48, patch=4, horizon=2, levels=levels), q) is q  # no spread: as it is
    with pytest.raises(ConfigError, match="spread"):
        ZeroShotConfig(levels=levels, spread=(1.0, 1.0))


def test_a_finetuned_models_intervals_are_never_narrower_on_average_than_the_pretrained_ones(model, tmp_path):
    """Fine-tuning on a handful of series narrows the quantiles to what those windows showed; the kept model's
    spread per level is at least the base's, measured on the same series and horizon."""
    from lstmkit.tasks.forecast.pretrain import finetune

    rng = np.random.default_rng(8)
    series = _seasonal(3, rng, length=72)
    tc = TrainConfig(max_steps=40, batch_size=16, lr=3e-3, out=str(tmp_path / "ft"), progress=False)
    tuned, report = finetune(model, series, 6, tc)
    if report["kept"] == "pretrained":
        pytest.skip("validation kept the base: nothing was fine-tuned")
    mid = list(model.arch.levels).index(0.5)

    def offsets(m):
        q = m.forecast_values(series, 6)
        return np.abs(q - q[..., mid : mid + 1]).mean(axis=(0, 1))

    assert (offsets(tuned) >= offsets(model) * (1 - 1e-6)).all()
    assert all(f >= 1.0 for f in report["spread"].values())
    saved = lstmkit.load(report["model"])  # the run's model is the kept one, spread included
    assert saved.arch.spread == tuned.arch.spread
    np.testing.assert_allclose(saved.forecast_values(series, 6), tuned.forecast_values(series, 6), rtol=1e-5)


def test_auto_fine_tunes_the_pretrained_forecaster_unless_the_run_needs_one_trained_from_scratch():
    from lstmkit.tasks.forecast.config import ForecastConfig, auto_start

    assert auto_start(ForecastConfig(data="d.csv", horizon=6, id_col="store"))[0] == "pretrained"
    start, why = auto_start(ForecastConfig(horizon=6, hidden_size=8, calendar=False))
    assert start == "none" and "--hidden-size" in why and "--calendar" in why
    start, why = auto_start(ForecastConfig(horizon=6), covariates=("promo",))
    assert start == "none" and "promo" in why


def test_forecast_train_defaults_to_fine_tuning_and_trains_from_scratch_where_the_pretrained_model_cannot(
    tmp_path, capsys
):
    """The default `forecast train` fine-tunes the shipped forecaster (the run's model is a pretrained one and the
    output says so); a horizon beyond the pretrained one's trains from scratch and says why."""
    _frame(90).to_csv(tmp_path / "d.csv", index=False)
    common = ["forecast", "train", "--data", str(tmp_path / "d.csv"), "--no-progress", "--json", "--max-steps", "3"]
    assert main([*common, "--horizon", "6", "--out", str(tmp_path / "a")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["init"].startswith("pretrained: fine-tuned (auto:") and out["kept"] in (
        "pretrained",
        "mixed",
        "finetuned",
    )
    assert isinstance(lstmkit.load(out["model"]), PretrainedForecaster) and Path(out["plot"]).is_file()
    long = lstmkit.load("pretrained").arch.horizon + 1
    assert main([*common, "--horizon", str(long), "--out", str(tmp_path / "b")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["init"].startswith("none: trained from scratch (auto: --horizon") and out["horizon"] == long
    saved = json.loads((Path(out["model"]) / "config.json").read_text())
    assert saved["config"]["task"]["init_from"] is None  # the saved config says what was done: from scratch


def test_a_fine_tuning_backtest_tunes_before_each_window_on_what_precedes_it(model, tmp_path):
    """`forecast backtest --init-from pretrained`: one fine-tuning per window on the values before its origin;
    a window fine-tuned at a vanishing learning rate forecasts as zero-shot (the plumbing adds nothing)."""
    df = _frame(80)
    zero = model.backtest(df, n_windows=2, statistical=False)
    frozen = TrainConfig(max_steps=1, lr=1e-12, batch_size=8, progress=False)
    tuned = model.backtest(df, n_windows=2, statistical=False, out=tmp_path / "bt", finetune=frozen)
    assert tuned.info["refit"] and (tmp_path / "bt" / "window-0").is_dir() and (tmp_path / "bt" / "window-1").is_dir()
    np.testing.assert_allclose(tuned.table.loc["lstmkit", "mase"], zero.table.loc["lstmkit", "mase"], rtol=1e-4)
    assert tuned.table.loc["lstmkit", "fit_s"] > 0
