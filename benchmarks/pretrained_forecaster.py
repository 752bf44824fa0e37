"""The pretrained forecaster zero-shot on M3 (never seen in pretraining), beside statsforecast's AutoETS,
AutoTheta (and AutoARIMA with --arima) and seasonal naive on the same series and horizons.

    python benchmarks/pretrained_forecaster.py [--per-group 250] [--split test|val] [--arima] [--model pretrained]
                                               [--data m3|m4-hourly] [--finetune] [--scratch MINUTES]

A stratified sample of `--per-group` series from each M3 group (yearly, quarterly, monthly, other; all 3,003
with --per-group 0). `--data m4-hourly`: the 414 M4 Hourly series (48 steps, season 24), whose training parts
were pretrained on (90 % of the series; flagged in the table: not a zero-shot figure in the strict sense).
`--split val` scores the horizon before the official one (choose settings there);
`test` the official horizon (report it once). Metrics per series, then means: MASE (season 1/4/12/1 as the
competition), sMAPE, WQL (the scaled quantile loss over 0.1..0.9: 2 * sum of pinball losses / sum |y|), and
the share of actuals inside the 80 % interval (statsforecast's quantiles from its 20/40/60/80 % intervals).
An anchored model also gets a row for its theta path alone. `--finetune` adds the model fine-tuned once per group
(`forecast train --init-from pretrained` with its defaults), `--scratch M` lstmkit's own forecaster trained per
group from scratch with its defaults and M minutes: the three ways a user gets a forecast, side by side.
Writes the `pretrained-<data>-<split>` section of
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._report import machine, write_section
from lstmkit.tasks.forecast import metrics as M

ROOT = Path(__file__).resolve().parent.parent
M3 = ROOT.parent / "shared" / "data" / "timeseries" / "m3" / "m3.csv"
M4 = ROOT.parent / "shared" / "data" / "timeseries" / "m4"
FREQ = {"yearly": "YS", "quarterly": "QS", "monthly": "MS", "other": "YS", "hourly": "h"}  # M3 "other": no calendar
SEASON = {"yearly": 1, "quarterly": 4, "monthly": 12, "other": 1, "hourly": 24}
GROUPS = {"m3": ["yearly", "quarterly", "monthly", "other"], "m4-hourly": ["hourly"]}
WQL_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
LEVELS = [20, 40, 60, 80]  # statsforecast's central intervals whose ends are WQL_LEVELS


def m4_hourly(split: str) -> list[dict]:
    """[{uid, group, h, history, actual}]: every M4 Hourly series with its official 48-step test horizon (or, for
    `val`, the 48 steps before it)."""
    train = pd.read_csv(M4 / "Hourly-train.csv", index_col=0)
    test = pd.read_csv(M4 / "Hourly-test.csv", index_col=0)
    out = []
    for uid, row in train.iterrows():
        y = row.dropna().to_numpy(np.float64)
        actual = test.loc[uid].dropna().to_numpy(np.float64)
        if split == "val":
            y, actual = y[: -len(actual)], y[-len(actual) :]
        out.append({"uid": str(uid), "group": "hourly", "h": len(actual), "history": y, "actual": actual})
    return out


def sample(per_group: int, split: str, seed: int) -> list[dict]:
    """[{uid, group, h, history, actual}] from M3 (stratified by group; 0: every series)."""
    m3 = pd.read_csv(M3)
    rng = np.random.default_rng(seed)
    out = []
    for group in GROUPS["m3"]:
        rows = m3[m3["freq"] == group]
        n = min(per_group, len(rows)) if per_group else len(rows)  # M3 "other" has 174 series
        pick = np.sort(rng.choice(len(rows), n, replace=False))
        for _, r in rows.iloc[pick].iterrows():
            y, h = np.array(r["values"].split(), dtype=float), int(r["horizon"])
            if split == "val":
                y = y[:-h]
            out.append({"uid": str(r["series"]).strip(), "group": group, "h": h, "history": y[:-h], "actual": y[-h:]})
    return out


def scores(s: dict, yhat: np.ndarray, q: dict[float, np.ndarray] | None) -> dict:
    scale = M.mase_scale(s["history"], SEASON[s["group"]])
    y = s["actual"]
    out = {
        "mase": float(np.mean(np.abs(yhat - y)) / scale),
        "smape": float(np.mean(200 * np.abs(yhat - y) / np.maximum(np.abs(yhat) + np.abs(y), 1e-9))),
    }
    if q is not None:
        loss = sum(np.sum(np.maximum(lv * (y - q[lv]), (lv - 1) * (y - q[lv]))) for lv in WQL_LEVELS)
        out["wql"] = float(2 * loss / len(WQL_LEVELS) / max(np.sum(np.abs(y)), 1e-9))
        out["cover80"] = float(np.mean((y >= q[0.1]) & (y <= q[0.9])))
    return out


def pretrained_rows(items: list[dict], model: Any) -> tuple[list[dict], float]:
    rows, t0 = [], time.perf_counter()
    levels = list(model.arch.levels)
    for h in sorted({s["h"] for s in items}):
        group = [s for s in items if s["h"] == h]
        q = model.forecast_values([s["history"] for s in group], h)  # (S, h, Q)
        for s, qs in zip(group, q):
            quant = {lv: qs[:, levels.index(lv)] for lv in WQL_LEVELS}
            rows.append(
                {
                    "uid": s["uid"],
                    "group": s["group"],
                    "method": "lstmkit pretrained (zero-shot)",
                    **scores(s, quant[0.5], quant),
                }
            )
    return rows, time.perf_counter() - t0


def quantile_rows(part: list[dict], q: np.ndarray, levels: list[float], method: str) -> list[dict]:
    """Score each series of `part` on its (h, Q) quantiles at `levels`."""
    out = []
    for s, qs in zip(part, q):
        quant = {lv: qs[: s["h"], levels.index(lv)] for lv in WQL_LEVELS}
        out.append({"uid": s["uid"], "group": s["group"], "method": method, **scores(s, quant[0.5], quant)})
    return out


def finetuned_rows(items: list[dict], model: Any, out: Path) -> tuple[list[dict], float]:
    """The pretrained forecaster fine-tuned once per group on all its series' histories, each history's last
    horizon validating and the base kept where fine-tuning does not lower that loss: what `forecast train
    --init-from pretrained` does on a file of one frequency, with fine-tuning's defaults."""
    import dataclasses

    from lstmkit.tasks.forecast.pretrain import FINETUNE_TRAIN, finetune

    rows, t0 = [], time.perf_counter()
    for group in sorted({s["group"] for s in items}):
        part = [s for s in items if s["group"] == group]
        h = part[0]["h"]
        train = dataclasses.replace(FINETUNE_TRAIN, progress=False, out=str(out / f"finetune-{group}"))
        tuned, report = finetune(model, [s["history"] for s in part], h, train)
        print(f"fine-tuning {group}: {report['kept']} kept", file=sys.stderr)
        q = tuned.forecast_values([s["history"] for s in part], h)  # (S, h, Q)
        rows += quantile_rows(part, q, list(tuned.arch.levels), "lstmkit fine-tuned per group")
    return rows, time.perf_counter() - t0


