"""What the forecasting network is built from and what it outputs, shared by training and inference:
output count, decoded steps, quantiles, seasonal periods, the data-dependent defaults and build_model.
Imports nothing from the training side."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import torch
from torch import Tensor, nn

from lstmkit.config import ConfigError
from lstmkit.data.timeseries import DataError, Panel, season_length, season_position, weekly_period
from lstmkit.tasks.forecast import anchors
from lstmkit.tasks.forecast.config import ForecastConfig, min_rows
from lstmkit.tasks.forecast.features import Preprocessor
from lstmkit.tasks.forecast.model import ForecastNet
from lstmkit.tasks.forecast.pipeline import season_of, seasons_of  # noqa: F401  (their home is the pipeline)

log = logging.getLogger(__name__)

NAME = "forecast"


def n_outputs(cfg: ForecastConfig) -> int:
    return len(cfg.quantiles) if cfg.head == "quantile" else 2


def decoded_steps(cfg: ForecastConfig) -> int:
    assert cfg.horizon is not None
    return cfg.horizon if cfg.decoding == "direct" else 1


def to_quantiles(cfg: ForecastConfig, out: Tensor) -> Tensor:
    """Model outputs (..., P) -> quantiles (..., Q) in the order of cfg.levels, never crossing."""
    if cfg.head == "quantile":
        return torch.sort(out.float(), dim=-1).values
    mu, sigma = out[..., 0:1].float(), nn.functional.softplus(out[..., 1:2].float()) + 1e-3
    z = torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(cfg.levels, device=out.device))  # (Q,)
    return mu + sigma * z


MIN_TRAIN = 8  # rows a series keeps for training when its last horizon is held out for validation


def short_series(series: list, horizon: int) -> list[tuple[str, int]]:
    """(id, rows) of the series with fewer observed rows than `min_rows(horizon)`."""
    need = min_rows(horizon)
    counts = [(s.uid, int(np.isfinite(s.y).sum())) for s in series]
    return [(u, n) for u, n in counts if n < need]


def with_data_defaults(cfg: ForecastConfig, panel: Panel, horizon: int | None) -> ForecastConfig:
    """A new config with horizon, lookback and freq made concrete (what is saved with the model)."""
    horizon = cfg.horizon or horizon
    if horizon is None:
        raise ConfigError("--horizon is required for your own data (how many steps to forecast)")
    lookback = cfg.lookback or max(3 * horizon, 2 * season_length(panel.freq), 24)
    week = weekly_period(panel.freq)
    extra = cfg.extra_seasons if cfg.extra_seasons is not None else ((week,) if week else ())
    extra = tuple(p for p in extra if p > 0)
    short = short_series(panel.series, horizon)
    if short and not cfg.allow_short:
        names = ", ".join(f"{u!r} ({n} rows)" for u, n in short[:5]) + (
            f" and {len(short) - 5} more" if len(short) > 5 else ""
        )
        raise DataError(
            f"{len(short)} series are shorter than the {min_rows(horizon)} rows a forecaster of horizon {horizon} "
            f"learns from: {names}; drop them, lower --horizon, or pass --allow-short (their intervals are then "
            "widened to their history's variability, and the output names them)"
        )
    validation = cfg.validation
    if validation and all(len(s) < horizon + MIN_TRAIN for s in panel.series):
        log.warning(
            "every series is shorter than a validation horizon (%d) + %d rows: training on all rows, "
            "without a validation window (no weight selection; the anchor is not checked against the "
            "network)",
            horizon,
            MIN_TRAIN,
        )
        validation = False
    anchor = cfg.anchor or ("auto" if cfg.decoding == "direct" else "season")
    transform = choose_transform(panel, horizon) if cfg.transform == "auto" else cfg.transform
    return dataclasses.replace(
        cfg,
        horizon=horizon,
        lookback=lookback,
        freq=panel.freq,
        extra_seasons=extra,
        validation=validation,
        anchor=anchor,
        transform=transform,
    )


PANEL = 10  # series from which transform auto logs any positive panel


def choose_transform(panel: Panel, horizon: int) -> str:
    """transform auto: log where every target is positive and either the panel has >= PANEL series (a global
    network learns shared shapes better from relative changes: M3 monthly validation) or the statistical
    anchors forecast its series better on the log scale over rolling origins (geometric mean of the error
    ratios < 1); otherwise none."""
    if any(np.nanmin(s.y, initial=np.inf) <= 0 for s in panel.series):
        log.info("transform auto: none (some targets are <= 0)")
        return "none"
    if len(panel.series) >= PANEL:
        log.info("transform auto: log (%d positive series)", len(panel.series))
        return "log"
    m = season_length(panel.freq)
    gains = [
        g
        for s in panel.series
        if (g := anchors.log_gain(s.y, season_position(s.ds, panel.freq), m, horizon)) is not None
    ]
    choice = "log" if gains and float(np.mean(gains)) < 0 else "none"
    log.info(
        "transform auto: %s (anchor errors with log / without, geometric mean over %d series: %s)",
        choice,
        len(gains),
        f"{np.exp(np.mean(gains)):.3f}" if gains else "too short to tell",
    )
    return choice


def build_model(cfg: ForecastConfig, pre: Preprocessor) -> ForecastNet:
    return ForecastNet(
        pre.n_features,
        pre.n_known,
        decoded_steps(cfg),
        n_outputs(cfg),
        cfg.hidden_size,
        cfg.num_layers,
        cfg.dropout,
        n_ids=len(pre.ids) if cfg.id_embedding else 0,
        cat_sizes=pre.cat_sizes,
        n_static_num=len(pre.static_num),
        anchored=0 if cfg.anchor == "none" else (n_outputs(cfg) if cfg.head == "quantile" else 1),
        seasonal=cfg.seasonal_lags,
        anchor=cfg.anchor,
        n_seasons=len(seasons_of(cfg)),
        theta_cols=_theta_cols(pre),
        cell=cfg.cell,
    )


def _theta_cols(pre: Preprocessor) -> tuple[int | None, ...] | None:
    lay = pre.layout
    if lay.level is None or lay.drift is None or lay.season_known is None:
        return None
    return lay.level, lay.drift, lay.season_known, lay.phi, lay.naive, lay.gate
