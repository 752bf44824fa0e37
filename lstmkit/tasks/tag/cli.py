"""`lstmkit tag train|evaluate|predict`."""

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
    quiet_lightning,
    run_config,
    table,
    with_data_flags,
)
from lstmkit.tasks.tag import SPEC

EXAMPLES = """examples:
  lstmkit tag train --data ner-train.conll --val-data ner-dev.conll --test-data ner-test.conll --crf
  lstmkit tag train --data pos.conll --token-col 0 --tag-col 1 --out runs/pos     # part of speech
  lstmkit tag train --data anomalies                                             # a flag per step of a series
  lstmkit tag train --data sensor.csv --flag-col anomaly --value-cols temp,vibration --window 128
  lstmkit tag evaluate --model runs/pos --data pos-test.conll --json
  lstmkit tag predict --model runs/pos --data new.conll --out tags.csv [--runtime onnx]
data: a CoNLL-style file (a token and its tag per line, a blank line between sentences, '#' lines and
-DOCSTART- skipped), a CSV/Parquet series with a per-step label column (and optionally a series id column),
or a built-in dataset (lstmkit datasets: anomalies, ecg-anomalies, yahoo-anomalies)."""

# the data flags a saved model's evaluate/predict accept (default: the values it was trained with)
DATA_FLAGS = ("format", "token_col", "tag_col", "flag_col", "id_col", "value_cols", "window")


def _table(report: dict) -> str:
    per = report["test"].get("per_type") or report["test"]["per_tag"]
    rows = [{"tag": k, **v} for k, v in per.items()]
    return (
        f"{table(report['table'], ['method', 'accuracy', 'f1'])}\n"
        f"f1: {report['f1_is']}\n\n{table(rows, ['tag', 'precision', 'recall', 'f1', 'support'])}"
    )


def _verdict(report: dict) -> str:
    """Which row won, said plainly (by accuracy for plain tags, else by F1)."""
    key = "accuracy" if report["scheme"] == "tags" else "f1"
    mine, *others = report["table"]
    best = max(others, key=lambda r: r[key])
    if mine[key] > best[key]:
        return f"lstmkit wins: {key} {mine[key]:.4f} vs {best['method']} {best[key]:.4f}"
    if mine[key] == best[key]:
        return f"lstmkit ties {best['method']} ({key} {mine[key]:.4f})"
    return f"the best row is {best['method']} ({key} {best[key]:.4f}), not lstmkit ({mine[key]:.4f})"


def _train(args: argparse.Namespace, spec: Any) -> None:
    from lstmkit.tasks.tag.tagger import Tagger

    quiet_lightning()
    run = run_config(args, spec)
    t = Tagger(config=run.task, train=run.train).fit()
    if not t.primary:
        return  # a distributed run's extra process: the first one reports
    assert t.run_dir is not None
    report = t.report
    out = t.run_dir / "report.json"
    out.write_text(dumps(report), encoding="utf-8")
    payload = {"run": str(t.run_dir), "model": str(t.run_dir / "model"), **report, "files": [str(out)]}
    if not report.get("test"):
        emit(args, payload, lambda: f"trained; no test split (--test-fraction 0). written: {out}")
        return
    emit(
        args,
        payload,
        lambda: (
            f"{report['split']}: {report['sequences']} sequences, {report['test']['steps']} steps, never trained or "
            f"selected on\n\n{_table(report)}\n\n{_verdict(report)}\nwritten: {out}"
        ),
    )


def _evaluate(args: argparse.Namespace) -> None:
    t = with_data_flags(load_model(args.model, SPEC, args.runtime, args.threads), args, DATA_FLAGS)
    report = t.evaluate(args.data)
    emit(args, report, lambda: f"{args.data}: {report['sequences']} sequences\n\n{_table(report)}\n{_verdict(report)}")


def _predict(args: argparse.Namespace) -> None:
    t = with_data_flags(load_model(args.model, SPEC, args.runtime, args.threads), args, DATA_FLAGS)
    frame = t.predict(args.data)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out, index=False) if out.suffix in (".parquet", ".pq") else frame.to_csv(out, index=False)
    shown = frame.head(12).to_string(index=False)
    more = f"\n... ({len(frame) - 12} more rows)" if len(frame) > 12 else ""
    emit(
        args,
        {"predictions": str(out), "rows": len(frame)},
        lambda: f"{shown}{more}\n{len(frame)} rows written to {out}",
    )


def register_cli(sub: argparse._SubParsersAction, spec: Any) -> None:
    group = sub.add_parser(
        "tag",
        help=spec.summary,
        description="BiLSTM(-CRF) sequence labelling: a tag per token (POS, NER; entity-level F1 as seqeval counts "
        "it) or a flag per step of a numeric series, beside the most-frequent-tag baseline.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = group.add_subparsers(title="verbs", metavar="<verb>", required=True)
    train = verbs.add_parser(
        "train",
        help="train, then score the test split beside the most-frequent-tag baseline",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_flags(train, spec)
    train.set_defaults(func=lambda a: _train(a, spec))
    ev = verbs.add_parser("evaluate", help="accuracy, F1 (entity-level for BIO tags), per tag, on a labelled file")
    pr = verbs.add_parser("predict", help="one row per token (or step): the prediction and each tag's probability")
    for p in (ev, pr):
        p.add_argument("--model", required=True, metavar="RUN", help="run directory or saved-model directory")
        p.add_argument("--json", action="store_true", help="print the result as JSON")
        add_runtime_flag(p)
        add_data_flags(p, spec.config_class, DATA_FLAGS)
    ev.add_argument("--data", required=True, metavar="PATH|DATASET", help="labelled sequences")
    pr.add_argument("--data", required=True, metavar="PATH|DATASET", help="sequences to tag (tags kept if present)")
    pr.add_argument("--out", default="tags.csv", metavar="FILE", help="CSV or .parquet (default: %(default)s)")
    ev.set_defaults(func=_evaluate)
    pr.set_defaults(func=_predict)