def scratch_rows(items: list[dict], minutes: float, out: Path) -> tuple[list[dict], float]:
    """lstmkit's own forecaster trained from scratch on each group's histories together, with its defaults and a
    `minutes` budget per group (what `forecast train` does on a file of one frequency)."""
    from lstmkit.tasks.forecast import Forecaster
    from lstmkit.tasks.forecast.data import quantile_column

    rows, t0 = [], time.perf_counter()
    for group in sorted({s["group"] for s in items}):
        part = [s for s in items if s["group"] == group]
        frame = pd.concat(
            pd.DataFrame(
                {
                    "unique_id": s["uid"],
                    "ds": pd.date_range("1990-01-01", periods=len(s["history"]), freq=FREQ[group]),
                    "y": s["history"],
                }
            )
            for s in part
        )
        f = Forecaster(
            horizon=part[0]["h"],
            quantiles=WQL_LEVELS,
            allow_short=True,
            max_time=f"{minutes}m",
            progress=False,
            out=str(out / f"scratch-{group}"),
        ).fit(frame)
        pred = f.predict(frame)
        cols = ["y_hat" if lv == 0.5 else quantile_column(lv) for lv in WQL_LEVELS]
        by = {u: g[cols].to_numpy() for u, g in pred.groupby("unique_id", sort=False)}  # uid -> (h, 9)
        q = [by[s["uid"]] for s in part]
        rows += quantile_rows(part, q, list(WQL_LEVELS), "lstmkit from scratch (defaults, per group)")
    return rows, time.perf_counter() - t0


