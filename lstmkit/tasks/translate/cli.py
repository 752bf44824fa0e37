"""`lstmkit translate train|evaluate|predict|align`."""

from __future__ import annotations

import argparse
import dataclasses
import queue
import sys
import threading
from pathlib import Path
from typing import Any, BinaryIO, TextIO

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
from lstmkit.config import add_arguments, from_dict
from lstmkit.data.parallel import read_lines
from lstmkit.data.timeseries import DataError
from lstmkit.errors import UsageError
from lstmkit.tasks.translate import SPEC
from lstmkit.tasks.translate.config import DecodeConfig

EXAMPLES = """examples:
  lstmkit translate train --data numbers-de-en --epochs 1 --vocab-size 300 --hidden-size 128 --embedding-size 128
                                                                    # numbers in words, German -> English (~3 min)
  lstmkit translate train --src train.en --tgt train.de --val-src val.en --val-tgt val.de --out runs/ende
  lstmkit translate train --data pairs.tsv --out runs/tatoeba       # source<TAB>target per line
  lstmkit translate evaluate --model runs/ende --src test.en --tgt test.de --beam-size 5
  lstmkit translate predict --model runs/ende --beam-size 5 < src.txt > hyp.txt   # one line out per line in
  lstmkit translate predict --model runs/ende --n-best 3 --input src.txt           # n-best: i ||| text ||| score
  lstmkit translate align --model runs/ende --text "a man rides a bike" --out align.png
  lstmkit export --model runs/ende && lstmkit translate predict --model runs/ende --runtime onnx < src.txt
scores: sacreBLEU BLEU and chrF on detokenized, cased output (their signatures are printed), exact: the share of
sentences translated exactly as the reference; beside the copy baseline (the untranslated source)."""


def _decode_flags(parser: argparse.ArgumentParser) -> None:
    add_arguments(parser, DecodeConfig, "decoding")


def _decode_options(args: argparse.Namespace) -> dict[str, Any]:
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(DecodeConfig) if hasattr(args, f.name)}


def _table(report: dict) -> str:
    out = report["outputs"][report["best"]]["scores"]
    return (
        f"{table(report['table'], ['method', 'bleu', 'chrf', 'exact', 'sentences_per_s'])}\n\n"
        f"BLEU signature: {out['bleu_signature']}\nchrF signature: {out['chrf_signature']}"
    )


def _write(report: dict, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "report.json"]
    brief = {k: v for k, v in report.items() if k != "outputs"}
    brief["scores"] = {k: v["scores"] for k, v in report["outputs"].items()}
    files[0].write_text(dumps(brief), encoding="utf-8")
    for k, (name, v) in enumerate(report["outputs"].items()):
        path = out / f"hyp-{k}-{name.split()[0]}.txt"
        path.write_text("".join(h + "\n" for h in v["hypotheses"]), encoding="utf-8")
        files.append(path)
    return files


def _train(args: argparse.Namespace, spec: Any) -> None:
    from lstmkit.tasks.translate.translator import Translator

    quiet_lightning()
    run = run_config(args, spec)
    t = Translator(
        config=run.task,
        train=run.train,
        decode=from_dict(DecodeConfig, _decode_options(args), where="the command line"),
    ).fit()
    if not t.primary:
        return  # a distributed run's extra process: the first one reports
    assert t.run_dir is not None
    r = t.report
    files = _write(r, t.run_dir) if "table" in r else []
    payload = {
        "run": str(t.run_dir),
        "model": str(t.run_dir / "model"),
        "data": r["data"],
        "val": r["val"],
        **({"test": r["test"], "table": r["table"], "best": r["best"]} if "table" in r else {}),
        "files": [str(f) for f in files],
    }
    d = r["data"]
    head = (
        f"{d['source']}: {d['kept']} training pairs ({d['dropped_long']} longer than --max-tokens dropped), "
        f"vocabularies {d['src_vocab']}/{d['tgt_vocab']}; validation nll {r['val'].get('nll', float('nan')):.3f}"
    )
    emit(
        args,
        payload,
        lambda: (
            head
            + (
                f"\n\ntest split ({d['test']} pairs, never trained or selected on)\n\n"
                f"{_table(r)}\n\nwritten: {', '.join(map(str, files))}"
                if files
                else ""
            )
        ),
    )


def _pairs(args: argparse.Namespace, t: Any) -> Any:
    from lstmkit.data.parallel import read_parallel

    if args.src and args.tgt:
        return read_parallel(args.src, args.tgt)
    if args.data:
        return t._read(args.data)
    raise UsageError("evaluate needs --src FILE --tgt FILE (line-aligned) or --data PAIRS")


def _evaluate(args: argparse.Namespace) -> None:
    t = with_data_flags(SPEC.load(args.model), args, DATA_FLAGS)
    report = t.evaluate(_pairs(args, t), t.default_decodings(t.options(**_decode_options(args))))
    files = _write(report, Path(args.out)) if args.out else []
    payload = {
        "test": report["test"],
        "table": report["table"],
        "best": report["best"],
        "n": report["n"],
        "files": [str(f) for f in files],
    }
    emit(args, payload, lambda: f"{report['split']}: {report['n']} pairs\n\n{_table(report)}")


