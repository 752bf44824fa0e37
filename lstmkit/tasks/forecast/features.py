"""From series to model inputs, with the fitted state (scalers, covariate statistics, vocabularies) that is
saved with the model as JSON, so a loaded model featurises exactly as it did in training.

Encoder features per step (F): scaled target (the last observed value carried forward where it is missing,
0 before the first observation), observed mask, past covariates, known-future
covariates, calendar. Known-future features (K): known-future covariates and calendar of the forecast step.
Missing covariate values enter as 0 (the scaled mean); a missing target enters as 0 with mask 0.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from lstmkit.data.timeseries import (
    DataError,
    Panel,
    Series,
    calendar_features,
    fit_scaler,
    n_calendar_features,
    season_length,
    season_position,
)
from lstmkit.tasks.forecast import anchors, intervals
from lstmkit.tasks.forecast.anchors import SmoothParams
from lstmkit.tasks.forecast.config import SMOOTH

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeatureLayout:
    """Where each feature sits in an encoder row (F columns) and a known-future row (K columns): the one
    place that knows the order, so no caller indexes features by position."""

    target: int  # the scaled target (last observation carried forward)
    mask: int  # 1 where the target was observed
    past: slice  # past covariates
    known: slice  # known-future features (covariates, calendar, theta's seasonal index), as in the K layout
    level: int | None  # theta/ets/auto anchors: the smoothed deseasonalised level
    drift: int | None  # ... the trend (theta's constant drift)
    season_known: int | None  # ... the seasonal index, as a column of the known-future (K) features
    width: int  # F
    phi: int | None = None  # the trend's damping (models before v0.3: none, i.e. 1)
    naive: int | None = None  # 1 where the series' anchor is seasonal naive (auto)
    gate: int | None = None  # 1: the network corrects the anchor; 0: the anchor alone (it won on validation)


@dataclass
class Preprocessor:
    """Everything fitted on the training data that turns a series into model inputs and back."""

    freq: str
    scaler: str
    calendar: bool
    past_cols: list[str]
    future_cols: list[str]
    static_cols: list[str]
    scalers: dict[str, list[float]] = field(default_factory=dict)  # uid -> [loc, scale]
    cov_stats: dict[str, list[float]] = field(default_factory=dict)  # column -> [mean, std]
    ids: list[str] = field(default_factory=list)  # embedding row i+1; row 0 is "unseen"
    static_vocab: dict[str, list[str]] = field(default_factory=dict)  # categorical static -> values
    static_num: dict[str, list[float]] = field(default_factory=dict)  # numeric static -> [mean, std]
    train_end: dict[str, str] = field(default_factory=dict)  # uid -> last training timestamp
    transform: str = "none"  # "log": the model sees log(y); models saved before this field was added: "none"
    use_theta: bool = False  # a statistical anchor's pieces as features (models saved before: False)
    theta: dict[str, Any] = field(default_factory=dict)  # uid -> SmoothParams.to_json() (a list: theta, v0.2)
    smoothing: str = "theta"  # which anchor: theta, ets (damped trend), auto (chosen per series), autoets, autoarima
    horizon: int = 0  # anchor auto chooses by rolling origins a horizon apart
    anchor_cols: int = 2  # a smoothing anchor's encoder columns: 5 (level, trend, phi, naive, gate); v0.2: 2
    gate: dict[str, float] = field(default_factory=dict)  # uid -> 0 where the anchor alone won validation (else 1)
    intervals: str = "quantile"  # "rolling": widths from rolling-origin errors (intervals.py); models before: quantile
    widths: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # uid -> "lo,hi" -> (H,) half-widths
    levels: list[float] = field(default_factory=list)  # the quantile levels the widths are for

    # ---- fitting and (de)serialising

    @classmethod
    def fit(
        cls, panel: Panel, scaler: str, calendar: bool, transform: str = "none", anchor: str = "none", horizon: int = 0
    ) -> Preprocessor:
        """Fitted on the training panel; `anchor` theta, ets or auto adds that anchor's pieces as features."""
        smooth = anchor in SMOOTH
        pre = cls(
            panel.freq,
            scaler,
            calendar,
            list(panel.past_cols),
            list(panel.future_cols),
            list(panel.static_cols),
            transform=transform,
            use_theta=smooth,
            smoothing=anchor if smooth else "theta",
            horizon=horizon,
            anchor_cols=5,
        )
        pre.scalers = {s.uid: list(fit_scaler(pre.forward(s), scaler)) for s in panel.series}  # type: ignore[arg-type]
        if smooth:
            pre.theta = {s.uid: pre.theta_params(s).to_json() for s in panel.series}
        pre.ids = [s.uid for s in panel.series]
        for j, col in enumerate(panel.past_cols):
            pre.cov_stats[col] = _stats(np.concatenate([s.past[:, j] for s in panel.series]))
        for j, col in enumerate(panel.future_cols):
            pre.cov_stats[col] = _stats(np.concatenate([s.future[:, j] for s in panel.series]))
        for col in panel.static_cols:
            values = [s.static[col] for s in panel.series]
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                pre.static_num[col] = _stats(np.asarray(values, dtype=np.float64))
            else:
                pre.static_vocab[col] = sorted({str(v) for v in values})
        pre.train_end = {s.uid: str(s.ds[-1]) for s in panel.series}
        return pre

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessor:
        return cls(**data)

    # ---- sizes the model is built with

    @property
    def n_calendar(self) -> int:
        return n_calendar_features(self.freq) if self.calendar else 0

    @property
    def n_known(self) -> int:
        return len(self.future_cols) + self.n_calendar + int(self.use_theta)  # theta: the step's seasonal index

    @property
    def n_anchor(self) -> int:
        """Anchor columns at the end of an encoder row: level and trend, then damping, naive flag and gate."""
        return self.anchor_cols if self.use_theta else 0

    @property
    def n_features(self) -> int:
        return 2 + len(self.past_cols) + self.n_known + self.n_anchor

    @property
    def layout(self) -> FeatureLayout:
        """Encoder row: target, mask, past covariates, known-future features, then the anchor's level, trend
        (and, since v0.3, damping, the seasonal-naive flag and the gate)."""
        p, k = len(self.past_cols), self.n_known
        a = 2 + p + k  # the first anchor column
        on, five = self.use_theta, self.n_anchor == 5
        return FeatureLayout(
            target=0,
            mask=1,
            past=slice(2, 2 + p),
            known=slice(2 + p, a),
            level=a if on else None,
            drift=a + 1 if on else None,
            season_known=k - 1 if on else None,
            width=self.n_features,
            phi=a + 2 if five else None,
            naive=a + 3 if five else None,
            gate=a + 4 if five else None,
        )

    @property
    def cat_sizes(self) -> list[int]:
        return [len(v) for v in self.static_vocab.values()]

    # ---- featurising

    def scale_of(self, series: Series) -> tuple[float, float]:
        """The stored (loc, scale) of a training series; an unseen series is scaled by its own history."""
        if series.uid in self.scalers:
            loc, scale = self.scalers[series.uid]
            return loc, scale
        log.info("series %r was not in the training data: scaling it by its own history", series.uid)
        return fit_scaler(self.forward(series), self.scaler)  # type: ignore[arg-type]

    def forward(self, series: Series) -> np.ndarray:
        """The target as the model sees it before scaling: y, or log(y) (which needs every observed y > 0)."""
        if self.transform == "none":
            return series.y
        if self.transform != "log":
            raise DataError(f"unknown transform {self.transform!r}; use none or log")
        bad = np.flatnonzero(series.y <= 0)  # NaN compares False: missing values stay missing
        if len(bad):
            raise DataError(
                f"series {series.uid!r} has y = {series.y[bad[0]]:g} at {series.ds[bad[0]]}: the log transform needs "
                "every target > 0; use --transform none (or shift the data above 0)"
            )
        return np.log(series.y)

    def pinned(self, series: Series) -> Preprocessor:
        """Itself for a training series; for an unseen one, a copy with its scaler (anchor, intervals) fixed
        from these rows, so that its later rows are featurised alike (stateful update)."""
        if series.uid in self.scalers:
            return self
        out = replace(self, scalers={**self.scalers, series.uid: list(self.scale_of(series))})
        if self.use_theta:
            out = replace(out, theta={**self.theta, series.uid: out.theta_params(series).to_json()})
        if self.intervals == "rolling":
            w = out.interval_widths(series, tuple(self.levels), self.horizon)
            out = replace(out, widths={**self.widths, series.uid: w})
        if "_ids_cache" in self.__dict__:  # the same id list: the copy shares its index
            out.__dict__["_ids_cache"] = self.__dict__["_ids_cache"]
        return out

    def anchor_params(self, series: Series) -> SmoothParams:
        """The stored anchor pieces of a training series; an unseen series gets them from its own history."""
        if series.uid in self.theta:
            return SmoothParams.from_json(self.theta[series.uid])
        return self.theta_params(series)

    def anchor_params_of_uid(self, uid: str) -> SmoothParams:
        return SmoothParams.from_json(self.theta[uid])

    def theta_params(self, series: Series) -> SmoothParams:
        """The anchor's pieces fitted on `series` (scaled with its stored scaler); auto chooses the kind."""
        loc, scale = self.scale_of(series)
        y = (self.forward(series) - loc) / scale  # (T,)
        pos, m = season_position(series.ds, self.freq), season_length(self.freq)
        if self.smoothing == "auto":
            return anchors.select(y, pos, m, max(self.horizon, 1))
        kind = {"ets": "damped"}.get(self.smoothing, self.smoothing)  # theta, autoets, autoarima: the same name
        return anchors.fit(y, pos, m, kind, max(self.horizon, 1))

    def interval_widths(self, series: Series, levels: tuple[float, ...], horizon: int) -> dict[str, list[float]]:
        """Half-widths per interval from the series' anchor refit at rolling origins in its history (scaled
        units); empty when the series is too short for one origin."""
        loc, scale = self.scale_of(series)
        y = (self.forward(series) - loc) / scale  # (T,)
        p = self.anchor_params(series) if self.use_theta else anchors.SmoothParams("naive", ())
        err = intervals.rolling_errors(y, season_position(series.ds, self.freq), season_length(self.freq), horizon, p)
        return intervals.widths(err, levels) if len(err) else {}

    def widen(self, series: Series, q: np.ndarray, levels: tuple[float, ...]) -> np.ndarray:
        """Scaled quantiles (H, Q) of `series` with rolling-calibrated intervals (as they are otherwise)."""
        if self.intervals != "rolling":
            return q
        w = self.widths.get(series.uid)
        if w is None and len(series) > 1:  # an unseen series: calibrated on its own history
            w = self.interval_widths(series, levels, len(q))
        return intervals.apply(q, levels, w) if w else q

    def known(self, ds: pd.DatetimeIndex, future: np.ndarray, series: Series | None = None) -> np.ndarray:
        """Known-future features of the steps `ds` of `series`: (T,), (T, Cf) -> (T, K). With the theta
        anchor the last column is each step's seasonal index (which needs the series)."""
        if not self.use_theta:
            return self._known(ds, future, None)
        assert series is not None, "the theta anchor's seasonal index belongs to a series"
        return self._known(ds, future, self.anchor_params(series))

    def _known(self, ds: pd.DatetimeIndex, future: np.ndarray, params: SmoothParams | None) -> np.ndarray:
        cols = [self._scaled(future, self.future_cols)]
        if self.calendar:
            cols.append(calendar_features(ds, self.freq))
        if params is not None:
            cols.append(np.asarray(params.season)[season_position(ds, self.freq)][:, None])
        return np.concatenate(cols, axis=1).astype(np.float32)

    def encoder(
        self, series: Series, level: float | None = None, trend: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Encoder features (T, F) and the scaled target (T,) with NaN where it is missing. With a statistical
        anchor the last features are its smoothed deseasonalised level and trend (continuing from `level`,
        `trend` carried from earlier rows), then the damping, the seasonal-naive flag and the gate."""
        loc, scale = self.scale_of(series)
        y = (self.forward(series) - loc) / scale  # (T,)
        observed = np.isfinite(y)
        p = self.anchor_params(series) if self.use_theta else None  # fitted once here for an unseen series
        known = self._known(series.ds, series.future, p)  # (T, K)
        cols = [
            _carry_forward(y)[:, None],
            observed[:, None].astype(np.float64),
            self._scaled(series.past, self.past_cols),
            known,
        ]
        if p is not None:
            start = None if level is None else (level, 0.0 if trend is None else trend)
            lv, tr = anchors.states(y - known[:, -1], p, start)  # (T,), (T,): NaN before the first observation
            cols += [np.nan_to_num(lv)[:, None], np.nan_to_num(tr)[:, None]]
            if self.n_anchor == 5:
                flags = [p.phi, float(p.kind == "naive"), self.gate.get(series.uid, 1.0)]
                cols += [np.full((len(y), 1), v) for v in flags]
        x = np.concatenate(cols, axis=1)  # (T, F)
        return x.astype(np.float32), y.astype(np.float32)

    def _id_index(self) -> dict[str, int]:
        """uid -> embedding row, built once per id list (rebuilding it for every series made encoding a panel
        quadratic in its number of series: 100k series did not finish in 50 minutes)."""
        cached = self.__dict__.get("_ids_cache")
        if cached is None or cached[0] is not self.ids:
            cached = (self.ids, {u: i + 1 for i, u in enumerate(self.ids)})
            self.__dict__["_ids_cache"] = cached
        return cached[1]

    def static_row(self, series: Series) -> tuple[int, np.ndarray, np.ndarray]:
        """(id index, categorical indices (Sc,), numeric values (Sn,)); 0 marks an unseen id or category."""
        index = self._id_index()
        missing = [c for c in self.static_cols if c not in series.static]
        if missing:
            raise DataError(f"series {series.uid!r} lacks the static column(s) {missing} the model was trained with")
        cats = [
            (vocab.index(str(series.static[c])) + 1) if str(series.static[c]) in vocab else 0
            for c, vocab in self.static_vocab.items()
        ]
        nums = [(float(series.static[c]) - m) / s for c, (m, s) in self.static_num.items()]
        return index.get(series.uid, 0), np.asarray(cats, np.int64), np.asarray(nums, np.float32)

    def unscale(self, series: Series, values: np.ndarray) -> np.ndarray:
        """Scaled model outputs of one series -> data units (quantiles stay quantiles: both maps are monotone)."""
        loc, scale = self.scale_of(series)
        out = values * scale + loc
        return np.exp(out) if self.transform == "log" else out

    def _scaled(self, values: np.ndarray, cols: list[str]) -> np.ndarray:
        """(T, C) covariates -> standardised, missing -> 0."""
        if not cols:
            return np.zeros((len(values), 0))
        stats = np.asarray([self.cov_stats[c] for c in cols])  # (C, 2)
        out = (values - stats[:, 0]) / stats[:, 1]
        return np.where(np.isfinite(out), out, 0.0)


def _carry_forward(y: np.ndarray) -> np.ndarray:
    """Missing values take the last observed one (0 before the first): (T,) -> (T,)."""
    idx = np.where(np.isfinite(y), np.arange(len(y)), -1)
    idx = np.maximum.accumulate(idx) if len(idx) else idx
    return np.where(idx >= 0, y[np.maximum(idx, 0)], 0.0)


def _stats(values: np.ndarray) -> list[float]:
    obs = values[np.isfinite(values)]
    if len(obs) == 0:
        return [0.0, 1.0]
    std = float(obs.std())
    return [float(obs.mean()), std if std > 1e-8 else 1.0]
