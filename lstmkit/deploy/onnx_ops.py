"""The core's recurrent layers as ONNX's own LSTM / GRU / RNN operators, for export.

Why not let the exporter trace the layer: variable lengths run through a PackedSequence, whose batch sizes
the trace freezes into constants (the exported graph would only be right for the traced lengths). ONNX's
recurrent operators take `sequence_lens` and the initial state as inputs, so one graph serves any batch,
any length and any state. `OnnxRecurrent` wraps a layer (lstmkit.nn.LSTM/GRU/RNN, or torch's) for export:
in PyTorch it runs the layer itself; in the exported graph it is one ONNX operator per layer.

Notation: T time, B batch, I input, H hidden, L layers, D directions; state (L*D, B, H) as torch's.
Gate orders: torch LSTM i f g o, ONNX i o f c; torch GRU r z n, ONNX z r h (linear_before_reset=1 = torch's).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lstmkit.errors import UsageError

_LSTM_ORDER, _GRU_ORDER = [0, 3, 1, 2], [1, 0, 2]


def _reorder(w: Tensor, order: list[int] | None) -> Tensor:
    return w if order is None else torch.cat([w.chunk(len(order), 0)[i] for i in order], 0)


def _onnx_weights(layer: nn.RNNBase) -> list[Tensor]:
    """Per layer: W (D, G*H, I), R (D, G*H, H), B (D, 2*G*H) in ONNX's layout and gate order."""
    order = {"LSTM": _LSTM_ORDER, "GRU": _GRU_ORDER}.get(layer.mode)
    D = 2 if layer.bidirectional else 1
    G = {"LSTM": 4, "GRU": 3}.get(layer.mode, 1)
    out = []
    for k in range(layer.num_layers):
        Ws, Rs, Bs = [], [], []
        for sfx in [f"_l{k}", f"_l{k}_reverse"][:D]:
            Ws.append(_reorder(getattr(layer, f"weight_ih{sfx}"), order))
            Rs.append(_reorder(getattr(layer, f"weight_hh{sfx}"), order))
            if layer.bias:
                Bs.append(
                    torch.cat(
                        [
                            _reorder(getattr(layer, f"bias_ih{sfx}"), order),
                            _reorder(getattr(layer, f"bias_hh{sfx}"), order),
                        ]
                    )
                )
            else:
                Bs.append(torch.zeros(2 * G * layer.hidden_size))
        out += [torch.stack(Ws).detach(), torch.stack(Rs).detach(), torch.stack(Bs).detach()]
    return out


def check_exportable(layer: nn.Module) -> None:
    """ONNX's operators compute the plain cells; variants that change the cell at inference cannot go there. The
    modern cells give their own export form (layer.export_form(): their loops as ONNX Loop)."""
    if hasattr(layer, "export_form"):
        return
    if not isinstance(layer, nn.RNNBase):
        raise UsageError(
            f"this model's recurrent layer is {type(layer).__name__}, which has no ONNX export in this lstmkit yet "
            "(ONNX export covers the LSTM, GRU, RNN, sLSTM, mLSTM, minLSTM and minGRU cells); serve it with "
            "--runtime torch"
        )
    v = getattr(layer, "variants", None)
    if v is not None and (v.layer_norm or v.zoneout > 0):
        raise UsageError(
            "this model's recurrent layer uses layer norm or zoneout, which ONNX's LSTM operator does "
            "not compute; export needs the plain cell (train without --layer-norm/--zoneout)"
        )
    if getattr(layer, "proj_size", 0) > 0:
        raise UsageError("LSTMs with projections (proj_size) have no ONNX operator; export is not supported")


def _function_for(layer: nn.RNNBase) -> type[torch.autograd.Function]:
    """An autograd Function bound to `layer`: forward runs the layer itself (batch first); exported, it is
    ONNX recurrent operators, one per layer (the tracer takes only tensors and numbers as arguments)."""
    D = 2 if layer.bidirectional else 1
    H, mode = layer.hidden_size, layer.mode

    class _Recurrent(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, lengths, h0, c0, *weights):
            tracing = torch._C._get_tracing_state()  # the exporter records this Function, not its inside
            torch._C._set_tracing_state(None)
            try:
                hx = (h0, c0) if mode == "LSTM" else h0
                out, state = _run_layer(layer, x, hx, lengths)  # (B, T, D*H)
                h, c = state if mode == "LSTM" else (state, c0)
                return out, h, c
            finally:
                torch._C._set_tracing_state(tracing)

        @staticmethod
        def symbolic(g, x, lengths, h0, c0, *weights):
            return _symbolic(g, x, lengths, h0, c0, weights, layer.num_layers, D, H, mode)

    return _Recurrent


def _run_layer(layer: nn.RNNBase, x: Tensor, hx, lengths: Tensor):
    """The layer on batch-first x with lengths: lstmkit's layers take them; torch's get a PackedSequence."""
    x = x if layer.batch_first else x.transpose(0, 1)
    if hasattr(layer, "variants"):  # an lstmkit layer
        out, state = layer(x, hx, lengths=lengths.long())
    else:
        from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=layer.batch_first, enforce_sorted=False)
        out, state = layer(packed, hx)
        out = pad_packed_sequence(
            out, batch_first=layer.batch_first, total_length=x.shape[1 if layer.batch_first else 0]
        )[0]
    return (out if layer.batch_first else out.transpose(0, 1)), state


