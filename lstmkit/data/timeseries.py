"""Time series in long format (`unique_id, ds, y` + covariates) -> a validated, regular panel of series.

Every check names the series and the fix: missing columns, unparsable timestamps, non-numeric targets,
duplicate timestamps, timestamps off the frequency grid, too-short series. Unsorted rows are sorted (with a
log line); absent timestamps on the grid become missing values (NaN), which the model masks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from lstmkit.errors import LstmkitError

log = logging.getLogger(__name__)

SINGLE_SERIES_ID = "series"


class DataError(LstmkitError):
    """Input data that cannot be used as given; the message names the problem and the fix."""


@dataclass(frozen=True)
class Columns:
    """Which columns hold the series id, the timestamp and the target."""

    id_col: str = "unique_id"
    time_col: str = "ds"
    target: str = "y"


@dataclass
class Series:
    """One series on a regular grid: T steps, NaN where a value is missing."""

    uid: str
    ds: pd.DatetimeIndex  # (T,)
    y: np.ndarray  # (T,) float64
    past: np.ndarray  # (T, Cp) past-observed covariates
    future: np.ndarray  # (T, Cf) known-future covariates
    static: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.y)

    def head(self, n: int) -> Series:
        """The first n steps (a view, for cut-offs in backtests)."""
        return Series(self.uid, self.ds[:n], self.y[:n], self.past[:n], self.future[:n], self.static)


@dataclass
class Panel:
    """Many series with one frequency and one set of covariate columns."""

    series: list[Series]
    freq: str
    past_cols: tuple[str, ...] = ()
    future_cols: tuple[str, ...] = ()
    static_cols: tuple[str, ...] = ()

    @property
    def ids(self) -> list[str]:
        return [s.uid for s in self.series]

    def by_id(self) -> dict[str, Series]:
        return {s.uid: s for s in self.series}

    def with_series(self, series: list[Series]) -> Panel:
        return Panel(series, self.freq, self.past_cols, self.future_cols, self.static_cols)


# ----------------------------------------------------------------------------------------------------------
# reading


def read_table(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    """A DataFrame from a CSV (.csv, .csv.gz, .txt), a Parquet file or a DataFrame (never modified)."""
    if isinstance(source, pd.DataFrame):
        df = source
    else:
        path = Path(source)
        if not path.is_file():
            raise DataError(f"no such data file: {path} (give a CSV or Parquet file, or a built-in dataset name)")
        name = path.name.lower()
        try:
            if name.endswith((".parquet", ".pq")):
                df = pd.read_parquet(path)
            elif name.endswith((".csv", ".csv.gz", ".txt", ".tsv")):
                df = pd.read_csv(path, sep="\t" if name.endswith(".tsv") else ",")
            else:
                raise DataError(f"{path}: unknown file type; use .csv, .csv.gz, .tsv or .parquet")
        except (pd.errors.EmptyDataError, pd.errors.ParserError, OSError, ValueError) as err:
            if isinstance(err, DataError):
                raise
            raise DataError(f"{path} could not be read as a table: {err}") from err
    if len(df) == 0:
        raise DataError(f"{getattr(source, 'name', 'the data')} has no rows")
    return df


# ----------------------------------------------------------------------------------------------------------
# validation and regularisation


def to_panel(
    source: str | Path | pd.DataFrame,
    columns: Columns = Columns(),
    freq: str | None = None,
    past: Sequence[str] = (),
    future: Sequence[str] = (),
    static: Sequence[str] = (),
) -> Panel:
    """Validate long-format data and put every series on a regular grid of `freq` (inferred if None)."""
    df = read_table(source)
    df = _check_columns(df, columns, [*past, *future, *static])
    ds = _parse_times(df[columns.time_col], columns.time_col)
    y = _numeric(df, columns.target, df[columns.id_col], "target")
    covs = {c: _numeric(df, c, df[columns.id_col], "covariate") for c in [*past, *future]}
    frame = pd.DataFrame({"uid": df[columns.id_col].astype(str).to_numpy(), "ds": ds.to_numpy(), "y": y, **covs})
    frame = _sorted(frame)
    _check_duplicates(frame, columns)
    freq = freq or infer_freq(frame)
    groups = frame.groupby("uid", sort=False)
    series = [
        _regular(uid, g, freq, list(past), list(future), _static_values(df, columns, uid, static)) for uid, g in groups
    ]
    return Panel(series, freq, tuple(past), tuple(future), tuple(static))


def _check_columns(df: pd.DataFrame, columns: Columns, extra: list[str]) -> pd.DataFrame:
    """Missing columns name the flag that fixes them; a file without an id column is one series."""
    have = list(df.columns)
    need = {"--time-col": columns.time_col, "--target": columns.target}
    missing = [f"{col!r} ({flag})" for flag, col in need.items() if col not in df.columns]
    missing += [f"{col!r} (covariate)" for col in extra if col not in df.columns]
    if missing:
        raise DataError(
            f"missing column(s) {', '.join(missing)}; the data has {have}. Name the columns with "
            "--id-col/--time-col/--target (Python: Columns(...)) or fix the covariate list"
        )
    if columns.id_col not in df.columns:
        df = df.assign(**{columns.id_col: SINGLE_SERIES_ID})  # a new frame: the caller's is untouched
    return df


def _parse_times(values: pd.Series, name: str) -> pd.DatetimeIndex:
    if pd.api.types.is_integer_dtype(values):  # a step index (0, 1, 2, ...): pandas reads it as nanoseconds
        log.info("column %r holds integers: read as a step index (no calendar, no daily or weekly season)", name)
    try:
        ds = pd.DatetimeIndex(pd.to_datetime(values))
    except (ValueError, TypeError) as err:
        raise DataError(f"column {name!r} holds values that are not timestamps ({err}); use ISO dates") from err
    if ds.tz is not None:
        ds = ds.tz_convert(None)
    if ds.isna().any():
        row = int(np.flatnonzero(ds.isna())[0])
        raise DataError(f"column {name!r} has an empty timestamp at row {row}; every row needs a time")
    return ds


def _numeric(df: pd.DataFrame, col: str, ids: pd.Series, what: str) -> np.ndarray:
    """Numbers or NaN; a value that is there but is not a number is an error naming its series."""
    raw = df[col]
    num = pd.to_numeric(raw, errors="coerce")
    bad = num.isna() & raw.notna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"{what} column {col!r} of series {ids.iloc[i]!r} holds a non-numeric value {raw.iloc[i]!r} "
            f"(row {i}); clean it or make it empty (missing values are allowed)"
        )
    out = num.to_numpy(dtype=np.float64)
    if np.isinf(out).any():
        i = int(np.flatnonzero(np.isinf(out))[0])
        raise DataError(f"{what} column {col!r} of series {ids.iloc[i]!r} is infinite at row {i}")
    return out


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    order = frame.sort_values(["uid", "ds"], kind="stable")
    if not order.index.equals(frame.index):
        log.info("rows were not in (series, time) order; sorted them")
    return order.reset_index(drop=True)


def _check_duplicates(frame: pd.DataFrame, columns: Columns) -> None:
    dup = frame.duplicated(["uid", "ds"])
    if dup.any():
        row = frame[dup].iloc[0]
        n = int(dup.sum())
        raise DataError(
            f"series {row['uid']!r} has {n} duplicate timestamp(s), e.g. {row['ds']}; keep one row per "
            f"({columns.id_col}, {columns.time_col}), e.g. df.groupby([id, time]).mean()"
        )


def infer_freq(frame: pd.DataFrame) -> str:
    """The most common frequency pandas infers over the series (from the most common step if none infer)."""
    found: dict[str, int] = {}
    for _, g in frame.groupby("uid", sort=False):
        if len(g) >= 3:
            f = pd.infer_freq(pd.DatetimeIndex(g["ds"]))
            if f is not None:
                found[f] = found.get(f, 0) + len(g)
    if found:
        return max(found, key=found.get)
    steps = frame.groupby("uid", sort=False)["ds"].diff().dropna()
    if steps.empty:
        raise DataError("cannot infer the frequency from one timestamp per series; pass --freq (e.g. D, h, MS)")
    step = steps.mode().iloc[0]
    if pd.Timedelta(days=28) <= step <= pd.Timedelta(days=31):
        return "MS" if (frame["ds"].dt.day == 1).all() else "ME"
    if step == pd.Timedelta(days=1) and (frame["ds"].dt.dayofweek < 5).all():
        return "B"
    return pd.tseries.frequencies.to_offset(step).freqstr


def _regular(
    uid: str, g: pd.DataFrame, freq: str, past: list[str], future: list[str], static: dict[str, Any]
) -> Series:
    """Reindex one series onto its regular grid; absent timestamps become NaN rows."""
    ds = pd.DatetimeIndex(g["ds"])
    try:
        grid = _grid(ds[0], ds[-1], freq)
    except ValueError as err:
        raise DataError(f"frequency {freq!r} is not a pandas frequency: {err}") from err
    off = ~ds.isin(grid)
    if off.any():
        raise DataError(
            f"series {uid!r} has timestamps off the {freq!r} grid, e.g. {ds[off][0]}; pass the right --freq, "
            f"or resample the data onto one grid (df.set_index(time).resample('{freq}').mean())"
        )
    if len(grid) > len(ds):  # rows on the grid, sorted and unique: only a longer grid has gaps to fill
        g = g.set_index("ds").reindex(grid)
        log.info("series %r: %d absent timestamps filled as missing values", uid, len(grid) - len(ds))
    return Series(
        uid,
        grid,
        g["y"].to_numpy(np.float64),
        g[past].to_numpy(np.float64).reshape(len(grid), len(past)),
        g[future].to_numpy(np.float64).reshape(len(grid), len(future)),
        static,
    )


def _static_values(df: pd.DataFrame, columns: Columns, uid: str, static: Sequence[str]) -> dict[str, Any]:
    if not static:
        return {}
    rows = df[df[columns.id_col].astype(str) == uid]
    out = {}
    for col in static:
        values = rows[col].dropna().unique()
        if len(values) != 1:
            raise DataError(
                f"static column {col!r} of series {uid!r} has {len(values)} distinct values; a static covariate "
                "must have one value per series (move it to --past-covariates or --future-covariates)"
            )
        v = values[0]
        out[col] = v.item() if hasattr(v, "item") else v
    return out


def check_lengths(panel: Panel, need: int, why: str) -> None:
    """Every series needs at least `need` steps for `why`; the error names the short ones."""
    short = [(s.uid, len(s)) for s in panel.series if len(s) < need]
    if short:
        names = ", ".join(f"{u!r} ({n})" for u, n in short[:5])
        more = f" and {len(short) - 5} more" if len(short) > 5 else ""
        raise DataError(
            f"{len(short)} series are shorter than the {need} steps {why} needs: {names}{more}; "
            "drop them, or lower --horizon/--lookback/--windows"
        )


# ----------------------------------------------------------------------------------------------------------
# frequency-derived features


def offset_step(freq: str) -> pd.Timedelta:
    """A fixed frequency as a duration (pandas 3.0 no longer converts a Day offset, 3.1 does again)."""
    offset = pd.tseries.frequencies.to_offset(freq)
    return pd.Timedelta(days=offset.n) if offset.name == "D" else pd.Timedelta(offset)


SUBSECOND = ("ms", "us", "ns", "L", "U", "N")  # pandas' names for milli-, micro- and nanosecond steps


def is_step_index(freq: str) -> bool:
    """Whether the time column held integers (a step index, read as nanoseconds), not dates or times."""
    return pd.tseries.frequencies.to_offset(freq).name in ("ns", "N")


def time_values(index: pd.DatetimeIndex, freq: str) -> pd.DatetimeIndex | np.ndarray:
    """Timestamps as the data gave them: the integers of a step index back, dates and times unchanged."""
    return index.asi8 if is_step_index(freq) else index


def season_length(freq: str) -> int:
    """The seasonal period used by seasonal naive and MASE: a day for sub-daily data, a week for daily...; none
    (1) for a step index or steps under a minute (a day of them is no season a model could fit)."""
    offset = pd.tseries.frequencies.to_offset(freq)
    if offset.name in SUBSECOND:  # before the upper-casing below: "ms" (milliseconds) is not "MS" (month start)
        return 1
    name = offset.name.upper()
    if name.startswith(("Y", "A")):
        return 1
    if name.startswith(("Q", "BQ")):
        return 4
    if name.startswith(("M", "BM", "SM")) and not name.startswith("MIN"):
        return 12
    if name.startswith("W"):
        return 52
    if name == "B":
        return 5
    step = offset_step(freq)
    if step >= pd.Timedelta(days=1):
        return 7 if step == pd.Timedelta(days=1) else 1
    if step < pd.Timedelta(minutes=1):
        return 1
    return max(1, int(pd.Timedelta(days=1) / step))


def season_position(ds: pd.DatetimeIndex, freq: str) -> np.ndarray:
    """Each timestamp's place in the season (0 .. m-1, m = season_length): periods since a fixed epoch, mod m,
    so every series of a frequency shares one labelling. (T,) -> (T,) int."""
    m = season_length(freq)
    name = pd.tseries.frequencies.to_offset(freq).name.upper()
    if m == 1:
        return np.zeros(len(ds), np.int64)
    if name.startswith(("Q", "BQ")):
        periods = ds.year.to_numpy() * 4 + (ds.month.to_numpy() - 1) // 3
    elif name.startswith(("M", "BM", "SM")) and not name.startswith("MIN"):
        periods = ds.year.to_numpy() * 12 + ds.month.to_numpy() - 1
    elif name.startswith("W"):
        periods = (ds - pd.Timestamp("1970-01-05")) // pd.Timedelta(days=7)
        periods = np.asarray(periods, np.int64)
    elif name == "B":
        periods = ds.dayofweek.to_numpy()
    else:
        periods = np.asarray((ds - pd.Timestamp(0)) // offset_step(freq), np.int64)
    return np.asarray(periods, np.int64) % m


def weekly_period(freq: str) -> int | None:
    """Steps per week for sub-daily data (168 hourly, 336 half-hourly): the second cycle of such series."""
    if season_length(freq) <= 1 or pd.tseries.frequencies.to_offset(freq).name.upper() in ("B",):
        return None
    try:
        step = offset_step(freq)
    except ValueError:  # calendar offsets (months, weeks) have no fixed length
        return None
    return int(pd.Timedelta(days=7) / step) if pd.Timedelta(minutes=1) <= step < pd.Timedelta(days=1) else None


def calendar_features(ds: pd.DatetimeIndex, freq: str) -> np.ndarray:
    """Sine/cosine of the cycles finer than a year that the frequency can see. (T,) -> (T, C)."""
    step = _nominal_step(freq)
    cycles: list[tuple[np.ndarray, float]] = []
    if step < pd.Timedelta(days=1):
        cycles.append((ds.hour.to_numpy() + ds.minute.to_numpy() / 60, 24.0))
    if step < pd.Timedelta(days=7):
        cycles.append((ds.dayofweek.to_numpy(), 7.0))
    if step < pd.Timedelta(days=28):
        cycles.append((ds.dayofyear.to_numpy() - 1, 365.25))
    elif step < pd.Timedelta(days=365):
        cycles.append((ds.month.to_numpy() - 1, 12.0))
    cols = []
    for value, period in cycles:
        angle = 2 * np.pi * value.astype(np.float64) / period
        cols += [np.sin(angle), np.cos(angle)]
    return np.stack(cols, axis=1) if cols else np.zeros((len(ds), 0))


def n_calendar_features(freq: str) -> int:
    return calendar_features(pd.date_range("2000-01-01", periods=1, freq=freq), freq).shape[1]


def _nominal_step(freq: str) -> pd.Timedelta:
    offset = pd.tseries.frequencies.to_offset(freq)
    try:
        return pd.Timedelta(offset)
    except ValueError:  # calendar offsets (month, quarter, year, business day) have no fixed length
        start = pd.Timestamp("2001-01-01")
        return (start + 3 * offset - start) / 3


def future_index(last: pd.Timestamp, freq: str, horizon: int) -> pd.DatetimeIndex:
    """The `horizon` timestamps after `last`."""
    return _future(last, freq, horizon)


def future_times(last: pd.Timestamp, freq: str, horizon: int) -> pd.DatetimeIndex | np.ndarray:
    """The `horizon` times after `last` as a forecast frame shows them (a step index's integers back)."""
    return time_values(_future(last, freq, horizon), freq)


# pandas builds calendar-offset ranges (months, quarters, weeks) one element at a time, and a panel's series
# usually share their start and end: memoising the (immutable) indexes makes a 1,428-series load ~3x faster
@lru_cache(maxsize=4096)
def _grid(start: pd.Timestamp, end: pd.Timestamp, freq: str) -> pd.DatetimeIndex:
    return pd.date_range(start, end, freq=freq)


@lru_cache(maxsize=4096)
def _future(last: pd.Timestamp, freq: str, horizon: int) -> pd.DatetimeIndex:
    return pd.date_range(last, periods=horizon + 1, freq=freq)[1:]


# ----------------------------------------------------------------------------------------------------------
# per-series scaling


ScalerKind = Literal["standard", "robust", "none"]


def fit_scaler(y: np.ndarray, kind: ScalerKind) -> tuple[float, float]:
    """(loc, scale) from the observed values of one series; scale never 0 (a constant series gets 1)."""
    obs = y[np.isfinite(y)]
    if kind == "none" or len(obs) == 0:
        return 0.0, 1.0
    if kind == "standard":
        loc, scale = float(obs.mean()), float(obs.std())
    elif kind == "robust":
        q1, loc, q3 = (float(v) for v in np.percentile(obs, [25, 50, 75]))
        scale = q3 - q1 if q3 > q1 else float(obs.std())
    else:
        raise DataError(f"unknown scaler {kind!r}; use standard, robust or none")
    if not np.isfinite(scale) or scale <= 1e-8 * max(1.0, abs(loc)):
        scale = 1.0
    return loc, scale
