"""Long-format panels: validation errors name the series and the fix; gaps become masked NaNs; scalers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lstmkit.data.builtin_series import SERIES_DATASETS, load_builtin
from lstmkit.data.timeseries import (
    Columns,
    DataError,
    calendar_features,
    check_lengths,
    fit_scaler,
    read_table,
    season_length,
    season_position,
    time_values,
    to_panel,
    weekly_period,
)


def frame(n: int = 10, ids=("a", "b"), freq: str = "D") -> pd.DataFrame:
    parts = [
        pd.DataFrame({"unique_id": u, "ds": pd.date_range("2024-01-01", periods=n, freq=freq), "y": np.arange(n) + i})
        for i, u in enumerate(ids)
    ]
    return pd.concat(parts, ignore_index=True)


def test_panel_from_long_format_keeps_values_and_infers_frequency():
    p = to_panel(frame())
    assert p.freq == "D" and p.ids == ["a", "b"]
    np.testing.assert_array_equal(p.series[1].y, np.arange(10) + 1)


def test_single_series_without_id_column_and_renamed_columns(tmp_path):
    df = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=5, freq="h").astype(str), "load": [1, 2, 3, 4, 5]})
    path = tmp_path / "one.csv"
    df.to_csv(path, index=False)
    p = to_panel(path, Columns(time_col="date", target="load"))
    assert len(p.series) == 1 and p.freq == "h"
    np.testing.assert_array_equal(p.series[0].y, [1, 2, 3, 4, 5])
    assert "unique_id" not in df.columns  # the caller's frame is untouched


def test_parquet_round_trip(tmp_path):
    path = tmp_path / "d.parquet"
    frame().to_parquet(path)
    assert to_panel(path).ids == ["a", "b"]


def test_unsorted_rows_are_sorted_and_absent_timestamps_become_nan():
    df = frame(6, ids=("a",)).drop(index=[2]).sample(frac=1.0, random_state=0)
    s = to_panel(df, freq="D").series[0]
    assert len(s) == 6 and np.isnan(s.y[2])
    np.testing.assert_array_equal(np.delete(s.y, 2), [0, 1, 3, 4, 5])


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.drop(columns=["y"]), "missing column"),
        (lambda d: pd.concat([d, d.iloc[[3]]]), "duplicate timestamp"),
        (lambda d: d.assign(y=d["y"].astype(object).where(d.index != 4, "n/a")), "non-numeric value 'n/a'"),
        (lambda d: d.assign(ds=d["ds"].astype(str).where(d.index != 2, "not a date")), "not timestamps"),
        (lambda d: d.assign(y=d["y"].astype(float).where(d.index != 1, np.inf)), "infinite"),
    ],
)
def test_bad_input_gets_a_clear_error(change, message):
    with pytest.raises(DataError, match=message):
        to_panel(change(frame()))


def test_error_names_the_series():
    df = frame()
    df["y"] = df["y"].astype(object)
    df.loc[15, "y"] = "x"
    with pytest.raises(DataError, match="series 'b'"):
        to_panel(df)


def test_timestamps_off_the_grid_name_the_fix():
    df = frame(5, ids=("a",))
    df.loc[2, "ds"] = pd.Timestamp("2024-01-03 12:00")
    with pytest.raises(DataError, match="off the 'D' grid.*resample"):
        to_panel(df, freq="D")


def test_empty_file_and_unknown_type(tmp_path):
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(DataError, match="could not be read|no rows"):
        read_table(tmp_path / "e.csv")
    (tmp_path / "x.xlsx").write_text("x")
    with pytest.raises(DataError, match="unknown file type"):
        read_table(tmp_path / "x.xlsx")


def test_short_series_error_names_them():
    p = to_panel(frame(3, ids=("short",)))
    with pytest.raises(DataError, match="'short' \\(3\\)"):
        check_lengths(p, 10, "a test")


def test_static_covariate_must_be_constant():
    df = frame().assign(region=["n"] * 10 + ["s"] * 9 + ["x"])
    with pytest.raises(DataError, match="static column 'region' of series 'b'"):
        to_panel(df, static=["region"])
    assert to_panel(frame().assign(region=["n"] * 10 + ["s"] * 10), static=["region"]).series[1].static == {
        "region": "s"
    }


@pytest.mark.parametrize("kind", ["standard", "robust", "none"])
def test_scalers_normalise_the_observed_values_and_ignore_missing(kind):
    y = np.array([3.0, np.nan, 5.0, 10.0, 2.0])
    loc, scale = fit_scaler(y, kind)
    z = ((y - loc) / scale)[np.isfinite(y)]  # the observed values, scaled
    if kind == "standard":  # mean 0, standard deviation 1
        assert z.mean() == pytest.approx(0.0, abs=1e-12) and z.std() == pytest.approx(1.0)
    if kind == "robust":  # median 0, interquartile range 1: the median of 2, 3, 5, 10 is 4, IQR 6.25 - 2.75
        assert np.median(z) == pytest.approx(0.0, abs=1e-12) and (loc, scale) == pytest.approx((4.0, 3.5))
    if kind == "none":
        assert (loc, scale) == (0.0, 1.0)
    assert fit_scaler(np.full(4, 7.0), kind)[1] == 1.0  # a constant series never divides by 0


def test_season_length_and_calendar_features():
    assert [season_length(f) for f in ("h", "30min", "D", "B", "W", "MS", "QS", "YS")] == [24, 48, 7, 5, 52, 12, 4, 1]
    ds = pd.date_range("2024-01-01", periods=48, freq="h")
    cal = calendar_features(ds, "h")
    assert cal.shape == (48, 6)
    np.testing.assert_allclose(cal[0, :2], [0.0, 1.0], atol=1e-12)  # hour 0: sin 0, cos 1
    np.testing.assert_allclose(cal[6, :2], [1.0, 0.0], atol=1e-12)  # hour 6: a quarter of the day
    np.testing.assert_allclose(cal[24, :2], cal[0, :2], atol=1e-12)  # the next day's hour 0: the same hour ...
    assert not np.allclose(cal[24, 2:4], cal[0, 2:4])  # ... but another weekday


def test_an_integer_time_column_is_a_step_index_without_a_calendar_season():
    """Integers 0, 1, 2, ... (or 10, 20, ...) are steps, not nanoseconds of 1970: no daily season of 8.6e13
    steps (which once asked numpy for 629 TiB), and forecast times come back as the next integers."""
    df = pd.DataFrame({"unique_id": "a", "ds": np.arange(100, 400, 10), "y": np.sin(np.arange(30.0))})
    p = to_panel(df)
    assert season_length(p.freq) == 1 and weekly_period(p.freq) is None
    np.testing.assert_array_equal(time_values(p.series[0].ds, p.freq), np.arange(100, 400, 10))
    assert [season_length(f) for f in ("s", "10s", "ms", "min")] == [1, 1, 1, 1440]
    assert isinstance(time_values(pd.date_range("2024-01-01", periods=3, freq="D"), "D"), pd.DatetimeIndex)


def test_season_position_labels_each_step_by_its_place_in_the_season():
    hours = pd.date_range("2024-03-05 13:00", periods=30, freq="h")
    np.testing.assert_array_equal(season_position(hours, "h"), hours.hour)
    months = pd.date_range("1990-11-01", periods=14, freq="MS")
    np.testing.assert_array_equal(season_position(months, "MS"), months.month - 1)
    quarters = pd.date_range("2001-04-01", periods=6, freq="QS")
    np.testing.assert_array_equal(season_position(quarters, "QS"), quarters.quarter - 1)
    # daily: two series starting on different days give the same weekday the same label
    a, b = pd.date_range("2024-01-01", periods=10, freq="D"), pd.date_range("2024-01-04", periods=10, freq="D")
    pa, pb = season_position(a, "D"), season_position(b, "D")
    assert set(pa) <= set(range(7)) and (pa[3:] == pb[:7]).all()
    assert (season_position(pd.date_range("2024-01-01", periods=3, freq="YS"), "YS") == 0).all()


@pytest.mark.parametrize("name", sorted(SERIES_DATASETS))
def test_builtin_datasets_load_as_panels(name):
    pytest.importorskip({"stocks": "bokeh_sampledata"}.get(name, "pandas"))
    df, info = load_builtin(name)
    p = to_panel(df, freq=info.freq, past=info.past, future=info.future)
    assert p.series and all(len(s) > 2 * info.horizon for s in p.series)
    assert np.isfinite(p.series[0].y).mean() > 0.9


def test_builtin_values_are_the_published_ones():
    df, _ = load_builtin("air-passengers")
    assert df["y"].iloc[:3].tolist() == [112, 118, 132] and df["y"].iloc[-1] == 432  # Box & Jenkins series G
    assert df["ds"].iloc[-1] == pd.Timestamp("1960-12-01")
