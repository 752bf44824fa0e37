"""The statistical anchors (damped-trend smoothing, auto selection) against their textbook recursions, and the
rolling-origin intervals against simulated series whose noise is known."""

import numpy as np
import pandas as pd
import pytest

import lstmkit
from lstmkit.errors import LstmkitError
from lstmkit.tasks.forecast import Forecaster, anchors, intervals
from lstmkit.tasks.forecast.anchors import SmoothParams

FAST = {"epochs": 2, "batch_size": 16, "hidden_size": 8, "num_layers": 1, "progress": False}


def test_damped_states_and_forecast_follow_the_error_correction_recursion():
    d = np.array([10.0, 11.0, 11.5, 13.0, np.nan, 14.5, 15.0])
    p = SmoothParams("damped", (0.0,), alpha=0.5, beta=0.2, phi=0.9)
    lv, tr = anchors.states(d, p)
    # by hand: start at the first value with the mean of the first differences as trend (NaNs skipped: 4 diffs)
    level, trend = 10.0, np.mean(np.diff([10.0, 11.0, 11.5, 13.0, 14.5]))
    expect = [(level, trend)]
    for v in d[1:]:
        e = 0.0 if np.isnan(v) else v - (level + 0.9 * trend)
        level, trend = level + 0.9 * trend + 0.5 * e, 0.9 * trend + 0.2 * e
        expect.append((level, trend))
    np.testing.assert_allclose(np.c_[lv, tr], expect, rtol=1e-12)
    pos = np.zeros(len(d) + 3, int)
    fc = anchors.anchor_forecast(d, pos[: len(d)], pos[len(d) :], 1, p)
    np.testing.assert_allclose(fc, level + trend * np.array([0.9, 0.9 + 0.81, 0.9 + 0.81 + 0.729]))


def test_damped_fit_extrapolates_a_clean_trend_and_keeps_a_flat_level_flat():
    t = np.arange(40.0)
    pos = np.zeros(60, int)
    line = 5 + 2 * t
    p = anchors.fit(line, pos[:40], 1, "damped")
    np.testing.assert_allclose(
        anchors.anchor_forecast(line, pos[:40], pos[40:46], 1, p), 5 + 2 * np.arange(40, 46), rtol=1e-3
    )
    flat = 3 + np.random.default_rng(0).normal(0, 0.1, 40)
    p = anchors.fit(flat, pos[:40], 1, "damped")
    assert p.beta == 0.0  # simple exponential smoothing wins the AICc on a trendless series


def test_auto_picks_the_anchor_the_series_favours():
    m, pos = 4, np.arange(80) % 4
    rng = np.random.default_rng(1)
    seasonal = np.tile([10.0, 14.0, 8.0, 12.0], 20)  # a season that repeats exactly: seasonal naive is perfect
    assert anchors.select(seasonal, pos, m, 4).kind == "naive"
    trend = 50 + 1.5 * np.arange(80) + rng.normal(0, 0.2, 80)  # a steep, clean trend: half of it (theta) lags
    assert anchors.select(trend, pos, m, 4).kind == "damped"
    assert anchors.select(trend[:10], pos[:10], m, 4).kind == "theta"  # too short for a rolling origin


@pytest.mark.slow
def test_rolling_intervals_cover_as_promised_on_simulated_noise():
    """Level + N(0, 1) noise: the 80 % and 95 % intervals from 24 rolling origins cover about 80 % / 95 % of
    fresh draws over many series (finite-sample conformal: a little more, never much less)."""
    rng = np.random.default_rng(0)
    h, hits80, hits95, n = 6, [], [], 300
    for _ in range(n):
        y = 20 + rng.normal(0, 1, 60 + h)
        hist, future = y[:60], y[60:]
        pos = np.zeros(60 + h, int)
        p = anchors.fit(hist, pos[:60], 1, "theta")
        w = intervals.widths(intervals.rolling_errors(hist, pos[:60], 1, h, p), (0.025, 0.1, 0.5, 0.9, 0.975))
        mid = anchors.anchor_forecast(hist, pos[:60], pos[60:], 1, p)
        hits80.append(np.abs(future - mid) <= np.asarray(w["0.1,0.9"]))
        hits95.append(np.abs(future - mid) <= np.asarray(w["0.025,0.975"]))
    assert 0.77 <= np.mean(hits80) <= 0.88 and 0.93 <= np.mean(hits95) <= 0.985


def test_widths_of_a_short_series_grow_past_its_covered_steps():
    err = np.full((5, 6), np.nan)
    err[:, :2] = [[1.0, 2.0]] * 5  # five origins reach two steps ahead, none further
    w = intervals.widths(err, (0.1, 0.5, 0.9))["0.1,0.9"]
    np.testing.assert_allclose(w, [1, 2, 2 * np.sqrt(3 / 2), 2 * np.sqrt(2), 2 * np.sqrt(5 / 2), 2 * np.sqrt(3)])
    assert intervals.widths(np.full((2, 3), 1.0), (0.1, 0.5, 0.9)) == {}  # two origins: too few to calibrate


