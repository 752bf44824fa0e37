"""Synthetic pretraining series: reproducible, finite, of every kind the generator promises; a periodic kernel's
draws repeat at their period; the augmentations do what they say."""

import numpy as np

from lstmkit.data import synth_series as S


def test_series_are_reproducible_finite_and_varied():
    a, b = S.synth_series(40, 128, seed=3), S.synth_series(40, 128, seed=3)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (40, 128) and np.isfinite(a).all()
    assert not np.allclose(a, S.synth_series(40, 128, seed=4))
    scales = a.std(1)
    assert scales.max() / max(scales.min(), 1e-9) > 100  # levels and scales vary by orders of magnitude


def test_a_periodic_kernel_draw_repeats_at_its_period():
    rng = np.random.default_rng(0)
    T = 240
    t = np.linspace(0, 1, T)
    for _ in range(5):
        bank = S.kernel_bank(rng, T)
        y = S.gp_draw(bank["periodic"](t), rng)
        lags = [p for p in S.PERIODS if p < T / 2]
        # the period the bank drew: the lag (among the candidates) where the draw matches itself best
        err = {p: np.mean((y[p:] - y[:-p]) ** 2) for p in lags}
        best = min(err, key=err.get)
        assert err[best] < 0.05 * np.var(y)


def test_augmentations_shift_levels_break_trends_and_make_counts():
    rng = np.random.default_rng(1)
    flat = np.zeros(500)
    shifted = S.level_shifts(flat + rng.normal(0, 1, 500), rng)
    assert np.abs(np.diff(shifted)).max() > 1.5  # a jump of standard deviations
    counts = S.intermittent(rng.normal(0, 1, 500), rng)
    assert (counts >= 0).all() and np.array_equal(counts, np.round(counts)) and (counts == 0).mean() > 0.3
    bent = S.trend_changes(flat + 1e-3 * rng.normal(size=500), rng)
    assert np.ptp(bent) > 0
