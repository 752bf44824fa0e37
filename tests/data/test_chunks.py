"""Reading long-format files in chunks of whole series: every chunk holds whole series, the chunks together
are the file, and a file whose series are not grouped is refused with the fix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lstmkit.data.chunks import series_chunks
from lstmkit.data.timeseries import DataError


def long_frame(lengths: list[int]) -> pd.DataFrame:
    parts = [
        pd.DataFrame(
            {
                "unique_id": f"s{i:03d}",
                "ds": pd.date_range("2024-01-01", periods=n, freq="D"),
                "y": np.arange(n, dtype=float) + 100 * i,
            }
        )
        for i, n in enumerate(lengths)
    ]
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_chunks_hold_whole_series_and_together_are_the_file(tmp_path, suffix):
    df = long_frame([7, 30, 3, 12, 12, 1, 45, 9])
    path = tmp_path / f"data{suffix}"
    if suffix == ".csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False, row_group_size=5)  # row groups cut through series
    chunks = list(series_chunks(path, "unique_id", rows=20))
    assert len(chunks) > 2
    for c in chunks:  # no series split across chunks
        for uid, g in c.groupby("unique_id"):
            assert len(g) == (df["unique_id"] == uid).sum()
        assert len(c) < 20 + 45  # about `rows`, more only by the series that crosses the boundary
    got = pd.concat(chunks, ignore_index=True)
    assert got["unique_id"].tolist() == df["unique_id"].tolist()
    np.testing.assert_array_equal(got["y"].to_numpy(), df["y"].to_numpy())


def test_a_glob_of_files_is_read_in_order(tmp_path):
    df = long_frame([5, 6, 7, 8])
    df.iloc[:11].to_parquet(tmp_path / "part-0.parquet", index=False)
    df.iloc[11:].to_parquet(tmp_path / "part-1.parquet", index=False)
    got = pd.concat(series_chunks(tmp_path / "part-*.parquet", "unique_id", rows=4), ignore_index=True)
    assert got["unique_id"].tolist() == df["unique_id"].tolist()


def test_ungrouped_series_are_refused_with_the_fix(tmp_path):
    df = long_frame([10, 10, 10])
    shuffled = pd.concat([df.iloc[:5], df.iloc[10:], df.iloc[5:10]])  # s000 in two places
    shuffled.to_parquet(tmp_path / "d.parquet", index=False)
    with pytest.raises(DataError, match="s000.*not together.*sort"):
        list(series_chunks(tmp_path / "d.parquet", "unique_id", rows=8))


def test_missing_id_column_and_empty_file(tmp_path):
    long_frame([4]).drop(columns="unique_id").to_csv(tmp_path / "one.csv", index=False)
    with pytest.raises(DataError, match="no id column 'unique_id'"):
        list(series_chunks(tmp_path / "one.csv", "unique_id", rows=2))
    long_frame([4]).iloc[:0].to_parquet(tmp_path / "empty.parquet", index=False)
    with pytest.raises(DataError, match="no rows"):
        list(series_chunks(tmp_path / "empty.parquet", "unique_id", rows=2))
    with pytest.raises(DataError, match="no files match"):
        list(series_chunks(tmp_path / "nothing-*.parquet", "unique_id", rows=2))
