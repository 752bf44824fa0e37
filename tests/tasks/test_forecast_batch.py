"""Batch prediction on Dask: a partitioned Parquet dataset forecast on a local cluster equals in-process
prediction, partition by partition; `predict_partition` works in a user's own map_partitions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("dask.distributed")

import lstmkit
from lstmkit.cli import main
from lstmkit.tasks.forecast.batch import predict_partition

FIXTURE = Path(__file__).parent.parent / "fixtures" / "models" / "v0.4.0" / "forecast"


def panel(ids: list[str], n: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = [
        pd.DataFrame(
            {
                "unique_id": u,
                "ds": pd.date_range("1950-01-01", periods=n, freq="MS"),
                "y": 100 + 3 * np.arange(n) + 10 * np.sin(np.arange(n) / 2) + rng.normal(0, 2, n),
            }
        )
        for u in ids
    ]
    return pd.concat(parts, ignore_index=True)


@pytest.mark.slow
def test_dask_prediction_equals_in_process(tmp_path, capsys):
    parts = [panel([f"s{3 * k + i}" for i in range(3)], seed=k) for k in range(3)]
    for k, p in enumerate(parts):
        p.to_parquet(tmp_path / f"part-{k}.parquet", index=False)
    code = main(
        [
            "forecast",
            "predict",
            "--model",
            str(FIXTURE),
            "--data",
            str(tmp_path / "part-*.parquet"),
            "--dask",
            "--out",
            str(tmp_path / "out"),
            "--json",
        ]
    )
    assert code == 0
    assert '"partitions": 3' in capsys.readouterr().out
    got = pd.read_parquet(tmp_path / "out").sort_values(["unique_id", "ds"]).reset_index(drop=True)
    want = lstmkit.load(FIXTURE).predict(pd.concat(parts)).sort_values(["unique_id", "ds"]).reset_index(drop=True)
    assert got["unique_id"].tolist() == want["unique_id"].tolist()
    np.testing.assert_allclose(got["y_hat"], want["y_hat"], rtol=1e-6)
    assert len(list((tmp_path / "out").glob("*.parquet"))) == 3  # written partition by partition


def test_predict_partition_in_a_users_map_partitions():
    import dask.dataframe as dd

    df = panel(["a", "b", "c", "d"])
    ddf = dd.from_pandas(df, npartitions=2, sort=False).shuffle("unique_id", npartitions=2)
    meta = predict_partition(df.iloc[:0], str(FIXTURE))
    got = ddf.map_partitions(predict_partition, str(FIXTURE), meta=meta).compute(scheduler="synchronous")
    want = lstmkit.load(FIXTURE).predict(df)
    got = got.sort_values(["unique_id", "ds"]).reset_index(drop=True)
    np.testing.assert_allclose(got["y_hat"], want.sort_values(["unique_id", "ds"])["y_hat"], rtol=1e-6)
