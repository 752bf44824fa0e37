"""`lstmkit longrange train|compare|evaluate`."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from lstmkit.clitools import add_config_flags, emit, quiet_lightning, run_config, table
from lstmkit.tasks.longrange import SPEC
from lstmkit.tasks.longrange.config import LongRangeConfig
from lstmkit.tasks.longrange.lab import CELL_CHOICES, LongRangeModel, compare
from lstmkit.tasks.longrange.plots import COLUMNS, SWEEP_COLUMNS


def _headline(cfg: LongRangeConfig) -> str:
    p = cfg.problem_spec
    length = "" if cfg.problem_spec.variable_length else f", T={cfg.steps}"
    better = "lower" if p.mode == "min" else "higher"
    return (
        f"{cfg.problem}{length}: test {p.metric} ({better} is better); baseline {p.baseline:.3g} ({p.baseline_is}); "
        f"learned = {p.metric} {'<=' if p.mode == 'min' else '>='} {p.solved_at}; test set: {p.split}"
    )


def _model(args: argparse.Namespace, spec: Any) -> LongRangeModel:
    run = run_config(args, spec)
    return LongRangeModel(config=run.task, train=run.train)


def _train(args: argparse.Namespace, spec: Any) -> None:
    quiet_lightning()
    m = _model(args, spec).fit()
    if not m.primary:
        return  # a distributed run's extra process: the first one reports
    assert m.run_dir is not None
    row = {
        **m.row(),
        "steps": m.steps,
        "seconds": round(m.seconds, 1),
        "run": str(m.run_dir),
        "model": str(m.run_dir / "model"),
    }
    emit(args, row, lambda: f"{_headline(m.config)}\n\n{table([row], COLUMNS)}\n\nsaved model: {row['model']}")


def _compare(args: argparse.Namespace, spec: Any) -> None:
    quiet_lightning()
    base = _model(args, spec)
    result = compare(base, [c for group in args.cells for c in group], args.lengths)
    rows, lengths = result.rows, args.lengths or [base.config.length]
    columns = SWEEP_COLUMNS if len(lengths) > 1 else [*COLUMNS, "horizon"]
    learned = [f"{r['cell']}@T{r['length']}" for r in rows if r["learned"] == "yes"]
    shown = base.config if len(lengths) == 1 else dataclasses.replace(base.config, length=lengths[-1])
    summary = (
        f"{_headline(shown)}\n\n{table(rows, columns)}\n\nlearned it: {', '.join(learned) or 'none'}\n"
        f"written: {', '.join(str(f) for f in result.files)}"
    )
    emit(args, rows, lambda: summary)


def _evaluate(args: argparse.Namespace) -> None:
    loaded = SPEC.load(args.model)
    row = loaded.row(loaded.evaluate())
    emit(
        args,
        row,
        lambda: f"{_headline(loaded.config)}\n\n{table([row], ['cell', 'length', 'test', 'baseline', 'learned'])}",
    )


LAB_EXAMPLES = """examples:
  lstmkit longrange train --task adding --length 100 --out runs/adding-lstm
  lstmkit longrange compare --task adding --lengths 50 100 200 --cells lstm gru rnn --max-time 5m
  lstmkit longrange compare --task recall --length 32 --cells lstm,mlstm,mingru --epochs 15
  lstmkit longrange evaluate --model runs/adding-lstm --json
  lstmkit inspect gradients --model runs/adding-lstm"""


def _cell_list(text: str) -> list[str]:
    cells = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in cells if c not in CELL_CHOICES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown cell(s) {unknown}; choose from {', '.join(CELL_CHOICES)}")
    return cells


def register_cli(sub: argparse._SubParsersAction, spec: Any) -> None:
    lr = sub.add_parser(
        "longrange",
        help="long-range memory tasks (adding, copy, order, reber, recall): which cell remembers",
        description="The long-range lab: problems whose answer depends on something seen long before (generated, "
        "with fixed-seed test sets, or fixed datasets read step by step); every cell, classic or modern, under one "
        "budget, with the trivial baseline beside it and gradient-flow pictures.",
        epilog=LAB_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = lr.add_subparsers(title="verbs", metavar="<verb>", required=True)
    epilog = f"longrange trains by default with {spec.defaults_text()}"
    train = verbs.add_parser(
        "train", help="train one cell on a long-range task and report its metric vs the baseline", epilog=epilog
    )
    add_config_flags(train, spec)
    train.set_defaults(func=lambda a: _train(a, spec))
    cmp = verbs.add_parser(
        "compare", help="train LSTM, GRU and RNN with the same budget and print one table", epilog=epilog
    )
    add_config_flags(cmp, spec)
    cmp.add_argument(
        "--cells",
        nargs="+",
        type=_cell_list,
        default=[["lstm", "gru", "rnn"]],
        metavar="CELL[,CELL...]",
        help=f"cells or core variants to compare, space- or comma-separated (default: lstm gru rnn): "
        f"{', '.join(CELL_CHOICES)}; lstm-ln: layer norm, lstm-chrono / gru-chrono: chrono init, lstm-fb0: forget "
        "bias 0; slstm, mlstm, minlstm, mingru: the modern family",
    )
    cmp.add_argument(
        "--lengths", nargs="+", type=int, metavar="T", help="sweep these sequence lengths (default: just --length)"
    )
    cmp.set_defaults(func=lambda a: _compare(a, spec))
    ev = verbs.add_parser("evaluate", help="test metrics of a saved model on its fixed-seed test set")
    ev.add_argument("--model", required=True, help="run directory or its model/ directory")
    ev.add_argument("--json", action="store_true", help="print as JSON")
    ev.set_defaults(func=_evaluate)
