"""Backtest memory: peak resident memory against the number of rolling-origin windows -> BENCHMARKS.md
(section `forecast-memory`).

    python benchmarks/forecast_memory.py [--series 200] [--length 6000] [--windows 2 20 200]

One model is trained briefly on the start of a synthetic hourly panel (accuracy is not the point here) and
saved; then each backtest runs in a fresh process that loads the saved model and the data and backtests the
last N windows (no refit). The reference, measured in the same processes, is the resident memory after loading
the model and the data and before the backtest. If the backtest kept every window's forecasts, its memory
would grow with N; lstmkit keeps metric sums and the last window only.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._report import machine, write_section

HORIZON = 24


def panel(n_series: int, length: int, seed: int = 0) -> pd.DataFrame:
    """Hourly series with daily and weekly seasonality, a random level and noise; long format."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    frames = []
    for i in range(n_series):
        y = (
            10
            + 5 * rng.random()
            + 2 * np.sin(2 * np.pi * t / 24 + rng.random() * 6)
            + np.sin(2 * np.pi * t / 168)
            + rng.normal(0, 0.3, length)
        )
        frames.append(
            pd.DataFrame({"unique_id": f"s{i}", "ds": pd.date_range("2020-01-01", periods=length, freq="h"), "y": y})
        )
    return pd.concat(frames, ignore_index=True)


def rss_mb() -> float:
    """Current resident set size (MB), from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(model_dir: str, data: str, windows: int) -> None:
    """Load, backtest `windows` windows, print JSON: memory before, peak, seconds, forecasts made."""
    import lstmkit

    forecaster = lstmkit.load(model_dir)
    df = pd.read_parquet(data)
    before = rss_mb()
    t0 = time.perf_counter()
    result = forecaster.backtest(df, n_windows=windows, statistical=False)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n = df["unique_id"].nunique() * windows * HORIZON
    mase = float(result.table.loc["lstmkit", "mase"]) if "lstmkit" in result.table.index else float("nan")
    print(
        json.dumps(
            {"windows": windows, "forecasts": n, "before_mb": before, "peak_mb": peak, "seconds": seconds, "mase": mase}
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", type=int, default=200)
    ap.add_argument("--length", type=int, default=6000, help="hours per series")
    ap.add_argument("--windows", type=int, nargs="+", default=[2, 20, 200])
    ap.add_argument("--section", default="forecast-memory")
    ap.add_argument("--child", nargs=3, metavar=("MODEL", "DATA", "WINDOWS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return
    from lstmkit.tasks.forecast import Forecaster

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        df = panel(args.series, args.length)
        data = Path(tmp) / "panel.parquet"
        df.to_parquet(data)
        first = args.length - HORIZON - (max(args.windows) - 1) * HORIZON  # the earliest backtest origin
        train = df.groupby("unique_id", sort=False).head(first)
        f = Forecaster(horizon=HORIZON, max_steps=100, progress=False, out=str(Path(tmp) / "run")).fit(train)
        f.save(Path(tmp) / "model")
        for n in args.windows:
            cmd = [sys.executable, __file__, "--child", str(Path(tmp) / "model"), str(data), str(n)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
    lines = [
        "## Forecasting: backtest memory against the number of windows",
        "",
        f"`python benchmarks/forecast_memory.py {' '.join(sys.argv[1:])}` — {machine()}.",
        "",
        f"{args.series} synthetic hourly series of {args.length} steps, horizon {HORIZON}, step {HORIZON}, no refit; "
        "a saved model (trained briefly before the earliest window) is loaded in a fresh process per row. "
        "Reference: the same process's resident memory after loading the model and the data, before the backtest.",
        "",
        "| windows | forecasts (series x windows x horizon) | RSS before MB | peak RSS MB | peak - before MB | "
        "backtest s |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['windows']} | {r['forecasts']:,} | {r['before_mb']:.0f} | {r['peak_mb']:.0f} | "
            f"{r['peak_mb'] - r['before_mb']:.0f} | {r['seconds']:.1f} |"
        )
    body = "\n".join(lines) + "\n"
    write_section(args.section, body)
    print(body)


if __name__ == "__main__":
    main()