def anchor_rows(items: list[dict], arch: Any) -> list[dict]:
    """An anchored model's statistical path alone (the theta forecast the network corrects; arch: the model's
    ZeroShotConfig): what the network adds shows against it."""
    from lstmkit.tasks.forecast.zeroshot import anchor_paths, contexts, standardise

    if arch.anchor == "none":
        return []
    x, mask, loc, scale = standardise(contexts([s["history"] for s in items], arch.context))
    paths = anchor_paths(arch, x, mask) * scale[:, None] + loc[:, None]  # (S, Hm) in the data's units
    name = f"lstmkit's {arch.anchor} path alone (the network's anchor)"
    return [
        {"uid": s["uid"], "group": s["group"], "method": name, **scores(s, p[: s["h"]], None)}
        for s, p in zip(items, paths)
    ]


def interval_quantiles(fc: dict) -> dict[float, np.ndarray] | None:
    """The quantiles 0.1..0.9 a statsforecast forecast's central intervals give (the 20 % interval's ends are the
    0.4 and 0.6 quantiles, ...; the mean is the median of their symmetric intervals); None without intervals."""
    if "lo-80" not in fc:
        return None
    q = {0.5: fc["mean"]}
    for level in LEVELS:
        lo = round(0.5 - level / 200, 2)
        q[lo], q[round(1 - lo, 2)] = fc[f"lo-{level}"], fc[f"hi-{level}"]
    return q


def statsforecast_rows(items: list[dict], which: list[str]) -> tuple[list[dict], dict[str, float]]:
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta, SeasonalNaive

    known = {"AutoETS": AutoETS, "AutoTheta": AutoTheta, "seasonal naive": SeasonalNaive, "AutoARIMA": AutoARIMA}
    models = {name: known[name] for name in which}
    rows, seconds = [], {name: 0.0 for name in models}
    for s in items:
        m = SEASON[s["group"]]
        for name, cls in models.items():
            t0 = time.perf_counter()
            model = cls(season_length=m)
            try:
                fc = model.forecast(y=s["history"], h=s["h"], level=LEVELS) if name != "seasonal naive" else None
                if fc is None:
                    fc = {"mean": M.seasonal_naive(s["history"], s["h"], m)}
            except Exception:  # a model that cannot fit this series: seasonal naive stands in (counted)
                fc = {"mean": M.seasonal_naive(s["history"], s["h"], m)}
            seconds[name] += time.perf_counter() - t0
            row = scores(s, fc["mean"], interval_quantiles(fc))
            rows.append({"uid": s["uid"], "group": s["group"], "method": name, **row})
    return rows, seconds


