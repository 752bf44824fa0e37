"""`lstmkit longrange train|compare|evaluate`."""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from lstmkit.cli import add_config_flags, as_dict, emit, quiet_lightning, resolve_from_args, table
from lstmkit.tasks.longrange import LongRangeConfig, LongRangeTask, hidden_size_for

# training defaults this task recommends over the engine's (still overridden by YAML and flags); fp32 because
# bf16 autocast was measured to distort 1,000-step memories (BENCHMARKS.md, notes on the long-range figures)
TRAIN_DEFAULTS = {"epochs": 15, "lr": 5e-3, "batch_size": 64, "precision": "32"}
COLUMNS = ["cell", "hidden", "params", "metric", "test", "baseline", "learned", "steps", "seconds"]
SWEEP_COLUMNS = ["length", *COLUMNS, "horizon"]
# what `compare --cells` accepts: a cell, or an LSTM variant from the core
CELL_CHOICES = {
    "lstm": {"cell": "lstm"}, "gru": {"cell": "gru"}, "rnn": {"cell": "rnn"},
    "lstm-ln": {"cell": "lstm", "layer_norm": True},
    "lstm-chrono": {"cell": "lstm", "chrono_init": True},
    "lstm-fb0": {"cell": "lstm", "forget_bias": 0.0},
    "gru-chrono": {"cell": "gru", "chrono_init": True},
}  # fmt: skip


def _row(cfg: LongRangeConfig, metrics: dict[str, float]) -> dict:
    p = cfg.problem
    value = metrics[f"test_{p.metric}"]
    return {
        "task": cfg.task, "cell": cfg.cell, "length": cfg.length_label, "metric": p.metric, "test": value,
        "baseline": p.baseline, "baseline_is": p.baseline_is, "learned": "yes" if p.learned(value) else "no",
        **metrics,
    }  # fmt: skip


def _train_one(resolved: dict, label: str | None = None) -> dict:
    from lstmkit.engine.trainer import fit

    quiet_lightning()
    task_cfg, train_cfg = resolved["task"], resolved["train"]
    result = fit(LongRangeTask(task_cfg), train_cfg, as_dict(resolved))
    return {
        **_row(task_cfg, result.metrics),
        "cell": label or task_cfg.cell,
        "hidden": hidden_size_for(task_cfg),
        "params": sum(p.numel() for p in result.model.parameters()),
        "steps": result.steps, "seconds": round(result.seconds, 1),
        "run": str(result.run_dir), "model": str(result.model_dir),
    }  # fmt: skip


def _headline(cfg: LongRangeConfig) -> str:
    p = cfg.problem
    length = "" if cfg.problem.variable_length else f", T={cfg.steps}"
    better = "lower" if p.mode == "min" else "higher"
    return (
        f"{cfg.task}{length}: test {p.metric} ({better} is better); baseline {p.baseline:.3g} ({p.baseline_is}); "
        f"learned = {p.metric} {'<=' if p.mode == 'min' else '>='} {p.solved_at}; test set: {p.split}"
    )


def _train(args: argparse.Namespace) -> None:
    resolved = resolve_from_args(args, LongRangeConfig, TRAIN_DEFAULTS)
    row = _train_one(resolved)
    emit(args, row, lambda: f"{_headline(resolved['task'])}\n\n{table([row], COLUMNS)}\n\nsaved model: {row['model']}")


def _compare(args: argparse.Namespace) -> None:
    resolved = resolve_from_args(args, LongRangeConfig, TRAIN_DEFAULTS)
    task_cfg, train_cfg = resolved["task"], resolved["train"]
    if args.lengths and task_cfg.problem.steps:
        raise ValueError(f"--lengths sweeps generated tasks; {task_cfg.task} has a fixed length of {task_cfg.steps}")
    lengths = args.lengths or [task_cfg.length]
    span = f"T{lengths[0]}" if len(lengths) == 1 else f"T{lengths[0]}-{lengths[-1]}"
    name = train_cfg.name or f"compare-{task_cfg.task}-{span}-{time.strftime('%Y%m%d-%H%M%S')}"
    root = Path(train_cfg.out or Path("runs") / "longrange" / name)  # one run per length and cell inside
    rows, flows = [], {}
    for length in lengths:
        for cell in args.cells:
            cfg = dataclasses.replace(task_cfg, length=length, **CELL_CHOICES[cell])
            out = root / (cell if len(lengths) == 1 else f"T{length}-{cell}")
            rows.append(_train_one({"task": cfg, "train": dataclasses.replace(train_cfg, out=str(out))}, cell))
            flows[(length, cell)] = _flow_of(out)
            horizon = flows[(length, cell)].horizon()
            rows[-1]["horizon"] = "full" if horizon is None else horizon  # full: reaches the first step
    root.mkdir(parents=True, exist_ok=True)
    files = _write_comparison(root, rows, flows, task_cfg)
    columns = SWEEP_COLUMNS if len(lengths) > 1 else [*COLUMNS, "horizon"]
    learned = [f"{r['cell']}@T{r['length']}" for r in rows if r["learned"] == "yes"]
    summary = (
        f"{_headline(task_cfg if len(lengths) == 1 else dataclasses.replace(task_cfg, length=lengths[-1]))}\n\n"
        f"{table(rows, columns)}\n\n"
        f"learned it: {', '.join(learned) or 'none'}\n"
        f"written: {', '.join(str(f) for f in files)}"
    )
    emit(args, rows, lambda: summary)


