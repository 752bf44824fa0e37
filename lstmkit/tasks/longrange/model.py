"""The long-range model: recurrent layer(s) -> a linear head.

Notation: B batch, T steps, I inputs, H hidden size, L layers, O outputs. The recurrent state is the
layer's (passed in and returned), never kept on the module.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from lstmkit import nn as lnn
from lstmkit.data.synthetic import Batch
from lstmkit.tasks.longrange.config import LongRangeConfig

CELLS = {
    "lstm": lnn.LSTM,
    "gru": lnn.GRU,
    "rnn": lnn.RNN,
    "slstm": lnn.sLSTM,
    "mlstm": lnn.mLSTM,
    "minlstm": lnn.minLSTM,
    "mingru": lnn.minGRU,
}


class SequenceModel(nn.Module):
    """Recurrent layer(s) -> linear head, at every step (B, T, O) or from each sequence's last step (B, O)."""

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        output_size: int,
        per_step: bool = False,
        **variants: Any,
    ) -> None:
        super().__init__()
        self.per_step = per_step
        self.rnn = CELLS[cell](input_size, hidden_size, num_layers, batch_first=True, **variants)
        self.head = nn.Linear(hidden_size, output_size)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        out, _ = self.rnn(x, lengths=lengths)  # (B, T, H)
        return self.readout(out, lengths)

    def readout(self, out: Tensor, lengths: Tensor | None = None) -> Tensor:
        """The head on the recurrent output (B, T, H): (B, T, O) per step, else (B, O) from the last step."""
        if self.per_step:
            return self.head(out)
        if lengths is None:
            return self.head(out[:, -1])
        return self.head(out[torch.arange(out.shape[0]), lengths.to(out.device) - 1])


def parameter_count(cell: str, input_size: int, hidden: int, layers: int, output_size: int) -> int:
    """Weights of a SequenceModel: the classic cells per layer G*H*(in + H) + 2*G*H, plus the head (H + 1) * O;
    the modern ones counted on the layer itself."""
    if cell not in ("lstm", "gru", "rnn"):
        rnn = CELLS[cell](input_size, hidden, layers)
        return sum(p.numel() for p in rnn.parameters()) + (hidden + 1) * output_size
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[cell]
    total, inp = 0, input_size
    for _ in range(layers):
        total += gates * hidden * (inp + hidden) + 2 * gates * hidden
        inp = hidden
    return total + (hidden + 1) * output_size


def hidden_size_for(cfg: LongRangeConfig) -> int:
    """The hidden size this config gives its cell: --hidden-size, or under an equal parameter budget the size
    whose parameter count comes closest to the LSTM's at --hidden-size."""
    if cfg.budget == "hidden" or cfg.cell == "lstm":
        return cfg.hidden_size
    p = cfg.problem_spec
    target = parameter_count("lstm", p.input_size, cfg.hidden_size, cfg.num_layers, p.output_size)
    count = lambda h: parameter_count(cfg.cell, p.input_size, h, cfg.num_layers, p.output_size)  # noqa: E731
    lo, hi = 1, 64 * cfg.hidden_size  # the count grows with h: bisect for the last size at or below the target
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if count(mid) <= target else (lo, mid - 1)
    best = min((lo, lo + 1), key=lambda h: abs(count(h) - target))
    if cfg.cell == "mlstm" and best % 4:  # whole heads (4 per layer)
        best = min((best - best % 4 or 4, best - best % 4 + 4), key=lambda h: abs(count(h) - target))
    return best


def build_model(cfg: LongRangeConfig) -> SequenceModel:
    p = cfg.problem_spec
    variants = {}
    if cfg.cell == "lstm":
        variants = {"forget_bias": cfg.forget_bias, "layer_norm": cfg.layer_norm}
        if cfg.chrono_init:
            variants = {"chrono_init": max(cfg.steps, 3), "layer_norm": cfg.layer_norm}
    elif cfg.cell == "gru" and cfg.chrono_init:
        variants = {"chrono_init": max(cfg.steps, 3)}
    return SequenceModel(
        cfg.cell, p.input_size, hidden_size_for(cfg), cfg.num_layers, p.output_size, p.per_step, **variants
    )


def run_model(model: nn.Module, batch: Batch) -> Tensor:
    return model(batch["x"], batch.get("lengths"))
