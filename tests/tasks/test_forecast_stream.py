"""Forecasting data larger than memory: a file read in chunks of whole series trains to the same preprocessor
as the whole panel in memory, serves exactly the windows the in-memory buffers would, and predicts chunk by
chunk what the model predicts on the whole frame."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lstmkit
from lstmkit.cli import main
from lstmkit.config import ConfigError
from lstmkit.data.timeseries import Columns, to_panel
from lstmkit.tasks.forecast import ForecastConfig, Forecaster
from lstmkit.tasks.forecast.features import Preprocessor
from lstmkit.tasks.forecast.outputs import decoded_steps, seasons_of, with_data_defaults
from lstmkit.tasks.forecast.stream import StreamingForecastTask, fit_streaming, read_chunks
from lstmkit.tasks.forecast.task import split_validation
from lstmkit.tasks.forecast.windows import build_tensors, gather

FIXTURE = Path(__file__).parent.parent / "fixtures" / "models" / "v0.4.0" / "forecast"
FAST = {"epochs": 1, "steps_per_epoch": 4, "batch_size": 8, "hidden_size": 8, "num_layers": 1, "progress": False}


def frame(n_series: int = 9, seed: int = 0) -> pd.DataFrame:
    """Series of different lengths, a past and a future covariate, a text and a numeric static column."""
    rng = np.random.default_rng(seed)
    parts = []
    for i in range(n_series):
        n = 30 + 7 * (i % 4)
        t = np.arange(n)
        promo = (rng.random(n) < 0.3).astype(float)
        y = 20 + 5 * i + 3 * np.sin(2 * np.pi * t / 7) + 2 * promo + rng.normal(0, 0.5, n)
        parts.append(
            pd.DataFrame(
                {
                    "unique_id": f"s{i:02d}",
                    "ds": pd.date_range("2024-01-01", periods=n, freq="D"),
                    "y": y,
                    "traffic": y + rng.normal(0, 1, n),
                    "promo": promo,
                    "region": "nsw"[i % 3],
                    "size": float(i % 5),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def config() -> ForecastConfig:
    return ForecastConfig(
        horizon=5,
        past_covariates=("traffic",),
        future_covariates=("promo",),
        static_covariates=("region", "size"),
        hidden_size=8,
        num_layers=1,
    )


def test_the_streamed_preprocessor_is_the_in_memory_one(tmp_path):
    df = frame()
    df.to_parquet(tmp_path / "d.parquet", index=False, row_group_size=17)
    panel = to_panel(df, Columns(), None, ("traffic",), ("promo",), ("region", "size"))
    cfg = with_data_defaults(config(), panel, None)
    want = Preprocessor.fit(split_validation(panel, 5, True), cfg.scaler, cfg.calendar, cfg.transform, cfg.anchor, 5)
    got, n = fit_streaming(cfg, read_chunks(cfg, str(tmp_path / "d.parquet"), rows=60))
    assert n == 9 and got.ids == want.ids
    assert got.scalers == want.scalers and got.theta == want.theta and got.train_end == want.train_end
    assert got.static_vocab == want.static_vocab == {"region": ["n", "s", "w"]}
    for name in ("traffic", "promo"):  # moments merged across chunks = over all rows at once
        np.testing.assert_allclose(got.cov_stats[name], want.cov_stats[name], rtol=1e-10)
    np.testing.assert_allclose(got.static_num["size"], want.static_num["size"], rtol=1e-10)


def test_chunked_batches_are_the_in_memory_windows(tmp_path):
    df = frame(11)
    df.to_parquet(tmp_path / "d.parquet", index=False, row_group_size=23)
    task = StreamingForecastTask(config(), str(tmp_path / "d.parquet"), rows=70)
    try:
        assert len(task.chunks) >= 4
        cfg = task.cfg
        offsets = np.cumsum([0] + [len(c.val_origins) for c in task.chunks])
        panel = to_panel(df, Columns(), cfg.freq, ("traffic",), ("promo",), ("region", "size"))
        train = split_validation(panel, cfg.horizon, True)
        full = build_tensors(train.series, task.pre, cfg.lookback, decoded_steps(cfg))  # the whole panel at once
        sampler = task.train_batches(8, seed=3)
        first = list(sampler.epoch_batches(0))
        assert len(first) == len(sampler) > 4
        assert [b["ends"].tolist() for b in sampler.epoch_batches(0)] == [b["ends"].tolist() for b in first]
        for b in first:  # each batch comes from one chunk: find it by matching the windows
            hits = []
            for k in range(len(task.chunks)):
                g = b["series"] + int(offsets[k])
                if int(g.max()) >= offsets[k + 1] or bool((b["ends"] >= full.lengths[g]).any()):
                    continue
                want = gather(full, g, b["ends"], cfg.lookback, decoded_steps(cfg), cfg.forking, seasons_of(cfg))
                if all(
                    np.array_equal(b[x].numpy(), want[x].numpy(), equal_nan=True) for x in ("x", "y", "known", "lags")
                ):
                    hits.append(k)
            assert hits, "a chunked batch matches no window of the in-memory buffers"
        val = list(task.val_batches(8))
        assert sum(len(b["ends"]) for b in val) == 11  # every series validated once
    finally:
        task.close()
    assert not Path(task._dir).exists()  # the window cache is removed


def test_streaming_fit_saves_a_model_that_predicts_chunk_by_chunk_as_in_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the window cache goes here, and must be gone after
    df = frame(8)
    df.to_parquet(tmp_path / "d.parquet", index=False, row_group_size=40)
    last = df.groupby("unique_id")["ds"].max()  # promo for each series' horizon:
    futr = pd.concat(
        [
            pd.DataFrame(
                {
                    "unique_id": u,
                    "ds": pd.date_range(last[u], periods=6, freq="D")[1:],
                    "promo": [0.0, 1.0, 0.0, 0.0, 1.0],
                }
            )
            for u in last.index
        ]
    )
    f = Forecaster(config=dataclasses.replace(config(), chunk_rows=80), out=str(tmp_path / "run"), **FAST)
    f.fit(str(tmp_path / "d.parquet"))
    assert not list(tmp_path.glob("lstmkit-windows-*"))
    chunked = f.predict(str(tmp_path / "d.parquet"), futr_df=futr)  # read in chunks (the config's chunk_rows)
    whole = lstmkit.load(tmp_path / "run" / "model").predict(df, futr_df=futr)
    assert len(chunked) == 8 * 5
    np.testing.assert_allclose(chunked["y_hat"], whole["y_hat"], rtol=1e-5)
    assert lstmkit.load(tmp_path / "run" / "model").config.chunk_rows == 80


def test_chunk_rows_needs_a_file():
    with pytest.raises(ConfigError, match="--chunk-rows reads a file"):
        Forecaster(horizon=5, chunk_rows=100, **FAST).fit(frame())


@pytest.mark.parametrize("out", ["fc.parquet", "fc.csv"])
def test_cli_predict_in_chunks_equals_in_process(tmp_path, capsys, out):
    rng = np.random.default_rng(0)
    df = pd.concat(
        [
            pd.DataFrame(
                {
                    "unique_id": f"u{i}",
                    "ds": pd.date_range("1950-01-01", periods=40, freq="MS"),
                    "y": 100 + 3 * np.arange(40) + rng.normal(0, 2, 40),
                }
            )
            for i in range(7)
        ]
    )
    df.to_parquet(tmp_path / "d.parquet", index=False, row_group_size=30)
    code = main(
        [
            "forecast",
            "predict",
            "--model",
            str(FIXTURE),
            "--data",
            str(tmp_path / "d.parquet"),
            "--chunk-rows",
            "50",
            "--out",
            str(tmp_path / out),
            "--json",
        ]
    )
    assert code == 0 and '"rows"' in capsys.readouterr().out
    got = pd.read_parquet(tmp_path / out) if out.endswith("parquet") else pd.read_csv(tmp_path / out)
    want = lstmkit.load(FIXTURE).predict(df)
    assert got["unique_id"].tolist() == want["unique_id"].tolist()
    np.testing.assert_allclose(got["y_hat"], want["y_hat"], rtol=1e-6)
    assert not (tmp_path / f"{out}.part").exists()


def test_cli_train_in_chunks(tmp_path, capsys):
    frame(6).drop(columns=["traffic", "promo", "region", "size"]).to_parquet(tmp_path / "d.parquet", index=False)
    code = main(
        [
            "forecast",
            "train",
            "--data",
            str(tmp_path / "d.parquet"),
            "--horizon",
            "5",
            "--chunk-rows",
            "70",
            "--epochs",
            "1",
            "--steps-per-epoch",
            "3",
            "--hidden-size",
            "8",
            "--num-layers",
            "1",
            "--no-progress",
            "--out",
            str(tmp_path / "run"),
            "--json",
        ]
    )
    assert code == 0
    assert len(pd.read_csv(tmp_path / "run" / "forecast.csv")) == 6 * 5
    assert (tmp_path / "run" / "forecast.png").exists()
