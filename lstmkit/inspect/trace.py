"""Gate tracing: the per-step value of every gate and state of a recurrent layer.

Each traced value is a tensor (L, D, B, T, H): layers, directions, batch, time, hidden units (the LSTM's
`hidden` has P units under projection). Values at padded steps (beyond a sequence's length) are zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from lstmkit.nn.explicit import TRACE_NAMES
from lstmkit.nn.recurrent import run
from lstmkit.nn.stacked import Stacked


@dataclass(frozen=True)
class GateTrace:
    """Traced gates and states of one forward pass, with the pass's output and final state. Every traced
    name is an attribute (`tr.forget`, `tr.cell` — the LSTM's cell state) and an item (`tr["cell"]`); the
    layer's kind is `tr.kind`."""

    kind: str  # 'lstm', 'gru', 'rnn', 'slstm', 'mlstm', 'minlstm' or 'mingru'
    values: dict[str, Tensor]  # name -> (L, D, B, T, H) (mLSTM's per-head values: (L, D, B, T, heads))
    layer_output: Tensor  # what the layer returned (not to be confused with the LSTM's `output` gate)
    final_state: Tensor | tuple[Tensor, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return TRACE_NAMES[self.kind]

    def __getitem__(self, name: str) -> Tensor:
        if name not in self.values:
            raise KeyError(f"{self.kind} traces {', '.join(self.names)}; there is no {name!r}")
        return self.values[name]

    def __getattr__(self, name: str) -> Tensor:
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(f"a {self.__dict__.get('kind', '?')} trace has no {name!r}; it traces {', '.join(values)}")


GATE_SUMMARY = {
    "lstm": ("input", "forget"),
    "gru": ("update", "reset"),
    "rnn": (),
    "slstm": ("input", "forget"),
    "mlstm": ("input", "forget"),
    "minlstm": ("input", "forget"),
    "mingru": ("update",),
}


def gate_means(tr: GateTrace, lengths: Tensor | None = None) -> dict[str, Tensor]:
    """Mean activation of the main gates per layer over every real (unpadded) step: forget and input for
    an LSTM, update and reset for a GRU, e.g. {"gate_forget_l0": ...}. Watched during training, they show
    the cell learning to hold (forget -> 1) or to write (input up)."""
    out = {}
    for name in GATE_SUMMARY[tr.kind]:
        values = tr[name]  # (L, D, B, T, H)
        T, H = values.shape[3], values.shape[4]
        count = values.shape[1] * H * (values.shape[2] * T if lengths is None else int(lengths.sum()))
        for layer in range(values.shape[0]):
            out[f"gate_{name}_l{layer}"] = values[layer].sum() / count  # padded steps hold zeros
    return out


def trace(layer: torch.nn.Module, x: Tensor, hx=None, lengths=None) -> GateTrace:
    """Run `layer` (an lstmkit LSTM/GRU/RNN) on x through the explicit backend and record every gate.

    Works in train or eval mode and keeps the autograd graph if grad is enabled, so gradients with
    respect to traced states can be taken.
    """
    if not hasattr(layer, "cell"):
        raise TypeError(
            f"trace needs an lstmkit.nn layer (LSTM, GRU, RNN, sLSTM, mLSTM, minLSTM, minGRU), got "
            f"{type(layer).__name__}; load torch weights into one with load_state_dict"
        )
    dirs = 2 if layer.bidirectional else 1
    if isinstance(layer, Stacked):  # the modern cells trace themselves
        output, state, cells = layer.run(x, hx, lengths, collect=True)
        values = {}
        for name in TRACE_NAMES[layer.cell]:
            stacked = torch.stack([c[name] for c in cells])  # (L*D, B, T, X)
            values[name] = stacked.view(layer.num_layers, dirs, *stacked.shape[1:])
        return GateTrace(layer.cell, values, output, state)
    output, state, traces = run(layer, x, hx, lengths, collect=True)
    names = TRACE_NAMES[layer.cell]
    values = {}
    for j, name in enumerate(names):
        per_dir = [torch.stack([step[j] for step in tr], 1) for tr in traces]  # each (B, T, H)
        stacked = torch.stack(per_dir)  # (L*D, B, T, H)
        values[name] = stacked.view(layer.num_layers, dirs, *stacked.shape[1:])  # (L, D, B, T, H)
    return GateTrace(layer.cell, values, output, state)
