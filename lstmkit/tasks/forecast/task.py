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

from lstmkit.config import to_dict
from lstmkit.data.timeseries import Panel, check_lengths
from lstmkit.tasks.forecast.config import ForecastConfig
from lstmkit.tasks.forecast.features import Preprocessor
from lstmkit.tasks.forecast.model import ForecastNet
from lstmkit.tasks.forecast.outputs import NAME, build_model, decoded_steps, seasons_of, with_data_defaults
from lstmkit.tasks.forecast.predict import forecast_batch
from lstmkit.tasks.forecast.windows import Batch, OriginBatches, WindowSampler, build_tensors, origin_batches

__all__ = ["NAME", "ForecastTask", "build_model", "forecast_loss", "quantile_score", "with_data_defaults"]


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

    def build_model(self) -> nn.Module:
        return build_model(self.cfg, self.pre)

    def train_batches(self, batch_size: int, seed: int) -> WindowSampler:
        steps = self.cfg.steps_per_epoch or int(np.clip(-(-int((self._train.lengths - 1).sum()) // batch_size), 10, 100))
        return WindowSampler(self._train, self.cfg.lookback, decoded_steps(self.cfg), self.cfg.forking,
                             seasons_of(self.cfg), batch_size, steps, seed)  # fmt: skip

    def val_batches(self, batch_size: int) -> OriginBatches:
        return origin_batches(self._val, self._val_origins, self.cfg.lookback, self.cfg.horizon, seasons_of(self.cfg),
                              max(batch_size, 256))  # fmt: skip

    def test_batches(self, batch_size: int) -> None:
        return None

    def loss(self, model: nn.Module, batch: Batch) -> Tensor:
        return forecast_loss(self.cfg, run(model, batch), batch["y"])

    def metrics(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        """Loss and MAE of the median over the held-out horizon, in scaled units (comparable across series)."""
        q = forecast_batch(model, self.cfg, batch, self.pre.layout)  # (B, H, Q)
        y = batch["y"][:, -1]  # (B, H)
        valid = torch.isfinite(y)
        median = q[..., self.cfg.levels.index(0.5)]
        mae = (median - y).abs()[valid].mean() if bool(valid.any()) else torch.tensor(float("nan"))
        return {"loss": quantile_score(self.cfg, q, y), "mae": mae}

    def config_dict(self) -> dict[str, Any]:
        return to_dict(self.cfg)

    def saved_state(self) -> dict[str, Any]:
        return {"preprocessor": self.final_preprocessor().to_dict()}

    def validation_gate(self, model: ForecastNet) -> dict[str, float]:
        """Per series 1.0 where the trained network's median beat its anchor alone (MAE over the validation
        horizon), else 0.0: the anchor then forecasts that series by itself. Empty without a validation
        window or a smoothing anchor."""
        if self.pre.layout.gate is None or not self.cfg.validation:
            return {}
        ones = self._val_medians(model, self.pre)
        alone = self._val_medians(model, dataclasses.replace(self.pre, gate={s.uid: 0.0 for s in self.panel.series}))
        y = np.stack([s.y[len(t) : len(t) + self.cfg.horizon] for s, t in zip(self.panel.series, self.train_panel.series)])
        won = np.nanmean(np.abs(ones - y), axis=1) <= np.nanmean(np.abs(alone - y), axis=1)  # (S,)
        return {s.uid: float(w) for s, w in zip(self.panel.series, won)}

    def _val_medians(self, model: ForecastNet, pre: Preprocessor) -> np.ndarray:
        """(S, H) validation medians in data units, featurised by `pre`."""
        pt = build_tensors(self.panel.series, pre, self.cfg.lookback, self.cfg.horizon)
        qs = []
        with torch.no_grad():
            for b in origin_batches(pt, self._val_origins, self.cfg.lookback, self.cfg.horizon, seasons_of(self.cfg), 256):
                qs.append(forecast_batch(model, self.cfg, b, pre.layout).numpy())
        q = np.concatenate(qs)[..., self.cfg.levels.index(0.5)]  # (S, H) scaled
        return np.stack([pre.unscale(s, v) for s, v in zip(self.panel.series, q)])

    def set_gate(self, gate: dict[str, float]) -> None:
        """Record the validation gate: the saved preprocessor forecasts with it from now on."""
        self.pre = dataclasses.replace(self.pre, gate=gate)
        self._final = None

    def final_preprocessor(self) -> Preprocessor:
        """What the trained model forecasts with: the training preprocessor, except that a smoothing anchor's
        pieces (kind, season, smoothing weights, drift) are refit on whole series once validation has picked the weights:
        a short series loses its season if it is estimated without its last horizon."""
        if self._final is None:
            pre = self.pre
            if pre.use_theta and self.cfg.validation:
                pre = dataclasses.replace(pre, theta={s.uid: pre.theta_params(s).to_json() for s in self.panel.series})
            if self.cfg.intervals == "rolling":  # calibrated on the whole series, with its final anchor
                widths = {s.uid: pre.interval_widths(s, self.cfg.levels, self.cfg.horizon) for s in self.panel.series}
                pre = dataclasses.replace(pre, intervals="rolling", widths=widths,  # {}: too short, left as it is
                                          levels=list(self.cfg.levels))  # fmt: skip
            self._final = pre
        return self._final


def quantile_score(cfg: ForecastConfig, q: Tensor, y: Tensor) -> Tensor:
    """Mean pinball loss of quantile forecasts (B, H, Q) against y (B, H): the same yardstick for both heads."""
    valid = torch.isfinite(y)
    if not bool(valid.any()):
        return torch.tensor(float("nan"))
    levels = torch.tensor(cfg.levels)
    diff = y[valid][:, None] - q[valid]  # (M, Q)
    return torch.maximum(levels * diff, (levels - 1) * diff).mean()
