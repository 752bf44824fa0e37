"""Numeric sequence classification on the UCR/UEA archive sets that sktime ships: lstmkit's classifier against
1-NN Euclidean and 1-NN DTW (full window) computed here on the same splits, beside the archive's published
1-NN figures.

    python benchmarks/classify_ucr.py [--sets gunpoint arrowhead ...] [--set KEY=VALUE ...] [--no-write]

Each set keeps the archive's train/test split. lstmkit holds out 10 % of the training file (stratified) to
select its weights; the baselines here are computed twice: on that same reduced training part (what lstmkit
saw) and on the full training file (the archive's protocol, which must reproduce the published figures; a
check of our DTW). The test file is scored once. Writes the `classify-ucr` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._report import machine, write_section
from benchmarks.classify import options
from lstmkit.data.labelled import read_labelled
from lstmkit.tasks.classify import Classifier
from lstmkit.tasks.classify.baselines import nearest_dtw, nearest_neighbour

ROOT = Path(__file__).resolve().parent.parent
# test accuracy of 1-NN ED and 1-NN DTW (full window): UCR archive 2018 summary (univariate, 1 - error rate)
# and Bagnall et al. 2018, the UEA multivariate archive (DTW_D)
PUBLISHED = {
    "gunpoint": (0.913, 0.907),
    "arrowhead": (0.800, 0.703),
    "italy-power-demand": (0.955, 0.950),
    "osuleaf": (0.521, 0.591),
    "basic-motions": (None, 0.975),
    "japanese-vowels": (None, 0.949),
    "acsf1": (0.540, 0.640),
    "plaid": (None, None),  # ragged: the archive gives no 1-NN ED figure
}
DEFAULT_SETS = [
    "gunpoint",
    "arrowhead",
    "italy-power-demand",
    "osuleaf",
    "basic-motions",
    "japanese-vowels",
    "acsf1",
    "plaid",
]


def accuracy(pred: np.ndarray, labels: list[str], classes: list[str]) -> float:
    return float((pred == np.array([classes.index(y) for y in labels])).mean())


def one(name: str, opts: dict, out: Path) -> dict:
    data = read_labelled(name)
    classes = sorted(set(data.labels))
    t0 = time.perf_counter()
    c = Classifier(out=str(out / name), **opts).fit(name)
    seconds = time.perf_counter() - t0
    table = {r["method"]: r["accuracy"] for r in c.report["table"]}
    return {
        "set": name,
        "n_train": len(data),
        "n_test": len(data.test),
        "T": max(map(len, data.seqs)),
        "F": data.seqs[0].shape[1],
        "lstmkit": table["lstmkit"],
        "val": c.report["val"]["accuracy"],
        "ed_part": table["nn1_euclidean"],
        "dtw_part": table.get("nn1_dtw"),
        "ed_full": accuracy(nearest_neighbour(data, data.test, classes), data.test.labels, classes),
        "dtw_full": accuracy(nearest_dtw(data, data.test, classes), data.test.labels, classes),
        "seconds": seconds,
        "steps": c.report["steps"],
    }


def render(rows: list[dict], opts: dict) -> str:
    lines = [
        "## Classification: UCR/UEA archive sets (numeric sequences)",
        "",
        f"Command: `python benchmarks/classify_ucr.py {' '.join(sys.argv[1:])}`  ",
        f"Machine: {machine()}, {datetime.date.today()}  ",
        "Data: the archive's own train/test files (shipped by sktime, read without importing it). lstmkit "
        "selects its weights on 10 % of the training file; 'same part' baselines use the remaining 90 % "
        "(what lstmkit trained on); 'full' baselines use the whole training file, the archive's protocol. "
        "lstmkit options: " + (", ".join(f"{k}={v}" for k, v in opts.items()) or "defaults") + ".",
        "",
        "| set | train/test, T×F | lstmkit | val | 1-NN ED (same part) | 1-NN DTW (same part) | 1-NN ED full "
        "(published) | 1-NN DTW full (published) | steps | seconds |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ped, pdtw = (v if v is not None else "—" for v in PUBLISHED.get(r["set"], (None, None)))
        dtw_part = "—" if r["dtw_part"] is None else f"{r['dtw_part']:.3f}"
        lines.append(
            f"| {r['set']} | {r['n_train']}/{r['n_test']}, {r['T']}×{r['F']} | **{r['lstmkit']:.3f}** | "
            f"{r['val']:.2f} | {r['ed_part']:.3f} | {dtw_part} | {r['ed_full']:.3f} ({ped}) | "
            f"{r['dtw_full']:.3f} ({pdtw}) | {r['steps']} | {r['seconds']:.0f} |"
        )
    wins = sum(r["lstmkit"] >= r["dtw_full"] for r in rows)
    lines += [
        "",
        f"lstmkit matches or beats the archive's 1-NN DTW on {wins} of {len(rows)} sets. Accuracies are "
        "test-file figures, reported once.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="*", default=DEFAULT_SETS)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="Classifier options")
    parser.add_argument("--section", default="classify-ucr")
    parser.add_argument("--out", default=str(ROOT / "runs" / "bench-classify-ucr"))
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    from lstmkit.engine.config import unique_name

    out = Path(args.out) / unique_name()
    opts = {"progress": False, **options(args.set)}
    rows = []
    for name in args.sets:
        rows.append(one(name, opts, out))
        print({k: round(v, 3) if isinstance(v, float) else v for k, v in rows[-1].items()}, flush=True)
    text = render(rows, {k: v for k, v in opts.items() if k != "progress"})
    if not args.no_write:
        write_section(args.section, text)
    print(text)


if __name__ == "__main__":
    main()
