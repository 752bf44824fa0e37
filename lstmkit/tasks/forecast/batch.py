"""Batch prediction at scale: in one process over a file read in chunks of whole series (`lstmkit forecast
predict --chunk-rows N`: memory one chunk, forecasts written chunk by chunk), or over a partitioned dataset
with Dask (`--data 'part-*.parquet' --dask [SCHEDULER]`, or `predict_partition` in your own `map_partitions`).

Each partition must hold whole series (partition by series id, as a Parquet dataset written per id range
is). Every worker loads the saved model once (a small per-process cache keyed by path and runtime) and
forecasts its partitions; results are written partition by partition, so neither the client nor a worker
holds the whole dataset. The same code runs on a local cluster (the default) and on a real one (pass its
scheduler address). Dask was chosen because it is the maintained engine that reads partitioned Parquet
natively and runs plain pandas functions per partition on a laptop or a cluster unchanged.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from lstmkit.errors import UsageError

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=4)
def _model(path: str, runtime: str) -> Any:
    """The saved model, loaded once per worker process."""
    from lstmkit.tasks.forecast import SPEC

    return SPEC.load_onnx(path) if runtime == "onnx" else SPEC.load(path)


def predict_partition(frame: pd.DataFrame, model: str, runtime: str = "torch") -> pd.DataFrame:
    """The forecasts of every series in one partition (long format, as `Forecaster.predict`)."""
    m = _model(str(model), runtime)
    if frame.empty:
        c = m.config
        cols = m.schema()["output"]["properties"]
        return pd.DataFrame(
            {
                k: pd.Series(dtype="datetime64[ns]" if k == c.time_col else object if k == c.id_col else "float32")
                for k in cols
            }
        )
    return m.predict(frame)


def predict_dask(
    model: str | Path, data: str, out: str | Path, scheduler: str | None = None, runtime: str = "torch"
) -> dict[str, Any]:
    """Forecast every partition of `data` (a Parquet path or glob, CSV globs too) on Dask and write one
    Parquet file per partition under `out`. `scheduler`: a Dask scheduler address (None: a local cluster
    with one single-threaded worker process per core)."""
    try:
        import dask.dataframe as dd
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise UsageError("--dask needs Dask: pip install 'dask[dataframe,distributed]'") from None
    model = str(Path(model).resolve())
    frame = dd.read_csv(data) if str(data).endswith(".csv") else dd.read_parquet(data)
    if frame.npartitions == 0:
        raise UsageError(f"{data}: no partitions to forecast")
    meta = predict_partition(frame.partitions[0].compute(), model, runtime).iloc[:0]  # the output's columns
    cluster = (
        None
        if scheduler
        else LocalCluster(n_workers=None, threads_per_worker=1, processes=True, dashboard_address=None)
    )
    with Client(scheduler or cluster) as client:
        log.info("forecasting %d partitions of %s on %s", frame.npartitions, data, client)
        done = frame.map_partitions(predict_partition, model, runtime, meta=meta)
        Path(out).mkdir(parents=True, exist_ok=True)
        done.to_parquet(str(out), write_index=False)
        rows = int(dd.read_parquet(str(out)).shape[0].compute())
    if cluster is not None:
        cluster.close()
    return {"forecasts": str(out), "partitions": frame.npartitions, "rows": rows}


def forecast_chunks(
    model: Any,
    data: str | Path,
    rows: int,
    futr_df: pd.DataFrame | None = None,
    context: int | Literal["all"] | None = None,
) -> Iterator[pd.DataFrame]:
    """The forecasts of `data` (a CSV/Parquet file, directory or glob; each series' rows together), one frame
    per chunk of about `rows` rows: the whole file is never read at once. `model`: a Forecaster or its ONNX
    runtime."""
    from lstmkit.data.chunks import series_chunks

    c = model.config
    cols = [c.id_col, c.time_col, c.target, *c.past_covariates, *c.future_covariates, *c.static_covariates]
    for frame in series_chunks(data, c.id_col, rows, cols):
        yield model.predict(frame, futr_df=futr_df, context=context)


def write_chunks(frames: Iterator[pd.DataFrame], out: str | Path) -> int:
    """Append forecast frames to `out` (Parquet for .parquet/.pq, else CSV) as they come; returns the rows."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")  # the finished file appears whole, or not at all
    rows, writer = 0, None
    try:
        for i, frame in enumerate(frames):
            if out.suffix in (".parquet", ".pq"):
                import pyarrow as pa
                import pyarrow.parquet as pq

                table = pa.Table.from_pandas(frame, preserve_index=False)
                writer = writer or pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table.cast(writer.schema))
            else:
                frame.to_csv(tmp, mode="w" if i == 0 else "a", header=i == 0, index=False)
            rows += len(frame)
        if writer is not None:
            writer.close()
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return rows
