"""`Forecaster`: the Python face of the forecasting task: fit, predict, update, backtest, save, load.

Only `fit` (and a refitting backtest) touch the training engine; predicting, updating and loading import
no training framework.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from lstmkit.config import ConfigError, from_dict, to_dict
from lstmkit.data.timeseries import Columns, DataError, Panel, Series, future_index, to_panel
from lstmkit.engine.config import TrainConfig, config_objects, resolve_run
from lstmkit.errors import UsageError
from lstmkit.tasks.forecast.config import ForecastConfig
from lstmkit.tasks.forecast.features import Preprocessor
from lstmkit.tasks.forecast.model import ForecastNet
from lstmkit.tasks.forecast.predict import apply_conformal, conformal_deltas, decode_from, forecast_batch
from lstmkit.tasks.forecast.task import NAME, build_model, seasons_of
from lstmkit.tasks.forecast.windows import build_tensors, origin_batches

log = logging.getLogger(__name__)

Data = str | Path | pd.DataFrame


def quantile_column(level: float) -> str:
    return f"y_hat_q{level * 100:g}"


def builtin_frame(data: Data) -> tuple[Data, Any]:
    """A built-in dataset name -> (its long frame, its description); anything else passes through."""
    if isinstance(data, str) and not Path(data).exists():
        from lstmkit.data.builtin_series import SERIES_DATASETS, load_builtin

        if data in SERIES_DATASETS or not Path(data).suffix:
            return load_builtin(data)
    return data, None


def load_data(data: Data, cfg: ForecastConfig) -> tuple[Panel, ForecastConfig, int | None]:
    """A panel from a file, a DataFrame or a built-in dataset name; built-ins bring their covariate roles
    and horizon unless the config names its own. Returns the panel, the config and the default horizon."""
    data, info = builtin_frame(data)
    horizon = None
    if info is not None:
        if not cfg.past_covariates and not cfg.future_covariates:
            cfg = dataclasses.replace(cfg, past_covariates=info.past, future_covariates=info.future)
        horizon = info.horizon
        cfg = dataclasses.replace(cfg, id_col="unique_id", time_col="ds", target="y", freq=cfg.freq or info.freq)
    columns = Columns(cfg.id_col, cfg.time_col, cfg.target)
    panel = to_panel(data, columns, cfg.freq, cfg.past_covariates, cfg.future_covariates, cfg.static_covariates)
    return panel, cfg, horizon


class Forecaster:
    """A global LSTM forecaster over many series: `Forecaster(horizon=24).fit(df).predict(df)`.

    Options are ForecastConfig fields (model, covariates) and TrainConfig fields (epochs, lr, out, ...).
    """

    def __init__(self, horizon: int | None = None, *, config: ForecastConfig | None = None,
                 train: TrainConfig | None = None, **options: Any) -> None:  # fmt: skip
        if horizon is not None:
            options = {**options, "horizon": horizon}
        from lstmkit.tasks.forecast import SPEC

        run = resolve_run(ForecastConfig, SPEC.train_defaults, base=config_objects(config, train), options=options,
                          where="Forecaster")  # fmt: skip
        self.config, self.train_config = run.task, run.train
        self.net: ForecastNet | None = None
        self.pre: Preprocessor | None = None
        self.calibration: list[list[float]] = []
        self.run_dir: Path | None = None
        self._carry: dict[str, dict[str, Any]] = {}

    # ---- training

    def fit(self, data: Data) -> Forecaster:
        """Train on every series of `data` (long format, a file, or a built-in dataset name)."""
        from lstmkit.tasks.forecast.task import with_data_defaults

        panel, cfg, horizon = load_data(data, self.config)
        return self.fit_panel(panel, with_data_defaults(cfg, panel, horizon))

    def fit_panel(self, panel: Panel, cfg: ForecastConfig) -> Forecaster:
        """Train on a validated panel with a config whose horizon and lookback are set."""
        from lstmkit.engine.trainer import fit
        from lstmkit.tasks.forecast.task import ForecastTask

        task = ForecastTask(cfg, panel)
        result = fit(task, self.train_config)
        self.config, self.pre, self.net = cfg, task.final_preprocessor(), result.model.eval()
        self.run_dir, self._carry = result.run_dir, {}
        if cfg.conformal:
            self.calibration = self._calibrate(task)
            self.save(result.model_dir)
        return self

    def _calibrate(self, task: Any) -> list[list[float]]:
        if not self.config.validation:
            raise ConfigError("conformal calibration uses the validation window: keep validation on")
        qs, ys = [], []
        with torch.no_grad():
            for batch in task.val_batches(256):
                qs.append(forecast_batch(self.net, self.config, batch).numpy())
                ys.append(batch["y"][:, -1].numpy())
        return conformal_deltas(self.config, np.concatenate(qs), np.concatenate(ys))

    # ---- prediction

    def _require_fitted(self) -> tuple[ForecastNet, Preprocessor]:
        if self.net is None or self.pre is None:
            raise UsageError("this Forecaster is not trained: call fit(data) or lstmkit.load(path) first")
        return self.net, self.pre

    def _panel(self, data: Data) -> Panel:
        c = self.config
        data, _ = builtin_frame(data)
        panel = to_panel(data, Columns(c.id_col, c.time_col, c.target), c.freq, c.past_covariates,
                         c.future_covariates, c.static_covariates)  # fmt: skip
        if panel.freq != c.freq and pd.tseries.frequencies.to_offset(panel.freq) != pd.tseries.frequencies.to_offset(
            c.freq
        ):
            raise DataError(f"the data's frequency is {panel.freq!r} but the model was trained on {c.freq!r}")
        return panel

    def _with_future(self, series: Series, futr: pd.DataFrame | None) -> Series:
        """The series plus its `horizon` future rows: target missing, known-future covariates from `futr`."""
        c = self.config
        ds = future_index(series.ds[-1], c.freq, c.horizon)
        future = np.zeros((c.horizon, len(c.future_covariates)))
        if c.future_covariates:
            future = _future_values(futr, series.uid, ds, c)
        return Series(
            series.uid, series.ds.append(ds), np.concatenate([series.y, np.full(c.horizon, np.nan)]),
            np.concatenate([series.past, np.full((c.horizon, series.past.shape[1]), np.nan)]),
            np.concatenate([series.future, future]), series.static,
        )  # fmt: skip

    def predict(
        self, data: Data | None = None, futr_df: pd.DataFrame | None = None, context: int | Literal["all"] | None = None
    ) -> pd.DataFrame:
        """Forecast `horizon` steps after the end of every series in `data` (long format out:
        unique_id, ds, y_hat and one y_hat_qNN column per quantile). Without data: from the state that
        `update` carries. `context`: encoder steps read (default: the lookback; "all": the whole history)."""
        net, pre = self._require_fitted()
        if data is None:
            return self._predict_carried(futr_df)
        series = self._panel(data).series
        window = _context(context, self.config.lookback, series)
        extended = [self._with_future(s, futr_df) for s in series]
        pt = build_tensors(extended, pre, window, 0)
        origins = [(i, len(s)) for i, s in enumerate(series)]
        qs = []
        with torch.no_grad():
            for batch in origin_batches(pt, origins, window, self.config.horizon, seasons_of(self.config), 256):
                qs.append(forecast_batch(net, self.config, batch).numpy())
        return self._frame(series, np.concatenate(qs))

    def _frame(self, series: list[Series], q: np.ndarray, pres: list[Preprocessor] | None = None) -> pd.DataFrame:
        """Scaled quantiles (S, H, Q) -> the long forecast frame, in the data's units (`pres`: each series'
        preprocessor, when an unseen series has its own pinned one)."""
        assert self.pre is not None
        if self.calibration:
            q = apply_conformal(self.config, q, self.calibration)
        c, rows = self.config, []
        for i, (s, qs) in enumerate(zip(series, q)):
            values = (pres[i] if pres else self.pre).unscale(s, qs)  # (H, Q)
            frame = {c.id_col: s.uid, c.time_col: future_index(s.ds[-1], c.freq, c.horizon),
                     "y_hat": values[:, c.levels.index(0.5)]}  # fmt: skip
            frame.update({quantile_column(lv): values[:, j] for j, lv in enumerate(c.levels) if lv != 0.5})
            rows.append(pd.DataFrame(frame))
        return pd.concat(rows, ignore_index=True)

    # ---- stateful update

    def update(self, data: Data) -> Forecaster:
        """Fold new rows into the carried LSTM state of each series, in O(new rows): the next `predict()`
        then forecasts without re-encoding the history. A series seen for the first time starts from a zero
        state; one not seen in training keeps the scaling (and theta pieces) of the rows it first came with.
        The result equals encoding all rows folded so far in one pass."""
        net, pre = self._require_fitted()
        with torch.no_grad():
            for s in self._panel(data).series:
                carry = self._carry.get(s.uid)
                if carry is not None:
                    s = _after(carry["ds"], s, self.config.freq)
                view = pre.pinned(s) if carry is None else carry["pre"]
                x, _ = view.encoder(s, None if carry is None else carry["level"])  # (T, F)
                i, cats, nums = view.static_row(s)
                st = net.static(torch.tensor([i]), torch.from_numpy(cats)[None], torch.from_numpy(nums)[None])
                out, hx = net.encode(torch.from_numpy(x)[None], st, None if carry is None else carry["hx"])
                m = max(seasons_of(self.config))
                tail = np.concatenate([np.zeros(m, np.float32) if carry is None else carry["tail"], x[:, 0]])[-m:]
                level = _carried_level(pre, x, None if carry is None else carry["level"])
                self._carry[s.uid] = {"hx": hx, "last": out[:, -1:], "x": torch.from_numpy(x[-1])[None], "s": st,
                                      "ds": s.ds[-1], "series": s, "tail": tail, "level": level,
                                      "pre": view}  # fmt: skip
        return self

    def _predict_carried(self, futr_df: pd.DataFrame | None) -> pd.DataFrame:
        if not self._carry:
            raise UsageError("no carried state: call update(data) first, or predict(data)")
        net, _ = self._require_fitted()
        qs, series, pres = [], [], []
        with torch.no_grad():
            for carry in self._carry.values():
                s = carry["series"]
                ext = self._with_future(s, futr_df)
                view = carry["pre"]
                known = torch.from_numpy(view.known(ext.ds[len(s):], ext.future[len(s):], s))[None]  # (1, H, K)
                tail = carry["tail"]  # the last (longest) season of scaled values; step k lags by one season
                k, m = np.arange(self.config.horizon)[:, None], np.asarray(seasons_of(self.config))  # (H, 1), (E,)
                lags = torch.from_numpy(tail[len(tail) - m + k % m])[None]  # (1, H, E)
                qs.append(decode_from(net, self.config, carry["last"], carry["hx"], carry["s"], carry["x"], known,
                                      lags))  # fmt: skip
                series.append(s)
                pres.append(view)
        return self._frame(series, torch.cat(qs).numpy(), pres)

    # ---- evaluation and persistence

    def backtest(self, data: Data, n_windows: int = 3, step: int | None = None, refit: bool = False,
                 statistical: bool = True, out: str | Path | None = None) -> Any:  # fmt: skip
        """Rolling-origin evaluation against naive, seasonal naive (and statsforecast, when installed) on
        the same windows; an untrained Forecaster is trained on the data before the first window (in
        `out`/fit). Returns a BacktestResult (table, MAE by horizon step, the last window's forecasts)."""
        from lstmkit.tasks.forecast.backtest import backtest

        return backtest(self, data, n_windows=n_windows, step=step, refit=refit, statistical=statistical, out=out)

    def save(self, path: str | Path) -> Path:
        """A saved-model directory: safetensors weights + config.json + preprocessor/calibration JSON."""
        from lstmkit.deploy.saved_model import save_model

        net, pre = self._require_fitted()
        resolved = {"task": to_dict(self.config), "train": to_dict(self.train_config)}
        state = {"preprocessor": pre.to_dict(), "calibration": self.calibration}
        return save_model(path, task=NAME, config=resolved, tensors=net.state_dict(), state=state)


def _carried_level(pre: Preprocessor, x: np.ndarray, before: float | None) -> float | None:
    """The theta anchor's smoothed level after rows x (T, F): none until a first observation."""
    if not pre.use_theta or (before is None and not x[:, 1].any()):
        return None
    return float(x[-1, -2])


def _context(context: int | str | None, lookback: int | None, series: list[Series]) -> int:
    if context is None:
        assert lookback is not None
        return lookback
    if context == "all":
        return max(len(s) for s in series)
    if not isinstance(context, int) or context < 1:
        raise ConfigError(f"context must be a positive number of steps or 'all', got {context!r}")
    return context


def _future_values(futr: pd.DataFrame | None, uid: str, ds: pd.DatetimeIndex, c: ForecastConfig) -> np.ndarray:
    """Known-future covariates of one series over its forecast horizon, from `futr` (long format)."""
    if futr is None:
        raise DataError(
            f"the model uses known-future covariates {list(c.future_covariates)}: pass futr_df (--future FILE) "
            f"with {c.id_col}, {c.time_col} and those columns for the {c.horizon} steps after each series"
        )
    ids = futr[c.id_col].astype(str) if c.id_col in futr.columns else pd.Series(uid, index=futr.index)
    rows = futr[ids == uid].assign(**{c.time_col: pd.to_datetime(futr[c.time_col])}).set_index(c.time_col)
    values = rows.reindex(ds)[list(c.future_covariates)].to_numpy(np.float64)
    if np.isnan(values).any():
        missing = ds[np.isnan(values).any(axis=1)][0]
        raise DataError(
            f"future covariates of series {uid!r} are missing at {missing} (needed for every step of the horizon)"
        )
    return values


def _after(last: pd.Timestamp, s: Series, freq: str) -> Series:
    """New rows must follow the folded ones; a gap becomes missing rows (masked)."""
    if s.ds[0] <= last:
        raise DataError(
            f"series {s.uid!r}: update got rows from {s.ds[0]}, but rows up to {last} are already folded in; "
            "pass only the new rows"
        )
    grid = pd.date_range(last, s.ds[-1], freq=freq)[1:]
    if len(grid) == len(s):
        return s
    pad = len(grid) - len(s)
    return Series(
        s.uid, grid, np.concatenate([np.full(pad, np.nan), s.y]),
        np.concatenate([np.full((pad, s.past.shape[1]), np.nan), s.past]),
        np.concatenate([np.full((pad, s.future.shape[1]), np.nan), s.future]), s.static,
    )  # fmt: skip


def load_saved(saved: Any, device: torch.device) -> Forecaster:
    """Rebuild a Forecaster exactly as it was trained (the saved-model loader of this task)."""
    from lstmkit.deploy.saved_model import ModelFileError, load_weights

    where = f"{saved.path}/config.json"
    cfg = from_dict(ForecastConfig, saved.config["task"], where=f"{where} task")
    train = from_dict(TrainConfig, saved.config.get("train", {}), where=f"{where} train")
    if "preprocessor" not in saved.state:
        raise ModelFileError(f"{saved.path} lacks preprocessor.json (the scalers); re-save the model")
    f = Forecaster(config=cfg, train=train)
    f.pre = Preprocessor.from_dict(saved.state["preprocessor"])
    f.calibration = saved.state.get("calibration") or []
    f.net = load_weights(build_model(cfg, f.pre), saved).eval()  # CPU inference (`device`: common signature)
    return f
