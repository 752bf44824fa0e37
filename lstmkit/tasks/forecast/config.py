"""The forecasting task's config: data, features, model architecture. Training settings live in TrainConfig."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from lstmkit.config import ConfigError, option

SMOOTH = ("theta", "ets", "auto", "autoets", "autoarima")  # anchors whose base forecast the features carry
STATSFORECAST = ("autoets", "autoarima")  # anchors fitted by statsforecast (the `baselines` extra)

MIN_ROWS = 8  # rows a series needs at least (and the horizon + 2): fewer is too little to learn or check from


def min_rows(horizon: int) -> int:
    """The fewest rows a series may have for a model of this horizon (unless --allow-short)."""
    return max(MIN_ROWS, horizon + 2)


@dataclass(frozen=True)
class ForecastConfig:
    """Forecasting: what to read, which covariates, the model and its outputs."""

    data: str | None = option(
        None, "a CSV/Parquet file in long format, or a built-in dataset (lstmkit datasets)", metavar="PATH|DATASET"
    )
    chunk_rows: int | None = option(
        None,
        "data larger than memory: read --data (Parquet/CSV file, directory or glob; each series' rows together) "
        "in chunks of about N rows and train from an on-disk window cache, one chunk in memory at a time "
        "(default: read it all)",
        metavar="N",
    )
    id_col: str = option("unique_id", "column naming the series (absent: the file is one series)", metavar="COL")
    time_col: str = option("ds", "timestamp column", metavar="COL")
    target: str = option("y", "column to forecast", metavar="COL")
    freq: str | None = option(None, "pandas frequency, e.g. h, 30min, D, B, W, MS (default: inferred)", metavar="F")
    horizon: int | None = option(None, "steps to forecast (default: the built-in dataset's, else required)")
    lookback: int | None = option(None, "encoder window in steps (default: max(3 x horizon, 2 seasons, 24))")
    past_covariates: tuple[str, ...] = option((), "columns known only up to the forecast origin (e.g. volume)")
    future_covariates: tuple[str, ...] = option((), "columns known in advance for the horizon (e.g. a holiday flag)")
    static_covariates: tuple[str, ...] = option((), "columns with one value per series (text: embedded; numbers)")
    calendar: bool = option(True, "add calendar features derived from the timestamps (hour, weekday, season)")
    id_embedding: bool = option(
        True, "learn an embedding of the series id (unseen ids at predict time get a shared one)"
    )
    scaler: Literal["standard", "robust", "none"] = option("standard", "per-series scaling, stored with the model")
    transform: Literal["none", "log", "auto"] = option(
        "none",
        "log: model log(y) (positive targets; multiplicative trend and season), forecasts mapped back; "
        "auto: log where every target is positive and the panel has 10 series or more, or (fewer series) the "
        "statistical anchors forecast rolling origins of the history better on the log scale (saved with the model)",
    )
    head: Literal["quantile", "normal"] = option("quantile", "quantile outputs (pinball loss) or a normal distribution")
    quantiles: tuple[float, ...] = option((0.1, 0.5, 0.9), "quantile levels to forecast; the point forecast is 0.5")
    decoding: Literal["direct", "recursive"] = option(
        "direct", "direct: all horizon steps at once; recursive: one step, fed back"
    )
    anchor: Literal["season", "last", "theta", "ets", "auto", "autoets", "autoarima", "none"] | None = option(
        None,
        "(default: auto; season with --decoding recursive) forecast the offset from seasonal naive (season), from "
        "the last value (last), from the theta "
        "method's forecast (theta: deseasonalised smoothed level + half the trend; short noisy series), from "
        "damped-trend exponential smoothing (ets), from whichever of seasonal naive, theta and ets forecast each "
        "series best over rolling origins inside its training part (auto), from statsforecast's AutoETS or "
        "AutoARIMA fitted on the deseasonalised series (autoets, autoarima: the `baselines` extra), or the level "
        "itself (none)",
    )
    seasonal_lags: bool = option(True, "feed the decoder the value one season before each forecast step")
    extra_seasons: tuple[int, ...] | None = option(
        None,
        "more periods (in steps) whose lagged values the decoder sees (default: the week for sub-daily data, "
        "e.g. 168 hourly; 0: none)",
        metavar="STEPS",
    )
    intervals: Literal["rolling", "quantile"] = option(
        "rolling",
        "rolling: interval widths from the series' anchor refit at up to 24 rolling origins in its history "
        "(per horizon step, split conformal), centred on the forecast; quantile: the network's own quantiles",
    )
    conformal: bool = option(False, "with --intervals quantile: calibrate them on the validation window (CQR)")
    allow_short: bool = option(
        False,
        "train on and forecast series shorter than the minimum (8 rows, and at least the horizon + 2): by default "
        "they are an error that names them; allowed, their intervals are widened to at least a random walk's on "
        "their own history's variability, and the output names them",
    )
    init_from: str | None = option(
        "auto",
        "where `forecast train` starts: `pretrained` fine-tunes the forecaster shipped with lstmkit (or a saved "
        "pretrained model's path) on --data, each series' last horizon validating and picking the weight-space mix "
        "of pretrained and fine-tuned weights to keep (0, 0.25, 0.5, 0.75 or 1, WiSE-FT: 0 keeps the pretrained "
        "model); `none` trains one from scratch; `auto` (the default) fine-tunes the pretrained one unless the run "
        "asks for what only a forecaster trained from scratch has (covariates, any architecture or feature option, "
        "--chunk-rows, a horizon beyond the pretrained one's), and says which it chose and why. Fine-tuning's own "
        "training defaults: 5 epochs of 20 steps, --lr 1e-4, --early-stopping 2 (seconds on a CPU; flags "
        "override). The Python Forecaster class always trains from scratch",
        metavar="MODEL",
    )
    validation: bool = option(
        True,
        "hold out each series' last horizon for validation and model selection (off: train on all rows; "
        "the monitor then reads that horizon in-sample)",
    )
    blend: tuple[float, ...] = option(
        (0.0, 1.0),
        "weights of the network's correction of a smoothing anchor (theta, ets, auto) tried on each "
        "series' validation horizon; the one with the least error is kept (0: the anchor alone, 1: the network's "
        "forecast, 0.5: their mean; e.g. --blend 0 0.5 1)",
        metavar="W",
    )
    cell: Literal["lstm", "gru", "rnn", "slstm", "mlstm", "minlstm", "mingru"] = option(
        "lstm", "the encoder's recurrent cell: the classic lstm, gru, rnn, or the modern slstm, mlstm, minlstm, mingru"
    )
    hidden_size: int = option(64, "recurrent hidden units")
    num_layers: int = option(2, "stacked recurrent layers")
    dropout: float = option(0.1, "dropout between layers and in the decoder")
    forking: int = option(16, "forecasts trained per window: one from each of its last N encoder steps")
    steps_per_epoch: int | None = option(
        None,
        "training batches (random windows) per epoch (default: about one pass over every forecast origin, "
        "at least 10 and at most 100)",
    )

    def __post_init__(self) -> None:
        if self.horizon is not None and self.horizon < 1:
            raise ConfigError(f"horizon must be >= 1, got {self.horizon}")
        if self.lookback is not None and self.lookback < 1:
            raise ConfigError(f"lookback must be >= 1, got {self.lookback}")
        if not self.quantiles or any(not 0 < q < 1 for q in self.quantiles):
            raise ConfigError(f"quantiles must be in (0, 1), got {self.quantiles}")
        if 0.5 not in self.quantiles:
            raise ConfigError(f"quantiles must include 0.5 (the point forecast), got {self.quantiles}")
        if len(set(self.quantiles)) != len(self.quantiles):
            raise ConfigError(f"quantiles must be distinct, got {self.quantiles}")
        clash = set(self.past_covariates) & set(self.future_covariates)
        if clash:
            raise ConfigError(f"{sorted(clash)} listed as both past and future covariates; choose one")
        if any(p < 0 for p in self.extra_seasons or ()):
            raise ConfigError(f"extra_seasons must be periods >= 1 (or 0 for none), got {self.extra_seasons}")
        if self.anchor in SMOOTH and self.decoding != "direct":
            raise ConfigError(f"anchor {self.anchor} needs direct decoding (--decoding direct)")
        if not self.blend or any(not 0 <= w <= 1 for w in self.blend):
            raise ConfigError(f"blend weights must be in [0, 1], got {self.blend}")
        if self.forking < 1:
            raise ConfigError(f"forking must be >= 1, got {self.forking}")
        if self.chunk_rows is not None and self.chunk_rows < 1:
            raise ConfigError(f"chunk_rows must be >= 1, got {self.chunk_rows}")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ConfigError(f"steps_per_epoch must be >= 1, got {self.steps_per_epoch}")

    @property
    def levels(self) -> tuple[float, ...]:
        return tuple(sorted(self.quantiles))


# What the pretrained forecaster takes from a forecast config: the data's columns and the horizon. Any other
# option configures a forecaster trained from scratch, so `--init-from auto` trains one when it is given.
PRETRAINED_TAKES = ("data", "id_col", "time_col", "target", "freq", "horizon", "init_from", "allow_short")


def from_scratch(init_from: str | None) -> bool:
    """Whether `init_from` means training a forecaster from scratch (none, or the Python class's auto)."""
    return init_from in (None, "none", "auto")


def auto_start(cfg: ForecastConfig, covariates: tuple[str, ...] = ()) -> tuple[str, str]:
    """`--init-from auto` resolved for a run: ("pretrained" or "none", why). `covariates`: a built-in
    dataset's own, which the pretrained forecaster cannot read."""
    from lstmkit.config import flag

    default = ForecastConfig()
    given = [
        flag(f.name)
        for f in dataclasses.fields(ForecastConfig)
        if f.name not in PRETRAINED_TAKES and getattr(cfg, f.name) != getattr(default, f.name)
    ]
    if given:
        return "none", (
            f"auto: {', '.join(given)} configure{'s' if len(given) == 1 else ''} a forecaster trained from "
            "scratch (the pretrained one reads the target alone); --init-from pretrained fine-tunes it anyway"
        )
    if covariates:
        return "none", (
            f"auto: the data's covariates ({', '.join(covariates)}) need a forecaster trained from scratch; "
            "--init-from pretrained fine-tunes the pretrained one on the target alone"
        )
    return "pretrained", (
        "auto: on single series, fine-tuning the pretrained forecaster beat training one from scratch under "
        "forecast_single's validation protocol, BENCHMARKS.md pretrained-single-val-mix-each; --init-from none "
        "trains from scratch"
    )
