"""`lstmkit longrange train|compare|evaluate`."""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from lstmkit.cli import add_config_flags, as_dict, emit, quiet_lightning, resolve_from_args, table
from lstmkit.tasks.longrange import ADDING_BASELINE_MSE, LEARNED_MSE, LongRangeConfig, LongRangeTask

# training defaults this task recommends over the engine's (still overridden by YAML and flags)
TRAIN_DEFAULTS = {"epochs": 15, "lr": 5e-3, "batch_size": 64}
COLUMNS = ["cell", "params", "test_mse", "baseline_mse", "learned", "steps", "seconds"]


def _train_one(resolved: dict) -> dict:
    from lstmkit.engine.trainer import fit

    quiet_lightning()
    task_cfg, train_cfg = resolved["task"], resolved["train"]
    result = fit(LongRangeTask(task_cfg), train_cfg, as_dict(resolved))
    mse = result.metrics["test_mse"]
    return {
        "cell": task_cfg.cell, "length": task_cfg.length,
        "params": sum(p.numel() for p in result.model.parameters()),
        "val_mse": result.metrics["val_mse"], "test_mse": mse, "baseline_mse": ADDING_BASELINE_MSE,
        "learned": "yes" if mse < LEARNED_MSE else "no", "steps": result.steps,
        "seconds": round(result.seconds, 1), "run": str(result.run_dir), "model": str(result.model_dir),
    }  # fmt: skip


def _train(args: argparse.Namespace) -> None:
    row = _train_one(resolve_from_args(args, LongRangeConfig, TRAIN_DEFAULTS))
    emit(args, row, lambda: table([row], COLUMNS) + f"\n\nsaved model: {row['model']}")


def _compare(args: argparse.Namespace) -> None:
    cells = args.cells
    resolved = resolve_from_args(args, LongRangeConfig, TRAIN_DEFAULTS)
    task_cfg, train_cfg = resolved["task"], resolved["train"]
    name = train_cfg.name or f"compare-{task_cfg.task}-T{task_cfg.length}-{time.strftime('%Y%m%d-%H%M%S')}"
    root = Path(train_cfg.out or Path("runs") / "longrange" / name)  # one run per cell inside
    rows = []
    for cell in cells:
        one = {
            "task": dataclasses.replace(task_cfg, cell=cell),
            "train": dataclasses.replace(train_cfg, out=str(root / cell)),
        }
        rows.append(_train_one(one))
    root.mkdir(parents=True, exist_ok=True)
    text = table(rows, COLUMNS)
    (root / "compare.md").write_text(_markdown(rows), encoding="utf-8")
    summary = (
        f"adding problem, T={task_cfg.length}: test MSE of each cell (baseline: always 1.0 -> "
        f"{ADDING_BASELINE_MSE:.3f}; learned = MSE < {LEARNED_MSE})\n\n{text}\n\n"
        f"learned it: {', '.join(r['cell'] for r in rows if r['learned'] == 'yes') or 'none'}   (table: {root / 'compare.md'})"
    )
    emit(args, rows, lambda: summary)


def _markdown(rows: list[dict]) -> str:
    head = "| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS) + "\n"
    return head + "".join("| " + " | ".join(str(r[c]) for c in COLUMNS) + " |\n" for r in rows)


def _evaluate(args: argparse.Namespace) -> None:
    from lstmkit import load

    loaded = load(args.model)
    metrics = loaded.evaluate()
    row = {"cell": loaded.config.cell, "length": loaded.config.length, **metrics,
           "learned": "yes" if metrics["test_mse"] < LEARNED_MSE else "no"}  # fmt: skip
    emit(args, row, lambda: table([row], ["cell", "length", "test_mse", "baseline_mse", "learned"]))


def register_cli(sub: argparse._SubParsersAction) -> None:
    lr = sub.add_parser("longrange", help="long-range memory tasks (the adding problem): LSTM vs GRU vs RNN")
    verbs = lr.add_subparsers(title="verbs", metavar="<verb>", required=True)
    epilog = "longrange trains by default with " + ", ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in TRAIN_DEFAULTS.items()
    )
    train = verbs.add_parser(
        "train", help="train one cell on a long-range task and report test MSE vs the baseline", epilog=epilog
    )
    add_config_flags(train, LongRangeConfig)
    train.set_defaults(func=_train)
    compare = verbs.add_parser(
        "compare", help="train LSTM, GRU and RNN with the same budget and print one table", epilog=epilog
    )
    add_config_flags(compare, LongRangeConfig)
    compare.add_argument("--cells", nargs="+", default=["lstm", "gru", "rnn"], choices=["lstm", "gru", "rnn"],
                         help="cells to compare (default: lstm gru rnn)")  # fmt: skip
    compare.set_defaults(func=_compare)
    ev = verbs.add_parser("evaluate", help="test MSE of a saved model on its fixed-seed test set")
    ev.add_argument("--model", required=True, help="run directory or its model/ directory")
    ev.add_argument("--json", action="store_true", help="print as JSON")
    ev.set_defaults(func=_evaluate)