def _flow_of(run: Path):
    """Gradient flow of a trained model on its probe batch."""
    from lstmkit import load
    from lstmkit.inspect.gradients import gradient_flow

    layer, x, lengths, loss_of_output = load(run).probe(64)
    return gradient_flow(layer, x, loss_of_output, lengths=lengths)


def _write_comparison(root: Path, rows: list[dict], flows: dict, cfg: LongRangeConfig) -> list[Path]:
    """compare.csv, compare.md, the metric-vs-length plot (sweeps) and the gradient-flow plot."""
    import csv

    from lstmkit.inspect.gradients import plot_gradient_flow

    columns = SWEEP_COLUMNS
    with open(root / "compare.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    (root / "compare.md").write_text(_markdown(rows, columns), encoding="utf-8")
    files = [root / "compare.csv", root / "compare.md"]
    longest = max(length for length, _ in flows)
    last = {cell: flow for (length, cell), flow in flows.items() if length == longest}
    files.append(plot_gradient_flow(last, root / "gradient-flow.png", title=f"{cfg.task}, T={longest}, trained models"))
    if len({length for length, _ in flows}) > 1:
        files.append(_plot_sweep(rows, cfg, root / "metric-vs-length.png"))
        files.append(_plot_horizons(rows, root / "memory-horizon.png"))
    return files


def _plot_horizons(rows: list[dict], png: Path) -> Path:
    """How far back the gradient reaches (norm >= 1e-3 of its max) for each cell and length; a point on the
    dashed line means all the way to the first step."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    lengths = sorted({r["length"] for r in rows})
    ax.plot(lengths, [t - 1 for t in lengths], color="grey", linestyle="--", label="the whole sequence")
    for cell in dict.fromkeys(r["cell"] for r in rows):
        mine = [r for r in rows if r["cell"] == cell]
        reach = [r["length"] - 1 if r["horizon"] == "full" else r["horizon"] for r in mine]
        ax.plot([r["length"] for r in mine], reach, marker="o", label=cell)
    ax.set_xscale("log")
    ax.set_yscale("symlog")
    ax.set_xlabel("sequence length T")
    ax.set_ylabel("memory horizon (steps)")
    ax.set_title("how far back the gradient reaches (trained models)")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    return png


def _plot_sweep(rows: list[dict], cfg: LongRangeConfig, png: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    p = cfg.problem
    fig = Figure(figsize=(6.5, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for cell in dict.fromkeys(r["cell"] for r in rows):
        mine = [r for r in rows if r["cell"] == cell]
        ax.plot([r["length"] for r in mine], [r["test"] for r in mine], marker="o", label=cell)
    ax.axhline(p.baseline, color="grey", linestyle="--", label=f"baseline ({p.baseline_is})")
    ax.axhline(p.solved_at, color="green", linestyle=":", label="learned")
    ax.set_xscale("log")
    if p.mode == "min":
        ax.set_yscale("log")
    ax.set_xlabel("sequence length T")
    ax.set_ylabel(f"test {p.metric}")
    ax.set_title(f"{cfg.task}: who learns it, by length")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    return png


def _markdown(rows: list[dict], columns: list[str]) -> str:
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    return head + "".join("| " + " | ".join(str(r[c]) for c in columns) + " |\n" for r in rows)


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
    compare.add_argument("--cells", nargs="+", default=["lstm", "gru", "rnn"], choices=list(CELL_CHOICES),
                         help="cells or core variants to compare (default: lstm gru rnn); lstm-ln: layer norm, "
                         "lstm-chrono / gru-chrono: chrono init, lstm-fb0: forget bias 0")  # fmt: skip
    compare.add_argument("--lengths", nargs="+", type=int, metavar="T",
                         help="sweep these sequence lengths (default: just --length)")  # fmt: skip
    compare.set_defaults(func=_compare)
    ev = verbs.add_parser("evaluate", help="test metrics of a saved model on its fixed-seed test set")
    ev.add_argument("--model", required=True, help="run directory or its model/ directory")
    ev.add_argument("--json", action="store_true", help="print as JSON")
    ev.set_defaults(func=_evaluate)
