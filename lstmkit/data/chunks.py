"""Long-format series files read in chunks of whole series, for data larger than memory.

A Parquet file is read a record batch at a time (a CSV file a block of rows at a time); rows are collected
until a chunk holds about `rows` rows, and the last series of the chunk is held back until its rows end, so
every chunk holds whole series. That needs each series' rows together in the file (as a file written sorted
by id, or a dataset partitioned by id, has them); a series found in two places is an error that says so.
Memory is one chunk plus the set of ids already read.
"""

from __future__ import annotations

import glob
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd

from lstmkit.data.timeseries import DataError

PARQUET = (".parquet", ".pq")


def chunk_files(source: str | Path) -> list[Path]:
    """The files of a path, a directory of Parquet files or a glob, in name order."""
    text = str(source)
    if any(ch in text for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(text))
    elif Path(text).is_dir():
        files = sorted(p for p in Path(text).iterdir() if p.suffix in PARQUET)
    else:
        files = [Path(text)]
    if not files:
        raise DataError(f"{source}: no files match")
    for f in files:
        if not f.is_file():
            raise DataError(f"{f}: no such file")
        if f.suffix not in (*PARQUET, ".csv"):
            raise DataError(f"{f}: chunked reading takes Parquet or CSV files, not {f.suffix or 'no suffix'}")
    return files


def _blocks(path: Path, columns: Sequence[str] | None, rows: int) -> Iterator[pd.DataFrame]:
    """The file's rows in blocks of at most `rows` (Parquet: record batches, one row group read at a time)."""
    if path.suffix == ".csv":
        yield from pd.read_csv(path, chunksize=rows, usecols=lambda c: columns is None or c in columns)
        return
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    have = pf.schema_arrow.names
    cols = None if columns is None else [c for c in columns if c in have]
    for batch in pf.iter_batches(batch_size=rows, columns=cols):
        yield batch.to_pandas()


def series_chunks(
    source: str | Path, id_col: str, rows: int, columns: Sequence[str] | None = None
) -> Iterator[pd.DataFrame]:
    """Frames of whole series, each about `rows` rows (more when one series is longer), read from `source`
    (a Parquet or CSV file, a directory of Parquet files or a glob) without reading it all."""
    if rows < 1:
        raise DataError(f"chunk rows must be >= 1, got {rows}")
    seen: set[str] = set()
    pending: list[pd.DataFrame] = []
    held = 0
    any_rows = False
    for path in chunk_files(source):
        for block in _blocks(path, columns, rows):
            if block.empty:
                continue
            any_rows = True
            if id_col not in block.columns:
                raise DataError(
                    f"{path}: no id column {id_col!r}; chunked reading is for many series (name it "
                    "with --id-col), a single series is read whole without --chunk-rows"
                )
            pending.append(block)
            held += len(block)
            if held >= rows:
                frame = pd.concat(pending, ignore_index=True)
                head, tail = _split_last(frame, id_col)
                if len(head):
                    _check_grouped(head, id_col, seen, path)
                    yield head
                pending, held = [tail], len(tail)
    if not any_rows:
        raise DataError(f"{source}: no rows")
    if held:
        frame = pd.concat(pending, ignore_index=True)
        _check_grouped(frame, id_col, seen, source)
        yield frame


def _split_last(frame: pd.DataFrame, id_col: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows before the last series' final run, that run): the run may go on in the next block."""
    ids = frame[id_col].astype(str).to_numpy()
    start = len(ids) - 1
    while start > 0 and ids[start - 1] == ids[-1]:
        start -= 1
    return frame.iloc[:start], frame.iloc[start:]


def _check_grouped(frame: pd.DataFrame, id_col: str, seen: set[str], where: object) -> None:
    """Every series of the chunk starts here (its rows are together in the file); remember them."""
    ids = frame[id_col].astype(str)
    firsts = ids[ids.ne(ids.shift())]
    again = firsts[firsts.duplicated() | firsts.isin(seen)]
    if len(again):
        raise DataError(
            f"{where}: the rows of series {again.iloc[0]!r} are not together in the file; chunked reading needs "
            f"each series' rows in one place: sort the data by {id_col} first (e.g. "
            f"df.sort_values([{id_col!r}, time]).to_parquet(path, row_group_size=100_000))"
        )
    seen.update(firsts)
