"""The theta anchor: its pieces by hand, a network with a zero correction forecasts what theta does;
the decoder's horizon-shared dropout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from lstmkit.config import ConfigError
from lstmkit.tasks.forecast import ForecastConfig, Forecaster, theta

FAST = {"epochs": 1, "steps_per_epoch": 2, "batch_size": 8, "hidden_size": 8, "num_layers": 1, "progress": False}


def test_seasonal_indices_recover_a_pattern_on_a_linear_trend():
    pattern = np.array([3.0, -1.0, 0.5, -2.5])  # mean 0
    t = np.arange(40)
    y = 0.2 * t + pattern[t % 4]
    # a centred moving average of a line plus a period-4 pattern is the line: the indices are the pattern
    np.testing.assert_allclose(theta.seasonal_indices(y, t % 4, 4), pattern, atol=1e-12)
    np.testing.assert_allclose(theta.seasonal_indices(y, (t + 1) % 4, 4), np.roll(pattern, 1), atol=1e-12)


def test_no_season_for_noise_short_series_or_period_one():
    rng = np.random.default_rng(0)
    t = np.arange(120)
    assert not theta.seasonal_indices(rng.normal(size=120), t % 12, 12).any()  # fails the 90 % test
    y = np.sin(2 * np.pi * t / 12)
    assert theta.seasonal_indices(y[:30], t[:30] % 12, 12).tolist() == [0.0] * 12  # under three seasons
    assert theta.seasonal_indices(y, t % 12, 12).any()
    assert theta.seasonal_indices(y, np.zeros(120, int), 1).tolist() == [0.0]


def test_levels_by_hand_hold_through_gaps_and_continue_from_a_carried_level():
    d = np.array([np.nan, 1.0, 3.0, np.nan, 5.0])
    np.testing.assert_allclose(theta.levels(d, 0.5), [np.nan, 1.0, 2.0, 2.0, 3.5])
    np.testing.assert_allclose(theta.levels(d[3:], 0.5, start=2.0), [2.0, 3.5])  # = the tail of the full pass


def test_alpha_and_drift():
    rng = np.random.default_rng(1)
    walk = np.cumsum(rng.normal(size=300))
    noise = 5 + rng.normal(size=300)

    def brute(y):  # one-step squared error of each weight, one plain loop per weight
        errors = []
        for a in theta.ALPHAS:
            level, sse = y[0], 0.0
            for v in y[1:]:
                sse += (v - level) ** 2
                level = a * v + (1 - a) * level
            errors.append(sse)
        return theta.ALPHAS[int(np.argmin(errors))]

    assert theta.ses_alpha(walk) == pytest.approx(brute(walk)) and theta.ses_alpha(walk) >= 0.6  # follow closely
    assert theta.ses_alpha(noise) == pytest.approx(brute(noise)) and theta.ses_alpha(noise) <= 0.15  # smooth hard
    t = np.arange(50.0)
    assert theta.half_slope(2 * t + 1) == pytest.approx(1.0)


def zero_correction(f: Forecaster) -> Forecaster:
    """The model with its network's last layer zeroed (so its forecast is its anchor's base alone), written
    and loaded back through the saved-model format."""
    from safetensors.torch import load_file

    import lstmkit
    from lstmkit.deploy.saved_model import read_saved, save_model

    path = f.run_dir / "zeroed"
    f.save(path)
    tensors = load_file(path / "model.safetensors")
    last = max(int(k.split(".")[1]) for k in tensors if k.startswith("head."))  # the head's last Linear
    for k in (f"head.{last}.weight", f"head.{last}.bias"):
        tensors[k] = torch.zeros_like(tensors[k])
    saved = read_saved(path)
    save_model(path, task="forecast", config=saved.config, tensors=tensors, state=saved.state)
    return lstmkit.load(path)


def test_with_a_zero_correction_the_forecast_is_the_theta_method(tmp_path):
    # a line: no season, smoothing follows the data (alpha 1), drift half the slope -> theta's y_T + k
    n, h = 60, 5
    df = pd.DataFrame({"ds": pd.date_range("2024-01-01", periods=n, freq="D"), "y": 2.0 * np.arange(n) + 1})
    f = zero_correction(Forecaster(horizon=h, anchor="theta", out=str(tmp_path / "r"), **FAST).fit(df))
    fc = f.predict(df)
    np.testing.assert_allclose(fc["y_hat"], df["y"].iloc[-1] + np.arange(1, h + 1), rtol=1e-5)
    # a repeating weekly pattern on a level: the seasonal indices carry it into the forecast
    week = np.array([0, 4, 1, 5, 2, 6, 3], float)
    df2 = df.assign(y=10 + week[np.arange(n) % 7])
    g = zero_correction(Forecaster(horizon=7, anchor="theta", out=str(tmp_path / "s"), **FAST).fit(df2))
    np.testing.assert_allclose(g.predict(df2)["y_hat"], 10 + week[np.arange(n, n + 7) % 7], atol=1e-3)


def test_theta_needs_direct_decoding():
    with pytest.raises(ConfigError, match="direct"):
        ForecastConfig(anchor="theta", decoding="recursive")


def test_horizon_dropout_shares_its_mask_across_horizon_steps():
    from lstmkit.tasks.forecast.model import HorizonDropout

    torch.manual_seed(0)
    drop = HorizonDropout(0.5)
    z = torch.ones(4, 3, 6, 8)  # (B, T, Hz, D)
    out = drop(z)
    assert set(out.unique().tolist()) <= {0.0, 2.0}  # kept units scaled by 1 / (1 - p)
    assert (out == out[:, :, :1, :]).all()  # one mask for every horizon step of a forecast
    assert 0 < (out == 0).float().mean() < 1
    assert torch.equal(drop.eval()(z), z)  # inference: identity
