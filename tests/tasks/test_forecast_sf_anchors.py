"""statsforecast's AutoETS and AutoARIMA as anchors: the ETS mapping and the Kalman filter against statsforecast's
own forecasts, the projection against a closed form, and the anchors in a trained model."""

import numpy as np
import pandas as pd
import pytest

import lstmkit
from lstmkit.errors import LstmkitError
from lstmkit.tasks.forecast import Forecaster, anchors, sf_anchors
from lstmkit.tasks.forecast.anchors import SmoothParams

pytest.importorskip("statsforecast", reason="the anchors need the `baselines` extra")
from statsforecast.models import AutoARIMA, AutoETS

FAST = {"epochs": 2, "batch_size": 16, "hidden_size": 8, "num_layers": 1, "progress": False}


def test_autoets_weights_run_in_the_damped_recursion_give_statsforecasts_forecast():
    """AutoETS's (alpha, beta, phi) and initial states in lstmkit's error-correction recursion reproduce
    AutoETS's own point forecast: the two write the trend update the same way."""
    rng = np.random.default_rng(0)
    d = 20 + np.cumsum(0.4 + rng.normal(0, 1, 80))
    fitted = AutoETS(model="AZN").fit(d)
    alpha, beta, phi, l0, b0 = sf_anchors.ets_params(d)
    assert (alpha, beta, phi) == pytest.approx(
        [fitted.model_["par"][0], np.nan_to_num(fitted.model_["par"][1]), np.nan_to_num(fitted.model_["par"][3], nan=1)]
    )
    start = fitted.model_["states"][0]  # (l0, b0): statsforecast's state before the first observation
    assert (l0, b0) == pytest.approx([start[0], start[1] if len(start) > 1 else 0.0])
    p = SmoothParams("autoets", (0.0,), alpha, beta, phi, start=(l0, b0))
    lv, tr = anchors.states(np.r_[np.nan, np.nan, d], p)  # the fitted start, from the first observation on
    ours = lv[-1] + tr[-1] * anchors.damp_sum(phi, 6)
    np.testing.assert_allclose(ours, fitted.predict(6)["mean"], rtol=1e-8)
    assert np.isnan(lv[:2]).all()


def test_autoets_with_weights_near_zero_forecasts_from_its_own_initial_state():
    """A clean seasonal-free line with noise: AutoETS may set alpha and beta near 0, and then its estimated
    initial level and trend are the forecast; the anchor must reproduce it, not restart at the first value."""
    t = np.arange(60.0)
    d = 3 - 0.1 * t + np.random.default_rng(4).normal(0, 0.3, 60)
    p = anchors.fit(d, np.zeros(60, int), 1, "autoets")
    expect = AutoETS(model="AZN").fit(d).predict(6)["mean"]
    np.testing.assert_allclose(anchors.anchor_forecast(d, np.zeros(60, int), np.zeros(6, int), 1, p), expect, rtol=1e-6)


def test_kalman_filter_forecast_from_the_last_origin_is_autoarimas():
    rng = np.random.default_rng(1)
    e = rng.normal(0, 1, 200)
    d = np.zeros(200)
    for t in range(2, 200):  # AR(2) around a level, with a slow drift
        d[t] = 0.6 * d[t - 1] - 0.3 * d[t - 2] + e[t]
    d = d + 50 + 0.05 * np.arange(200)
    spec = sf_anchors.arima_spec(d, horizon=6)
    paths = sf_anchors.forecast_paths(d, spec)
    np.testing.assert_allclose(paths[-1], AutoARIMA().fit(d).predict(6)["mean"], rtol=1e-6)
    walk = 10 + np.cumsum(rng.normal(0, 1, 120))
    spec = sf_anchors.arima_spec(walk, horizon=4)
    np.testing.assert_allclose(
        sf_anchors.forecast_paths(walk, spec)[-1], AutoARIMA().fit(walk).predict(4)["mean"], rtol=1e-6
    )


def test_projection_is_exact_for_an_ar1_decay():
    """AR(1) around 2 with coefficient 0.8: the path 2 + 0.8^k (x_t - 2) is level + trend D_k(0.8) exactly."""
    spec = {"T": [[0.8]], "Z": [1.0], "V": [[1.0]], "Pn": [[1 / (1 - 0.64)]], "intercept": 2.0, "drift": 0.0, "h": 8}
    d = np.array([3.0, 1.0, 4.0, 2.5, 0.5, 2.0, 6.0])
    paths = sf_anchors.forecast_paths(d, spec)
    np.testing.assert_allclose(paths[:, 2], 2 + 0.8**3 * (d - 2), rtol=1e-12)  # a fully observed AR(1): a_t = x_t
    spec["phi"] = sf_anchors._best_phi(paths)
    assert spec["phi"] == 0.8
    lv, tr = sf_anchors.arima_states(d, spec)
    rebuilt = lv[:, None] + tr[:, None] * np.cumsum(0.8 ** np.arange(1, 9))
    np.testing.assert_allclose(rebuilt, paths, atol=1e-10)


def _df(n=72):
    t = np.arange(n)
    y = 100 + 1.5 * t + 10 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(3).normal(0, 2, n)
    return pd.DataFrame({"ds": pd.date_range("2020-01-01", periods=n, freq="MS"), "y": y})


@pytest.mark.parametrize("anchor", ["autoets", "autoarima"])
def test_a_model_anchored_on_statsforecast_trains_reports_and_reloads(tmp_path, anchor):
    df = _df()
    f = Forecaster(horizon=6, anchor=anchor, blend=(0.0,), out=str(tmp_path / anchor), **FAST).fit(df)
    assert f.report["anchor_kinds"] == {anchor: 1}
    fc = f.predict(df)
    pd.testing.assert_frame_equal(lstmkit.load(tmp_path / anchor).predict(df), fc)
    # blend 0: the forecast is the anchor's own, fitted on the whole (scaled) series
    y, pos = df["y"].to_numpy(), np.arange(78) % 12
    ((loc, scale),) = f.pre.scalers.values()
    p = anchors.fit((y - loc) / scale, pos[:72], 12, anchor, 6)
    expect = anchors.anchor_forecast((y - loc) / scale, pos[:72], pos[72:], 12, p) * scale + loc
    np.testing.assert_allclose(fc["y_hat"], expect, rtol=0, atol=1e-2 * scale)


def test_without_statsforecast_the_anchor_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(sf_anchors, "available", lambda: False)
    with pytest.raises(LstmkitError, match=r"lstmkit\[baselines\]"):
        Forecaster(horizon=6, anchor="autoets", out=str(tmp_path / "x"), **FAST).fit(_df())


def test_folding_rows_into_an_autoarima_carry_says_why_it_cannot(tmp_path):
    df = _df()
    f = Forecaster(horizon=6, anchor="autoarima", out=str(tmp_path / "m"), **FAST).fit(df)
    f.update(df.head(60))  # the first rows of a series: the filter runs over them from its prior
    with pytest.raises(LstmkitError, match="autoarima anchor cannot fold new rows"):
        f.update(df.tail(12))
