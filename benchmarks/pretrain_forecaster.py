"""Pretrain the forecaster shipped with lstmkit (`--model pretrained`): the zero-shot patch network of
lstmkit/tasks/forecast/zeroshot.py, trained with the shared engine on random windows of

- synthetic series (lstmkit.data.synth_series: KernelSynth compositions with level shifts, trend changes,
  intermittency, outliers, multiplicative growth), and
- the training parts of M4 Hourly and M4 Weekly from ../shared/data (never their test horizons; 10 % of their
  series are held out for validation). No other real series: M3 and the rest stay unseen.

    python benchmarks/pretrain_forecaster.py --minutes 30 [--seed 0] [--resume] [--write]

Seeded and resumable (`--resume` continues the run in --out from its last checkpoint). `--write` copies the
saved model into lstmkit/tasks/forecast/pretrained_model/ (what `lstmkit.load("pretrained")` reads); commit new
weights only when they change the benchmark materially. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._report import machine
from lstmkit.data.synth_series import synth_series
from lstmkit.engine import TrainConfig
from lstmkit.engine.trainer import fit
from lstmkit.tasks.forecast.pretrain import Pool, ZeroShotTask
from lstmkit.tasks.forecast.zeroshot import ZeroShotConfig

ROOT = Path(__file__).resolve().parent.parent
M4 = ROOT.parent / "shared" / "data" / "timeseries" / "m4"
SHIPPED = ROOT / "lstmkit" / "tasks" / "forecast" / "pretrained_model"


def m4_train(name: str, seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The training parts of an M4 set, split by series into (train 90 %, validation 10 %)."""
    frame = pd.read_csv(M4 / f"{name}-train.csv", index_col=0)
    series = [row.dropna().to_numpy(np.float64) for _, row in frame.iterrows()]
    order = np.random.default_rng(seed).permutation(len(series))
    cut = len(series) // 10
    return [series[i] for i in order[cut:]], [series[i] for i in order[:cut]]


def pools(args: argparse.Namespace) -> tuple[list[Pool], list[Pool], dict]:
    t0 = time.perf_counter()
    synth = list(synth_series(args.synthetic, args.length, seed=args.seed))
    synth_val = list(synth_series(256, args.length, seed=args.seed + 1_000_000))
    hourly, hourly_val = m4_train("Hourly", args.seed)
    weekly, weekly_val = m4_train("Weekly", args.seed)
    print(f"data: {len(synth)} synthetic series in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    train = [Pool("synthetic", synth, 0.6), Pool("m4-hourly", hourly, 0.2), Pool("m4-weekly", weekly, 0.2)]
    val = [Pool("synthetic", synth_val, 0.5), Pool("m4-hourly", hourly_val, 0.25), Pool("m4-weekly", weekly_val, 0.25)]
    seen = {"synthetic": len(synth), "m4_hourly_train_parts": len(hourly), "m4_weekly_train_parts": len(weekly)}
    return train, val, seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--synthetic", type=int, default=6000, help="synthetic series generated")
    parser.add_argument("--length", type=int, default=640, help="steps per synthetic series")
    parser.add_argument("--cell", default="lstm")
    parser.add_argument("--anchor", default="theta", help="the statistical path the network corrects (none, theta)")
    parser.add_argument(
        "--correction",
        type=float,
        default=0.5,
        help="share of the network's correction of the path kept at inference (0.5: chosen on M3's validation "
        "horizons, BENCHMARKS.md pretrained-m3-val)",
    )
    parser.add_argument("--hidden-size", type=int, default=256)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "runs" / "pretrain-forecaster"))
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--write", action="store_true", help="copy the model into the package")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = ZeroShotConfig(hidden_size=args.hidden_size, num_layers=args.num_layers, cell=args.cell, anchor=args.anchor)
    train, val, seen = pools(args)
    task = ZeroShotTask(cfg, train, val, steps_per_epoch=200)
    tc = TrainConfig(
        epochs=100_000,
        max_time=f"{int(args.minutes * 60)}s",
        seed=args.seed,
        out=args.out,
        resume=args.resume,
        batch_size=args.batch_size,
        lr=args.lr,
        warmup_steps=200,
        weight_decay=0.01,
        checkpoint_every="5m",
    )
    t0 = time.perf_counter()
    result = fit(task, tc)
    minutes = (time.perf_counter() - t0) / 60
    note = {
        "command": "python benchmarks/pretrain_forecaster.py " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "minutes": round(minutes, 1),
        "steps": result.steps,
        "seen": seen,
        "validation": result.metrics,
        "architecture": {
            "cell": cfg.cell,
            "hidden_size": cfg.hidden_size,
            "num_layers": cfg.num_layers,
            "anchor": cfg.anchor,
            "correction": cfg.correction,
        },
    }
    (Path(result.run_dir) / "pretraining.json").write_text(json.dumps(note, indent=2), encoding="utf-8")
    print(json.dumps(note, indent=2))
    if args.write:
        if SHIPPED.exists():
            shutil.rmtree(SHIPPED)
        shutil.copytree(result.model_dir, SHIPPED)
        (SHIPPED / "pretraining.json").write_text(json.dumps(note, indent=2), encoding="utf-8")
        print(f"written to {SHIPPED}", file=sys.stderr)


if __name__ == "__main__":
    main()
