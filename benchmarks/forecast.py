"""Forecasting benchmark on the M4 Hourly and M3 monthly test periods -> BENCHMARKS.md (section `forecast`).

    python benchmarks/forecast.py [--data ../shared/data/timeseries] [--sets m4-hourly m3-monthly] [--minutes 8]

Each set: lstmkit (trained on the official training part, forecasting the official test horizon), seasonal
naive and naive in the same run, and statsforecast AutoETS/AutoARIMA/Theta and NeuralForecast's LSTM when they
are importable. They need pandas < 3, so they live in a separate environment: `make bench-env`, then
`.venv-bench/bin/python benchmarks/forecast.py`. With `--set anchor=theta` a row also scores lstmkit's theta
anchor alone (the network's corrections zeroed), so the table shows what the LSTM adds to it.
MASE uses the in-sample seasonal naive scale (M4 definition, season 24 hourly, 12 monthly); sMAPE is the M4
formula. Peak memory is the process's peak resident set after each method (methods run in the order shown).
The series carry no real timestamps in these files, so a regular index is made up and calendar features are
off unless `--set calendar=true` (then they describe the made-up index).
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._report import machine, write_section
from lstmkit.tasks.forecast import Forecaster
from lstmkit.tasks.forecast import metrics as M

TARGETS = {"m4-hourly": "MASE <= 0.85 and below AutoARIMA", "m3-monthly": "sMAPE <= 13.85 (Theta)"}


def m4_hourly(root: Path) -> tuple[pd.DataFrame, dict[str, np.ndarray], str, int]:
    train = pd.read_csv(root / "m4" / "Hourly-train.csv", index_col=0)
    test = pd.read_csv(root / "m4" / "Hourly-test.csv", index_col=0)
    frames, actual = [], {}
    for uid, row in train.iterrows():
        y = row.dropna().to_numpy(float)
        frames.append(
            pd.DataFrame({"unique_id": uid, "ds": pd.date_range("2000-01-01", periods=len(y), freq="h"), "y": y})
        )
        actual[uid] = test.loc[uid].dropna().to_numpy(float)
    return pd.concat(frames, ignore_index=True), actual, "h", 48


def m3_monthly(root: Path) -> tuple[pd.DataFrame, dict[str, np.ndarray], str, int]:
    raw = pd.read_csv(root / "m3" / "m3.csv")
    raw = raw[raw["freq"] == "monthly"]
    frames, actual = [], {}
    for _, row in raw.iterrows():
        values = np.array(row["values"].split(), dtype=float)
        h, uid = int(row["horizon"]), str(row["series"]).strip()
        y = values[:-h]
        frames.append(
            pd.DataFrame({"unique_id": uid, "ds": pd.date_range("1990-01-01", periods=len(y), freq="MS"), "y": y})
        )
        actual[uid] = values[-h:]
    return pd.concat(frames, ignore_index=True), actual, "MS", int(raw["horizon"].iloc[0])


SETS = {"m4-hourly": m4_hourly, "m3-monthly": m3_monthly}


def validation_split(df: pd.DataFrame, h: int) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The horizon before the official test horizon: each series' last h training values become the actuals."""
    groups = df.groupby("unique_id", sort=False)
    actual = {u: g["y"].to_numpy()[-h:] for u, g in groups}
    return df[groups.cumcount(ascending=False) >= h].reset_index(drop=True), actual


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def score(
    name: str,
    forecasts: dict[str, np.ndarray],
    df: pd.DataFrame,
    actual: dict[str, np.ndarray],
    season: int,
    fit_s: float,
    predict_s: float,
) -> dict:
    ids = list(actual)
    hist = {u: g["y"].to_numpy() for u, g in df.groupby("unique_id", sort=False)}
    y = np.stack([actual[u] for u in ids])
    yhat = np.stack([forecasts[u] for u in ids])
    scale = np.array([M.mase_scale(hist[u], season) for u in ids])
    m = M.point_metrics(y, yhat, scale)
    return {
        "method": name,
        "mase": float(np.nanmean(m["mase"])),
        "smape": float(np.nanmean(m["smape"])),
        "fit_s": round(fit_s, 1),
        "predict_s": round(predict_s, 2),
        "peak_rss_mb": round(peak_mb()),
    }


