"""What `lstmkit export` writes for a forecaster: the network from its window inputs (and an initial recurrent
state, whatever the cell) to scaled quantiles and the encoder's final state; the preprocessing (scaling,
transforms, anchors, calendar and covariates) and the postprocessing (conformal widening, unscaling) stay explicit, as
preprocessor.json, calibration.json and config.json run by the torch-free pipeline (pipeline.py), the same
code the PyTorch Forecaster runs. Notation as in model.py: B, W, Hz, F, K, E, Q, L, D."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn

from lstmkit.config import to_dict
from lstmkit.deploy.export import ExportPlan, Graph, Port
from lstmkit.deploy.onnx_ops import example_state, full_lengths, recurrent_op, state_names, state_shapes
from lstmkit.tasks.forecast.model import ForecastNet
from lstmkit.tasks.forecast.pipeline import read_panel, season_of, seasons_of
from lstmkit.tasks.forecast.predict import decode_from


class _Recurrent(nn.Module):
    """The forecaster's recurrent layer as an exportable operator, called as the model calls its layer:
    (x, state tensors) -> (out, state tensors)."""

    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.op = recurrent_op(rnn)

    def forward(self, x: Tensor, hx: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        out, *state = self.op(x, full_lengths(x), *hx)
        return out, tuple(state)


class ForecastGraph(nn.Module):
    """(x (B, W, F), known (B, 1, Hz, K), lags (B, 1, Hz, E), ids, cats, nums, *state) -> (q (B, Hz, Q) scaled
    quantiles, *state after the window); the LSTM's state h0, c0 (L, B, D) -> h, c, a modern cell's fields."""

    def __init__(self, net: ForecastNet, cfg: Any, layout: Any) -> None:
        super().__init__()
        net = copy.copy(net)  # the same parameters, its own module table: the original keeps its LSTM
        net._modules = dict(net._modules)
        net.rnn = _Recurrent(net.rnn)
        self.net, self.cfg, self.layout = net, cfg, layout

    def forward(
        self, x: Tensor, known: Tensor, lags: Tensor, ids: Tensor, cats: Tensor, nums: Tensor, *state: Tensor
    ) -> tuple[Tensor, ...]:
        s = self.net.static(ids, cats, nums)  # (B, S)
        out, hx = self.net.encode(x, s, tuple(state))  # (B, W, D)
        q = decode_from(self.net, self.cfg, out[:, -1:], hx, s, x[:, -1], known[:, -1], lags[:, -1], self.layout)
        return (q, *hx)


def export_plan(f: Any) -> ExportPlan:
    if getattr(f, "arch", None) is not None:  # the pretrained forecaster: its own graph
        return pretrained_plan(f)
    net, pre = f._require_fitted()
    net.eval()
    cfg, lay = f.config, pre.layout
    L, D, Hz, Q = net.rnn.num_layers, net.rnn.hidden_size, cfg.horizon, len(cfg.levels)
    F, K = pre.n_features, pre.n_known
    E = len(seasons_of(cfg))
    n_cats, n_nums = len(pre.cat_sizes), len(cfg.static_covariates) - len(pre.cat_sizes)
    names, shapes = state_names(net.rnn), state_shapes(net.rnn)

    def example(b: int, w: int) -> dict[str, Tensor]:
        g = torch.Generator().manual_seed(1000 * b + w)
        return {
            "x": torch.randn(b, w, F, generator=g),
            "known": torch.randn(b, 1, Hz, K, generator=g),
            "lags": torch.randn(b, 1, Hz, E, generator=g),
            "ids": torch.zeros(b, dtype=torch.long),
            "cats": torch.zeros(b, n_cats, dtype=torch.long),
            "nums": torch.zeros(b, n_nums),
            **{f"{n}0": s for n, s in zip(names, example_state(net.rnn, b, g))},
        }

    state = f"{cfg.cell} state (zeros to read a window from its start), layer-major, batch on axis 1"
    graph = Graph(
        "model",
        ForecastGraph(net, cfg, lay),
        [
            Port("x", "float32", ["batch", "time", F], "the window's encoder features (pipeline.origin_inputs)"),
            Port("known", "float32", ["batch", 1, Hz, K], "known-future features of the horizon"),
            Port("lags", "float32", ["batch", 1, Hz, E], "scaled value one season before each horizon step"),
            Port("ids", "int64", ["batch"], "series index (0 for series unseen in training)"),
            Port("cats", "int64", ["batch", n_cats], "categorical static covariates"),
            Port("nums", "float32", ["batch", n_nums], "numeric static covariates"),
            *[Port(f"{n}0", "float32", s, f"initial {n}: {state}") for n, s in zip(names, shapes)],
        ],
        [
            Port("q", "float32", ["batch", Hz, Q], f"scaled quantile forecasts, levels {list(cfg.levels)}"),
            *[Port(n, "float32", s, f"{n} after the window") for n, s in zip(names, shapes)],
        ],
        example,
        tolerance=1e-4,
    )
    assets = {"config": to_dict(cfg), "preprocessor": pre.to_dict(), "calibration": f.calibration}
    return ExportPlan("forecast", [graph], assets, {"num_layers": L, "hidden_size": D, "horizon": Hz}, _scorer(f))


def pretrained_plan(f: Any) -> ExportPlan:
    """The pretrained forecaster's network: scaled contexts and masks -> scaled quantiles (the context
    preparation and unscaling stay in numpy, shared with PyTorch: zeroshot.py)."""
    from dataclasses import asdict

    from lstmkit.tasks.forecast.patchnet import PatchGraph

    a = f.arch
    C, Hm, Q = a.context, a.horizon, len(a.levels)

    def example(b: int, t: int) -> dict[str, Tensor]:
        g = torch.Generator().manual_seed(1000 * b + t)
        mask = (torch.rand(b, C, generator=g) > 0.3).float()
        ex = {"x": torch.randn(b, C, generator=g) * mask, "mask": mask}
        return ex if a.anchor == "none" else {**ex, "base": torch.randn(b, Hm, generator=g)}

    ports = [
        Port("x", "float32", ["batch", C], "the last C values, standardised per series, 0 where missing"),
        Port("mask", "float32", ["batch", C], "1 where a value was observed"),
    ]
    if a.anchor != "none":
        ports.append(Port("base", "float32", ["batch", Hm], f"the {a.anchor} path fitted on the context, scaled"))
    graph = Graph(
        "model",
        PatchGraph(f.net.eval()),
        ports,
        [Port("q", "float32", ["batch", Hm, Q], f"scaled quantile forecasts, levels {list(a.levels)}")],
        example,
        tolerance=1e-4,
    )
    return ExportPlan("forecast", [graph], {"architecture": asdict(a)}, {"model": "pretrained"})


def _scorer(f: Any) -> Any:
    """Mean MASE of a runner's forecasts of the last horizon of each training series (from the rest), or None
    when the training data cannot be read."""
    import numpy as np

    from lstmkit.errors import LstmkitError

    cfg = f.config
    try:
        series = [s for s in read_panel(cfg, cfg.data).series if len(s) > cfg.horizon + season_of(cfg) + 1]
    except (LstmkitError, OSError, TypeError, ValueError):
        return None
    if not series:
        return None
    m = season_of(cfg)

    def score(runner: Any) -> dict[str, float]:
        from lstmkit.tasks.forecast.onnx_runtime import load

        heads = [s.head(len(s) - cfg.horizon) for s in series]
        fc = load(runner).predict_series(heads)
        out = []
        for s, h, (_, g) in zip(series, heads, fc.groupby(cfg.id_col, sort=False)):
            scale = np.nanmean(np.abs(h.y[m:] - h.y[:-m]))
            out.append(np.nanmean(np.abs(s.y[len(h) :] - g["y_hat"].to_numpy())) / scale)
        return {"mase": float(np.mean(out))}

    return score
