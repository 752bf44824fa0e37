"""`lstmkit forecast train|predict|backtest`."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd

from lstmkit.clitools import (
    add_config_flags,
    add_data_flags,
    add_runtime_flag,
    emit,
    load_model,
    more_rows,
    quiet_lightning,
    run_config,
    table,
    with_data_flags,
)
from lstmkit.config import ConfigError
from lstmkit.errors import UsageError
from lstmkit.tasks.forecast import SPEC
from lstmkit.tasks.forecast.config import from_scratch

EXAMPLES = """examples:
  lstmkit forecast backtest --data air-passengers --windows 3
  lstmkit forecast train --data sales.csv --horizon 14 --future-covariates promo --out runs/sales
  lstmkit forecast predict --model runs/sales --data sales.csv --future promo-next-14-days.csv --out fc.csv
data: long format (unique_id, ds, y + covariates; rename with --id-col/--time-col/--target), CSV or Parquet,
or a built-in dataset (lstmkit datasets)."""


def _forecaster(args: argparse.Namespace, spec: Any, chosen: tuple[str, str] | None = None) -> tuple[Any, str, str]:
    """The run's Forecaster (its config says where training starts: `auto` resolved, or `chosen`), the data,
    and why it starts there (empty unless `auto` chose)."""
    from lstmkit.tasks.forecast.config import auto_start
    from lstmkit.tasks.forecast.forecaster import Forecaster
    from lstmkit.tasks.forecast.pretrain import FINETUNE_TRAIN

    run = run_config(args, spec)
    if not run.task.data:
        raise ConfigError("--data is required: a CSV/Parquet file or a built-in dataset (lstmkit datasets)")
    start, why = chosen or (run.task.init_from, "")
    start = start or "none"  # None: from scratch
    if start == "auto":
        start, why = auto_start(run.task, _builtin_covariates(run.task.data))
    if start != "none":  # fine-tuning starts from its own training defaults (flags override)
        run = run_config(args, dataclasses.replace(spec, train_defaults=FINETUNE_TRAIN))
    task = dataclasses.replace(run.task, init_from=start)
    return Forecaster(config=task, train=run.train), run.task.data, why


def _builtin(data: Any) -> Any:
    """The built-in dataset `data` names (its covariates, horizon), or None for a file or a frame."""
    from lstmkit.data.builtin_series import SERIES_DATASETS

    return SERIES_DATASETS.get(data) if isinstance(data, str) and not Path(data).exists() else None


def _builtin_covariates(data: str) -> tuple[str, ...]:
    info = _builtin(data)
    return () if info is None else (*info.past, *info.future)


DATA_FLAGS = ("id_col", "time_col", "target")  # read with the model's column names, unless given


def _load(path: str, runtime: str = "torch", threads: int | None = None) -> Any:
    return load_model(path, SPEC, runtime, threads)


def with_horizon(model: Any, horizon: int | None) -> Any:
    """The model forecasting `horizon` steps: the pretrained model takes any horizon up to its longest; a
    trained model forecasts the horizon it was trained for (another one is an error that says so)."""
    if horizon is None or horizon == getattr(model.config, "horizon", None):
        return model
    if getattr(model, "arch", None) is None:
        raise UsageError(
            f"this model was trained to forecast {model.config.horizon} steps; drop --horizon, or train one for "
            f"{horizon} (or use --model pretrained, which forecasts any horizon up to its longest)"
        )
    model.config = dataclasses.replace(model.config, horizon=horizon)
    return model


def _train(args: argparse.Namespace, spec: Any) -> None:
    quiet_lightning()
    f, data, why = _forecaster(args, spec)
    if not from_scratch(f.config.init_from):
        base, horizon = _pretrained_base(args, f, data)
        if horizon <= base.arch.horizon:
            _finetune(args, f, with_horizon(base, horizon), data, why)
            return
        beyond = f"auto: --horizon {horizon} is beyond the pretrained forecaster's longest ({base.arch.horizon})"
        if not why:  # asked for by name
            raise UsageError(f"{beyond.removeprefix('auto: ')}: lower it, or train from scratch (--init-from none)")
        f, data, why = _forecaster(args, spec, ("none", beyond))  # auto: train from scratch instead
    if f.config.chunk_rows:  # larger than memory: the file is read chunk by chunk each time
        f.fit(data)
    else:  # read once: training, the forecast and its plot share the panel
        data, cfg = f.read(data)
        f.fit_panel(data, cfg)
    if not f.primary:
        return  # a distributed run's extra process: the first one reports
    assert f.run_dir is not None
    payload = {
        "run": str(f.run_dir),
        "model": str(f.run_dir / "model"),
        "horizon": f.config.horizon,
        "lookback": f.config.lookback,
        "freq": f.config.freq,
        "init": "none: trained from scratch" + (f" ({why})" if why else ""),
        **_report_lines(f.report),
    }
    payload.update(_write_forecast(args, f, data))
    if f.train_config.track:
        from lstmkit.engine.tracking import log_run

        log_run(f.run_dir, files=["forecast.csv", "forecast.png"])  # the model was logged once, by the engine
    emit(args, payload, lambda: "\n".join(f"{k}: {v}" for k, v in payload.items()))


def _report_lines(r: dict[str, Any]) -> dict[str, str]:
    """What training decided, in words: anchors, series left to their anchor, correction weights, short series
    and early stopping (each only when it happened)."""
    out = {}
    if r.get("anchor_kinds"):
        out["anchors"] = ", ".join(f"{k} {n}" for k, n in sorted(r["anchor_kinds"].items())) + " series"
    if r.get("anchor_alone"):
        out["anchor_alone"] = (
            f"{len(r['anchor_alone'])} of {r['series']} series: their anchor alone beat the "
            f"network on the validation horizon, so it forecasts them ({', '.join(r['anchor_alone'][:5])}"
            f"{' ...' if len(r['anchor_alone']) > 5 else ''})"
        )
    if len(r.get("correction_weights") or {}) > 1:
        out["correction_weights"] = ", ".join(f"{w}: {n}" for w, n in r["correction_weights"].items()) + (
            " series (the share of the network's correction of the anchor kept, chosen on validation)"
        )
    if r.get("short_series"):
        few = r["short_series"]
        out["short_series"] = (
            f"{len(few)} series shorter than the minimum ({', '.join(few[:5])}{' ...' if len(few) > 5 else ''}): "
            "forecast by the model and its anchor, intervals widened to a random walk's on their own history "
            "(--allow-short)"
        )
    stop = r.get("early_stop")
    if stop:
        best = next((f"{k.removeprefix('best_')} {v:.4g}" for k, v in stop.items() if k.startswith("best_")), "")
        out["early_stopping"] = (
            f"ended training at step {stop['step']} (epoch {stop['epoch']}): {stop['patience']} validations without "
            f"a better score; the weights kept have the best, {best}"
        )
    return out


def _write_forecast(args: argparse.Namespace, f: Any, data: Any) -> dict[str, str]:
    """The trained model's forecast of the data's next horizon and its plot, written to the run; where they are."""
    from lstmkit.data.timeseries import read_table

    if f.config.future_covariates and not args.future:
        return {"forecast": "skipped: the model uses known-future covariates; pass --future FILE for the horizon"}
    futr = read_table(args.future) if args.future else None
    if f.config.chunk_rows:  # the file chunk by chunk; the plot shows the first chunk's series
        from lstmkit.tasks.forecast.batch import forecast_chunks, write_chunks

        write_chunks(forecast_chunks(f, data, f.config.chunk_rows, futr), f.run_dir / "forecast.csv")
        fc = pd.read_csv(f.run_dir / "forecast.csv", nrows=50_000, parse_dates=[f.config.time_col])
        _plot(f, next(f.chunks(data)), fc, f.run_dir / "forecast.png")
    else:
        fc = f.predict(data, futr_df=futr)
        fc.to_csv(f.run_dir / "forecast.csv", index=False)
        _plot(f, data, fc, f.run_dir / "forecast.png")
    return {"forecast": str(f.run_dir / "forecast.csv"), "plot": str(f.run_dir / "forecast.png")}


def _pretrained_base(args: argparse.Namespace, f: Any, data: Any) -> tuple[Any, int]:
    """The pretrained forecaster `--init-from` names (reading the data's columns) and the run's horizon."""
    base = with_data_flags(_load(f.config.init_from), args, DATA_FLAGS)
    if getattr(base, "arch", None) is None:
        raise UsageError(f"--init-from {f.config.init_from}: not a pretrained forecaster (try --init-from pretrained)")
    info = _builtin(data)
    horizon = f.config.horizon or (info.horizon if info else None)
    if horizon is None:
        raise ConfigError("--horizon is required for your own data (how many steps to forecast)")
    return base, horizon


def _finetune(args: argparse.Namespace, f: Any, base: Any, data: Any, why: str = "") -> None:
    """`forecast train --init-from pretrained` (or auto's choice): the pretrained forecaster fine-tuned on the
    data's series, its forecast and plot written to the run."""
    from lstmkit.tasks.forecast.pretrain import finetune

    panel = base.panel(data)
    horizon = base.config.horizon
    model, report = finetune(base, [s.y for s in panel.series], horizon, f.train_config)
    fc = model.predict(data)
    run = Path(report["run"])
    fc.to_csv(run / "forecast.csv", index=False)
    _plot(model, data, fc, run / "forecast.png")
    payload = {
        "init": f"{f.config.init_from}: fine-tuned" + (f" ({why})" if why else ""),
        **report,
        "horizon": horizon,
        "freq": panel.freq,
        "forecast": str(run / "forecast.csv"),
        "plot": str(run / "forecast.png"),
    }
    emit(args, payload, lambda: "\n".join(f"{k}: {v}" for k, v in payload.items()))


def _plot(f: Any, data: Any, fc: pd.DataFrame, path: Path) -> None:
    from lstmkit.data.timeseries import Panel
    from lstmkit.tasks.forecast.pipeline import read_panel
    from lstmkit.tasks.forecast.plots import plot_forecasts

    if isinstance(data, Panel):
        panel = data
    else:  # the pretrained model reads any frequency (its own reader); a trained one the frequency it knows
        panel = f.panel(data) if hasattr(f, "arch") else read_panel(f.config, data)
    plot_forecasts(panel.series, fc.rename(columns={f.config.id_col: "unique_id", f.config.time_col: "ds"}), path)


def _predict(args: argparse.Namespace) -> None:
    from lstmkit.data.timeseries import read_table

    if args.dask is not None:
        _predict_dask(args)
        return
    f = with_horizon(with_data_flags(_load(args.model, args.runtime, args.threads), args, DATA_FLAGS), args.horizon)
    futr = read_table(args.future) if args.future else None
    context = None if args.context is None else ("all" if args.context == "all" else int(args.context))
    if args.chunk_rows:
        _predict_chunked(args, f, futr, context)
        return
    fc = f.predict(args.data, futr_df=futr, context=context)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fc.to_parquet(out, index=False) if out.suffix in (".parquet", ".pq") else fc.to_csv(out, index=False)
    if args.plot:
        _plot(f, args.data, fc, Path(args.plot))
    emit(
        args,
        {"forecasts": str(out), "rows": len(fc)},
        lambda: (
            f"{fc.head(10).to_string(index=False)}\n{more_rows(fc, 10)}"
            f"{len(fc)} rows written to {out}" + (f"; plot: {args.plot}" if args.plot else "")
        ),
    )


def _predict_chunked(args: argparse.Namespace, f: Any, futr: pd.DataFrame | None, context: Any) -> None:
    from lstmkit.tasks.forecast.batch import forecast_chunks, write_chunks

    if args.plot:
        raise UsageError("--plot draws from the whole history; with --chunk-rows, plot a few series separately")
    rows = write_chunks(forecast_chunks(f, args.data, args.chunk_rows, futr, context), args.out)
    emit(args, {"forecasts": str(args.out), "rows": rows}, lambda: f"{rows} rows written to {args.out}")


def _predict_dask(args: argparse.Namespace) -> None:
    from lstmkit.tasks.forecast.batch import predict_dask

    if args.future or args.plot or args.context:
        raise UsageError(
            "--dask forecasts a partitioned dataset as it is: --future, --plot and --context are for "
            "in-process prediction"
        )
    out = args.out if args.out != "forecasts.csv" else "forecasts"
    done = predict_dask(args.model, args.data, out, args.dask or None, args.runtime)
    emit(args, done, lambda: f"{done['rows']} rows from {done['partitions']} partitions written to {out}/ (Parquet)")


def _backtest(args: argparse.Namespace, spec: Any) -> None:
    from lstmkit.engine.config import unique_name
    from lstmkit.tasks.forecast.plots import plot_error_by_horizon, plot_forecasts

    quiet_lightning()
    start = getattr(args, "init_from", "none")  # the backtest trains from scratch unless asked to fine-tune
    f, data, _ = _forecaster(args, spec, (start, "") if start != "auto" else None)
    out = Path(f.train_config.out or Path("runs") / "forecast" / unique_name("backtest-"))  # --out is honoured
    tune = None
    if args.model:
        horizon = f.config.horizon  # --horizon, for the pretrained model (a trained one has its own)
        f = with_horizon(with_data_flags(_load(args.model), args, DATA_FLAGS), horizon)  # its run dir is left as is
    elif not from_scratch(f.config.init_from):  # fine-tuned before every window, as forecast train would
        base, horizon = _pretrained_base(args, f, data)
        if horizon > base.arch.horizon:
            raise UsageError(
                f"--horizon {horizon} is beyond the pretrained forecaster's longest ({base.arch.horizon}): lower it, "
                "or backtest a forecaster trained from scratch (--init-from none)"
            )
        tune, f = f.train_config, with_horizon(base, horizon)
    out.mkdir(parents=True, exist_ok=True)
    more = {} if tune is None else {"finetune": tune}
    r = f.backtest(
        data, n_windows=args.windows, step=args.step, refit=args.refit, statistical=args.statistical, out=out, **more
    )
    r.table.to_csv(out / "backtest.csv")
    (out / "backtest.md").write_text(_markdown(r.table), encoding="utf-8")
    r.last_window.to_csv(out / "last-window.csv", index=False)
    plot_forecasts(r.history, r.last_window, out / "forecast.png")
    plot_error_by_horizon(r.by_horizon, out / "error-by-horizon.png", title=f"{data}: MAE by step ahead")
    emit(args, {**r.to_dict(), "out": str(out)}, lambda: _report(data, r, out))


def _markdown(t: pd.DataFrame) -> str:
    cols = list(t.columns)
    lines = ["| method | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, row in t.iterrows():
        lines.append(f"| {name} | " + " | ".join("" if pd.isna(v) else f"{v:.4g}" for v in row) + " |")
    return "\n".join(lines) + "\n"


def _verdict(t: pd.DataFrame) -> str:
    """The closing line: which row has the lowest MASE, said plainly when it is not lstmkit's."""
    mase = t["mase"].dropna()
    if "lstmkit" not in mase.index or len(mase) < 2:
        return ""
    best = mase.idxmin()
    mine = mase["lstmkit"]
    vs_sn = (
        f"; {mine / t.loc['seasonal_naive', 'mase']:.2f}x seasonal naive's MASE" if "seasonal_naive" in t.index else ""
    )
    if best == "lstmkit":
        runner = mase.drop("lstmkit").idxmin()
        return f"\nlstmkit has the lowest MASE ({mine:.4g}; next: {runner} {mase[runner]:.4g}){vs_sn}"
    return f"\nthe lowest MASE is {best}'s ({mase[best]:.4g}), not lstmkit's ({mine:.4g}){vs_sn}"


def _report(data: str, r, out: Path) -> str:
    i = r.info
    rows = [{"method": name, **row} for name, row in r.table.iterrows()]
    head = (
        f"{data}: rolling-origin backtest, {i['windows']} windows x {i['horizon']} steps (step {i['step']}), "
        f"{i['series']} series, freq {i['freq']}, MASE season {i['season']}; lower is better"
    )
    verdict = _verdict(r.table)
    cols = ["method", "mase", "smape", "mae", "rmse", "coverage", "fit_s", "predict_s"]
    if not i.get("statsforecast", True):
        verdict += (
            "\nstatsforecast is not installed: no AutoETS / AutoARIMA / AutoTheta rows (pip install "
            "'lstmkit[baselines]'); lstmkit's own anchors stand in (anchor_ets, anchor_theta)"
        )
    lo, hi = i["interval"]
    return (
        f"{head}\n\n{table(rows, cols)}{verdict}\ncoverage: share of actuals inside the model's "
        f"{lo * 100:g}-{hi * 100:g} % quantile interval\n"
        f"written: {out}/backtest.csv, backtest.md, last-window.csv, forecast.png, error-by-horizon.png"
    )


def _register_predict(verbs: argparse._SubParsersAction, spec: Any) -> None:
    """`forecast predict`'s flags."""
    pred = verbs.add_parser("predict", help="forecast the next horizon of every series with a trained model")
    add_data_flags(pred, spec.config_class, DATA_FLAGS)
    pred.add_argument(
        "--model",
        required=True,
        metavar="RUN",
        help="run directory or saved-model directory, or `pretrained`: the forecaster shipped with lstmkit "
        "(zero-shot, no training)",
    )
    pred.add_argument("--data", required=True, metavar="PATH|DATASET", help="history to forecast from (long format)")
    pred.add_argument(
        "--horizon",
        type=int,
        metavar="H",
        help="steps to forecast (the pretrained model: any up to its longest, default 12; a trained model: its own)",
    )
    pred.add_argument("--future", metavar="FILE", help="known-future covariates for the horizon (long format)")
    pred.add_argument("--out", default="forecasts.csv", metavar="FILE", help="CSV or .parquet (default: %(default)s)")
    pred.add_argument("--plot", metavar="PNG", help="also draw history + forecast + interval per series")
    pred.add_argument("--context", metavar="N|all", help="encoder steps to read (default: the model's lookback)")
    pred.add_argument(
        "--dask",
        nargs="?",
        const="",
        metavar="SCHEDULER",
        help="forecast a partitioned dataset (--data 'part-*.parquet', whole series per partition) on "
        "Dask: a local cluster, or the scheduler at this address; --out is then a directory of "
        "Parquet files, one per partition",
    )
    pred.add_argument(
        "--chunk-rows",
        type=int,
        metavar="N",
        help="data larger than memory: read --data in chunks of about N rows of whole series (each "
        "series' rows together in the file) and write the forecasts chunk by chunk",
    )
    add_runtime_flag(pred)
    pred.add_argument("--json", action="store_true", help="print the result as JSON")
    pred.set_defaults(func=_predict)


def register_cli(sub: argparse._SubParsersAction, spec: Any) -> None:
    group = sub.add_parser(
        "forecast",
        help="forecast time series: train, predict, backtest",
        description="Global LSTM forecasting over many series, with quantiles and baselines.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = group.add_subparsers(title="verbs", metavar="<verb>")
    train = verbs.add_parser(
        "train",
        help="train a forecaster; writes the run dir, model, forecast.csv and plot",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_flags(train, spec)
    train.add_argument("--future", metavar="FILE", help="known-future covariates of the horizon, for forecast.csv")
    train.set_defaults(func=lambda a: _train(a, spec))

    _register_predict(verbs, spec)

    bt = verbs.add_parser(
        "backtest",
        help="rolling-origin backtest against naive and seasonal naive baselines",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_flags(bt, spec)
    bt.add_argument("--windows", type=int, default=3, help="forecast windows (default: %(default)s)")
    bt.add_argument("--step", type=int, help="steps between window origins (default: the horizon)")
    bt.add_argument("--refit", action="store_true", help="retrain before every window (default: train once)")
    bt.add_argument(
        "--statistical",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="add statsforecast AutoETS/AutoARIMA when installed (default: on)",
    )
    bt.add_argument(
        "--model",
        metavar="RUN",
        help="backtest this trained model instead of training one (`pretrained`: the shipped zero-shot forecaster)",
    )
    bt.set_defaults(func=lambda a: _backtest(a, spec))
