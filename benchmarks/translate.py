"""Machine translation: Multi30k (test_2016_flickr) En->De and De->En, and Tatoeba En->De as the quick smoke
run; greedy vs beam search vs beam search with penalties in one table, with decoding sentences/s.

    python benchmarks/translate.py [--sets tatoeba multi30k-en-de multi30k-de-en] [--minutes 30]
                                   [--set KEY=VALUE ...] [--no-write]

Data: ../shared/data/mt (never required by the product). Multi30k uses its own train/val/test files; Tatoeba
a seeded 90/5/5 split. Weights are selected on the validation split's per-token likelihood; the decoding
settings of the table are the ones the task ships (not tuned on test). Scores: sacreBLEU on detokenized, cased
output (signature printed), and, for the comparison with published notebook figures that lower-case and
tokenize, sacreBLEU with lowercase=True (13a tokenization). Writes the `translate` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._report import machine, typed_options, write_section
from lstmkit.engine import TrainConfig
from lstmkit.tasks.translate import DecodeConfig, TranslateConfig, Translator
from lstmkit.tasks.translate.metrics import corpus_scores

ROOT = Path(__file__).resolve().parent.parent
MT = ROOT.parent / "shared" / "data" / "mt"
M30K = MT / "multi30k"


def data_options(name: str) -> dict:
    if name.startswith("multi30k-"):
        s, t = name.split("-")[1:]
        return {
            "src": str(M30K / f"train.{s}.gz"),
            "tgt": str(M30K / f"train.{t}.gz"),
            "val_src": str(M30K / f"val.{s}.gz"),
            "val_tgt": str(M30K / f"val.{t}.gz"),
            "test_src": str(M30K / f"test_2016_flickr.{s}.gz"),
            "test_tgt": str(M30K / f"test_2016_flickr.{t}.gz"),
        }
    if name == "tatoeba":
        return {"data": str(MT / "tatoeba" / "deu-eng.tsv")}
    raise SystemExit(f"unknown set {name}: tatoeba, multi30k-en-de, multi30k-de-en, ...")


def decodings(base: DecodeConfig) -> dict[str, DecodeConfig]:
    r = dataclasses.replace
    return {
        "greedy": r(base, beam_size=1, n_best=1),
        "beam 5, no penalty": r(base, beam_size=5, length_penalty="none", coverage_penalty=0.0),
        "beam 5, length-averaged": r(base, beam_size=5, length_penalty="avg", coverage_penalty=0.0),
        "beam 5, Wu alpha 0.6 + coverage 0.2 (default)": r(
            base, beam_size=5, length_penalty="wu", coverage_penalty=0.2
        ),
        "beam 5, length-averaged, no repeated 3-grams": r(
            base, beam_size=5, length_penalty="avg", coverage_penalty=0.0, block_ngram=3
        ),
    }


def one(name: str, opts: dict, minutes: float, out: Path) -> dict:
    t0 = time.perf_counter()
    t = Translator(out=str(out / name), max_time=f"{minutes}m", **data_options(name), **opts)
    t.fit(t.config.data)
    fit_s = time.perf_counter() - t0
    _, _, test = t.splits(t.config.data)
    report = t.evaluate(test, decodings(t.decoding))
    for row in report["table"][1:]:
        hyps = report["outputs"][row["method"]]["hypotheses"]
        row["bleu_lc"] = corpus_scores(hyps, test.tgt, lowercase=True)["bleu"]
    best = report["outputs"][report["best"]]["scores"]
    return {
        "set": name,
        "table": report["table"],
        "fit_s": fit_s,
        "steps": t.report["steps"],
        "val_nll": t.report["val"].get("nll"),
        "data": t.report["data"],
        "signature": best["bleu_signature"],
        "chrf_signature": best["chrf_signature"],
    }


def render(results: list[dict], opts: dict, minutes: float) -> str:
    lines = [
        "## Translation: Multi30k and Tatoeba",
        "",
        f"Command: `python benchmarks/translate.py {' '.join(sys.argv[1:])}`  ",
        f"Machine: {machine()}, {datetime.date.today()}  ",
        f"Training: at most {minutes:g} minutes per set on the CPU, weights selected on the validation split's "
        "per-token likelihood; options: " + (", ".join(f"{k}={v}" for k, v in opts.items()) or "the defaults") + ".",
        "BLEU: sacreBLEU on detokenized, cased output; BLEU lc: the same lower-cased (closest to the notebooks' "
        "tokenized lower-case figures). Decoding settings are the shipped ones, not tuned on test.",
        "",
    ]
    for r in results:
        d = r["data"]
        lines += [
            f"### {r['set']}: test {d['test']} sentences; {d['kept']} training pairs; "
            f"{r['steps']} steps in {r['fit_s'] / 60:.1f} min; val nll {r['val_nll']:.3f}",
            "",
            "| decoding | BLEU | BLEU lc | chrF | exact % | sentences/s |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for row in r["table"]:
            lines.append(
                f"| {row['method']} | {row['bleu']:.2f} | {row.get('bleu_lc', float('nan')):.2f} | "
                f"{row['chrf']:.2f} | {row['exact']:.1f} | {row.get('sentences_per_s', '—')} |"
            )
        lines += ["", f"BLEU signature `{r['signature']}`; chrF signature `{r['chrf_signature']}`", ""]
    lines += [
        "Anchors (bentrevett/pytorch-seq2seq, Multi30k De->En, greedy, lower-cased and tokenized, not "
        "sacreBLEU): GRU + attention 28.3, ConvS2S 34.1, Transformer 36.5. Target: >= 35 sacreBLEU En->De "
        "with beam search (see the note under the table when missed)."
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="*", default=["tatoeba", "multi30k-en-de", "multi30k-de-en"])
    parser.add_argument("--minutes", type=float, default=30.0, help="training budget per set")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="Translator options")
    parser.add_argument("--section", default="translate")
    parser.add_argument("--out", default=str(ROOT / "runs" / "bench-translate"))
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    from lstmkit.engine.config import unique_name

    out = Path(args.out) / unique_name()
    opts = {"progress": False, "epochs": 50, **typed_options(args.set, TrainConfig, TranslateConfig, DecodeConfig)}
    results = []
    for name in args.sets:
        results.append(one(name, opts, args.minutes, out))
        print(results[-1]["set"], results[-1]["table"], flush=True)
    text = render(results, {k: v for k, v in opts.items() if k != "progress"}, args.minutes)
    if not args.no_write:
        write_section(args.section, text)
    print(text)


if __name__ == "__main__":
    main()
