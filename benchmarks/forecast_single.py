"""Single-series forecasting as a new user meets it: every series fitted alone with lstmkit's defaults, on a
stratified sample of M3 (yearly, quarterly, monthly, other) and M4 Weekly series, official horizons, against
naive, seasonal naive, lstmkit's own statistical anchors alone, and statsforecast's AutoETS / AutoARIMA /
AutoTheta (when importable: `make bench-env`, then run this with .venv-bench/bin/python).

    python benchmarks/forecast_single.py [--per-freq 25] [--weekly 25] [--split val|test] [--set KEY=VALUE ...]

`--split val` scores the horizon before the official test horizon (choose settings there); `--split test`
scores the official test horizon (report it once). MASE uses the competitions' seasonality (M3/M4: yearly,
other and weekly 1, quarterly 4, monthly 12). Coverage: share of actuals inside the 80 % and 95 % intervals.
Writes the `forecast-single-<split>` section of BENCHMARKS.md and a per-series CSV in the run directory.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._report import machine, typed_options, write_section
from lstmkit.data.timeseries import season_length, season_position
from lstmkit.tasks.forecast import Forecaster, anchors
from lstmkit.tasks.forecast import metrics as M
from lstmkit.tasks.forecast.data import quantile_column

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "timeseries"
FREQ = {"yearly": ("YS", 1), "quarterly": ("QS", 4), "monthly": ("MS", 12), "other": ("YS", 1), "weekly": ("W", 1)}
LEVELS = (0.025, 0.1, 0.5, 0.9, 0.975)


def sample(per_freq: int, weekly: int, seed: int) -> list[dict]:
    """[{uid, group, y (all values), h}]: a seeded sample of each M3 group and of M4 Weekly."""
    rng = np.random.default_rng(seed)
    out = []
    m3 = pd.read_csv(DATA / "m3" / "m3.csv")
    for group in ("yearly", "quarterly", "monthly", "other"):
        rows = m3[m3["freq"] == group]
        for _, r in rows.iloc[np.sort(rng.choice(len(rows), min(per_freq, len(rows)), replace=False))].iterrows():
            out.append(
                {
                    "uid": str(r["series"]).strip(),
                    "group": group,
                    "h": int(r["horizon"]),
                    "y": np.array(r["values"].split(), dtype=float),
                }
            )
    if weekly:
        train = pd.read_csv(DATA / "m4" / "Weekly-train.csv", index_col=0)
        test = pd.read_csv(DATA / "m4" / "Weekly-test.csv", index_col=0)
        for uid in train.index[np.sort(rng.choice(len(train), min(weekly, len(train)), replace=False))]:
            y = np.r_[train.loc[uid].dropna().to_numpy(float), test.loc[uid].dropna().to_numpy(float)]
            out.append({"uid": uid, "group": "weekly", "h": 13, "y": y})
    return out


def frame(s: dict, history: np.ndarray) -> pd.DataFrame:
    freq = FREQ[s["group"]][0]
    return pd.DataFrame(
        {"unique_id": s["uid"], "ds": pd.date_range("1990-01-01", periods=len(history), freq=freq), "y": history}
    )


def lstmkit_row(s: dict, history: np.ndarray, opts: dict, out: Path) -> dict:
    df = frame(s, history)
    t0 = time.perf_counter()
    opts = {"allow_short": True, **opts}  # the sets' short yearly series are part of the benchmark (said in the table)
    f = Forecaster(horizon=s["h"], quantiles=LEVELS, progress=False, out=str(out / s["uid"]), **opts).fit(df)
    fit_s = time.perf_counter() - t0
    p = f.predict(df)
    q = {lv: p[quantile_column(lv)] for lv in LEVELS if lv != 0.5}
    return {
        "yhat": p["y_hat"].to_numpy(),
        "lo80": q[0.1].to_numpy(),
        "hi80": q[0.9].to_numpy(),
        "lo95": q[0.025].to_numpy(),
        "hi95": q[0.975].to_numpy(),
        "fit_s": fit_s,
    }


def pretrained_rows(items: list[tuple[dict, np.ndarray, np.ndarray]], name: str) -> dict[str, dict]:
    """uid -> the pretrained forecaster's zero-shot forecast (median, 80 % and 95 % quantiles), no training;
    series batched by horizon. Seconds: the batch's time shared evenly."""
    import lstmkit

    model = lstmkit.load(name)
    levels = list(model.arch.levels)
    out = {}
    for h in sorted({s["h"] for s, _, _ in items}):
        group = [(s, hist) for s, hist, _ in items if s["h"] == h]
        t0 = time.perf_counter()
        q = model.forecast_values([hist for _, hist in group], h)  # (S, h, Q)
        each = (time.perf_counter() - t0) / len(group)
        for k, (s, _) in enumerate(group):
            out[s["uid"]] = {**intervals(q[k], levels), "fit_s": each}
    return out