def _symbolic(g, x, lengths, h0, c0, weights, L: int, D: int, H: int, mode: str):
    const = lambda v: g.op("Constant", value_t=torch.tensor(v, dtype=torch.int64))  # noqa: E731
    seq = g.op("Cast", lengths, to_i=6)  # int32, as ONNX wants sequence_lens
    inp, hs, cs = g.op("Transpose", x, perm_i=[1, 0, 2]), [], []  # (T, B, I)
    for k in range(L):
        W, R, B = weights[3 * k : 3 * k + 3]
        hk = g.op("Slice", h0, const([k * D]), const([(k + 1) * D]), const([0]))
        kw = {"hidden_size_i": H, "direction_s": "bidirectional" if D == 2 else "forward"}
        if mode == "LSTM":
            ck = g.op("Slice", c0, const([k * D]), const([(k + 1) * D]), const([0]))
            Y, Yh, Yc = g.op("LSTM", inp, W, R, B, seq, hk, ck, outputs=3, **kw)
            cs.append(Yc)
        elif mode == "GRU":
            Y, Yh = g.op("GRU", inp, W, R, B, seq, hk, outputs=2, linear_before_reset_i=1, **kw)
        else:
            act = "Relu" if mode == "RNN_RELU" else "Tanh"
            Y, Yh = g.op("RNN", inp, W, R, B, seq, hk, outputs=2, activations_s=[act] * D, **kw)
        hs.append(Yh)
        inp = g.op("Reshape", g.op("Transpose", Y, perm_i=[0, 2, 1, 3]), const([0, 0, -1]))  # (T, B, D*H)
    h = g.op("Concat", *hs, axis_i=0) if len(hs) > 1 else hs[0]
    c = (g.op("Concat", *cs, axis_i=0) if len(cs) > 1 else cs[0]) if cs else c0
    return g.op("Transpose", inp, perm_i=[1, 0, 2]), h, c  # (B, T, D*H)


class OnnxRecurrent(nn.Module):
    """A core recurrent layer for export: batch-first input (B, T, I), lengths (B,) and the initial state as
    tensors -> output (B, T, D*H) (zeros past each length), final h and c (L*D, B, H) (c: the given c0 for
    GRU/RNN)."""

    def __init__(self, layer: nn.RNNBase) -> None:
        super().__init__()
        check_exportable(layer)
        self.layer = layer
        for i, w in enumerate(_onnx_weights(layer)):
            self.register_buffer(f"w{i}", w)
        self.n = 3 * layer.num_layers
        self.fn = _function_for(layer)

    def forward(self, x: Tensor, lengths: Tensor, *state: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x (B, T, I), lengths (B,), h0, c0 (L*D, B, H) (none: zeros) -> (B, T, D*H), h, c (L*D, B, H)."""
        if not state:
            dirs = 2 if self.layer.bidirectional else 1
            h0 = torch.zeros(self.layer.num_layers * dirs, x.shape[0], self.layer.hidden_size, dtype=x.dtype)
            state = (h0, h0)
        weights = [getattr(self, f"w{i}") for i in range(self.n)]
        return self.fn.apply(x, lengths, *state, *weights)  # (B, T, D*H), (L*D, B, H) x 2


def recurrent_op(layer: nn.Module) -> nn.Module:
    """The layer as an exportable operator, called `op(x, lengths, *state)` -> `(out, *state)`: ONNX's own
    LSTM/GRU/RNN operator for the classic cells (state h, c; c passed through for GRU/RNN), an ONNX Loop for
    the modern ones (state: their fields). No state given: zeros."""
    check_exportable(layer)
    return layer.export_form() if hasattr(layer, "export_form") else OnnxRecurrent(layer)


def state_names(layer: nn.Module) -> list[str]:
    """The names of a layer's state tensors in the exported graphs: its fields (modern cells), else h, c."""
    kind = getattr(layer, "state_type", None)
    return list(kind._fields) if kind is not None else ["h", "c"]


def state_shapes(layer: nn.Module) -> list[list[int | str]]:
    """Each state tensor's shape with the batch axis (dim 1) named "batch"."""
    if getattr(layer, "state_type", None) is not None:
        return [[n if i != 1 else "batch" for i, n in enumerate(t.shape)] for t in layer.initial_state(1)]
    dirs = 2 if layer.bidirectional else 1
    return [[layer.num_layers * dirs, "batch", layer.hidden_size]] * 2


def example_state(layer: nn.Module, batch: int, generator: torch.Generator) -> list[Tensor]:
    """A state such as the layer reaches (after reading a few random steps), for the exporter's parity checks:
    random numbers would not be a state the modern cells can be in (a normaliser must be positive)."""
    if getattr(layer, "state_type", None) is None:
        dirs = 2 if layer.bidirectional else 1
        shape = (layer.num_layers * dirs, batch, layer.hidden_size)
        return [0.5 * torch.randn(*shape, generator=generator) for _ in range(2)]
    x = torch.randn(batch, 4, layer.input_size, generator=generator)
    with torch.no_grad():
        _, state = layer(x if layer.batch_first else x.transpose(0, 1))
    return list(state)


def full_lengths(x: Tensor) -> Tensor:
    """(B, T, ...) -> (B,) all T: the lengths of unpadded input, traced as shape arithmetic (dynamic)."""
    return torch.ones_like(x[:, 0, 0] if x.dim() == 3 else x[:, 0], dtype=torch.int64) * x.shape[1]
