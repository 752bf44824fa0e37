"""Parallel text for translation: two line-aligned files (`.gz` allowed), a TSV of pairs, a CSV/Parquet/JSONL
table with a source and a target column, or the built-in `numbers-*` corpora.

`numbers-en-de` (and `-en-fr`, `-de-en`, ...): numbers written out in words in two languages by the PyPI
package `num2words` ("three hundred and forty-two" -> "dreihundertzweiundvierzig"): a real reordering task
(German says the units before the tens), small enough to learn on a CPU in a minute. The numbers of the
train, validation and test splits never overlap.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lstmkit.data.timeseries import DataError

NUMBER_LANGS = ("en", "de", "fr", "es", "it")
NUMBERS_MAX = 999_999  # the numbers drawn: 0..NUMBERS_MAX, weighted towards short ones
TABLE_SUFFIXES = (".csv", ".parquet", ".pq", ".jsonl", ".json")


@dataclass(frozen=True)
class Parallel:
    """Aligned source and target sentences (one pair per index)."""

    src: list[str]
    tgt: list[str]
    source: str = "the pairs"

    def __len__(self) -> int:
        return len(self.src)

    def take(self, idx: np.ndarray | list[int]) -> Parallel:
        return Parallel([self.src[i] for i in idx], [self.tgt[i] for i in idx], self.source)


def read_lines(path: str | Path) -> list[str]:
    """The lines of a UTF-8 text file (`.gz` allowed), without line ends; errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such file: {path}")
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(
            f"{path} line {line} is not UTF-8 ({raw[err.start : err.start + 4]!r}); convert the file, "
            "e.g. iconv -f latin1 -t utf-8"
        ) from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline
    return [line.rstrip("\r") for line in lines]


def _check_pairs(src: list[str], tgt: list[str], where: str) -> Parallel:
    if not src:
        raise DataError(f"{where} is empty: it holds no sentence pairs")
    empty = [i + 1 for i, (s, t) in enumerate(zip(src, tgt)) if not s.strip() or not t.strip()]
    if empty:
        shown = ", ".join(map(str, empty[:5])) + (" ..." if len(empty) > 5 else "")
        raise DataError(
            f"{where}: {len(empty)} pair(s) with an empty side (line {shown}); remove those lines from "
            "both sides so the files stay aligned"
        )
    return Parallel(src, tgt, where)


def read_parallel(src: str | Path, tgt: str | Path) -> Parallel:
    """Two line-aligned files: line i of `src` translates to line i of `tgt`."""
    a, b = read_lines(src), read_lines(tgt)
    if len(a) != len(b):
        raise DataError(
            f"{src} has {len(a)} lines but {tgt} has {len(b)}: parallel files must be line-aligned "
            "(one sentence per line on both sides)"
        )
    return _check_pairs(a, b, f"{src} + {tgt}")


def read_pairs(path: str | Path, src_col: str = "src", tgt_col: str = "tgt") -> Parallel:
    """A TSV of pairs (source TAB target [TAB anything], no header: Tatoeba/Anki files), or a CSV/Parquet/JSONL
    table with `src_col` and `tgt_col` columns."""
    path = Path(path)
    if path.suffix.lower() in TABLE_SUFFIXES:
        return _read_table(path, src_col, tgt_col)
    src, tgt = [], []
    for i, line in enumerate(read_lines(path)):
        if not line.strip():
            continue  # blank lines between pairs
        cells = line.split("\t")
        if len(cells) < 2:
            raise DataError(
                f"{path} line {i + 1} has no TAB: each line must be source<TAB>target "
                "(or give two line-aligned files: --src and --tgt)"
            )
        src.append(cells[0].strip())
        tgt.append(cells[1].strip())
    return _check_pairs(src, tgt, str(path))


def _read_table(path: Path, src_col: str, tgt_col: str) -> Parallel:
    import pandas as pd

    if not path.is_file():
        raise DataError(f"no such file: {path}")
    suffix = path.suffix.lower()
    frame = (
        pd.read_parquet(path)
        if suffix in (".parquet", ".pq")
        else pd.read_json(path, lines=suffix == ".jsonl")
        if suffix in (".jsonl", ".json")
        else pd.read_csv(path)
    )
    missing = [c for c in (src_col, tgt_col) if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path} lacks column(s) {', '.join(missing)} (it has {', '.join(map(str, frame.columns))}); "
            "name them with --src-col and --tgt-col"
        )
    frame = frame[[src_col, tgt_col]].fillna("").astype(str)
    return _check_pairs(frame[src_col].str.strip().tolist(), frame[tgt_col].str.strip().tolist(), str(path))


# ----------------------------------------------------------------------------------------------------------
# the built-in numbers corpora


def numbers_name(name: str) -> tuple[str, str] | None:
    """'numbers-en-de' -> ('en', 'de'); None for any other name."""
    parts = name.split("-")
    if len(parts) == 3 and parts[0] == "numbers" and parts[1] in NUMBER_LANGS and parts[2] in NUMBER_LANGS:
        return (parts[1], parts[2]) if parts[1] != parts[2] else None
    return None


def _draw_numbers(n: int, seed: int) -> np.ndarray:
    """n distinct numbers: the number of digits uniform over 1..6, then the number uniform within it, so short
    and long numbers are both common."""
    rng = np.random.default_rng(seed)
    seen: set[int] = set()
    out: list[int] = []
    while len(out) < n:
        digits = int(rng.integers(1, 7))
        lo = 0 if digits == 1 else 10 ** (digits - 1)
        k = int(rng.integers(lo, min(10**digits, NUMBERS_MAX + 1)))
        if k not in seen:
            seen.add(k)
            out.append(k)
    return np.asarray(out)


def numbers_corpus(src_lang: str, tgt_lang: str, n: int = 30_000, seed: int = 0) -> Parallel:
    """n pairs of one number in words in two languages (distinct numbers, seeded)."""
    try:
        from num2words import num2words
    except ImportError:  # pragma: no cover - num2words is a dependency
        raise DataError("the numbers corpora are written by the num2words package: pip install num2words") from None
    nums = _draw_numbers(n, seed)
    return Parallel(
        [num2words(int(k), lang=src_lang) for k in nums],
        [num2words(int(k), lang=tgt_lang) for k in nums],
        f"numbers-{src_lang}-{tgt_lang}",
    )