def test_a_single_series_forecast_with_anchor_auto_saves_and_reloads(tmp_path):
    t = np.arange(48)
    y = 100 + 2 * t + 10 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(0).normal(0, 2, 48)
    df = pd.DataFrame({"ds": pd.date_range("2020-01-01", periods=48, freq="MS"), "y": y})
    f = Forecaster(horizon=6, anchor="auto", out=str(tmp_path / "run"), **FAST).fit(df)
    assert f.report["anchor"] == "auto" and sum(f.report["anchor_kinds"].values()) == 1
    fc = f.predict(df)
    assert (fc["y_hat_q10"] < fc["y_hat"]).all() and (fc["y_hat"] < fc["y_hat_q90"]).all()
    pd.testing.assert_frame_equal(lstmkit.load(tmp_path / "run").predict(df), fc)
    with pytest.raises(LstmkitError, match="direct decoding"):
        Forecaster(horizon=6, anchor="auto", decoding="recursive")


@pytest.mark.slow
def test_the_correction_weight_blends_the_network_with_its_anchor(tmp_path):
    """blend (0,): the anchor's own forecast; (1,): the network's; (0.5,): their mean (the same trained
    network, since the weight is chosen after training)."""
    t = np.arange(60)
    y = 50 + 0.8 * t + 6 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(1).normal(0, 1.5, 60)
    df = pd.DataFrame({"ds": pd.date_range("2020-01-01", periods=60, freq="MS"), "y": y})
    fc = {
        w: Forecaster(horizon=6, anchor="ets", blend=(w,), seed=3, out=str(tmp_path / str(w)), **FAST)
        .fit(df)
        .predict(df)["y_hat"]
        .to_numpy()
        for w in (0.0, 0.5, 1.0)
    }
    assert np.abs(fc[1.0] - fc[0.0]).max() > 1e-3  # the network does correct the anchor
    np.testing.assert_allclose(fc[0.5], (fc[0.0] + fc[1.0]) / 2, rtol=0, atol=1e-3)
    pos = np.arange(66) % 12
    p = anchors.fit(y, pos[:60], 12, "damped")
    np.testing.assert_allclose(fc[0.0], anchors.anchor_forecast(y, pos[:60], pos[60:], 12, p), rtol=0, atol=1e-2)
    f = Forecaster(horizon=6, anchor="ets", blend=(0.0, 0.5, 1.0), out=str(tmp_path / "grid"), **FAST).fit(df)
    assert sum(f.report["correction_weights"].values()) == 1
    assert set(f.report["correction_weights"]) <= {"0", "0.5", "1"}
    with pytest.raises(LstmkitError, match="blend"):
        Forecaster(horizon=6, blend=(1.5,))


def test_transform_auto_picks_log_for_multiplicative_growth_and_none_otherwise():
    """One series: multiplicative trend and season are linear on the log scale (the anchors forecast them
    better there), an additive series is not, a series with a zero cannot be logged; a positive panel of ten
    series or more is logged."""
    from lstmkit.data.timeseries import Columns, to_panel
    from lstmkit.tasks.forecast.outputs import choose_transform

    t = np.arange(96)
    rng = np.random.default_rng(2)
    season = np.sin(2 * np.pi * t / 12)
    mult = 10 * np.exp(0.03 * t) * (1 + 0.3 * season) * np.exp(rng.normal(0, 0.02, 96))
    add = 100 + 0.5 * t + 8 * season + rng.normal(0, 1.0, 96)
    ds = pd.date_range("2000-01-01", periods=96, freq="MS")

    def panel(y):
        return to_panel(pd.DataFrame({"unique_id": "a", "ds": ds, "y": y}), Columns("unique_id", "ds", "y"), "MS")

    pos = np.arange(96) % 12
    assert anchors.log_gain(mult, pos, 12, 12) < 0 < anchors.log_gain(add, pos, 12, 12)
    assert choose_transform(panel(mult), 12) == "log"
    assert choose_transform(panel(add), 12) == "none"
    assert choose_transform(panel(np.r_[0.0, mult[1:]]), 12) == "none"
    many = pd.concat([pd.DataFrame({"unique_id": f"s{i}", "ds": ds, "y": add + i}) for i in range(10)])
    assert choose_transform(to_panel(many, Columns("unique_id", "ds", "y"), "MS"), 12) == "log"  # a panel


def test_a_too_short_series_is_an_error_unless_allowed_and_then_its_interval_is_honest(tmp_path):
    """History 50, 51, 49 and horizon 7: refused by default; with --allow-short the 80 % interval at step k is at
    least z_0.9 * sd(changes) * sqrt(k) either side of the median (a random walk's on that history)."""
    from statistics import NormalDist

    from lstmkit.data.timeseries import DataError
    from lstmkit.tasks.forecast import Forecaster

    df = pd.DataFrame({"ds": pd.date_range("2024-01-01", periods=3, freq="D"), "y": [50.0, 51.0, 49.0]})
    with pytest.raises(DataError, match="--allow-short"):
        Forecaster(horizon=7, max_steps=2, progress=False, out=str(tmp_path / "a")).fit(df)
    f = Forecaster(horizon=7, max_steps=2, progress=False, allow_short=True, out=str(tmp_path / "b")).fit(df)
    assert f.report["short_series"] == ["series"]
    fc = f.predict(df)
    sd = float(np.std(np.diff([50.0, 51.0, 49.0]), ddof=1))
    floor = NormalDist().inv_cdf(0.9) * sd * np.sqrt(np.arange(1, 8))
    assert (fc["y_hat_q90"] - fc["y_hat"] >= floor - 1e-4).all() and (
        fc["y_hat"] - fc["y_hat_q10"] >= floor - 1e-4
    ).all()
