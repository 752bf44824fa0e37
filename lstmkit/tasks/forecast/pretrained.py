"""The pretrained forecaster as users meet it: `lstmkit.load("pretrained")`, `lstmkit forecast predict --model
pretrained --data my.csv --horizon 12`, `forecast backtest --model pretrained`, serving. No training: every
series is forecast from its own last `context` values (zeroshot.py). Columns, horizon and the frequency are
read per call (a ForecastConfig holds the data flags), so one model serves any data. Torch-free: the network
is an interface (`quantiles(x, mask, base)`), PyTorch's (patchnet.TorchPatchNetwork) or an ONNX export's.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lstmkit.data.timeseries import Columns, DataError, Series, future_times, to_panel
from lstmkit.deploy.protocol import Probe, RequestError, check_records, frame_of
from lstmkit.errors import UsageError
from lstmkit.tasks.forecast import SPEC
from lstmkit.tasks.forecast.config import ForecastConfig
from lstmkit.tasks.forecast.data import builtin_frame, quantile_column
from lstmkit.tasks.forecast.pipeline import frame_records, schema_of
from lstmkit.tasks.forecast.zeroshot import ZeroShotConfig, anchor_paths, contexts, shrink, standardise, widen

log = logging.getLogger(__name__)
BATCH = 1024  # series per forward pass
DEFAULT_HORIZON = 12


class PretrainedForecaster:
    """A pretrained zero-shot forecaster (the inference protocol of deploy.protocol, stateless)."""

    task = SPEC.name
    capabilities = dataclasses.replace(SPEC.capabilities, stateful=False)

    def __init__(self, network: Any, arch: ZeroShotConfig, config: ForecastConfig | None = None) -> None:
        self.network, self.arch = network, arch
        self.config = config or ForecastConfig(horizon=min(DEFAULT_HORIZON, arch.horizon), quantiles=arch.levels)

    # ---- forecasting

    def forecast_values(self, series: list[np.ndarray], horizon: int) -> np.ndarray:
        """Quantile forecasts (S, horizon, Q) in the data's units of the steps after each series' values."""
        if not 1 <= horizon <= self.arch.horizon:
            raise UsageError(
                f"the pretrained model forecasts up to {self.arch.horizon} steps ahead; got --horizon {horizon}"
            )
        short = [i for i, y in enumerate(series) if np.isfinite(y).sum() < 3]
        if short:
            raise DataError(f"{len(short)} series have fewer than 3 observed values: nothing to forecast from")
        out = []
        for i in range(0, len(series), BATCH):
            x, mask, loc, scale = standardise(contexts(series[i : i + BATCH], self.arch.context))
            base = anchor_paths(self.arch, x, mask)  # (B, Hm) or None
            q = np.asarray(self.network.quantiles(x, mask, base), dtype=np.float64)  # (B, Hm, Q)
            q = widen(self.arch, shrink(self.arch, q, base)[:, :horizon])  # (B, horizon, Q)
            out.append(q * scale[:, None, None] + loc[:, None, None])
        return np.concatenate(out)

    def forecast_origins(self, series: list[Series], origins: list[int], horizon: int) -> np.ndarray:
        """(S, horizon, Q) from each series' values before its origin (backtests)."""
        return self.forecast_values([s.y[:o] for s, o in zip(series, origins)], horizon)

    def panel(self, data: Any) -> Any:
        frame, _ = builtin_frame(data)
        c = self.config
        if c.past_covariates or c.future_covariates or c.static_covariates:
            log.warning("the pretrained model reads the target only: covariates are ignored")
        return to_panel(frame, Columns(c.id_col, c.time_col, c.target), c.freq)

    def predict(self, data: Any, futr_df: pd.DataFrame | None = None, context: Any = None) -> pd.DataFrame:
        """The next `config.horizon` steps of every series in `data` (long format out: unique_id, ds, y_hat and
        one y_hat_qNN column per level). `futr_df` and `context` are accepted and unused (no covariates; the
        model reads its own context length)."""
        panel = self.panel(data)
        h = self.config.horizon or min(DEFAULT_HORIZON, self.arch.horizon)
        q = self.forecast_values([s.y for s in panel.series], h)
        mid = list(self.arch.levels).index(0.5)
        rows = []
        for s, qs in zip(panel.series, q):
            frame = {self.config.id_col: s.uid, self.config.time_col: future_times(s.ds[-1], panel.freq, h)}
            frame["y_hat"] = qs[:, mid]
            frame.update({quantile_column(lv): qs[:, j] for j, lv in enumerate(self.arch.levels) if lv != 0.5})
            rows.append(pd.DataFrame(frame))
        return pd.concat(rows, ignore_index=True)

    def backtest(
        self,
        data: Any,
        n_windows: int = 3,
        step: int | None = None,
        refit: bool = False,
        statistical: bool = True,
        out: str | Path | None = None,
        finetune: Any = None,
    ) -> Any:
        """Rolling-origin evaluation against the baselines on the same windows: zero-shot, or with `finetune`
        (a TrainConfig) the model fine-tuned on every series' values before each window's origin, as
        `forecast train` would (runs under `out`/window-N). `refit` does not apply."""
        import time

        from lstmkit.tasks.forecast.backtest import MODEL, _Scores, first_origins, score_windows

        panel = self.panel(data)
        h = self.config.horizon or min(DEFAULT_HORIZON, self.arch.horizon)
        step = step or h
        models = {}
        scores = _Scores(h)
        if finetune is not None:
            from lstmkit.tasks.forecast.pretrain import finetune as tune

            first_origins(panel, h, n_windows, step)  # too short for the windows: the backtest's own error
            for w in range(n_windows):
                origins = [len(s) - h - (n_windows - 1 - w) * step for s in panel.series]
                where = Path(out or "runs/forecast/backtest") / f"window-{w}"
                t0 = time.perf_counter()
                train = dataclasses.replace(finetune, out=str(where))
                models[w], _ = tune(self, [s.y[:o] for s, o in zip(panel.series, origins)], h, train)
                scores.timed(MODEL, "fit", time.perf_counter() - t0)

        def forecast(origins: list[int], w: int) -> np.ndarray:
            return models.get(w, self).forecast_origins(panel.series, origins, h)

        extra = {"refit": finetune is not None, "model": "pretrained, fine-tuned" if models else "pretrained"}
        return score_windows(panel, h, n_windows, step, statistical, forecast, self.arch.levels, extra, scores)

    # ---- the inference protocol

    def schema(self) -> dict[str, Any]:
        return schema_of(self.config, stateful=False)

    def predict_records(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return frame_records(self.predict(frame_of(check_records(records, self.schema()))), self.config.time_col)

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.predict(frame)

    def probe(self, inputs: dict[str, Any] | None = None) -> Probe:
        raise RequestError("the pretrained forecaster has no gradient probe; train a model to inspect one")

    @property
    def net(self) -> Any:
        """The PyTorch network (export, fine-tuning); an error for an ONNX-run model."""
        net = getattr(self.network, "net", None)
        if net is None:
            raise UsageError("this pretrained forecaster runs on onnxruntime; load it with --runtime torch")
        return net

    def save(self, path: str | Path, train: dict[str, Any] | None = None) -> Path:
        """Write the model (safetensors + JSON); `train`: the training settings that made it, kept beside."""
        from lstmkit.deploy.saved_model import save_model

        config = {"task": {"model": "pretrained", **dataclasses.asdict(self.arch)}, "train": train or {}}
        return save_model(path, task=SPEC.name, config=config, tensors=self.net.state_dict())


def is_pretrained(saved: Any) -> bool:
    """Whether a read saved model is a pretrained forecaster (its config says model: pretrained)."""
    return saved.config.get("task", {}).get("model") == "pretrained"


def load_pretrained(saved: Any, device: Any) -> PretrainedForecaster:
    from lstmkit.config import from_dict
    from lstmkit.deploy.saved_model import load_weights
    from lstmkit.tasks.forecast.patchnet import PatchNet, TorchPatchNetwork

    fields = {k: v for k, v in saved.config["task"].items() if k != "model"}
    arch = from_dict(ZeroShotConfig, fields, where=f"{saved.path}/config.json task")
    return PretrainedForecaster(TorchPatchNetwork(load_weights(PatchNet(arch), saved)), arch)
