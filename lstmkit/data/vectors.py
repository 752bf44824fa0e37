"""Pretrained word vectors from a local text file (word2vec's text format, with its "count size" header
line, or GloVe's, without one; `.gz` allowed), kept only for the words of a given vocabulary."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np

from lstmkit.data.timeseries import DataError

log = logging.getLogger(__name__)


def read_vectors(path: str | Path, vocab: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """(V, D) vectors for the ids of `vocab` (a word is matched as is, then lower-cased) and a (V,) mask of
    the ids found. Rows not found are zero; the caller initialises them."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such word-vector file: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    lower = {w.lower(): i for w, i in vocab.items()}
    table: np.ndarray | None = None
    found = np.zeros(len(vocab), dtype=bool)
    with opener(path, "rt", encoding="utf-8", errors="replace") as lines:
        for n, line in enumerate(lines, 1):
            parts = line.rstrip().split(" ")
            if n == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # word2vec's header: count and size
            if len(parts) < 2:
                continue
            if table is None:
                table = np.zeros((len(vocab), len(parts) - 1), dtype=np.float32)
            if len(parts) - 1 != table.shape[1]:
                raise DataError(
                    f"{path} line {n}: {len(parts) - 1} numbers where the file's vectors have "
                    f"{table.shape[1]}; is it a word2vec/GloVe text file?"
                )
            i = vocab.get(parts[0], lower.get(parts[0].lower()))
            if i is not None and not found[i]:
                try:
                    table[i] = np.asarray(parts[1:], dtype=np.float32)
                except ValueError:
                    raise DataError(f"{path} line {n}: the vector of {parts[0]!r} holds a non-number") from None
                found[i] = True
    if table is None:
        raise DataError(f"{path} holds no word vectors (expected lines 'word v1 v2 ...')")
    log.info("word vectors: %d of %d vocabulary words found in %s", found.sum(), len(vocab), path)
    return table, found