def run_set(
    name: str,
    root: Path,
    minutes: float,
    seed: int,
    options: dict,
    others: set[str],
    ensemble: int = 1,
    jobs: int = -1,
    arima_approx: str = "auto",
    split: str = "test",
) -> tuple[list[dict], dict]:
    df, actual, freq, h = SETS[name](root)
    if split == "val":
        df, actual = validation_split(df, h)
    season = {"h": 24, "MS": 12}[freq]
    rows = []
    hist = {u: g["y"].to_numpy() for u, g in df.groupby("unique_id", sort=False)}
    for base, fn in (("seasonal_naive", lambda y: M.seasonal_naive(y, h, season)), ("naive", lambda y: M.naive(y, h))):
        t0 = time.perf_counter()
        fc = {u: fn(y) for u, y in hist.items()}
        rows.append(score(base, fc, df, actual, season, 0.0, time.perf_counter() - t0))
    stats = [m for m in ("auto_ets", "auto_arima", "theta") if m in others or "statsforecast" in others]
    if stats:
        rows += statsforecast_rows(df, actual, freq, h, season, stats, jobs, arima_approx)
    if "neuralforecast" in others:
        rows += neuralforecast_rows(df, actual, freq, h, season)
    fit_s = predict_s = 0.0
    members = []
    for k in range(ensemble):  # members differ only in their seed; the point forecast is the members' median
        f = Forecaster(
            horizon=h,
            max_time=f"{minutes}m",
            seed=seed + k,
            progress=False,
            name=f"bench-{name}-{time.strftime('%H%M%S')}-{k}",
            **{"calendar": False, "epochs": 100, **options},
        )
        t0 = time.perf_counter()
        f.fit(df)
        fit_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        pred = f.predict(df)
        predict_s += time.perf_counter() - t0
        members.append({u: g["y_hat"].to_numpy() for u, g in pred.groupby("unique_id", sort=False)})
        if k == 0 and options.get("anchor") == "theta":  # what the network adds: its anchor alone, no correction
            rows.append(score("lstmkit's theta anchor alone", anchor_alone(f, df), df, actual, season, 0.0, 0.0))
    meta = {"series": len(actual), "horizon": h, "freq": freq, "season": season, "lookback": "-", "run": "-"}
    if members:  # --ensemble 0: the other methods only
        fc = {u: np.median(np.stack([m[u] for m in members]), axis=0) for u in members[0]}
        rows.insert(
            0, score("lstmkit" if ensemble == 1 else f"lstmkit x{ensemble}", fc, df, actual, season, fit_s, predict_s)
        )
        meta.update(lookback=f.config.lookback, run=str(f.run_dir))
    return rows, meta


def anchor_alone(f: Forecaster, df: pd.DataFrame) -> dict[str, np.ndarray]:
    """The forecast of a copy of the trained model whose corrections are zeroed: the anchor's base forecast."""
    import copy

    import torch

    base = copy.copy(f)
    base.net = copy.deepcopy(f.net)
    with torch.no_grad():
        base.net.head[-1].weight.zero_()
        base.net.head[-1].bias.zero_()
    pred = base.predict(df)
    return {u: g["y_hat"].to_numpy() for u, g in pred.groupby("unique_id", sort=False)}


def r_approximation(df: pd.DataFrame, season: int, mode: str) -> bool:
    """R's auto.arima rule (`approximation = length > 150 | frequency > 12`), applied to the whole set."""
    if mode != "auto":
        return mode == "on"
    return season > 12 or int(df.groupby("unique_id").size().min()) > 150


def statsforecast_rows(
    df, actual, freq, h, season, which: list[str], jobs: int = -1, arima_approx: str = "auto"
) -> list[dict]:
    try:
        from statsforecast import StatsForecast
        from statsforecast.models import AutoARIMA, AutoETS, Theta
    except ImportError:
        logging.warning("statsforecast is not importable here: AutoETS/AutoARIMA/Theta rows skipped")
        return []
    rows = []
    approx = r_approximation(df, season, arima_approx)
    models = {
        "auto_ets": lambda: AutoETS(season_length=season),
        "auto_arima": lambda: AutoARIMA(season_length=season, approximation=approx),
        "theta": lambda: Theta(season_length=season),
    }
    for name in which:
        model = models[name]()
        t0 = time.perf_counter()
        with warnings.catch_warnings():  # AutoARIMA warns once per candidate fit that fails to converge
            warnings.simplefilter("ignore", UserWarning)
            fc = StatsForecast(models=[model], freq=freq, n_jobs=jobs).forecast(df=df, h=h)
        col = next(c for c in fc.columns if c not in ("unique_id", "ds"))
        out = {u: g[col].to_numpy() for u, g in fc.groupby("unique_id", sort=False)}
        label = f"{name} (approximation)" if name == "auto_arima" and approx else name
        rows.append(score(label, out, df, actual, season, time.perf_counter() - t0, 0.0))
    return rows


