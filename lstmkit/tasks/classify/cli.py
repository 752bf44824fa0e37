"""`lstmkit classify train|evaluate|predict|explain`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lstmkit.clitools import (
    add_config_flags,
    add_data_flags,
    add_runtime_flag,
    dumps,
    emit,
    load_model,
    more_rows,
    quiet_lightning,
    run_config,
    table,
    with_data_flags,
)
from lstmkit.errors import UsageError
from lstmkit.tasks.classify import SPEC

EXAMPLES = """examples:
  lstmkit classify train --data trump-tweets --epochs 3                 # which phone sent the tweet
  lstmkit classify train --data reviews.csv --text-col review --label-col stars --out runs/reviews
  lstmkit classify train --data digits --pooling attention              # numeric sequences (64 steps)
  lstmkit classify train --data gunpoint                   # a UCR set (LSTM-FCN defaults), its own test split
  lstmkit classify train --data small.csv --folds 5        # few examples: a 5-fold cross-validated report
  lstmkit classify train --data tags.csv --label-col tags --label-sep "|"  # multi-label (or --label-cols a,b,c)
  lstmkit classify evaluate --model runs/reviews --data test.csv --json
  lstmkit classify predict --model runs/reviews --data new.csv --out preds.csv
  lstmkit classify explain --model runs/reviews --text "not bad at all" --out why.png