def panel_finetuned_rows(items: list[tuple[dict, np.ndarray, np.ndarray]], name: str, out: Path) -> dict[str, dict]:
    """uid -> the pretrained forecaster fine-tuned once per group on all its histories together (what a user
    with a file of many series of one frequency runs: `forecast train --init-from pretrained`), each history's
    last horizon validating; fine-tuning's defaults. Seconds: the group's time shared evenly."""
    import dataclasses

    import lstmkit
    from lstmkit.tasks.forecast.pretrain import FINETUNE_TRAIN, finetune

    base, res = lstmkit.load(name), {}
    for group in sorted({s["group"] for s, _, _ in items}):
        part = [(s, hist) for s, hist, _ in items if s["group"] == group]
        h = part[0][0]["h"]
        train = dataclasses.replace(FINETUNE_TRAIN, progress=False, out=str(out / f"panel-{group}"))
        t0 = time.perf_counter()
        model, report = finetune(base, [hist for _, hist in part], h, train)
        q = model.forecast_values([hist for _, hist in part], h)  # (S, h, Q)
        each = (time.perf_counter() - t0) / len(part)
        print(f"panel fine-tuning {group}: {report['kept']} kept, {each * len(part):.0f} s", file=sys.stderr)
        for k, (s, _) in enumerate(part):
            res[s["uid"]] = {**intervals(q[k], list(model.arch.levels)), "fit_s": each, "kind": report["kept"]}
    return res


def intervals(q: np.ndarray, levels: list[float]) -> dict[str, np.ndarray]:
    """(h, Q) quantiles at `levels` -> the median and the 80 % and 95 % bounds, as the rows keep them."""
    at = {lv: q[:, levels.index(lv)] for lv in LEVELS}
    return {"yhat": at[0.5], "lo80": at[0.1], "hi80": at[0.9], "lo95": at[0.025], "hi95": at[0.975]}


def finetuned_row(s: dict, history: np.ndarray, opts: dict, out: Path, name: str) -> dict:
    """The pretrained forecaster fine-tuned on this one series (its last horizon validates and picks the mix of
    base and fine-tuned weights, the base included), as `forecast train --init-from pretrained` does, with its
    training defaults (pretrain.FINETUNE_TRAIN). A series too short to fine-tune on gets the zero-shot forecast
    (kind: zero-shot)."""
    import dataclasses

    import lstmkit
    from lstmkit.tasks.forecast.pretrain import FINETUNE_TRAIN, finetune

    base = lstmkit.load(name)
    base.config = dataclasses.replace(base.config, horizon=s["h"])
    train = dataclasses.replace(FINETUNE_TRAIN, progress=False, out=str(out / f"{s['uid']}-finetuned"))
    t0 = time.perf_counter()
    try:
        model, report = finetune(base, [history], s["h"], train)
        kind = report["kept"]
    except ValueError:  # fewer values than the model's minimum context before the validation horizon
        model, kind = base, "zero-shot"
    q = model.forecast_values([history], s["h"])[0]  # (h, Q)
    return {**intervals(q, list(model.arch.levels)), "fit_s": time.perf_counter() - t0, "kind": kind}


def own_anchors(s: dict, history: np.ndarray) -> dict[str, dict]:
    """lstmkit's statistical anchors alone (no network), on the raw history."""
    freq, _ = FREQ[s["group"]]
    ds = pd.date_range("1990-01-01", periods=len(history) + s["h"], freq=freq)
    pos, m = season_position(ds, freq), season_length(freq)
    out = {}
    for name, kind in (("lstmkit ets anchor alone", "damped"), ("lstmkit theta anchor alone", "theta")):
        p = anchors.fit(history, pos[: len(history)], m, kind)
        out[name] = {"yhat": anchors.anchor_forecast(history, pos[: len(history)], pos[len(history) :], m, p)}
    p = anchors.select(history, pos[: len(history)], m, s["h"])
    out["lstmkit auto anchor alone"] = {
        "yhat": anchors.anchor_forecast(history, pos[: len(history)], pos[len(history) :], m, p),
        "kind": p.kind,
    }
    return out


