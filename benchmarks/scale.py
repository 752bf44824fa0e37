"""Scaling on this machine: language-model training throughput with 1 vs 2 DDP processes (gloo), forecasting
fit + predict time and peak memory against the number of series, and Dask batch prediction against
in-process prediction.

    python benchmarks/scale.py [--sizes 1000 10000 100000] [--stream-sizes 10000 100000] [--no-write]

Each measurement runs in its own process (peak memory is that process's maximum RSS). Forecasting uses a
fixed training budget (1 epoch of 20 steps) so that the time measures what grows with the data (reading,
scaling, windows, the per-series anchors, prediction), with `--set` options applied to every size (default:
the seasonal anchor, the cheapest per series). Writes the `scale` section of BENCHMARKS.md. Run it alone: on
2 cores, two training processes share the cores with each other.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._report import machine, write_section

ROOT = Path(__file__).resolve().parent.parent

FORECAST_CHILD = r"""
import json, resource, sys, time
import numpy as np, pandas as pd
from lstmkit.tasks.forecast import Forecaster
n, length, out, opts = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
rng = np.random.default_rng(0)
t = np.arange(length)
ids = np.repeat(np.arange(n), length)
level = rng.uniform(50, 150, n)[:, None]
y = level + 0.05 * level * np.sin(2 * np.pi * t / 24)[None] + rng.normal(0, 1, (n, length))
stamps = pd.date_range("2024-01-01", periods=length, freq="h")
df = pd.DataFrame({"unique_id": ids.astype(str), "ds": np.tile(stamps, n),
                   "y": y.ravel().astype(np.float32)})
t0 = time.perf_counter()
f = Forecaster(horizon=24, freq="h", epochs=1, steps_per_epoch=20, batch_size=256, progress=False, out=out, **opts)
f.fit(df)
t1 = time.perf_counter()
fc = f.predict(df)
t2 = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"fit_s": t1 - t0, "predict_s": t2 - t1, "peak_mb": peak, "rows": len(df), "forecast_rows": len(fc)}))
"""

WRITE_CHILD = r"""
import sys, numpy as np, pandas as pd, pyarrow as pa, pyarrow.parquet as pq
n, length, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = np.random.default_rng(0)
t = np.arange(length)
writer = None
for lo in range(0, n, 1000):  # the same series as FORECAST_CHILD, written 1,000 series per row group
    k = min(1000, n - lo)
    level = rng.uniform(50, 150, k)[:, None]
    y = level + 0.05 * level * np.sin(2 * np.pi * t / 24)[None] + rng.normal(0, 1, (k, length))
    df = pd.DataFrame({"unique_id": np.repeat(np.arange(lo, lo + k), length).astype(str),
                       "ds": np.tile(pd.date_range("2024-01-01", periods=length, freq="h"), k),
                       "y": y.ravel().astype(np.float32)})
    table = pa.Table.from_pandas(df, preserve_index=False)
    writer = writer or pq.ParquetWriter(path, table.schema)
    writer.write_table(table)
writer.close()
print("{}")
"""

STREAM_CHILD = r"""
import json, resource, sys, time
from lstmkit.tasks.forecast import Forecaster
from lstmkit.tasks.forecast.batch import forecast_chunks, write_chunks
path, rows, out, opts = sys.argv[1], int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
t0 = time.perf_counter()
f = Forecaster(horizon=24, freq="h", epochs=1, steps_per_epoch=20, batch_size=256, progress=False, out=out,
               chunk_rows=rows, **opts).fit(path)
