"""`lstmkit longrange train|compare|evaluate`."""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from lstmkit.cli import add_config_flags, as_dict, emit, quiet_lightning, resolve_from_args, table
from lstmkit.tasks.longrange import LongRangeConfig, LongRangeTask

# training defaults this task recommends over the engine's (still overridden by YAML and flags)
TRAIN_DEFAULTS = {"epochs": 15, "lr": 5e-3, "batch_size": 64}
COLUMNS = ["cell", "params", "metric", "test", "baseline", "learned", "steps", "seconds"]


def _row(cfg: LongRangeConfig, metrics: dict[str, float]) -> dict:
    p = cfg.problem
    value = metrics[f"test_{p.metric}"]
    return {
        "task": cfg.task, "cell": cfg.cell, "length": cfg.length, "metric": p.metric, "test": value,
        "baseline": p.baseline, "baseline_is": p.baseline_is, "learned": "yes" if p.learned(value) else "no",
        **metrics,
    }  # fmt: skip


def _train_one(resolved: dict) -> dict:
    from lstmkit.engine.trainer import fit

    quiet_lightning()
    task_cfg, train_cfg = resolved["task"], resolved["train"]
    result = fit(LongRangeTask(task_cfg), train_cfg, as_dict(resolved))
    return {
        **_row(task_cfg, result.metrics),
        "params": sum(p.numel() for p in result.model.parameters()),
        "steps": result.steps, "seconds": round(result.seconds, 1),
        "run": str(result.run_dir), "model": str(result.model_dir),
    }  # fmt: skip


def _headline(cfg: LongRangeConfig) -> str:
    p = cfg.problem
    length = "" if cfg.task == "reber" else f", T={cfg.length}"
    better = "lower" if p.mode == "min" else "higher"
    return (
        f"{cfg.task}{length}: test {p.metric} ({better} is better); baseline {p.baseline:.3g} ({p.baseline_is}); "
        f"learned = {p.metric} {'<=' if p.mode == 'min' else '>='} {p.solved_at}"
    )


def _train(args: argparse.Namespace) -> None:
    resolved = resolve_from_args(args, LongRangeConfig, TRAIN_DEFAULTS)
    row = _train_one(resolved)
    emit(args, row, lambda: f"{_headline(resolved['task'])}\n\n{table([row], COLUMNS)}\n\nsaved model: {row['model']}")


def _compare(args: argparse.Namespace) -> None:
    resolved = resolve_from_args(args, LongRangeConfig, TRAIN_DEFAULTS)
    task_cfg, train_cfg = resolved["task"], resolved["train"]
    name = train_cfg.name or f"compare-{task_cfg.task}-T{task_cfg.length}-{time.strftime('%Y%m%d-%H%M%S')}"
    root = Path(train_cfg.out or Path("runs") / "longrange" / name)  # one run per cell inside
    rows = []
    for cell in args.cells:
        one = {
            "task": dataclasses.replace(task_cfg, cell=cell),
            "train": dataclasses.replace(train_cfg, out=str(root / cell)),
        }
        rows.append(_train_one(one))
    root.mkdir(parents=True, exist_ok=True)
    (root / "compare.md").write_text(_markdown(rows), encoding="utf-8")
    summary = (
        f"{_headline(task_cfg)}\n\n{table(rows, COLUMNS)}\n\n"
        f"learned it: {', '.join(r['cell'] for r in rows if r['learned'] == 'yes') or 'none'}   "
        f"(table: {root / 'compare.md'})"
    )
    emit(args, rows, lambda: summary)


def _markdown(rows: list[dict]) -> str:
    head = "| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS) + "\n"
    return head + "".join("| " + " | ".join(str(r[c]) for c in COLUMNS) + " |\n" for r in rows)


def _evaluate(args: argparse.Namespace) -> None:
    from lstmkit import load

    loaded = load(args.model)
    row = _row(loaded.config, loaded.evaluate())
    emit(
        args,
        row,
        lambda: f"{_headline(loaded.config)}\n\n{table([row], ['cell', 'length', 'test', 'baseline', 'learned'])}",
    )


def register_cli(sub: argparse._SubParsersAction) -> None:
    lr = sub.add_parser("longrange", help="long-range memory tasks (adding, copy, order, reber): LSTM vs GRU vs RNN")
    verbs = lr.add_subparsers(title="verbs", metavar="<verb>", required=True)
    epilog = "longrange trains by default with " + ", ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in TRAIN_DEFAULTS.items()
    )
    train = verbs.add_parser(
        "train", help="train one cell on a long-range task and report its metric vs the baseline", epilog=epilog
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
    ev = verbs.add_parser("evaluate", help="test metrics of a saved model on its fixed-seed test set")
    ev.add_argument("--model", required=True, help="run directory or its model/ directory")
    ev.add_argument("--json", action="store_true", help="print as JSON")
    ev.set_defaults(func=_evaluate)
