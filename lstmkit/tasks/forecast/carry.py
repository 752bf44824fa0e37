"""The forecaster's stateful carry: each series' recurrent state after the rows folded so far, and what the next
forecast needs from them, as a typed record that snapshots to a ModelState (bytes or JSON) and back.

Notation as in model.py: L layers, D hidden size, F encoder features, S static width, E seasonal periods
(the longest is m steps). Folding new rows costs O(new rows); the result equals encoding every row folded so
far in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from lstmkit.data.timeseries import Series
from lstmkit.deploy.protocol import ModelState, RequestError
from lstmkit.nn.state import state_from_tensors, state_tensors
from lstmkit.tasks.forecast.config import ForecastConfig
from lstmkit.tasks.forecast.data import after
from lstmkit.tasks.forecast.features import Preprocessor
from lstmkit.tasks.forecast.model import ForecastNet
from lstmkit.tasks.forecast.outputs import seasons_of
from lstmkit.tasks.forecast.predict import decode_from

TENSORS = ("last", "x", "static", "tail")  # besides the recurrent state's own tensors (h, c for the LSTM)


@dataclass
class SeriesCarry:
    """One series after the rows folded into it."""

    uid: str
    last_ds: pd.Timestamp  # the last folded timestamp: new rows must come after it
    state: dict[str, Tensor]  # the encoder's state after the last folded row by name (LSTM: h, c (L, 1, D))
    last: Tensor  # (1, 1, D) top-layer output of the last row (the decoder's context)
    x: Tensor  # (1, F) the last row's encoder features
    static: Tensor  # (1, S) the series' static embedding
    tail: np.ndarray  # (m,) the last m scaled values (seasonal lags of the next horizon)
    level: float | None  # a smoothing anchor's level after the last row (None: no anchor / no data yet)
    scaler: list[float] | None  # an unseen series' scaling, pinned from its first rows (None: a training series)
    theta: Any  # an unseen series' anchor pieces (SmoothParams JSON), pinned likewise
    static_values: dict[str, Any]  # the static covariates it came with
    n_past: int
    n_future: int
    trend: float | None = None  # the anchor's trend after the last row (ets/auto; theta's drift is fixed)
    widths: Any = None  # an unseen series' interval widths, pinned like its scaler

    def view(self, pre: Preprocessor) -> Preprocessor:
        """The preprocessor this series is featurised with: the training one, or one with its pins."""
        if self.scaler is None:
            return pre
        out = replace(pre, scalers={**pre.scalers, self.uid: self.scaler})
        if self.widths is not None:
            out = replace(out, widths={**pre.widths, self.uid: self.widths})
        return replace(out, theta={**pre.theta, self.uid: self.theta}) if self.theta is not None else out

    def stub(self) -> Series:
        """A one-row stand-in for the series (its id, last time, statics and widths): what the forecast
        frame and the horizon's known features need."""
        return Series(
            self.uid,
            pd.DatetimeIndex([self.last_ds]),
            np.full(1, np.nan),
            np.zeros((1, self.n_past)),
            np.zeros((1, self.n_future)),
            self.static_values,
        )


def fold(net: ForecastNet, pre: Preprocessor, cfg: ForecastConfig, s: Series, carry: SeriesCarry | None) -> SeriesCarry:
    """The carry after folding the rows of `s` (all new) into `carry` (None: a series seen for the first
    time starts from a zero state; an unseen one pins its scaling from these rows)."""
    if carry is not None:
        s = after(carry.last_ds, s, cfg.freq)
        if carry.level is not None and carry.view(pre).anchor_params_of_uid(s.uid).kind == "autoarima":
            raise RequestError(
                f"series {s.uid!r}: a model with the autoarima anchor cannot fold new rows into a carried state "
                "(the ARIMA's filter state is not carried); send the whole history, or train with --anchor autoets"
            )
    view = pre.pinned(s) if carry is None else carry.view(pre)
    x, _ = view.encoder(s, None if carry is None else carry.level, None if carry is None else carry.trend)  # (T, F)
    i, cats, nums = view.static_row(s)
    st = net.static(torch.tensor([i]), torch.from_numpy(cats)[None], torch.from_numpy(nums)[None])  # (1, S)
    hx = None if carry is None else state_from_tensors(net.rnn, carry.state)
    out, hx = net.encode(torch.from_numpy(x)[None], st, hx)  # (1, T, D)
    lay = pre.layout
    m = max(seasons_of(cfg))
    before = np.zeros(m, np.float32) if carry is None else carry.tail
    tail = np.concatenate([before, x[:, lay.target]])[-m:]  # (m,)
    level = trend = None
    if lay.level is not None and ((carry is not None and carry.level is not None) or x[:, lay.mask].any()):
        level = float(x[-1, lay.level])
        trend = float(x[-1, lay.drift]) if lay.phi is not None else None
    pinned = s.uid not in pre.scalers
    return SeriesCarry(
        s.uid,
        s.ds[-1],
        state_tensors(hx),
        out[:, -1:],
        torch.from_numpy(x[-1])[None],
        st,
        tail,
        level,
        view.scalers[s.uid] if pinned else None,
        view.theta.get(s.uid) if pinned and view.use_theta else None,
        dict(s.static),
        s.past.shape[1],
        s.future.shape[1],
        trend,
        view.widths.get(s.uid) if pinned and view.intervals == "rolling" else None,
    )