def neuralforecast_rows(df, actual, freq, h, season) -> list[dict]:
    """NeuralForecast's LSTM with its defaults (1,000 steps), reading the same lookback as lstmkit's default."""
    try:
        from neuralforecast import NeuralForecast
        from neuralforecast.models import LSTM
    except ImportError:
        logging.warning("neuralforecast is not importable here: its LSTM row is skipped")
        return []
    for name in ("pytorch_lightning", "lightning", "lightning_fabric", "neuralforecast"):
        logging.getLogger(name).setLevel(logging.ERROR)
    lookback = max(3 * h, 2 * season, 24)
    nf = NeuralForecast(
        models=[
            LSTM(
                h=h,
                input_size=lookback,
                scaler_type="robust",
                enable_progress_bar=False,
                enable_model_summary=False,
                logger=False,
                start_padding_enabled=True,
            )
        ],
        freq=freq,
    )
    t0 = time.perf_counter()
    nf.fit(df=df)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    fc = nf.predict()
    predict_s = time.perf_counter() - t0
    col = next(c for c in fc.columns if c not in ("unique_id", "ds"))
    out = {str(u): g[col].to_numpy() for u, g in fc.groupby("unique_id", sort=False)}
    return [score("neuralforecast_lstm", out, df, actual, season, fit_s, predict_s)]


CALENDAR_OFF = "calendar features off (no real timestamps in these files). "
CALENDAR_ON = (
    "calendar features from a made-up index (every series starts on the same made-up date: position in the day"
    " and week from the series' first row; these files carry no timestamps). "
)


def markdown(
    results: dict[str, tuple[list[dict], dict]],
    minutes: float,
    command: str,
    seconds: float,
    options: dict,
    split: str = "test",
) -> str:
    period = "official test periods" if split == "test" else "validation: the horizon before the test period"
    model = "default model" + (f" with {', '.join(f'{k}={v}' for k, v in options.items())}" if options else "")
    lines = [
        f"## Forecasting: M4 Hourly and M3 monthly ({period})",
        "",
        f"`{command}` — {machine()}; lstmkit trained with a {minutes:g}-minute budget per set (early stopping on "
        f"each series' last horizon of the training part; times summed over ensemble members), {model} (default: "
        "2x64 LSTM, quantiles 0.1/0.5/0.9, "
        f"median scored), {CALENDAR_ON if str(options.get('calendar', '')).lower() == 'true' else CALENDAR_OFF}"
        f"Whole run {seconds / 60:.1f} min.",
        "",
    ]
    for name, (rows, meta) in results.items():
        lines += [
            f"### {name}: {meta['series']} series, horizon {meta['horizon']}, MASE season {meta['season']}, "
            f"lookback {meta['lookback']}; target: {TARGETS[name]}",
            "",
            "| method | MASE | sMAPE | fit s | predict s | peak RSS MB |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['method']} | {r['mase']:.3f} | {r['smape']:.2f} | {r['fit_s']} | {r['predict_s']} | "
            f"{r['peak_rss_mb']} |"
            for r in rows
        ]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "timeseries"))
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--minutes", type=float, default=8.0, help="training budget per set")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--ensemble",
        type=int,
        default=1,
        help="train K models (seeds seed..seed+K-1) and score their median; 0: only the other methods",
    )
    ap.add_argument("--jobs", type=int, default=-1, help="statsforecast processes (-1: every core)")
    ap.add_argument(
        "--arima-approximation",
        choices=["auto", "on", "off"],
        default="auto",
        help="AutoARIMA's approximate model search; auto = R auto.arima's rule (on when a series is "
        "longer than 150 or the season exceeds 12: on for M4 Hourly, off for M3 monthly)",
    )
    ap.add_argument("--section", default="forecast")
    ap.add_argument(
        "--split",
        choices=["test", "val"],
        default="test",
        help="val: score the horizon before the official test horizon (choose settings there)",
    )
    ap.add_argument(
        "--others",
        nargs="*",
        default=["statsforecast", "neuralforecast"],
        choices=["statsforecast", "auto_ets", "auto_arima", "theta", "neuralforecast"],
        help="other methods to run when importable; statsforecast = auto_ets + auto_arima + theta "
        "(AutoARIMA on M4 Hourly: 12-14 min on 2 cores with the approximation; without it ~40 s a series, "
        "an estimated 2.3 h)",
    )
    ap.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="Forecaster options for lstmkit, e.g. id_embedding=false dropout=0.3",
    )
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    start = time.perf_counter()
    options = dict(kv.split("=", 1) for kv in args.set)  # values are type-checked by the Forecaster's config
    others = set(args.others)
    command = f"{Path(sys.executable).parent.parent.name}/bin/python benchmarks/forecast.py " + " ".join(sys.argv[1:])
    results = {}
    for name in args.sets:  # the section is rewritten after each set, so a crash keeps what was measured
        results[name] = run_set(
            name,
            Path(args.data),
            args.minutes,
            args.seed,
            options,
            others,
            args.ensemble,
            args.jobs,
            args.arima_approximation,
            args.split,
        )
        body = markdown(results, args.minutes, command.strip(), time.perf_counter() - start, options, args.split)
        write_section(args.section, body)
    print(body)


if __name__ == "__main__":
    main()
