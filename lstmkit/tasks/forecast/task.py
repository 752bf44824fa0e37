"""The forecasting task as the engine sees it: data split, model, loss and validation metrics.

Validation holds out each series' last `horizon` steps: training targets stop before them, and the
validation forecast is made from the origin just before them, so the selected weights never saw them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from lstmkit.config import ConfigError, to_dict
from lstmkit.data.timeseries import Panel, check_lengths
from lstmkit.tasks.forecast import sf_anchors
from lstmkit.tasks.forecast.config import STATSFORECAST, ForecastConfig
from lstmkit.tasks.forecast.features import Preprocessor
from lstmkit.tasks.forecast.model import ForecastNet
from lstmkit.tasks.forecast.outputs import NAME, build_model, decoded_steps, seasons_of, with_data_defaults
from lstmkit.tasks.forecast.predict import conformal_deltas, forecast_batch
from lstmkit.tasks.forecast.windows import Batch, OriginBatches, WindowSampler, build_tensors, origin_batches

__all__ = [
    "NAME",
    "ForecastTask",
    "build_model",
    "finished",
    "forecast_loss",
    "forecast_metrics",
    "gate_of",
    "quantile_score",
    "run",
    "split_validation",
    "with_data_defaults",
]


# ----------------------------------------------------------------------------------------------------------
# outputs and losses (scaled space)


def forecast_loss(cfg: ForecastConfig, out: Tensor, y: Tensor) -> Tensor:
    """Mean pinball loss (quantile head) or Gaussian negative log-likelihood (normal head) over the targets
    that exist. out (..., P), y (...) with NaN for missing targets."""
    valid = torch.isfinite(y)
    if not bool(valid.any()):
        return out.sum() * 0.0  # keeps the graph; nothing to learn from this batch
    out, y = out[valid].float(), y[valid]  # (M, P), (M,)
    if cfg.head == "quantile":
        q = torch.tensor(cfg.levels, device=out.device)  # (P,)
        diff = y[:, None] - out  # (M, P)
        return torch.maximum(q * diff, (q - 1) * diff).mean()
    mu, sigma = out[:, 0], nn.functional.softplus(out[:, 1]) + 1e-3
    return (torch.log(sigma) + 0.5 * ((y - mu) / sigma) ** 2).mean()


def run(model: ForecastNet, batch: Batch) -> Tensor:
    out, _ = model(batch["x"], batch["known"], batch["lags"], batch["ids"], batch["cats"], batch["nums"])
    return out  # (B, W', Hz, P)


def split_validation(panel: Panel, horizon: int, validation: bool) -> Panel:
    """The training part: without each series' last horizon when validating."""
    if not validation:
        return panel
    check_lengths(panel, horizon + 2, f"training with a validation window of horizon {horizon}")
    return panel.with_series([s.head(len(s) - horizon) for s in panel.series])


