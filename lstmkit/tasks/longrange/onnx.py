"""What `lstmkit export` writes for a long-range model: one graph from the input sequence, its lengths and
the initial recurrent state to the prediction and the final state (a stream can be continued)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from lstmkit.deploy.export import ExportPlan, Graph, Port
from lstmkit.deploy.onnx_ops import OnnxRecurrent
from lstmkit.tasks.longrange.model import SequenceModel


class LongRangeGraph(nn.Module):
    """(x (B, T, I), lengths (B,), h0, c0 (L, B, H)) -> (y (B, O) or (B, T, O), h, c)."""

    def __init__(self, net: SequenceModel) -> None:
        super().__init__()
        self.net, self.rnn = net, OnnxRecurrent(net.rnn)

    def forward(self, x: Tensor, lengths: Tensor, h0: Tensor, c0: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        out, h, c = self.rnn(x, lengths, h0, c0)  # (B, T, H)
        return self.net.readout(out, lengths), h, c


def export_plan(m: Any) -> ExportPlan:
    net = m._ready().eval()
    p, rnn = m.config.problem_spec, net.rnn
    L, H = rnn.num_layers, rnn.hidden_size

    def example(b: int, t: int) -> dict[str, Tensor]:
        g = torch.Generator().manual_seed(1000 * b + t)
        lengths = torch.randint(1, t + 1, (b,), generator=g)
        lengths[0] = t
        return {
            "x": torch.randn(b, t, p.input_size, generator=g),
            "lengths": lengths,
            "h0": 0.5 * torch.randn(L, b, H, generator=g),
            "c0": 0.5 * torch.randn(L, b, H, generator=g),
        }

    y = ["batch", "time", p.output_size] if p.per_step else ["batch", p.output_size]
    state = f"{rnn.mode} state, layer-major (zeros to start; c is passed through for GRU/RNN)"
    graph = Graph(
        "model",
        LongRangeGraph(net),
        [
            Port("x", "float32", ["batch", "time", p.input_size], f"the {m.config.problem} inputs"),
            Port("lengths", "int64", ["batch"], "real steps per sequence"),
            Port("h0", "float32", [L, "batch", H], f"initial hidden {state}"),
            Port("c0", "float32", [L, "batch", H], f"initial cell {state}"),
        ],
        [
            Port(
                "y",
                "float32",
                y,
                "the prediction" + (" at every step" if p.per_step else " from each sequence's last step"),
            ),
            Port("h", "float32", [L, "batch", H], "hidden state after each sequence's last real step"),
            Port("c", "float32", [L, "batch", H], "cell state after each sequence's last real step"),
        ],
        example,
    )
    return ExportPlan("longrange", [graph], {}, {"problem": m.config.problem, "per_step": p.per_step})