data: CSV/TSV/Parquet/JSONL with a text and a label column, a folder of class sub-folders of .txt files,
a wide numeric table (a label column and one column per step, as the UCR archive), a UCR/UEA .ts file,
.npz (x, y), or a built-in dataset (lstmkit datasets: trump-tweets, digits, gunpoint, arrowhead, ...)."""


DATA_FLAGS = ("text_col", "label_col", "label_sep", "label_cols")  # read with the model's, unless given


def _table(report: dict) -> str:
    rows = [{**r, "ece": r["ece"]} for r in report["table"]]
    per = [{"class": c, **v} for c, v in report["test"]["per_class"].items()]
    return (
        f"{table(rows, ['method', 'accuracy', 'macro_f1', 'ece'])}\n\n"
        f"{table(per, ['class', 'precision', 'recall', 'f1', 'support'])}"
    )


def _write_report(report: dict, out: Path, title: str) -> list[Path]:
    import numpy as np

    from lstmkit.tasks.classify.metrics import plot_confusion, plot_reliability

    out.mkdir(parents=True, exist_ok=True)
    brief = {k: v for k, v in report.items() if k not in ("y", "probs")}
    (out / "report.json").write_text(dumps(brief), encoding="utf-8")
    files = [out / "report.json"]
    if not report["test"].get("multi_label"):  # multi-label: each class's 2x2 table is in report.json
        files.append(
            plot_confusion(np.asarray(report["test"]["confusion"]), report["classes"], out / "confusion.png", title)
        )
    files.append(plot_reliability(np.asarray(report["y"]), np.asarray(report["probs"]), out / "reliability.png"))
    return files


def _train(args: argparse.Namespace, spec: Any) -> None:
    from lstmkit.tasks.classify.classifier import Classifier

    quiet_lightning()
    run = run_config(args, spec)
    c = Classifier(config=run.task, train=run.train).fit()
    if not c.primary:
        return  # a distributed run's extra process: the first one reports
    assert c.run_dir is not None
    if "test" not in c.report:  # --test-fraction 0: nothing held out, the validation split is all there is
        _train_without_test(args, c, run.task)
        return
    files = _write_report(c.report, c.run_dir, f"{run.task.data}: test split")
    payload = {
        **_run_payload(c),
        "test": {k: c.report["test"][k] for k in ("accuracy", "macro_f1", "ece", "n")},
        "table": c.report["table"],
        "verdict": c.report["verdict"],
        "split": _split(c.report, run.task),
        "files": [str(f) for f in files],
        **{k: c.report[k] for k in ("vectors", "cv", "series_norm", "validation") if k in c.report},
    }
    n = c.report["test"]["n"]
    head = (
        f"{c.report['cv']['folds']}-fold cross-validation ({n} examples: too few for a test split; each is scored "
        "by a model trained on the other folds, as are the baselines)"
        if "cv" in c.report
        else f"test split ({n} examples, never trained or selected on)"
    )
    emit(
        args,
        payload,
        lambda: (
            f"{run.task.data}: {head}\n{_series_line(c.report)}{_validation_line(c.report)}\n{_table(c.report)}\n\n"
            f"{c.report['verdict']}\n"
            f"written: {', '.join(str(f) for f in files)}"
        ),
    )


def _run_payload(c: Any) -> dict[str, Any]:
    """Where a trained run and its model are, and its classes: the head of every train result."""
    return {"run": str(c.run_dir), "model": str(c.run_dir / "model"), "classes": c.classes}


def _train_without_test(args: argparse.Namespace, c: Any, cfg: Any) -> None:
    """The result of a run that held out no test split: the model, and how it did on its validation split."""
    payload = {
        **_run_payload(c),
        "split": "no test split (--test-fraction 0)",
        **{k: c.report[k] for k in ("vectors", "series_norm", "validation") if k in c.report},
    }
    emit(
        args,
        payload,
        lambda: (
            f"{cfg.data}: no test split (--test-fraction 0); score one with `lstmkit classify evaluate`\n"
            f"{_series_line(c.report)}{_validation_line(c.report)}model: {c.run_dir / 'model'}"
        ),
    )


def _series_line(report: dict) -> str:
    """What --series-norm decided and why (numbers), as a line after the heading; empty for texts."""
    s = report.get("series_norm")
    if not s:
        return ""
    from lstmkit.tasks.classify.encoding import SPREAD_LIMIT

    why = "asked for" if s["asked"] != "auto" else f"auto: on above {SPREAD_LIMIT:g}-fold"
    return (
        f"series normalisation: {'on' if s['on'] else 'off'} (the training series' scales differ "
        f"{s['scale_spread']:g}-fold; {why})\n"
    )


def _validation_line(report: dict) -> str:
    """The kept model beside the baselines on the validation split, as a line; empty when cross-validated."""
    v = report.get("validation")
    if not v:
        return ""
    rows = ", ".join(f"{r['method']} {r['accuracy']:.3f}" for r in v["table"])
    return f"validation ({v['n']} examples, selected on): {rows}\n"


def _split(report: dict, cfg: Any) -> str:
    """How the scored examples were held out, in words."""
    if "cv" in report:
        return f"{report['cv']['folds']}-fold cross-validation, stratified, seeded"
    return "stratified, seeded: " + ("--test-data" if cfg.test_data else f"{cfg.test_fraction:g} of --data")


def _evaluate(args: argparse.Namespace) -> None:
    c = with_data_flags(SPEC.load(args.model), args, DATA_FLAGS)
    report = c.evaluate(args.data)
    out = Path(args.out) if args.out else None
    files = _write_report(report, out, f"{args.data}") if out else []
    payload = {
        "test": {k: report["test"][k] for k in ("accuracy", "macro_f1", "ece", "n", "per_class")},
        "table": report["table"],
        "files": [str(f) for f in files],
    }
    payload["verdict"] = report["verdict"]
    emit(
        args,
        payload,
        lambda: f"{args.data}: {report['test']['n']} examples\n\n{_table(report)}\n\n{report['verdict']}",
    )


def _predict(args: argparse.Namespace) -> None:
    c = with_data_flags(load_model(args.model, SPEC, args.runtime, args.threads), args, DATA_FLAGS)
    frame = c.predict(args.data)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out, index=False) if out.suffix in (".parquet", ".pq") else frame.to_csv(out, index=False)
    emit(
        args,
        {"predictions": str(out), "rows": len(frame)},
        lambda: f"{frame.head(10).to_string(index=False)}\n{more_rows(frame, 10)}{len(frame)} rows written to {out}",
    )


def _explain(args: argparse.Namespace) -> None:
    c = with_data_flags(SPEC.load(args.model), args, DATA_FLAGS)
    if args.text is None and args.data is None:
        raise UsageError("explain needs --text TEXT, or --data FILE with --index N")
    example = args.text
    if example is None:
        ex = c.examples(args.data, need_labels=False)
        if not 0 <= args.index < len(ex):
            raise UsageError(f"--index {args.index}: {args.data} has {len(ex)} examples")
        example = ex.texts[args.index] if ex.texts is not None else ex.seqs[args.index]
    e = c.explain(example, args.target)
    png = e.plot(args.out)
    html = Path(args.out).with_suffix(".html")
    html.write_text(e.html(), encoding="utf-8")
    top = sorted(zip(e.scores, e.labels), reverse=True)[:5]
    emit(
        args,
        {**e.to_dict(), "png": str(png), "html": str(html)},
        lambda: (
            f"{e.target} (p = {e.probability:.3f}); strongest for it: "
            + ", ".join(f"{t!r} {s:+.3f}" for s, t in top)
            + f"\nwritten: {png}, {html}"
        ),
    )


def register_cli(sub: argparse._SubParsersAction, spec: Any) -> None:
    group = sub.add_parser(
        "classify",
        help="classify texts or numeric sequences: train, evaluate, predict, explain",
        description="(Bi)LSTM classifiers of texts and numeric sequences, with baselines and explanations.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = group.add_subparsers(title="verbs", metavar="<verb>", required=True)
    train = verbs.add_parser(
        "train",
        help="train, then score the test split beside majority and TF-IDF/1-NN",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_flags(train, spec)
    train.set_defaults(func=lambda a: _train(a, spec))
    ev = verbs.add_parser("evaluate", help="accuracy, macro-F1, per class, calibration on a labelled file")
    pr = verbs.add_parser("predict", help="the input's columns plus prediction and p_<class> columns")
    ex = verbs.add_parser("explain", help="which tokens (steps) pushed the decision: integrated gradients")
    for p in (ev, pr, ex):
        add_data_flags(p, spec.config_class, DATA_FLAGS)
        p.add_argument("--model", required=True, metavar="RUN", help="run directory or saved-model directory")
        p.add_argument("--json", action="store_true", help="print the result as JSON")
    ev.add_argument("--data", required=True, metavar="PATH|DATASET", help="labelled examples")
    ev.add_argument("--out", metavar="DIR", help="also write report.json, confusion.png, reliability.png here")
    pr.add_argument("--data", required=True, metavar="PATH", help="examples to classify (a label column is kept)")
    pr.add_argument("--out", default="predictions.csv", metavar="FILE", help="CSV or .parquet (default: %(default)s)")
    add_runtime_flag(pr)
    ex.add_argument("--text", help="the text to explain")
    ex.add_argument("--data", metavar="PATH", help="or an example of this file ...")
    ex.add_argument("--index", type=int, default=0, help="... at this row (default: 0)")
    ex.add_argument("--target", help="explain this class (default: the predicted one)")
    ex.add_argument("--out", default="explanation.png", metavar="PNG", help="PNG (and .html beside it)")
    ev.set_defaults(func=_evaluate)
    pr.set_defaults(func=_predict)
    ex.set_defaults(func=_explain)
