"""`lstmkit inspect gradients|gates`: look inside a saved model."""

from __future__ import annotations

import argparse
from pathlib import Path

from lstmkit.errors import UsageError


def _load(args: argparse.Namespace):
    from lstmkit import load

    return load(args.model)


def _out_path(args: argparse.Namespace, default: str) -> Path:
    if args.out:
        return Path(args.out)
    model = Path(args.model)
    return (model.parent if model.name == "model" else model) / default


def _gradients(args: argparse.Namespace) -> None:
    from lstmkit.clitools import emit
    from lstmkit.inspect.gradients import gradient_flow, plot_gradient_flow

    probe = _load(args).probe(_probe_inputs(args))
    if probe.loss_of_output is None:
        raise UsageError(f"{args.model}: this model's probe has no loss to differentiate; use inspect gates")
    layer = probe.layer
    flow = gradient_flow(layer, probe.x, probe.loss_of_output, lengths=probe.lengths)
    png = plot_gradient_flow({layer.cell: flow}, _out_path(args, "gradient-flow.png"), title=str(args.model))
    norms = flow.by_distance()
    payload = {
        "cell": layer.cell,
        "loss": probe.loss_name,
        "steps": len(norms),
        "horizon": flow.horizon(),
        "png": str(png),
        "norm_max": float(norms.max()),
        "norm_first_step": float(norms[-1]),
    }
    horizon = "beyond the sequence" if payload["horizon"] is None else f"{payload['horizon']} steps"
    emit(
        args,
        payload,
        lambda: (
            f"{layer.cell}, gradient of {probe.loss_name}: largest ‖dLoss/dh_t‖ {payload['norm_max']:.3g}, at the "
            "first step "
            f"{payload['norm_first_step']:.3g}; memory horizon (norm < 1e-3 of its max): {horizon}\nplot: {png}"
        ),
    )


def _probe_inputs(args: argparse.Namespace) -> dict | None:
    """What to trace: a text (language models), an array file, a dataset (forecasters), or the model's own
    probe inputs."""
    import numpy as np

    if args.text is not None:
        return {"text": args.text}
    if args.data is not None:
        return {"data": args.data}
    if args.input:
        data = np.load(args.input) if args.input.endswith(".npy") else np.loadtxt(args.input, delimiter=",", ndmin=2)
        if data.ndim != 2:
            raise UsageError(f"{args.input}: expected a (time, features) array, got shape {data.shape}")
        return {"x": data.tolist()}
    return None


def _gates(args: argparse.Namespace) -> None:
    import torch

    from lstmkit.clitools import emit
    from lstmkit.inspect.plots import plot_gates, plot_text_activations, text_activations_html
    from lstmkit.inspect.trace import trace

    probe = _load(args).probe(_probe_inputs(args))
    layer, x, lengths = probe.layer, probe.x, probe.lengths
    index = 0 if probe.x.shape[0] == 1 else args.index
    if index >= x.shape[0]:
        raise UsageError(f"--index {index}: the probe has {x.shape[0]} sequences")
    with torch.no_grad():
        tr = trace(layer, x[: index + 1], lengths=None if lengths is None else lengths[: index + 1])
    names = args.gates or list(tr.names)
    unknown = sorted(set(names) - set(tr.names))
    if unknown:
        raise UsageError(f"{layer.cell} has no {', '.join(unknown)}; choose from {', '.join(tr.names)}")
    length = None if lengths is None else int(lengths[index])
    means = {n: float(tr[n][:, :, index].mean()) for n in names}
    payload = {"mean": means}
    if probe.labels is not None:  # named steps (e.g. characters): the text coloured by one unit
        name = names[0] if args.gates else ("cell" if "cell" in tr.names else "hidden")
        values = tr[name][args.layer, 0, index, :, args.unit].tolist()
        png = plot_text_activations(
            probe.labels[index],
            values,
            _out_path(args, "gates.png"),
            title=f"{layer.cell} {name}, {_layer_name(args.layer, layer.num_layers)}, unit {args.unit}",
        )
        html = png.with_suffix(".html")
        html.write_text(text_activations_html(probe.labels[index], values, f"{name} unit {args.unit}"), "utf-8")
        payload.update({"png": str(png), "html": str(html), "unit": args.unit, "state": name})
    else:
        png = plot_gates(tr, _out_path(args, "gates.png"), names, index=index, length=length)
        payload["png"] = str(png)
    emit(
        args,
        payload,
        lambda: (
            "\n".join(f"{k}: {v}" for k, v in payload.items() if k != "mean")
            + "\nmean activations: "
            + ", ".join(f"{k} {v:.3f}" for k, v in means.items())
        ),
    )


def register_cli(sub: argparse._SubParsersAction) -> None:
    ins = sub.add_parser(
        "inspect",
        help="look inside a saved model: gradient flow, gate heatmaps",
        description="Look inside any saved model through its probe: how far back the loss still reaches "
        "(gradient flow and the memory horizon) and what the gates do step by step (heatmaps; for text, the "
        "text coloured by one unit).",
        epilog="""examples:
  lstmkit inspect gradients --model runs/adding-lstm            # ‖dLoss/dh_t‖ against the distance, PNG
  lstmkit inspect gates --model runs/lm/shakespeare --text "ROMEO: But soft" --unit 17
  lstmkit inspect gates --model runs/sales --data sales.csv --gates input forget""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = ins.add_subparsers(title="verbs", metavar="<verb>", required=True)
    grads = verbs.add_parser(
        "gradients", help="‖dLoss/dh_t‖ against the distance from the loss, and the memory horizon"
    )
    gates = verbs.add_parser(
        "gates",
        help="gate and state values over one input: a heatmap, or for a language "
        "model the text coloured by one cell's activation (PNG + HTML)",
    )
    for p in (grads, gates):
        p.add_argument("--model", required=True, help="run directory or its model/ directory")
        p.add_argument("--out", help="PNG to write (default: in the run directory)")
        p.add_argument("--json", action="store_true", help="print as JSON")
        p.add_argument("--input", help="a (time, features) .npy or .csv array to read instead of the probe's")
        p.add_argument("--text", help="language models: the text to read (default: the model's own sample)")
        p.add_argument("--data", metavar="PATH|DATASET", help="forecasters: the history whose first series to read")
    grads.add_argument("--batch-size", type=int, default=64, help="probe sequences to average over (default: 64)")
    gates.add_argument("--batch-size", type=int, default=8, help=argparse.SUPPRESS)
    gates.add_argument("--index", type=int, default=0, help="which probe sequence to draw (default: 0)")
    gates.add_argument("--unit", type=int, default=0, help="text view: the unit whose activation colours the text")
    gates.add_argument("--layer", type=int, default=-1, help="text view: which layer (default: the last)")
    gates.add_argument("--gates", nargs="+", help="gates/states to draw (default: all the cell has)")
    grads.set_defaults(func=_gradients)
    gates.set_defaults(func=_gates)


def _layer_name(index: int, layers: int) -> str:
    """-1 of 2 -> "last layer (2 of 2)"; 0 of 2 -> "layer 1 of 2"."""
    k = index % layers + 1
    return f"last layer ({k} of {layers})" if k == layers else f"layer {k} of {layers}"