t1 = time.perf_counter()
n = write_chunks(forecast_chunks(f, path, rows), out + "/forecasts.parquet")
t2 = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"fit_s": t1 - t0, "predict_s": t2 - t1, "peak_mb": peak, "forecast_rows": n}))
"""

DASK_CHILD = r"""
import json, sys, time, glob
import pandas as pd
import lstmkit
from lstmkit.tasks.forecast.batch import predict_dask
model, parts, out = sys.argv[1], sys.argv[2], sys.argv[3]
t0 = time.perf_counter()
fc = lstmkit.load(model).predict(pd.concat([pd.read_parquet(p) for p in sorted(glob.glob(parts))]))
t1 = time.perf_counter()
done = predict_dask(model, parts, out)
t2 = time.perf_counter()
print(json.dumps({"in_process_s": t1 - t0, "dask_s": t2 - t1, "rows": len(fc), "dask_rows": done["rows"]}))
"""


def child(code: str, *args: str, timeout: int = 3600) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def lm_throughput(devices: int, steps: int, tmp: Path) -> float:
    """Training tokens per second over `steps` optimiser steps, net of start-up and the final evaluation (a run
    of 5 steps subtracted)."""

    def run(n: int, out: str) -> float:
        cmd = [
            sys.executable,
            "-m",
            "lstmkit.cli",
            "lm",
            "train",
            "--text",
            "shakespeare",
            "--out",
            str(tmp / out),
            "--devices",
            str(devices),
            "--max-steps",
            str(n),
            "--batch-size",
            "32",
            "--bptt",
            "64",
            "--hidden-size",
            "256",
            "--num-layers",
            "2",
            "--no-progress",
            "--precision",
            "32",
            "--checkpoint-every",
            "100000",
            "--json",
        ]
        t = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=3600)
        if done.returncode != 0:
            raise SystemExit(done.stderr[-3000:])
        return time.perf_counter() - t

    short, long = run(5, f"lm-{devices}-short"), run(5 + steps, f"lm-{devices}-long")
    return steps * devices * 32 * 64 / (long - short)


SIZE_HEAD = [
    "| series | rows | fit s | predict s | peak RSS MB | fit s per 1k series | predict s per 1k series |",
    "|---|---|---|---|---|---|---|",
]


def size_row(n: int, rows: int, r: dict) -> str:
    """One row of the forecasting cost table."""
    return (
        f"| {n:,} | {rows:,} | {r['fit_s']:.1f} | {r['predict_s']:.1f} | {r['peak_mb']:.0f} | "
        f"{1000 * r['fit_s'] / n:.2f} | {1000 * r['predict_s'] / n:.2f} |"
    )


def slope_line(runs: list[tuple[int, dict]]) -> list[str]:
    """The log-log slope of fit + predict time between the smallest and the largest size."""
    if len(runs) < 2:
        return []
    (n0, a), (n1, b) = runs[0], runs[-1]
    slope = math.log(b["fit_s"] + b["predict_s"]) - math.log(a["fit_s"] + a["predict_s"])
    return [
        "",
        f"Log-log slope of fit + predict time from {n0:,} to {n1:,} series: "
        f"{slope / (math.log(n1) - math.log(n0)):.2f} (1.00 is linear).",
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    p.add_argument(
        "--stream-sizes",
        type=int,
        nargs="*",
        default=[10000, 100000],
        help="series counts trained and predicted from a Parquet file read in chunks",
    )
    p.add_argument("--chunk-rows", type=int, default=240_000, help="rows per chunk for --stream-sizes")
    p.add_argument("--length", type=int, default=120, help="points per synthetic hourly series")
    p.add_argument("--lm-steps", type=int, default=40)
    p.add_argument("--set", nargs="*", default=["anchor=season"], metavar="KEY=VALUE")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    opts = dict(kv.split("=", 1) for kv in args.set)
    today = datetime.date.today().isoformat()
    lines = [
        f"## Scaling ({today})",
        "",
        f"Command: `python benchmarks/scale.py --sizes {' '.join(map(str, args.sizes))} --stream-sizes "
        f"{' '.join(map(str, args.stream_sizes))} --chunk-rows {args.chunk_rows} --length {args.length} "
        f"--lm-steps {args.lm_steps} --set {' '.join(args.set)}`  ",
        f"Machine: {machine()}",
        "",
    ]
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        one = lm_throughput(1, args.lm_steps, tmp)
        two = lm_throughput(2, args.lm_steps, tmp)
        print(f"lm: 1 process {one:.0f} tokens/s, 2 processes {two:.0f} tokens/s", file=sys.stderr)
        lines += [
            "| lm training (2 x 256 LSTM, 32 x 64 tokens per step per process) | tokens/s |",
            "|---|---|",
            f"| 1 process | {one:,.0f} |",
            f"| 2 processes (DDP, gloo) | {two:,.0f} ({two / one:.2f}x) |",
            "",
        ]
        lines += SIZE_HEAD
        runs = []
        for n in args.sizes:
            r = child(FORECAST_CHILD, str(n), str(args.length), str(tmp / f"fc-{n}"), json.dumps(opts))
            runs.append((n, r))
            print(f"forecast {n}: {r}", file=sys.stderr)
            lines.append(size_row(n, r["rows"], r))
        lines += slope_line(runs)
        if args.stream_sizes:
            lines += [
                "",
                f"Larger than memory (`chunk_rows={args.chunk_rows:,}`: the Parquet file read in chunks of whole "
                "series, training from an on-disk window cache, forecasts written chunk by chunk):",
                "",
                *SIZE_HEAD,
            ]
            streamed = []
            for n in args.stream_sizes:
                path = tmp / f"stream-{n}.parquet"
                child(WRITE_CHILD, str(n), str(args.length), str(path))
                r = child(STREAM_CHILD, str(path), str(args.chunk_rows), str(tmp / f"st-{n}"), json.dumps(opts))
                path.unlink()
                streamed.append((n, r))
                print(f"streamed {n}: {r}", file=sys.stderr)
                lines.append(size_row(n, n * args.length, r))
            lines += slope_line(streamed)
        n_dask = args.sizes[min(1, len(args.sizes) - 1)]
        model = tmp / f"fc-{n_dask}" / "model"
        parts = tmp / "parts"
        parts.mkdir()
        split = child(
            r"""
import sys, numpy as np, pandas as pd
n, length, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = np.random.default_rng(1)
t = np.arange(length)
for k in range(8):
    ids = np.arange(k * n // 8, (k + 1) * n // 8)
    y = rng.uniform(50, 150, (len(ids), 1)) + rng.normal(0, 1, (len(ids), length))
    pd.DataFrame({"unique_id": np.repeat(ids, length).astype(str),
                  "ds": np.tile(pd.date_range("2024-01-01", periods=length, freq="h"), len(ids)),
                  "y": y.ravel().astype(np.float32)}).to_parquet(f"{out}/part-{k}.parquet", index=False)
print("{}")""",
            str(n_dask),
            str(args.length),
            str(parts),
        )
        del split
        d = child(DASK_CHILD, str(model), str(parts / "part-*.parquet"), str(tmp / "dask-out"))
        print(f"dask: {d}", file=sys.stderr)
        lines += [
            "",
            f"| batch prediction, {n_dask:,} series in 8 Parquet partitions | seconds | series/s |",
            "|---|---|---|",
            f"| in process (one pandas frame) | {d['in_process_s']:.1f} | {n_dask / d['in_process_s']:,.0f} |",
            f"| Dask, local cluster ({d['dask_rows']:,} rows written per partition) | {d['dask_s']:.1f} | "
            f"{n_dask / d['dask_s']:,.0f} |",
        ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("scale", text)


if __name__ == "__main__":
    main()
