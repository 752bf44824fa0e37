"""`lstmkit inspect gradients|gates`: look inside a saved model."""

from __future__ import annotations

import argparse
from pathlib import Path


def _load_probe(args: argparse.Namespace):
    from lstmkit import load

    loaded = load(args.model)
    if not hasattr(loaded, "probe"):
        raise ValueError(f"{args.model}: this kind of model ({type(loaded).__name__}) has no inspection probe yet")
    return loaded.probe(args.batch_size)


def _out_path(args: argparse.Namespace, default: str) -> Path:
    if args.out:
        return Path(args.out)
    model = Path(args.model)
    return (model.parent if model.name == "model" else model) / default


def _gradients(args: argparse.Namespace) -> None:
    from lstmkit.cli import emit
    from lstmkit.inspect.gradients import gradient_flow, plot_gradient_flow

    layer, x, lengths, loss_of_output = _load_probe(args)
    flow = gradient_flow(layer, x, loss_of_output, lengths=lengths)
    png = plot_gradient_flow({layer.cell: flow}, _out_path(args, "gradient-flow.png"), title=str(args.model))
    norms = flow.by_distance()
    payload = {"cell": layer.cell, "steps": len(norms), "horizon": flow.horizon(), "png": str(png),
               "norm_max": float(norms.max()), "norm_first_step": float(norms[-1])}  # fmt: skip
    horizon = "beyond the sequence" if payload["horizon"] is None else f"{payload['horizon']} steps"
    emit(args, payload, lambda: (
        f"{layer.cell}: largest ‖dLoss/dh_t‖ {payload['norm_max']:.3g}, at the first step "
        f"{payload['norm_first_step']:.3g}; memory horizon (norm < 1e-3 of its max): {horizon}\nplot: {png}"
    ))  # fmt: skip


def _gates(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    from lstmkit.cli import emit
    from lstmkit.inspect.plots import plot_gates
    from lstmkit.inspect.trace import trace

    layer, x, lengths, _ = _load_probe(args)
    if args.input:
        data = np.load(args.input) if args.input.endswith(".npy") else np.loadtxt(args.input, delimiter=",", ndmin=2)
        if data.ndim != 2 or data.shape[1] != layer.input_size:
            raise ValueError(f"{args.input}: expected a (time, {layer.input_size}) array, got shape {data.shape}")
        x, lengths = torch.as_tensor(data, dtype=x.dtype).unsqueeze(0), None
    with torch.no_grad():
        tr = trace(layer, x[: args.index + 1], lengths=None if lengths is None else lengths[: args.index + 1])
    names = args.gates or list(tr.names)
    unknown = sorted(set(names) - set(tr.names))
    if unknown:
        raise ValueError(f"{layer.cell} has no {', '.join(unknown)}; choose from {', '.join(tr.names)}")
    index = 0 if args.input else args.index
    length = None if lengths is None else int(lengths[index])
    png = plot_gates(tr, _out_path(args, "gates.png"), names, index=index, length=length)
    means = {n: float(tr[n][:, :, index].mean()) for n in names}
    emit(args, {"png": str(png), "mean": means}, lambda: f"gates plotted: {png}\nmean activations: " + ", ".join(
        f"{k} {v:.3f}" for k, v in means.items()))  # fmt: skip


def register_cli(sub: argparse._SubParsersAction) -> None:
    ins = sub.add_parser("inspect", help="look inside a saved model: gradient flow, gate heatmaps")
    verbs = ins.add_subparsers(title="verbs", metavar="<verb>", required=True)
    grads = verbs.add_parser(
        "gradients", help="‖dLoss/dh_t‖ against the distance from the loss, and the memory horizon"
    )
    gates = verbs.add_parser("gates", help="heatmap of gate and state values over one input sequence")
    for p in (grads, gates):
        p.add_argument("--model", required=True, help="run directory or its model/ directory")
        p.add_argument("--out", help="PNG to write (default: in the run directory)")
        p.add_argument("--json", action="store_true", help="print as JSON")
    grads.add_argument("--batch-size", type=int, default=64, help="probe sequences to average over (default: 64)")
    gates.add_argument("--batch-size", type=int, default=8, help=argparse.SUPPRESS)
    gates.add_argument("--index", type=int, default=0, help="which probe sequence to draw (default: 0)")
    gates.add_argument("--input", help="a (time, features) .npy or .csv array to trace instead of a probe sequence")
    gates.add_argument("--gates", nargs="+", help="gates/states to draw (default: all the cell has)")
    grads.set_defaults(func=_gradients)
    gates.set_defaults(func=_gates)