class ForecastTask:
    """One global model over every series of a panel."""

    name = NAME
    monitor, monitor_mode = "loss", "min"

    def __init__(self, cfg: ForecastConfig, panel: Panel) -> None:
        assert cfg.horizon is not None and cfg.lookback is not None, "call with_data_defaults first"
        if cfg.anchor in STATSFORECAST and not sf_anchors.available():
            raise ConfigError(
                f"--anchor {cfg.anchor} fits statsforecast's model, which is not installed: "
                "pip install 'lstmkit[baselines]' (or choose --anchor ets, theta or auto)"
            )
        self.cfg, self.panel = cfg, panel
        self.train_panel = split_validation(panel, cfg.horizon, cfg.validation)
        check_lengths(self.train_panel, 2, "training")
        self.pre = Preprocessor.fit(self.train_panel, cfg.scaler, cfg.calendar, cfg.transform, cfg.anchor, cfg.horizon)
        hz = decoded_steps(cfg)
        self._train = build_tensors(self.train_panel.series, self.pre, cfg.lookback, hz)
        # validation reads the whole series; origins are just before each held-out horizon, or (no
        # validation window) just before the training data's own last horizon, so the monitor stays finite
        target = self.panel if cfg.validation else self.train_panel
        self._val = build_tensors(target.series, self.pre, cfg.lookback, cfg.horizon)
        back = 0 if cfg.validation else cfg.horizon
        self._val_origins = [(i, max(1, len(s) - back)) for i, s in enumerate(self.train_panel.series)]
        self._final: Preprocessor | None = None
        self.calibration: list[list[float]] = []

    def build_model(self) -> nn.Module:
        return build_model(self.cfg, self.pre)

    def train_batches(self, batch_size: int, seed: int) -> WindowSampler:
        steps = self.cfg.steps_per_epoch or int(
            np.clip(-(-int((self._train.lengths - 1).sum()) // batch_size), 10, 100)
        )
        return WindowSampler(
            self._train,
            self.cfg.lookback,
            decoded_steps(self.cfg),
            self.cfg.forking,
            seasons_of(self.cfg),
            batch_size,
            steps,
            seed,
        )

    def val_batches(self, batch_size: int) -> OriginBatches:
        return origin_batches(
            self._val,
            self._val_origins,
            self.cfg.lookback,
            self.cfg.horizon,
            seasons_of(self.cfg),
            max(batch_size, 256),
        )

    def test_batches(self, batch_size: int) -> None:
        return None

    def loss(self, model: nn.Module, batch: Batch) -> Tensor:
        return forecast_loss(self.cfg, run(model, batch), batch["y"])

    def metrics(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        return forecast_metrics(self.cfg, self.pre, model, batch)

    def config_dict(self) -> dict[str, Any]:
        return to_dict(self.cfg)

    def saved_state(self) -> dict[str, Any]:
        return {"preprocessor": self.final_preprocessor().to_dict(), "calibration": self.calibration}

    def finalize(self, model: ForecastNet) -> dict[str, Any]:
        return finalize(self, model)

    def validation_gate(self, model: ForecastNet) -> dict[str, float]:
        """Per series 1.0 where the trained network's median beat its anchor alone (MAE over the validation
        horizon), else 0.0: the anchor then forecasts that series by itself. Empty without a validation
        window or a smoothing anchor."""
        if self.pre.layout.gate is None or not self.cfg.validation:
            return {}
        return gate_of(self.cfg, model, self.pre, self.panel, self.train_panel, self._val_origins)

    def set_gate(self, gate: dict[str, float]) -> None:
        """Record the validation gate: the saved preprocessor forecasts with it from now on."""
        self.pre = dataclasses.replace(self.pre, gate=gate)
        self._final = None

    def final_preprocessor(self) -> Preprocessor:
        """What the trained model forecasts with (see `finished`)."""
        if self._final is None:
            self._final = finished(self.cfg, self.pre, self.pre, self.panel.series)
        return self._final


def finalize(task: Any, model: ForecastNet) -> dict[str, Any]:
    """After training, before the one save (the engine's finalize hook, shared by the in-memory and streaming
    tasks): the validation gate (which series the anchor alone forecasts, how much of the network's correction
    the others keep), then the conformal interval calibration on the validation origins."""
    gate = task.validation_gate(model)
    if gate:
        task.set_gate(gate)
    if task.cfg.conformal:
        task.calibration = calibrate(task, model)
    return {"gate": gate}


def calibrate(task: Any, model: ForecastNet) -> list[list[float]]:
    """Conformal deltas per horizon step and quantile from the validation origins' errors."""
    cfg = task.cfg
    if not cfg.validation:
        raise ConfigError("conformal calibration uses the validation window: keep validation on")
    layout = task.final_preprocessor().layout
    qs, ys = [], []
    with torch.no_grad():
        for batch in task.val_batches(256):
            qs.append(forecast_batch(model, cfg, batch, layout).numpy())
            ys.append(batch["y"][:, -1].numpy())
    return conformal_deltas(cfg, np.concatenate(qs), np.concatenate(ys))


def gate_of(
    cfg: ForecastConfig,
    model: ForecastNet,
    pre: Preprocessor,
    panel: Panel,
    train: Panel,
    origins: list[tuple[int, int]],
) -> dict[str, float]:
    """Per series of `panel` (`train`: its training part): the weight of the network's correction (one of
    cfg.blend) whose validation median had the least MAE; 0 is the anchor alone, 1 the network's forecast.
    The scaled forecast is linear in the weight, so two passes give every candidate."""
    weights = sorted(set(cfg.blend), reverse=True)  # ties go to the larger weight (the network's choice)
    ones = _val_medians(cfg, model, pre, panel.series, origins, {s.uid: 1.0 for s in panel.series})  # (S, H)
    alone = _val_medians(cfg, model, pre, panel.series, origins, {s.uid: 0.0 for s in panel.series})
    y = np.stack([s.y[len(t) : len(t) + cfg.horizon] for s, t in zip(panel.series, train.series)])  # (S, H)
    mae = np.stack(
        [np.nanmean(np.abs(_unscale(pre, panel.series, alone + w * (ones - alone)) - y), axis=1) for w in weights]
    )  # (W, S) in data units
    best = np.argmin(np.where(np.isnan(mae), np.inf, mae), axis=0)  # (S,): all NaN -> the largest weight
    return {s.uid: float(weights[b]) for s, b in zip(panel.series, best)}


def _val_medians(
    cfg: ForecastConfig, model: ForecastNet, pre: Preprocessor, series: list, origins: list, gate: dict[str, float]
) -> np.ndarray:
    """(S, H) validation medians in scaled units (the model's own), with the correction weights `gate`."""
    assert cfg.lookback is not None and cfg.horizon is not None
    pre = dataclasses.replace(pre, gate=gate)
    pt = build_tensors(series, pre, cfg.lookback, cfg.horizon)
    qs = []
    with torch.no_grad():
        for b in origin_batches(pt, origins, cfg.lookback, cfg.horizon, seasons_of(cfg), 256):
            qs.append(forecast_batch(model, cfg, b, pre.layout).numpy())
    return np.concatenate(qs)[..., cfg.levels.index(0.5)]  # (S, H)


def _unscale(pre: Preprocessor, series: list, q: np.ndarray) -> np.ndarray:
    return np.stack([pre.unscale(s, v) for s, v in zip(series, q)])  # (S, H)


def finished(cfg: ForecastConfig, pre: Preprocessor, into: Preprocessor, series: list) -> Preprocessor:
    """`into` with the final pieces for `series` added: the training preprocessor, except that a smoothing
    anchor's pieces (kind, season, smoothing weights, drift) are refit on whole series once validation has
    picked the weights (a short series loses its season if it is estimated without its last horizon), and
    rolling interval widths calibrated on the whole series with that final anchor."""
    if pre.use_theta and cfg.validation:
        pre = dataclasses.replace(pre, theta={**pre.theta, **{s.uid: pre.theta_params(s).to_json() for s in series}})
    out = dataclasses.replace(into, theta=pre.theta)
    if cfg.intervals == "rolling":
        assert cfg.horizon is not None
        widths = {s.uid: pre.interval_widths(s, cfg.levels, cfg.horizon) for s in series}  # {}: too short
        out = dataclasses.replace(out, intervals="rolling", widths={**into.widths, **widths}, levels=list(cfg.levels))
    return out


def forecast_metrics(cfg: ForecastConfig, pre: Preprocessor, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
    """Loss and MAE of the median over the held-out horizon, in scaled units (comparable across series)."""
    q = forecast_batch(model, cfg, batch, pre.layout)  # (B, H, Q)
    y = batch["y"][:, -1]  # (B, H)
    valid = torch.isfinite(y)
    median = q[..., cfg.levels.index(0.5)]
    mae = (median - y).abs()[valid].mean() if bool(valid.any()) else torch.tensor(float("nan"))
    return {"loss": quantile_score(cfg, q, y), "mae": mae}


def quantile_score(cfg: ForecastConfig, q: Tensor, y: Tensor) -> Tensor:
    """Mean pinball loss of quantile forecasts (B, H, Q) against y (B, H): the same yardstick for both heads."""
    valid = torch.isfinite(y)
    if not bool(valid.any()):
        return torch.tensor(float("nan"))
    levels = torch.tensor(cfg.levels)
    diff = y[valid][:, None] - q[valid]  # (M, Q)
    return torch.maximum(levels * diff, (levels - 1) * diff).mean()