def forecast_carried(
    net: ForecastNet,
    pre: Preprocessor,
    cfg: ForecastConfig,
    carry: SeriesCarry,
    ds: pd.DatetimeIndex,
    future: np.ndarray,
) -> Tensor:
    """Scaled quantiles (1, H, Q) of the horizon after the carry, given the horizon's timestamps and
    known-future covariates (H, Cf)."""
    view = carry.view(pre)
    known = torch.from_numpy(view.known(ds, future, carry.stub()))[None]  # (1, H, K)
    k, m = np.arange(cfg.horizon)[:, None], np.asarray(seasons_of(cfg))  # (H, 1), (E,)
    tail = carry.tail  # step k lags by one season: the value m - k % m steps before the horizon's step k
    lags = torch.from_numpy(tail[len(tail) - m + k % m])[None]  # (1, H, E)
    hx = state_from_tensors(net.rnn, carry.state)
    return decode_from(net, cfg, carry.last, hx, carry.static, carry.x, known, lags, pre.layout)


# ----------------------------------------------------------------------------------------------------------
# snapshots


def to_state(carries: dict[str, SeriesCarry]) -> ModelState:
    """Every series' carry as one ModelState (tensors named `<uid>/<field>`)."""
    tensors: dict[str, Tensor] = {}
    meta: dict[str, Any] = {"task": "forecast", "series": {}}
    for uid, c in carries.items():
        for name in TENSORS:
            value = getattr(c, name)
            tensors[f"{uid}/{name}"] = torch.from_numpy(value.copy()) if isinstance(value, np.ndarray) else value
        tensors.update({f"{uid}/{name}": value for name, value in c.state.items()})
        meta["series"][uid] = {
            "state": list(c.state),
            "last_ds": c.last_ds.isoformat(),
            "level": c.level,
            "scaler": c.scaler,
            "theta": c.theta,
            "static": c.static_values,
            "n_past": c.n_past,
            "n_future": c.n_future,
            "trend": c.trend,
            "widths": c.widths,
        }
    return ModelState(tensors, meta)


def from_state(state: ModelState) -> dict[str, SeriesCarry]:
    """The carries a ModelState holds (a RequestError names what is missing)."""
    if state.meta.get("task") != "forecast":
        raise RequestError(f"this state is not a forecaster's (task {state.meta.get('task')!r})")
    out = {}
    for uid, m in state.meta.get("series", {}).items():
        names = m.get("state", ["h", "c"])  # snapshots before other cells: the LSTM's
        try:
            t = {name: state.tensors[f"{uid}/{name}"] for name in (*TENSORS, *names)}
        except KeyError as err:
            raise RequestError(f"the state of series {uid!r} lacks tensor {err}") from None
        out[uid] = SeriesCarry(
            uid,
            pd.Timestamp(m["last_ds"]),
            {name: t[name] for name in names},
            t["last"],
            t["x"],
            t["static"],
            t["tail"].numpy(),
            m["level"],
            m["scaler"],
            m["theta"],
            m["static"],
            m["n_past"],
            m["n_future"],
            m.get("trend"),
            m.get("widths"),
        )
    return out
