"""What `lstmkit export` writes for a long-range model: one graph from the input sequence, its lengths and
the initial recurrent state to the prediction and the final state (a stream can be continued)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from lstmkit.deploy.export import ExportPlan, Graph, Port
from lstmkit.deploy.onnx_ops import example_state, recurrent_op, state_names, state_shapes
from lstmkit.tasks.longrange.model import SequenceModel


class LongRangeGraph(nn.Module):
    """(x (B, T, I), lengths (B,), *state) -> (y (B, O) or (B, T, O), *state): the LSTM's h0, c0 (L, B, H)
    -> h, c; a modern cell's fields X0 -> X."""

    def __init__(self, net: SequenceModel) -> None:
        super().__init__()
        self.net, self.rnn = net, recurrent_op(net.rnn)

    def forward(self, x: Tensor, lengths: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        out, *state = self.rnn(x, lengths, *state)  # (B, T, H)
        return (self.net.readout(out, lengths), *state)


def export_plan(m: Any) -> ExportPlan:
    net = m._ready().eval()
    p, rnn = m.config.problem_spec, net.rnn
    names, shapes = state_names(rnn), state_shapes(rnn)

    def example(b: int, t: int) -> dict[str, Tensor]:
        g = torch.Generator().manual_seed(1000 * b + t)
        lengths = torch.randint(1, t + 1, (b,), generator=g)
        lengths[0] = t
        state = example_state(rnn, b, g)
        return {
            "x": torch.randn(b, t, p.input_size, generator=g),
            "lengths": lengths,
            **{f"{n}0": s for n, s in zip(names, state)},
        }

    y = ["batch", "time", p.output_size] if p.per_step else ["batch", p.output_size]
    cell = getattr(rnn, "cell_kind", getattr(rnn, "mode", "lstm").lower())
    state = f"{cell} state, layer-major, batch on axis 1 (zeros to start; c is passed through for GRU/RNN)"
    graph = Graph(
        "model",
        LongRangeGraph(net),
        [
            Port("x", "float32", ["batch", "time", p.input_size], f"the {m.config.problem} inputs"),
            Port("lengths", "int64", ["batch"], "real steps per sequence"),
            *[Port(f"{n}0", "float32", s, f"initial {n}: {state}") for n, s in zip(names, shapes)],
        ],
        [
            Port(
                "y",
                "float32",
                y,
                "the prediction" + (" at every step" if p.per_step else " from each sequence's last step"),
            ),
            *[Port(n, "float32", s, f"{n} after each sequence's last real step") for n, s in zip(names, shapes)],
        ],
        example,
    )
    return ExportPlan("longrange", [graph], {}, {"problem": m.config.problem, "per_step": p.per_step})
