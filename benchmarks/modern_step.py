"""The streaming step of every cell on onnxruntime (B = 1, T = 1, 256 -> 256, 2 layers): the exported graph (the
modern cells' time loop as an ONNX Loop) and, for the modern cells, the one-step graph without the Loop (what a
language model's export streams with), each run by lstmkit's StreamingStep (every buffer bound once), fp32,
beside the same cell's eager PyTorch step, measured in one run with random weights (speed does not depend on
them). Exactness: max |StreamingStep - PyTorch| over 50 steps of one stream.

    python benchmarks/modern_step.py [--steps 3000] [--cells lstm slstm mlstm minlstm mingru] [--no-write]

Writes the `modern-step` section of BENCHMARKS.md. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._report import machine, write_section
from benchmarks.inference import timed
from lstmkit.deploy.export import ExportPlan, Graph, Port, export_plan
from lstmkit.deploy.onnx_ops import example_state, full_lengths, recurrent_op, state_names, state_shapes
from lstmkit.deploy.onnx_runtime import OnnxRunner
from lstmkit.deploy.streaming import StreamingStep
from lstmkit.nn import recurrent_layer

I = H = 256
L = 2


class _Step(torch.nn.Module):
    def __init__(self, layer: torch.nn.Module) -> None:
        super().__init__()
        self.op = recurrent_op(layer)

    def forward(self, x: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.op(x, full_lengths(x), *state))


class _OneStep(torch.nn.Module):
    """A modern layer's single step traced as plain arithmetic (no Loop): x (B, 1, I)."""

    def __init__(self, layer: torch.nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        y, new = self.layer(x, self.layer.state_type(*state))
        return (y, *new)


def export(layer: torch.nn.Module, out: Path, one_step: bool = False) -> None:
    names, shapes = state_names(layer), state_shapes(layer)
    time_dim = 1 if one_step else "time"

    def example(b: int, t: int) -> dict:
        g = torch.Generator().manual_seed(b + t)
        t = 1 if one_step else t
        return {"x": torch.randn(b, t, I, generator=g), **dict(zip(names, example_state(layer, b, g)))}

    ins = [Port("x", "float32", ["batch", time_dim, I], "input")]
    ins += [Port(n, "float32", s, n) for n, s in zip(names, shapes)]
    outs = [Port("y", "float32", ["batch", time_dim, H], "output")]
    outs += [Port(f"{n}_out", "float32", s, n) for n, s in zip(names, shapes)]
    module = _OneStep(layer) if one_step else _Step(layer)
    export_plan(ExportPlan("bench", [Graph("model", module, ins, outs, example, tolerance=1e-4)]), out)


def measure(cell: str, steps: int, root: Path) -> dict:
    torch.manual_seed(0)
    layer = recurrent_layer(cell, I, H, L, batch_first=True).eval()
    export(layer, root / cell)
    step = StreamingStep(OnnxRunner(root / cell))
    xs = np.random.default_rng(0).standard_normal((50, 1, 1, I)).astype(np.float32)
    state, worst = None, 0.0
    for x in xs:  # exactness over 50 steps of one stream
        y = step({"x": x})["y"].copy()
        with torch.no_grad():
            want, state = layer(torch.from_numpy(x), state)
        worst = max(worst, float(np.abs(y - want.numpy()).max()))
    x1 = xs[0]
    onnx_us = timed(lambda: step({"x": x1}), steps)
    one_us = np.full(1, np.nan)
    if hasattr(layer, "state_type"):  # the loop-free one-step graph (what lm's token_steps runs)
        export(layer, root / f"{cell}-step", one_step=True)
        fast = StreamingStep(OnnxRunner(root / f"{cell}-step"))
        one_us = timed(lambda: fast({"x": x1}), steps)
    xt, st = torch.from_numpy(x1), {"s": None}

    def eager() -> None:
        with torch.no_grad():
            _, st["s"] = layer(xt, st["s"])

    torch_us = timed(eager, max(steps // 5, 200))
    return {
        "cell": cell,
        "onnx_p50": float(np.median(onnx_us)),
        "onnx_p99": float(np.percentile(onnx_us, 99)),
        "one_p50": float(np.median(one_us)),
        "torch_p50": float(np.median(torch_us)),
        "exact": worst,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--cells", nargs="+", default=["lstm", "slstm", "mlstm", "minlstm", "mingru"])
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(c, args.steps, Path(tmp)) for c in args.cells]
    lines = [
        "## Streaming step of every cell on onnxruntime (modern-step)",
        "",
        f"Command: `python benchmarks/modern_step.py --steps {args.steps} --cells {' '.join(args.cells)}`  ",
        f"Machine: {machine()}, {datetime.date.today()}; nothing else ran; one thread. B = 1, T = 1, 256 -> 256, "
        "2 layers, state carried; µs per step.",
        "",
        "| cell | StreamingStep, Loop graph p50 | p99 | StreamingStep, one-step graph p50 | PyTorch eager p50 "
        "| max abs diff over 50 steps |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['cell']} | {r['onnx_p50']:.1f} | {r['onnx_p99']:.1f} | "
            + ("—" if np.isnan(r["one_p50"]) else f"{r['one_p50']:.1f}")
            + f" | {r['torch_p50']:.1f} | {r['exact']:.1e} |"
        )
    text = "\n".join(lines) + "\n"
    if not args.no_write:
        write_section("modern-step", text)
    print(text)


if __name__ == "__main__":
    main()
