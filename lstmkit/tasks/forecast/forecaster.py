"""`Forecaster`: the Python face of the forecasting task: fit, predict, update, backtest, save, load, and the
inference protocol (schema, records, step with a snapshot-able state).

Only `fit` (and a refitting backtest) touch the training engine; predicting, updating and loading import
no training framework.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from lstmkit.data.timeseries import Panel, Series
from lstmkit.deploy.protocol import ModelState, Probe, RequestError, check, frame_of
from lstmkit.engine.config import RunConfig, TrainConfig
from lstmkit.errors import UsageError
from lstmkit.tasks.forecast import SPEC
from lstmkit.tasks.forecast.anchors import FLAG_NAMES
from lstmkit.tasks.forecast.backtest import backtest
from lstmkit.tasks.forecast.carry import SeriesCarry, fold, forecast_carried, from_state, to_state
from lstmkit.tasks.forecast.config import ForecastConfig
from lstmkit.tasks.forecast.data import Data, builtin_frame, load_data, quantile_column
from lstmkit.tasks.forecast.features import Preprocessor
from lstmkit.tasks.forecast.model import ForecastNet
from lstmkit.tasks.forecast.outputs import NAME, build_model, seasons_of, short_series, to_quantiles, with_data_defaults
from lstmkit.tasks.forecast.pipeline import (
    frame_records,
    read_panel,
    to_frame,
    with_future,
)
from lstmkit.tasks.forecast.predict import forecast_batch
from lstmkit.tasks.forecast.predictor import ForecastPredictor
from lstmkit.tasks.forecast.windows import build_tensors, origin_batches
from lstmkit.tasks.spec import saved_run, saved_state

log = logging.getLogger(__name__)
__all__ = ["Data", "Forecaster", "builtin_frame", "load_data", "load_saved", "quantile_column"]


class TorchForecastNetwork:
    """The predictor's network interface over the PyTorch ForecastNet (numpy in and out, no gradients)."""

    def __init__(self, net: ForecastNet, config: ForecastConfig, pre: Preprocessor) -> None:
        self.net, self.config, self.layout = net.eval(), config, pre.layout

    @torch.no_grad()
    def quantiles(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        tensors = {k: torch.from_numpy(v) for k, v in batch.items()}
        return forecast_batch(self.net, self.config, tensors, self.layout).numpy()  # (B, Hz, Q)


class Forecaster:
    """A global LSTM forecaster over many series: `Forecaster(horizon=24).fit(df).predict(df)`.

    Options are ForecastConfig fields (model, covariates) and TrainConfig fields (epochs, lr, out, ...).
    """

    task = SPEC.name
    capabilities = SPEC.capabilities
    primary = True  # False after fit in a distributed run's extra processes (the first one reports)

    def __init__(
        self,
        horizon: int | None = None,
        *,
        config: ForecastConfig | None = None,
        train: TrainConfig | None = None,
        **options: Any,
    ) -> None:
        if horizon is not None:
            options = {**options, "horizon": horizon}
        run = SPEC.resolve(config, train, options, where="Forecaster")
        self.config, self.train_config = run.task, run.train
        self.net: ForecastNet | None = None
        self.pre: Preprocessor | None = None
        self.calibration: list[list[float]] = []
        self.report: dict[str, Any] = {}  # after fit: the anchors chosen, where the anchor alone won validation
        self.run_dir: Path | None = None
        self._carry: dict[str, SeriesCarry] = {}

    # ---- training

    def fit(self, data: Data) -> Forecaster:
        """Train on every series of `data` (long format, a file, or a built-in dataset name); with
        `chunk_rows` set, a file is read in chunks and never held whole (data larger than memory)."""
        import dataclasses

        self.config = self._no_init_from()
        if self.config.chunk_rows:
            from lstmkit.tasks.forecast.stream import StreamingForecastTask, check_streamable

            source = check_streamable(data, self.config.chunk_rows)
            task = StreamingForecastTask(dataclasses.replace(self.config, data=source), source, self.config.chunk_rows)
            try:
                return self._fit_task(task)
            finally:
                task.close()
        return self.fit_panel(*self.read(data))

    def _no_init_from(self, cfg: ForecastConfig | None = None) -> ForecastConfig:
        """`init_from` names a pretrained forecaster to fine-tune, which this class does not train: say so
        rather than train from scratch while the config says otherwise (`auto` and `none` train from scratch,
        and the saved config says None: what was done)."""
        import dataclasses

        from lstmkit.tasks.forecast.config import from_scratch

        cfg = cfg or self.config
        if not from_scratch(cfg.init_from):
            raise UsageError(
                f"init_from={cfg.init_from!r}: fine-tuning makes a pretrained forecaster, not a Forecaster; "
                "use lstmkit.tasks.forecast.pretrain.finetune(lstmkit.load('pretrained'), series, horizon, "
                "TrainConfig()) or `lstmkit forecast train --init-from pretrained`"
            )
        return dataclasses.replace(cfg, init_from=None)

    def read(self, data: Data) -> tuple[Panel, ForecastConfig]:
        """`data` as a validated panel, and this config completed for it (a built-in's covariates and horizon,
        the lookback, the data's name): read once, then `fit_panel`, `predict` and plots take the panel."""
        import dataclasses

        panel, cfg, horizon = load_data(data, self.config)
        if isinstance(data, (str, Path)):  # saved with the model: export scores int8 graphs on it
            cfg = dataclasses.replace(cfg, data=str(data))
        return panel, with_data_defaults(cfg, panel, horizon)

    def fit_panel(self, panel: Panel, cfg: ForecastConfig) -> Forecaster:
        """Train on a validated panel with a config whose horizon and lookback are set."""
        from lstmkit.tasks.forecast.task import ForecastTask

        cfg = self._no_init_from(cfg)
        self._fit_task(ForecastTask(cfg, panel))
        if cfg.allow_short and self.primary:  # said in the report: which series the short-history rule covers
            self.report["short_series"] = [u for u, _ in short_series(panel.series, cfg.horizon)]
        return self

    def _fit_task(self, task: Any) -> Forecaster:
        """Train a forecasting task (in memory or streaming); the engine runs its finalize hook (the validation
        gate, calibration) before it saves the model once."""
        from lstmkit.engine.trainer import fit

        result = fit(task, self.train_config)
        self.run_dir, self.primary = result.run_dir, result.primary
        if not result.primary:
            return self  # a distributed run's extra process: the first one holds the model
        self.config, self.pre, self.net = task.cfg, task.final_preprocessor(), result.model.eval()
        self.calibration, self._carry = task.calibration, {}
        self.report = {**self._anchor_report(result.report.get("gate", {})), "early_stop": result.early_stop}
        return self

    def _anchor_report(self, gate: dict[str, float]) -> dict[str, Any]:
        """Which anchor each series got and how much of the network's correction validation kept for it (0:
        the anchor alone forecasts it)."""
        assert self.pre is not None
        kinds = (
            {u: FLAG_NAMES[self.pre.anchor_params_of_uid(u).kind] for u in self.pre.theta} if self.pre.use_theta else {}
        )  # by their --anchor names: season, ets, theta
        alone = sorted(u for u, g in gate.items() if g == 0)
        if alone:
            log.info(
                "the anchor alone beat the network on the validation horizon of %d of %d series (%s%s): "
                "those are forecast by the anchor",
                len(alone),
                len(gate),
                ", ".join(alone[:5]),
                " ..." if len(alone) > 5 else "",
            )
        weights = Counter(f"{g:g}" for g in gate.values())
        return {
            "anchor": self.config.anchor,
            "anchor_kinds": dict(Counter(kinds.values())),
            "anchor_alone": alone,
            "series": len(gate),
            "correction_weights": dict(sorted(weights.items())),
        }

    # ---- prediction

    @property
    def predictor(self) -> ForecastPredictor:
        """Prediction over this PyTorch network: the pipeline the ONNX runtime runs too (predictor.py)."""
        net, pre = self._require_fitted()
        return ForecastPredictor(TorchForecastNetwork(net, self.config, pre), self.config, pre, self.calibration, True)

    def _require_fitted(self) -> tuple[ForecastNet, Preprocessor]:
        if self.net is None or self.pre is None:
            raise UsageError("this Forecaster is not trained: call fit(data) or lstmkit.load(path) first")
        return self.net, self.pre

    def _panel(self, data: Data) -> Panel:
        return read_panel(self.config, data)

    def _with_future(self, series: Series, futr: pd.DataFrame | None) -> Series:
        """The series plus its `horizon` future rows: target missing, known-future covariates from `futr`."""
        return with_future(self.config, series, futr)

    def predict(
        self, data: Data | None = None, futr_df: pd.DataFrame | None = None, context: int | Literal["all"] | None = None
    ) -> pd.DataFrame:
        """Forecast `horizon` steps after the end of every series in `data` (long format out:
        unique_id, ds, y_hat and one y_hat_qNN column per quantile). Without data: from the state that
        `update` carries. `context`: encoder steps read (default: the lookback; "all": the whole history)."""
        self._require_fitted()
        if data is None:
            return self._predict_carried(futr_df)
        if self.config.chunk_rows and isinstance(data, (str, Path)) and not builtin_frame(data)[1]:
            from lstmkit.tasks.forecast.batch import forecast_chunks  # a file read chunk by chunk

            return pd.concat(
                list(forecast_chunks(self, data, self.config.chunk_rows, futr_df, context)), ignore_index=True
            )
        return self.predictor.predict(data, futr_df, context)

    def chunks(self, data: str | Path, rows: int | None = None) -> Iterator[Panel]:
        """The series of a file as panels of about `rows` rows (default: the config's chunk_rows), read in turn."""
        from lstmkit.tasks.forecast.stream import read_chunks

        return read_chunks(self.config, str(data), rows or self.config.chunk_rows or 100_000)

    def _frame(self, series: list[Series], q: np.ndarray, pres: list[Preprocessor] | None = None) -> pd.DataFrame:
        """Scaled quantiles (S, H, Q) -> the long forecast frame, in the data's units."""
        assert self.pre is not None
        return to_frame(self.config, self.pre, self.calibration, series, q, pres)

    # ---- stateful update

    def update(self, data: Data) -> Forecaster:
        """Fold new rows into the carried LSTM state of each series, in O(new rows): the next `predict()`
        then forecasts without re-encoding the history. A series seen for the first time starts from a zero
        state; one not seen in training keeps the scaling (and theta pieces) of the rows it first came with.
        The result equals encoding all rows folded so far in one pass."""
        net, pre = self._require_fitted()
        with torch.no_grad():
            for s in self._panel(data).series:
                self._carry[s.uid] = fold(net, pre, self.config, s, self._carry.get(s.uid))
        return self

    def _predict_carried(
        self, futr_df: pd.DataFrame | None, carries: dict[str, SeriesCarry] | None = None
    ) -> pd.DataFrame:
        carries = self._carry if carries is None else carries
        if not carries:
            raise UsageError("no carried state: call update(data) first, or predict(data)")
        net, pre = self._require_fitted()
        qs, series, pres = [], [], []
        with torch.no_grad():
            for carry in carries.values():
                ext = self._with_future(carry.stub(), futr_df)
                qs.append(forecast_carried(net, pre, self.config, carry, ext.ds[1:], ext.future[1:]))  # (1, H, Q)
                series.append(carry.stub())
                pres.append(carry.view(pre))
        return self._frame(series, torch.cat(qs).numpy(), pres)

    # ---- the inference protocol (deploy.protocol): what serving and export call

    def schema(self) -> dict[str, Any]:
        return self.predictor.schema()

    def predict_records(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return self.predictor.predict_records(records)

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.predict(frame)

    def predict_many(self, requests: list[list[dict[str, Any]]]) -> list[list[dict[str, Any]]]:
        return self.predictor.predict_many(requests)

    def initial_state(self) -> ModelState:
        return to_state({})

    def step(self, state: ModelState, inputs: dict[str, Any]) -> tuple[dict[str, Any], ModelState]:
        """Fold `inputs["rows"]` (new history rows) into `state` and forecast the series they touch; the state
        passed in is left as it was. `inputs["future"]`: known-future covariate rows for the horizon."""
        check(inputs, self.schema()["step_input"], "inputs")
        net, pre = self._require_fitted()
        carries = from_state(state.copy())
        rows = frame_of(inputs["rows"])
        touched = {}
        with torch.no_grad():
            for s in self._panel(rows).series:
                carries[s.uid] = touched[s.uid] = fold(net, pre, self.config, s, carries.get(s.uid))
        futr = frame_of(inputs["future"]) if inputs.get("future") else None
        fc = self._predict_carried(futr, touched)
        return {"forecast": frame_records(fc, self.config.time_col)}, to_state(carries)

    def step_inputs(self, records: list[dict[str, Any]], extra: dict[str, Any]) -> dict[str, Any]:
        """A session's new history rows (and `extra["future"]`, known-future covariate rows) as step inputs."""
        return {"rows": records, **({"future": extra["future"]} if extra.get("future") else {})}

    def probe(self, inputs: dict[str, Any] | None = None) -> Probe:
        """The encoder reading the first series of `inputs["data"]` up to its last horizon (the lookback
        rows before it), and the loss of the forecast of that horizon against its actuals (mean pinball
        loss, scaled): what `lstmkit inspect` traces and differentiates."""
        net, pre = self._require_fitted()
        if not inputs or "data" not in inputs:
            raise RequestError("a forecaster's probe reads a history: pass --data PATH|DATASET")
        c = self.config
        s = self._panel(inputs["data"]).series[0]
        if len(s) <= c.horizon + 1:
            raise RequestError(
                f"series {s.uid!r} has {len(s)} rows; the probe needs more than the horizon ({c.horizon})"
            )
        pinned = pre.pinned(s)
        pt = build_tensors([s], pinned, c.lookback, 0)
        (batch,) = origin_batches(pt, [(0, len(s) - c.horizon)], c.lookback, c.horizon, seasons_of(c), 1)
        st = net.static(batch["ids"], batch["cats"], batch["nums"])  # (1, S)
        x = net.rnn_inputs(batch["x"], st)  # (1, W, F + S): what the LSTM reads
        y, levels = batch["y"][:, -1], torch.tensor(c.levels)  # (1, H) actuals, scaled

        def loss_of_output(out: Tensor) -> Tensor:
            dec = net.decode(out[:, -1:], batch["known"][:, -1:], st, batch["x"][:, -1:], batch["lags"][:, -1:])
            diff = y[..., None] - to_quantiles(c, dec[:, 0])  # (1, H, Q)
            return torch.maximum(levels * diff, (levels - 1) * diff)[torch.isfinite(y)].mean()

        return Probe(net.rnn, x.detach(), None, loss_of_output, loss_name="the pinball loss of the last horizon")

    # ---- evaluation and persistence

    def backtest(
        self,
        data: Data,
        n_windows: int = 3,
        step: int | None = None,
        refit: bool = False,
        statistical: bool = True,
        out: str | Path | None = None,
    ) -> Any:
        """Rolling-origin evaluation against naive, seasonal naive (and statsforecast, when installed) on
        the same windows; an untrained Forecaster is trained on the data before the first window (in
        `out`/fit). Returns a BacktestResult (table, MAE by horizon step, the last window's forecasts)."""
        return backtest(self, data, n_windows=n_windows, step=step, refit=refit, statistical=statistical, out=out)

    def save(self, path: str | Path) -> Path:
        """A saved-model directory: safetensors weights + config.json + preprocessor/calibration JSON."""
        from lstmkit.deploy.saved_model import save_model

        net, pre = self._require_fitted()
        resolved = RunConfig(self.config, self.train_config).to_dict()  # the same document the engine saves
        state = {"preprocessor": pre.to_dict(), "calibration": self.calibration}
        return save_model(path, task=NAME, config=resolved, tensors=net.state_dict(), state=state)


def load_saved(saved: Any, device: torch.device) -> Forecaster:
    """Rebuild a Forecaster exactly as it was trained (the saved-model loader of this task); a pretrained
    forecaster's saved model loads as a PretrainedForecaster."""
    from lstmkit.deploy.saved_model import load_weights
    from lstmkit.tasks.forecast.pretrained import is_pretrained, load_pretrained

    if is_pretrained(saved):
        return load_pretrained(saved, device)

    cfg, train = saved_run(saved, ForecastConfig)
    f = Forecaster(config=cfg, train=train)
    f.pre = Preprocessor.from_dict(saved_state(saved, "preprocessor", "the scalers"))
    f.calibration = saved.state.get("calibration") or []
    f.net = load_weights(build_model(cfg, f.pre), saved).eval()  # CPU inference (`device`: common signature)
    return f
