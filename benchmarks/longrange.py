"""Long-range lab benchmark: who learns what, at which length, with which budget.

    python benchmarks/longrange.py [--minutes 3] [--steps 3000] [--lengths 50 100 200 500 1000]
                                   [--data ../shared/data/sequences] [--no-write]

Adding problem for every length × cell (LSTM, GRU, tanh RNN; equal hidden size), then MNIST-1D, sequential
digits and the embedded Reber grammar. Every run gets the same budget: at most --steps optimiser steps and
--minutes of wall time, whichever ends first. Each row states its steps, wall time and the trivial baseline.
Writes the table to BENCHMARKS.md. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._report import machine, write_section
from lstmkit.engine import TrainConfig
from lstmkit.tasks.longrange import CELL_CHOICES, LongRangeConfig, LongRangeModel

ROOT = Path(__file__).resolve().parent.parent


def run_one(label: str, cfg: LongRangeConfig, args: argparse.Namespace, out: Path) -> dict:
    train = TrainConfig(
        epochs=10_000,
        max_steps=args.steps,
        max_time=f"{args.minutes}m",
        lr=args.lr,
        batch_size=64,
        progress=False,
        out=str(out),
        seed=0,
        precision=args.precision,
    )
    start = time.perf_counter()
    row = LongRangeModel(config=cfg, train=train).fit()
    r = row.row()
    return {
        "task": cfg.problem,
        "T": cfg.length_label,
        "cell": label,
        "hidden": r["hidden"],
        "params": r["params"],
        "metric": r["metric"],
        "test": r["test"],
        "baseline": r["baseline"],
        "learned": r["learned"],
        "steps": row.steps,
        "wall_s": time.perf_counter() - start,
        "split": cfg.problem_spec.split,
    }


def plan(args: argparse.Namespace) -> list[tuple[str, LongRangeConfig]]:
    """(label, config) for every run: adding for every length × cell, then the fixed-length tasks per cell."""
    runs = []
    variant = {cell: CELL_CHOICES[cell] for cell in args.cells}
    if "adding" in args.tasks:
        runs += [
            (c, LongRangeConfig(problem="adding", length=T, hidden_size=args.hidden, **variant[c]))
            for T in args.lengths
            for c in args.cells
        ]
    mnist1d = Path(args.data) / "mnist1d.npz"
    for c in args.cells:
        if "mnist1d" in args.tasks and mnist1d.exists():
            runs.append(
                (c, LongRangeConfig(problem="mnist1d", data=str(mnist1d), hidden_size=args.hidden, **variant[c]))
            )
        for task in ("digits", "reber"):
            if task in args.tasks:
                runs.append((c, LongRangeConfig(problem=task, hidden_size=args.hidden, **variant[c])))
    return runs


def render(rows: list[dict], args: argparse.Namespace) -> str:
    lines = [
        "## Long-range lab: who learns what" + ("" if args.section == "longrange" else f" ({args.section})"),
        "",
        f"Command: `python benchmarks/longrange.py {' '.join(sys.argv[1:])}`  ",
        f"Machine: {machine()}  ",
        f"Budget per run: at most {args.steps} steps of batch 64 and {args.minutes} min wall time, AdamW lr "
        f"{args.lr} with cosine decay, "
        f"{'bf16 autocast where the CPU has it' if args.precision == 'auto' else args.precision + ' training'}, "
        "selection on a fixed-seed validation "
        "set, test on a separate set. Equal hidden size for every cell.  ",
        "Learned: adding MSE ≤ 0.01; accuracies ≥ 0.95 (digits, MNIST-1D) or ≥ 0.99 (Reber's T/P recall).",
        "",
        "| task | T | cell | hidden | params | metric | test | baseline | learned | steps | wall s | test set |",
        "|---|---:|---|---:|---:|---|---:|---:|---|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['task']} | {r['T']} | {r['cell']} | {r['hidden']} | {r['params']} | {r['metric']} | "
            f"{r['test']:.4g} | {r['baseline']:.3g} | {r['learned']} | {r['steps']} | {r['wall_s']:.0f} | "
            f"{r['split']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=3.0, help="wall-time budget per run")
    parser.add_argument("--steps", type=int, default=3000, help="step budget per run")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "32", "bf16"],
        help="training precision (auto: bf16 autocast where the CPU has it, as in the recorded runs)",
    )
    parser.add_argument("--lengths", type=int, nargs="+", default=[50, 100, 200, 500, 1000])
    parser.add_argument("--cells", nargs="+", default=["lstm", "gru", "rnn"], choices=list(CELL_CHOICES))
    parser.add_argument("--tasks", nargs="+", default=["adding", "mnist1d", "digits", "reber"])
    parser.add_argument("--section", default="longrange", help="BENCHMARKS.md section to (re)write")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "sequences"))
    parser.add_argument("--out", default=str(ROOT / "runs" / "bench-longrange"))
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's; 1 lets two runs share 2 cores)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for label, cfg in plan(args):
        name = f"{cfg.problem}-T{cfg.length_label}-{label}"
        rows.append(run_one(label, cfg, args, Path(args.out) / name))
        r = rows[-1]
        print(
            f"{name}: {r['metric']} {r['test']:.4g} (baseline {r['baseline']:.3g}), {r['steps']} steps, "
            f"{r['wall_s']:.0f} s",
            flush=True,
        )
        if not args.no_write:  # written as it goes, so a long run that is cut off keeps its rows
            write_section(args.section, render(rows, args))
    print(render(rows, args))


if __name__ == "__main__":
    main()