def render(res: pd.DataFrame, seconds: dict[str, float], args: argparse.Namespace, n: int) -> str:
    groups = GROUPS[args.data]
    name, seen = (
        ("M3", "never seen in pretraining")
        if args.data == "m3"
        else ("M4 Hourly", "their training parts were pretrained on: not strictly zero-shot")
    )
    lines = [
        f"## The pretrained forecaster zero-shot on {name} ({args.split} split)",
        "",
        "Command: `python benchmarks/pretrained_forecaster.py " + " ".join(sys.argv[1:]) + "`  ",
        f"Machine: {machine()}, {datetime.date.today()}. {n} {name} series ({seen}); "
        + ("the official test horizons." if args.split == "test" else "the horizon before the official one."),
        "",
        "| method | MASE all | " + " | ".join(f"MASE {g}" for g in groups) + " | sMAPE | WQL | 80 % cover | seconds |",
        "|---|---:|" + "---:|" * len(groups) + "---:|---:|---:|---:|",
    ]
    for method, part in sorted(res.groupby("method"), key=lambda kv: kv[1]["mase"].mean()):
        by = part.groupby("group")["mase"].mean()
        wql = f"{part['wql'].mean():.3f}" if "wql" in part and part["wql"].notna().any() else "—"
        cover = f"{100 * part['cover80'].mean():.1f} %" if part["cover80"].notna().any() else "—"
        lines.append(
            f"| {method} | {part['mase'].mean():.3f} | "
            + " | ".join(f"{by.get(g, np.nan):.3f}" for g in groups)
            + f" | {part['smape'].mean():.2f} | {wql} | {cover} | {seconds.get(method, 0):.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-group", type=int, default=250)
    parser.add_argument("--split", choices=["val", "test"], default="val")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--arima", action="store_true", help="also AutoARIMA (slow)")
    parser.add_argument(
        "--stats",
        nargs="*",
        default=["AutoETS", "AutoTheta"],
        choices=["AutoETS", "AutoTheta", "AutoARIMA"],
        help="statsforecast models beside seasonal naive (none: only seasonal naive; AutoETS takes over an hour on "
        "M4 Hourly)",
    )
    parser.add_argument("--model", default="pretrained", help="the pretrained model (name or saved-model path)")
    parser.add_argument(
        "--runtime",
        choices=["torch", "onnx"],
        default="torch",
        help="run the zero-shot model on PyTorch or on onnxruntime (exported under --out first)",
    )
    parser.add_argument("--data", choices=list(GROUPS), default="m3")
    parser.add_argument("--finetune", action="store_true", help="also the model fine-tuned once per group")
    parser.add_argument(
        "--scratch",
        type=float,
        default=0.0,
        metavar="MINUTES",
        help="also lstmkit's forecaster trained from scratch per group with its defaults, MINUTES each (0: skip)",
    )
    parser.add_argument("--out", default="runs/bench-pretrained", help="where fine-tuning and training runs go")
    parser.add_argument("--section", default=None, help="BENCHMARKS.md section (default pretrained-<data>-<split>)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    items = sample(args.per_group, args.split, args.seed) if args.data == "m3" else m4_hourly(args.split)
    import lstmkit

    model = lstmkit.load(args.model)
    if args.runtime == "onnx":
        if args.finetune:
            parser.error("--finetune trains with PyTorch: drop it or use --runtime torch")
        from lstmkit.registry import export_model, load_onnx

        export_model(model, Path(args.out) / "onnx")
        model = load_onnx(Path(args.out) / "onnx")
    rows, zs = pretrained_rows(items, model)
    rows += anchor_rows(items, model.arch)
    seconds = {"lstmkit pretrained (zero-shot)": zs}
    print(f"zero-shot: {len(items)} series in {zs:.1f} s", file=sys.stderr)
    if args.finetune:
        more, seconds["lstmkit fine-tuned per group"] = finetuned_rows(items, model, Path(args.out))
        rows += more
    if args.scratch > 0:
        more, seconds["lstmkit from scratch (defaults, per group)"] = scratch_rows(items, args.scratch, Path(args.out))
        rows += more
    other, stat_seconds = statsforecast_rows(items, ["seasonal naive", *args.stats] + ["AutoARIMA"] * args.arima)
    res = pd.DataFrame(rows + other)
    if "cover80" not in res:
        res["cover80"] = np.nan
    text = render(res, {**seconds, **stat_seconds}, args, len(items))
    if not args.no_write:
        write_section(args.section or f"pretrained-{args.data}-{args.split}", text)
    print(text)


if __name__ == "__main__":
    main()