def statsforecast_rows(items: list[tuple[dict, np.ndarray]], which: list[str]) -> dict[str, dict[str, dict]]:
    """uid -> method -> forecast (and 80/95 % intervals where the method gives them)."""
    try:
        from statsforecast import StatsForecast
        from statsforecast.models import AutoARIMA, AutoETS, AutoTheta
    except ImportError:
        logging.warning("statsforecast is not importable here: AutoETS/AutoARIMA/AutoTheta rows skipped")
        return {}
    out: dict[str, dict[str, dict]] = {}
    for group in sorted({s["group"] for s, _ in items}):
        chosen = [(s, hist) for s, hist in items if s["group"] == group]
        freq, _ = FREQ[group]
        m = season_length(freq) if group != "other" else 1
        df = pd.concat([frame(s, hist) for s, hist in chosen], ignore_index=True)
        h = chosen[0][0]["h"]
        make = {"AutoETS": AutoETS, "AutoARIMA": AutoARIMA, "AutoTheta": AutoTheta}
        # AutoARIMA with a 52-week season takes minutes per long weekly series; M4 scored weekly with period 1
        models = [make[name](season_length=1 if name == "AutoARIMA" and group == "weekly" else m) for name in which]
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fc = StatsForecast(models=models, freq=freq, n_jobs=2).forecast(df=df, h=h, level=[80, 95])
        per = 2 * (time.perf_counter() - t0) / len(chosen) / len(models)  # CPU seconds per series and model
        print(f"statsforecast {group}: {len(chosen)} series in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        for uid, g in fc.groupby("unique_id", sort=False):
            out[str(uid)] = {name: {**_with_intervals(g, name), "fit_s": per} for name in which}
    return out


def cached_statsforecast(items: list, args: argparse.Namespace) -> dict[str, dict[str, dict]]:
    """statsforecast's forecasts for this sample and split, computed once and kept as JSON beside the runs
    (they do not depend on lstmkit's settings)."""
    import json

    path = (
        Path(args.out)
        / f"statsforecast-{args.split}-{args.per_freq}-{args.weekly}-{args.seed}-{'-'.join(args.stats)}.json"
    )
    if path.is_file():
        raw = json.loads(path.read_text())
        return {
            u: {m: {k: np.asarray(v) if isinstance(v, list) else v for k, v in fc.items()} for m, fc in ms.items()}
            for u, ms in raw.items()
        }
    out = statsforecast_rows([(s, hist) for s, hist, _ in items], args.stats)
    if out:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(
                {
                    u: {
                        m: {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in fc.items()}
                        for m, fc in ms.items()
                    }
                    for u, ms in out.items()
                }
            )
        )
    return out