def _lines(stream: BinaryIO, where: str, out: queue.Queue) -> None:
    """Feed the decoded lines of `stream` into `out` as they arrive, then None (or an error)."""
    try:
        for n, raw in enumerate(stream, 1):
            try:
                out.put(raw.decode("utf-8").rstrip("\r\n"))
            except UnicodeDecodeError:
                out.put(DataError(f"{where} line {n} is not UTF-8; convert it, e.g. iconv -f latin1 -t utf-8"))
                return
    finally:
        out.put(None)


def stream_translate(
    t: Any, source: BinaryIO, sink: TextIO, opts: Any, n_best: int, where: str, batch: int = 64
) -> int:
    """Translate lines as they arrive (whatever is waiting is decoded together, up to `batch`); one output line
    per input line (n-best: n lines `i ||| translation ||| score`), flushed after every batch. Returns the count."""
    pending: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(source, where, pending), daemon=True).start()
    count = 0
    while True:
        items = [pending.get()]
        while len(items) < batch and not pending.empty():
            items.append(pending.get())
        end = next((i for i, x in enumerate(items) if not isinstance(x, str)), None)  # the end, or an error
        count = _emit_lines(t, items[:end], sink, opts, n_best, count)  # the lines before it are translated
        if end is not None:
            if isinstance(items[end], DataError):
                raise items[end]
            return count


def _emit_lines(t: Any, lines: list[str], sink: TextIO, opts: Any, n_best: int, count: int) -> int:
    if not lines:
        return count
    real = [i for i, line in enumerate(lines) if line.strip()]
    hyps = t.hypotheses([lines[i] for i in real], opts) if real else []
    by_line = dict(zip(real, hyps))
    for i in range(len(lines)):
        found = by_line.get(i, [])
        if n_best > 1:
            for h in found:
                sink.write(f"{count + i} ||| {t.vocab.decode_tgt(h.tokens)} ||| {h.score:.4f}\n")
        else:
            sink.write((t.vocab.decode_tgt(found[0].tokens) if found else "") + "\n")  # an empty line stays empty
    sink.flush()
    return count + len(lines)


DATA_FLAGS = ("src_col", "tgt_col")  # read tables with the model's column names, unless given


def _load(path: str, runtime: str = "torch", threads: int | None = None) -> Any:
    return load_model(path, SPEC, runtime, threads)


def _predict(args: argparse.Namespace) -> None:
    t = with_data_flags(_load(args.model, args.runtime, args.threads), args, DATA_FLAGS)
    opts = t.options(**_decode_options(args))
    where = args.input or "stdin"
    sink = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    try:
        if args.input:
            read_lines(args.input)  # checks the file is there and UTF-8 before anything is written
            with open(args.input, "rb") as source:
                count = stream_translate(t, source, sink, opts, opts.n_best, where)
        else:
            count = stream_translate(t, sys.stdin.buffer, sink, opts, opts.n_best, where)
    finally:
        if args.output:
            sink.close()
    if args.output:
        print(f"{count} lines translated to {args.output}", file=sys.stderr)


def _align(args: argparse.Namespace) -> None:
    t = with_data_flags(SPEC.load(args.model), args, DATA_FLAGS)
    png, text = t.align(args.text, args.out, **_decode_options(args))
    emit(args, {"translation": text, "png": str(png)}, lambda: f"{text}\nwritten: {png}")


def register_cli(sub: argparse._SubParsersAction, spec: Any) -> None:
    group = sub.add_parser(
        "translate",
        help="translate sentences: train, evaluate (sacreBLEU), predict, align",
        description="An attentional LSTM encoder-decoder with beam search.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = group.add_subparsers(title="verbs", metavar="<verb>", required=True)
    train = verbs.add_parser(
        "train",
        help="train, then score the test split: copy baseline, greedy, beam search",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_flags(train, spec)
    _decode_flags(train)
    train.set_defaults(func=lambda a: _train(a, spec))
    ev = verbs.add_parser("evaluate", help="sacreBLEU and chrF of a saved model on parallel files")
    pr = verbs.add_parser("predict", help="translate stdin (or --input) to stdout (or --output), line by line")
    al = verbs.add_parser("align", help="the attention alignment of one translation as a PNG heat map")
    for p in (ev, pr, al):
        add_data_flags(p, spec.config_class, DATA_FLAGS)
        p.add_argument("--model", required=True, metavar="RUN", help="run directory or saved-model directory")
        _decode_flags(p)
    for p in (ev, al):
        p.add_argument("--json", action="store_true", help="print the result as JSON")
    ev.add_argument("--src", metavar="FILE", help="source sentences, one per line")
    ev.add_argument("--tgt", metavar="FILE", help="reference translations, line-aligned with --src")
    ev.add_argument("--data", metavar="PAIRS", help="or a TSV/table of pairs, or a built-in corpus")
    ev.add_argument("--out", metavar="DIR", help="also write report.json and the hypotheses here")
    pr.add_argument("--input", metavar="FILE", help="source sentences, one per line (default: stdin, streamed)")
    pr.add_argument("--output", metavar="FILE", help="translations, one line per input line (default: stdout)")
    add_runtime_flag(pr)
    al.add_argument("--text", required=True, help="the source sentence")
    al.add_argument("--out", default="alignment.png", metavar="PNG", help="where the heat map goes")
    ev.set_defaults(func=_evaluate)
    pr.set_defaults(func=_predict)
    al.set_defaults(func=_align)