def neuralforecast_row(s: dict, history: np.ndarray) -> dict | None:
    """NeuralForecast's LSTM with its defaults (1,000 steps, MAE loss: a point forecast, no intervals), fitted
    on this series alone, lookback max(3h, 2 seasons, 24) with start padding for shorter series."""
    try:
        from neuralforecast import NeuralForecast
        from neuralforecast.models import LSTM
    except ImportError:
        return None
    for name in ("pytorch_lightning", "lightning", "lightning_fabric", "neuralforecast"):
        logging.getLogger(name).setLevel(logging.ERROR)
    freq, _ = FREQ[s["group"]]
    lookback = max(3 * s["h"], 2 * season_length(freq) if s["group"] != "weekly" else 0, 24)
    nf = NeuralForecast(
        models=[
            LSTM(
                h=s["h"],
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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nf.fit(df=frame(s, history))
        fc = nf.predict()
    col = next(c for c in fc.columns if c not in ("unique_id", "ds"))
    return {"yhat": fc[col].to_numpy(), "fit_s": time.perf_counter() - t0}


def _with_intervals(g: pd.DataFrame, col: str) -> dict:
    out = {"yhat": g[col].to_numpy()}
    for lv in ("80", "95"):
        if f"{col}-lo-{lv}" in g:
            out[f"lo{lv}"], out[f"hi{lv}"] = g[f"{col}-lo-{lv}"].to_numpy(), g[f"{col}-hi-{lv}"].to_numpy()
    return out


def score(s: dict, history: np.ndarray, actual: np.ndarray, fc: dict) -> dict:
    scale = M.mase_scale(history, FREQ[s["group"]][1])
    m = M.point_metrics(actual[None], np.asarray(fc["yhat"])[None], np.array([scale]))
    row = {"mase": float(m["mase"][0]), "smape": float(m["smape"][0]), "fit_s": fc.get("fit_s", 0.0)}
    for lv in ("80", "95"):
        if f"lo{lv}" in fc:
            row[f"cov{lv}"] = float(M.coverage(actual[None], fc[f"lo{lv}"][None], fc[f"hi{lv}"][None])[0])
    return row


def run(args: argparse.Namespace, opts: dict, out: Path) -> pd.DataFrame:
    items = []
    for s in sample(args.per_freq, args.weekly, args.seed):
        end = len(s["y"]) - s["h"] * (2 if args.split == "val" else 1)
        items.append((s, s["y"][:end], s["y"][end : end + s["h"]]))
    stats = cached_statsforecast(items, args) if args.statsforecast else {}
    zero_shot = pretrained_rows(items, args.pretrained) if args.pretrained else {}
    panel = panel_finetuned_rows(items, args.pretrained or "pretrained", out) if args.finetune_panel else {}
    rows, nf_count = [], {}
    for i, (s, hist, actual) in enumerate(items):
        base = {"uid": s["uid"], "group": s["group"], "n": len(hist)}
        fcs = {
            "naive": {"yhat": M.naive(hist, s["h"])},
            "seasonal naive": {"yhat": M.seasonal_naive(hist, s["h"], season_length(FREQ[s["group"]][0]))},
        }
        fcs.update(own_anchors(s, hist))
        fcs.update(stats.get(s["uid"], {}))
        if s["uid"] in zero_shot:
            fcs["lstmkit pretrained (zero-shot)"] = zero_shot[s["uid"]]
        if s["uid"] in panel:
            fcs["lstmkit fine-tuned per group"] = panel[s["uid"]]
        if not args.no_lstmkit:
            fcs["lstmkit"] = lstmkit_row(s, hist, opts, out)
        if args.finetune:
            fcs["lstmkit fine-tuned"] = finetuned_row(s, hist, opts, out, args.pretrained or "pretrained")
        if nf_count.get(s["group"], 0) < args.nf_per_group:
            nf = neuralforecast_row(s, hist)
            if nf is not None:
                nf_count[s["group"]] = nf_count.get(s["group"], 0) + 1
                fcs["NeuralForecast LSTM"] = nf
        scored = {name: score(s, hist, actual, fc) for name, fc in fcs.items()}
        rows += [{**base, "method": name, **sc, "kind": fcs[name].get("kind", "")} for name, sc in scored.items()]
        if "lstmkit" in fcs:
            print(
                f"{i + 1}/{len(items)} {s['uid']} ({s['group']}, n={len(hist)}): lstmkit MASE "
                f"{scored['lstmkit']['mase']:.3f} in {fcs['lstmkit']['fit_s']:.1f} s",
                file=sys.stderr,
                flush=True,
            )
    return pd.DataFrame(rows)


def render(res: pd.DataFrame, args: argparse.Namespace, opts: dict) -> str:
    lines = [
        f"## Forecasting single series with the defaults ({args.split} split)",
        "",
        f"Command: `python benchmarks/forecast_single.py {' '.join(sys.argv[1:])}`  ",
        f"Machine: {machine()}, {datetime.date.today()}  ",
        f"Data: {res['uid'].nunique()} series, each fitted alone ("
        + ", ".join(f"{g} {n}" for g, n in res.groupby("group")["uid"].nunique().items())
        + "); "
        + (
            "the horizon before the official test horizon (validation)"
            if args.split == "val"
            else "the official test horizon"
        )
        + ". lstmkit options: "
        + (", ".join(f"{k}={v}" for k, v in opts.items()) or "defaults")
        + f"; quantiles {LEVELS}.",
        "",
    ]
    groups = ["all", *sorted(res["group"].unique())]
    lines += [
        "| method | " + " | ".join(f"MASE {g}" for g in groups) + " | sMAPE all | cover 80 % | cover 95 % | "
        "fit s / series |",
        "|---|" + "---:|" * (len(groups) + 4),
    ]
    table = res.groupby("method")
    order = table["mase"].mean().sort_values().index
    for name in order:
        g = table.get_group(name)
        cells = [f"{g['mase'].mean():.3f}"] + [f"{g[g['group'] == k]['mase'].mean():.3f}" for k in groups[1:]]
        cov = [f"{g[c].mean():.1%}" if c in g and g[c].notna().any() else "—" for c in ("cov80", "cov95")]
        lines.append(
            f"| {name} | " + " | ".join(cells) + f" | {g['smape'].mean():.2f} | {cov[0]} | {cov[1]} | "
            f"{g['fit_s'].mean():.2f} |"
        )
    if "lstmkit pretrained (zero-shot)" in set(res["method"]):
        lines += [
            "",
            "The pretrained forecaster saw M4 Weekly's training parts in pretraining (never their test horizons): "
            "its weekly column is not zero-shot on unseen data; its M3 columns are.",
        ]
    if {"lstmkit", "AutoETS"} <= set(res["method"]):
        wide = res.pivot(index="uid", columns="method", values="mase")
        wins = int((wide["lstmkit"] < wide["AutoETS"]).sum())
        worst = (wide["lstmkit"] / wide[["AutoETS", "seasonal naive"]].min(axis=1)).sort_values()
        lines += [
            "",
            f"lstmkit beats AutoETS on {wins} of {len(wide)} series; worst ratio to the better of AutoETS "
            f"and seasonal naive: {worst.iloc[-1]:.2f} ({worst.index[-1]}); series above 1.5x: "
            f"{int((worst > 1.5).sum())}.",
        ]
    lines += _subset_line(res, "NeuralForecast LSTM")
    return "\n".join(lines) + "\n"


def _subset_line(res: pd.DataFrame, method: str) -> list[str]:
    """Mean MASE of every method on the series `method` was fitted on (a subset of the sample)."""
    uids = res.loc[res["method"] == method, "uid"].unique()
    if not len(uids):
        return []
    sub = res[res["uid"].isin(uids)].groupby("method")["mase"].mean().sort_values()
    return [
        "",
        f"On the {len(uids)} series {method} was fitted on, mean MASE: "
        + ", ".join(f"{name} {v:.3f}" for name, v in sub.items())
        + ".",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-freq", type=int, default=25, help="M3 series per group (yearly, quarterly, ...)")
    parser.add_argument("--weekly", type=int, default=25, help="M4 Weekly series")
    parser.add_argument("--split", choices=["val", "test"], default="val")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="Forecaster options")
    parser.add_argument("--no-statsforecast", dest="statsforecast", action="store_false")
    parser.add_argument(
        "--stats",
        nargs="*",
        default=["AutoETS", "AutoTheta"],
        choices=["AutoETS", "AutoARIMA", "AutoTheta"],
        help="statsforecast models (AutoARIMA is slow on the long weekly series)",
    )
    parser.add_argument("--no-lstmkit", action="store_true", help="the baselines only")
    parser.add_argument(
        "--pretrained",
        nargs="?",
        const="pretrained",
        metavar="MODEL",
        help="also the pretrained forecaster zero-shot (default name: pretrained; M4 Weekly's training part was "
        "in its pretraining data)",
    )
    parser.add_argument(
        "--nf-per-group",
        type=int,
        default=0,
        metavar="N",
        help="NeuralForecast's LSTM (defaults, ~1,000 steps) on the first N series of each group",
    )
    parser.add_argument("--out", default=str(ROOT / "runs" / "bench-forecast-single"))
    parser.add_argument(
        "--finetune", action="store_true", help="also the pretrained forecaster fine-tuned on each series alone"
    )
    parser.add_argument(
        "--finetune-panel",
        action="store_true",
        help="also the pretrained forecaster fine-tuned once per group on all its series' histories",
    )
    parser.add_argument("--section", help="BENCHMARKS.md section (default: forecast-single-<split>)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    from lstmkit.engine.config import unique_name

    out = Path(args.out) / unique_name()
    out.mkdir(parents=True, exist_ok=True)
    from lstmkit.engine import TrainConfig
    from lstmkit.tasks.forecast import ForecastConfig

    opts = typed_options(args.set, TrainConfig, ForecastConfig)
    res = run(args, opts, out)
    res.to_csv(out / "series.csv", index=False)
    text = render(res, args, opts)
    if not args.no_write:
        write_section(args.section or f"forecast-single-{args.split}", text)
    print(text)
    print(f"per-series results: {out / 'series.csv'}", file=sys.stderr)


if __name__ == "__main__":
    main()
