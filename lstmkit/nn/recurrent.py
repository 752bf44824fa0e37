"""Drop-in LSTM, GRU and RNN layers with visible gates, variable lengths and regularising variants.

Notation: T time, B batch, I input size, H hidden size, P projection size (P = H without projection),
L layers, D directions (2 if bidirectional). State h is (L*D, B, P), c is (L*D, B, H), layer-major as in torch.

Each class subclasses its torch counterpart, so constructor arguments, parameter names, state_dict layout and
`flatten_parameters` are torch's own and weights load both ways. Two backends share one parameter set:
- fused: torch's kernels (cuDNN on GPU, oneDNN on CPU); also used with weight drop and locked dropout, whose
  masks are applied to the tensors handed to the kernel, never by re-registering parameters;
- explicit: gates computed step by step (`explicit.py`), used for tracing, layer norm and zoneout.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from lstmkit.nn import explicit
from lstmkit.nn.explicit import DirectionWeights
from lstmkit.nn.lstm_function import lstm_direction
from lstmkit.nn.state import initial_state, map_state

BACKENDS = ("auto", "fused", "explicit")


@dataclass(frozen=True)
class Variants:
    """Regularisation and initialisation options beyond torch's; all off by default."""

    layer_norm: bool = False  # layer-normalised LSTM cell (explicit backend)
    zoneout: float = 0.0  # probability a unit keeps its previous state (explicit backend)
    input_dropout: float = 0.0  # locked (variational) dropout on the input, one mask per sequence
    hidden_dropout: float = 0.0  # locked dropout between layers
    output_dropout: float = 0.0  # locked dropout on the last layer's output
    weight_drop: float = 0.0  # DropConnect on the recurrent weights, one mask per forward
    forget_bias: float | None = None  # initial forget-gate bias (LSTM); None keeps torch's init
    chrono_init: int | None = None  # chrono initialisation with this T_max (LSTM forget gate, GRU update gate)

    def needs_explicit(self) -> bool:
        return self.layer_norm or self.zoneout > 0


# ----------------------------------------------------------------------------------------------------------
# set-up shared by the three classes


def _variants(options: dict) -> Variants:
    known = set(Variants.__dataclass_fields__)
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"unknown option(s) {', '.join(unknown)}; lstmkit variants are: {', '.join(sorted(known))}")
    return Variants(**options)


def _setup(m: nn.RNNBase, cell: str, variants: Variants, backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    for name in ("zoneout", "input_dropout", "hidden_dropout", "output_dropout", "weight_drop"):
        p = getattr(variants, name)
        if not 0.0 <= p < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {p}")
    if cell != "lstm" and (variants.layer_norm or variants.forget_bias is not None):
        raise ValueError("layer_norm and forget_bias apply to LSTM only")
    if cell == "rnn" and variants.chrono_init:
        raise ValueError("chrono_init needs a gate (LSTM or GRU); the tanh RNN has none")
    if (variants.forget_bias is not None or variants.chrono_init) and not m.bias:
        raise ValueError("forget_bias / chrono_init need bias=True")
    if variants.chrono_init is not None and variants.chrono_init < 2:
        raise ValueError(f"chrono_init is the longest expected dependency T_max (>= 2), got {variants.chrono_init}")
    if backend == "fused" and variants.needs_explicit():
        raise ValueError("layer_norm and zoneout need the explicit backend; use backend='auto' or 'explicit'")
    m.cell = cell
    m.variants = variants
    m.backend = backend
    if variants.layer_norm:
        _add_layer_norm(m)
    _init_variants(m)


def _suffixes(m: nn.RNNBase):
    """(layer, direction, name suffix) for every layer-direction, in torch's order."""
    for layer in range(m.num_layers):
        for d in range(2 if m.bidirectional else 1):
            yield layer, d, f"_l{layer}{'_reverse' if d else ''}"


def _add_layer_norm(m: nn.RNNBase) -> None:
    g, h = 4 * m.hidden_size, m.hidden_size
    ref = m.weight_ih_l0
    for _, _, sfx in _suffixes(m):
        for part, size in (("ih", g), ("hh", g), ("cell", h)):
            m.register_parameter(
                f"ln_{part}_weight{sfx}", nn.Parameter(torch.ones(size, dtype=ref.dtype, device=ref.device))
            )
            m.register_parameter(
                f"ln_{part}_bias{sfx}", nn.Parameter(torch.zeros(size, dtype=ref.dtype, device=ref.device))
            )


@torch.no_grad()
def _init_variants(m: nn.RNNBase) -> None:
    """Layer norm to identity; forget-gate bias or chrono init (both biases sum to the target value).

    Chrono (Tallec & Ollivier 2018) sets the keep gate's bias to log U(1, T_max - 1), so the units' memory
    time scales spread up to T_max: the LSTM forget gate (and input gate = -forget), the GRU update gate z
    (torch's GRU keeps z * h_{t-1})."""
    v = m.variants
    h = m.hidden_size
    for _, _, sfx in _suffixes(m):
        if v.layer_norm:
            for part in ("ih", "hh", "cell"):
                getattr(m, f"ln_{part}_weight{sfx}").fill_(1.0)
                getattr(m, f"ln_{part}_bias{sfx}").zero_()
        if v.forget_bias is None and not v.chrono_init:
            continue
        b_ih, b_hh = getattr(m, f"bias_ih{sfx}"), getattr(m, f"bias_hh{sfx}")
        b_hh[: 2 * h].zero_()  # LSTM gate order i, f, g, o; GRU r, z, n
        if v.chrono_init:  # keep-gate bias ~ log U(1, T_max - 1): LSTM f (with i = -f) or GRU z (with r = 0)
            keep = torch.empty(h, dtype=b_ih.dtype, device=b_ih.device).uniform_(1, v.chrono_init - 1).log_()
            b_ih[h : 2 * h].copy_(keep)
            b_ih[:h].copy_(-keep if m.cell == "lstm" else torch.zeros_like(keep))
        else:
            b_ih[h : 2 * h].fill_(v.forget_bias)


# ----------------------------------------------------------------------------------------------------------
# forward


def _locked_dropout(x: Tensor, p: float, training: bool, rows: Tensor | None = None) -> Tensor:
    """Variational dropout: one mask per sequence, shared by all steps. x: (T, B, F), or packed
    data (N, F) with `rows` (N,) giving each row's position in the sorted batch."""
    if not training or p == 0:
        return x
    batch = x.shape[1] if rows is None else int(rows.max()) + 1
    mask = x.new_empty(batch, x.shape[-1]).bernoulli_(1 - p).div_(1 - p)  # (B, F)
    return x * (mask if rows is None else mask[rows])


def _dropped_weights(m: nn.RNNBase) -> list[Tensor]:
    """The flat weight list with DropConnect applied to each recurrent matrix (a new tensor, not a new
    parameter: the module's parameters are never replaced)."""
    weights = list(m._flat_weights)
    p = m.variants.weight_drop
    if m.training and p > 0:
        for k, name in enumerate(m._flat_weights_names):
            if name.startswith("weight_hh"):
                weights[k] = F.dropout(weights[k], p, training=True)
    return weights


def _state_slice(hx, start: int, stop: int):
    if isinstance(hx, tuple):
        return tuple(s[start:stop] for s in hx)
    return hx[start:stop]


def _cat_states(states: list):
    if len(states) == 1:
        return states[0]
    if isinstance(states[0], tuple):
        return tuple(torch.cat(parts, 0) for parts in zip(*states))
    return torch.cat(states, 0)


def _permute(hx, index: Tensor | None):
    if index is None:
        return hx
    if isinstance(hx, tuple):
        return tuple(s.index_select(1, index) for s in hx)
    return hx.index_select(1, index)


def _fused_kernel(m: nn.RNNBase):
    return {"LSTM": torch.lstm, "GRU": torch.gru, "RNN_TANH": torch.rnn_tanh, "RNN_RELU": torch.rnn_relu}[m.mode]


def _fp32_is_faster(m: nn.RNNBase, x: Tensor) -> bool:
    """Under CPU bf16 autocast, torch runs GRU/RNN through a slow generic path (1.3-1.5x slower than fp32
    in benchmarks/core_speed.py's measurements); LSTM has a fast bf16 oneDNN kernel, but only on CPUs with
    native bf16 (elsewhere oneDNN cannot build the bf16 primitive at all, so the LSTM runs in fp32 too)."""
    if x.device.type != "cpu" or not torch.is_autocast_enabled("cpu"):
        return False
    return m.mode != "LSTM" or not _cpu_has_bf16()


def _cpu_has_bf16() -> bool:
    return torch.backends.mkldnn.is_available() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def _fused(m: nn.RNNBase, x: Tensor, hx, lengths: Tensor | None):
    """torch's fused kernels on x (T, B, I); variable lengths go through a PackedSequence."""
    if _fp32_is_faster(m, x):
        with torch.autocast("cpu", enabled=False):
            return _fused(m, x.float(), map_state(Tensor.float, hx), lengths)
    kernel = _fused_kernel(m)
    weights = _dropped_weights(m)
    D, L, T = 2 if m.bidirectional else 1, m.num_layers, x.shape[0]
    packed = rows = None
    if lengths is not None:
        packed = pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False)
        hx = _permute(hx, packed.sorted_indices)
        rows = torch.cat([torch.arange(int(b)) for b in packed.batch_sizes]).to(x.device)
    per_layer = m.training and L > 1 and m.variants.hidden_dropout > 0
    groups = [(k, k + 1) for k in range(L)] if per_layer else [(0, L)]
    n = len(weights) // (L * D)  # tensors per layer-direction
    data = packed.data if packed is not None else x
    finals = []
    for a, b in groups:
        if a > 0:  # between layers in per-layer mode: torch's dropout, then the locked one
            data = F.dropout(data, m.dropout, training=True) if m.dropout > 0 else data
            data = _locked_dropout(data, m.variants.hidden_dropout, True, rows)
        w, h = weights[a * D * n : b * D * n], _state_slice(hx, a * D, b * D)
        h = list(h) if isinstance(h, tuple) else h
        if packed is not None:
            out = kernel(data, packed.batch_sizes, h, w, m.bias, b - a, m.dropout, m.training, m.bidirectional)
        else:
            out = kernel(data, h, w, m.bias, b - a, m.dropout, m.training, m.bidirectional, False)
        data = out[0]
        finals.append(tuple(out[1:]) if len(out) > 2 else out[1])
    state = _cat_states(finals)
    if packed is None:
        return data, state
    out = PackedSequence(data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
    return pad_packed_sequence(out, total_length=T)[0], _permute(state, packed.unsorted_indices)


def _direction_weights(m: nn.RNNBase, weights: dict[str, Tensor], sfx: str) -> DirectionWeights:
    ln = None
    if m.variants.layer_norm:
        ln = tuple(getattr(m, f"ln_{p}_{k}{sfx}") for p in ("ih", "hh", "cell") for k in ("weight", "bias"))
    w_hr = weights.get(f"weight_hr{sfx}")
    return DirectionWeights(
        w_ih=weights[f"weight_ih{sfx}"],
        w_hh_t=weights[f"weight_hh{sfx}"].t(),
        b_ih=weights.get(f"bias_ih{sfx}"),
        b_hh=weights.get(f"bias_hh{sfx}"),
        w_hr_t=None if w_hr is None else w_hr.t(),
        ln=ln,
    )


def _step_fn(m: nn.RNNBase):
    if m.cell == "lstm":
        return explicit.ln_lstm_step if m.variants.layer_norm else explicit.lstm_step
    if m.cell == "gru":
        return explicit.gru_step
    return explicit.rnn_relu_step if m.mode == "RNN_RELU" else explicit.rnn_tanh_step


def _hand_written(m: nn.RNNBase, collect: bool) -> bool:
    """The plain LSTM runs through the hand-written forward/backward (lstm_function.py); tracing, layer norm,
    zoneout, projection and the other cells use the autograd loop (explicit.py)."""
    v = m.variants
    return m.cell == "lstm" and not collect and not v.layer_norm and v.zoneout == 0 and m.proj_size == 0


def _run_one_direction(
    m: nn.RNNBase,
    weights: dict[str, Tensor],
    sfx: str,
    x: Tensor,
    state,
    reverse: bool,
    valid: Tensor | None,
    collect: bool,
):
    """One layer-direction on x (T, B, I): output (T, B, P), final state, per-step traces (or None)."""
    if _hand_written(m, collect):
        w_ih, w_hh = weights[f"weight_ih{sfx}"], weights[f"weight_hh{sfx}"]
        b_ih, b_hh = weights.get(f"bias_ih{sfx}"), weights.get(f"bias_hh{sfx}")
        out, final = lstm_direction(x, *state, w_ih, w_hh, b_ih, b_hh, reverse, valid)
        return out, final, None
    w = _direction_weights(m, weights, sfx)
    xp = explicit.input_projection(x, w, m.cell, m.variants.layer_norm)  # (T, B, G*H)
    return explicit.run_direction(
        _step_fn(m),
        xp,
        state,
        w,
        reverse=reverse,
        valid=valid,
        zoneout=m.variants.zoneout,
        training=m.training,
        collect=collect,
    )


def _explicit(m: nn.RNNBase, x: Tensor, hx, lengths: Tensor | None, collect: bool):
    """The explicit loop over layers and directions; x (T, B, I). Returns output, state, traces."""
    weights = dict(zip(m._flat_weights_names, _dropped_weights(m)))
    D, T = 2 if m.bidirectional else 1, x.shape[0]
    valid = None
    if lengths is not None:
        valid = (torch.arange(T, device=x.device)[:, None] < lengths.to(x.device)[None, :]).unsqueeze(-1)  # (T, B, 1)
    finals, traces = [], []
    for layer in range(m.num_layers):
        outs = []
        for d in range(D):
            sfx = f"_l{layer}{'_reverse' if d else ''}"
            out, final, trace = _run_one_direction(
                m, weights, sfx, x, _state_index(hx, layer * D + d), d == 1, valid, collect
            )
            outs.append(out)
            finals.append(final)
            traces.append(trace)
        x = torch.cat(outs, -1) if D == 2 else outs[0]  # (T, B, D*P)
        if layer < m.num_layers - 1:
            x = F.dropout(x, m.dropout, m.training) if m.dropout > 0 else x
            x = _locked_dropout(x, m.variants.hidden_dropout, m.training)
    state = tuple(torch.stack(p, 0) for p in zip(*finals)) if isinstance(finals[0], tuple) else torch.stack(finals)
    return x, state, (traces if collect else None)


def _state_index(hx, k: int):
    return tuple(s[k] for s in hx) if isinstance(hx, tuple) else hx[k]


def _check_lengths(lengths, batch: int, T: int) -> Tensor:
    lengths = torch.as_tensor(lengths)
    if lengths.dtype.is_floating_point or lengths.dtype == torch.bool:
        raise TypeError(f"lengths must be integers, got {lengths.dtype}")
    if lengths.shape != (batch,):
        raise ValueError(f"lengths must have shape ({batch},) (one length per sequence), got {tuple(lengths.shape)}")
    if batch and (int(lengths.min()) < 1 or int(lengths.max()) > T):
        raise ValueError(
            f"lengths must lie in [1, {T}] (the padded length); got min {int(lengths.min())}, max {int(lengths.max())}"
        )
    return lengths.long()


def _check_shapes(m: nn.RNNBase, x: Tensor, hx) -> None:
    """Input (T, B, I) and state against the layer; the message says which tensor and what it should be."""
    if x.shape[-1] != m.input_size:
        raise ValueError(f"{m.mode}: input has {x.shape[-1]} features, the layer expects input_size={m.input_size}")
    dtype = m._flat_weights[0].dtype
    if x.dtype != dtype and not torch.is_autocast_enabled(x.device.type):  # autocast retypes the kernels' inputs
        raise TypeError(f"{m.mode}: input is {x.dtype} but the weights are {dtype}; cast one to match")
    if hx is None:
        return
    rows, batch = m.num_layers * (2 if m.bidirectional else 1), x.shape[1]
    real = m.proj_size if m.proj_size > 0 else m.hidden_size
    expected = [("h", (rows, batch, real))] + ([("c", (rows, batch, m.hidden_size))] if m.cell == "lstm" else [])
    given = list(hx) if isinstance(hx, (tuple, list)) else [hx]
    if len(given) != len(expected):
        raise ValueError(
            f"{m.mode}: hx must be {'a tuple (h, c)' if m.cell == 'lstm' else 'one tensor h'}, got {len(given)} tensors"
        )
    for (name, shape), t in zip(expected, given):
        if tuple(t.shape) != shape:
            raise ValueError(
                f"{m.mode}: state {name} has shape {tuple(t.shape)}, expected {shape} (layers*directions, batch, size)"
            )


def run(m: nn.RNNBase, input, hx=None, lengths=None, *, collect: bool = False, batch_first: bool | None = None):
    """Shared forward: validate, put time first, pick the backend. Returns (output, state, traces)."""
    batch_first = m.batch_first if batch_first is None else batch_first
    if isinstance(input, PackedSequence):
        if collect:
            raise ValueError("tracing takes a padded tensor with lengths, not a PackedSequence")
        return _run_packed(m, input, hx) + (None,)
    if not isinstance(input, Tensor):
        raise TypeError(f"{m.mode}: input must be a tensor or PackedSequence, got {type(input).__name__}")
    if input.dim() not in (2, 3):
        raise ValueError(
            f"{m.mode}: expected input of shape (T, B, I), (B, T, I) with batch_first, or (T, I); got "
            f"{tuple(input.shape)}"
        )
    batched = input.dim() == 3
    x = input if batched else input.unsqueeze(1)
    if batched and batch_first:
        x = x.transpose(0, 1)  # (T, B, I)
    if hx is not None and not batched:
        hx = tuple(s.unsqueeze(1) for s in hx) if isinstance(hx, tuple) else hx.unsqueeze(1)
    _check_shapes(m, x, hx)  # the state only when the caller gave one
    if hx is None:
        hx = initial_state(m, x.shape[1], like=x)
    if lengths is not None:
        lengths = _check_lengths(lengths, x.shape[1], x.shape[0])
    x = _locked_dropout(x, m.variants.input_dropout, m.training)
    traces = None
    if collect or m.backend == "explicit" or m.variants.needs_explicit():
        out, state, traces = _explicit(m, x, hx, lengths, collect)
    else:
        out, state = _fused(m, x, hx, lengths)
    out = _locked_dropout(out, m.variants.output_dropout, m.training)  # (T, B, D*P)
    if batched and batch_first:
        out = out.transpose(0, 1)
    if not batched:
        out = out.squeeze(1)
        state = tuple(s.squeeze(1) for s in state) if isinstance(state, tuple) else state.squeeze(1)
    return out, state, traces


def _run_packed(m: nn.RNNBase, packed: PackedSequence, hx):
    """PackedSequence in, PackedSequence out (torch's contract), via padded tensors and lengths."""
    x, lengths = pad_packed_sequence(packed)  # (T, B, I) in the caller's batch order
    out, state, _ = run(m, x, hx, lengths, batch_first=False)
    order = packed.sorted_indices
    if order is not None:
        out, lengths = out.index_select(1, order), lengths[order.cpu()]
    data = pack_padded_sequence(out, lengths, enforce_sorted=True).data
    return PackedSequence(data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices), state


# ----------------------------------------------------------------------------------------------------------
# the layers


def _extra_repr(m: nn.RNNBase, base: str) -> str:
    v = m.variants
    extras = [f"{k}={getattr(v, k)}" for k in v.__dataclass_fields__ if getattr(v, k) != getattr(Variants(), k)]
    if m.backend != "auto":
        extras.append(f"backend={m.backend!r}")
    return ", ".join([base] + extras)


class _LstmkitLayer:
    """What the three layers share over their torch.nn base: `forward(x, hx, lengths)` through lstmkit's
    backends, the variants' initialisation on every `reset_parameters()` (chrono init, forget bias, layer
    norm), and a repr that names the variants."""

    def reset_parameters(self) -> None:
        super().reset_parameters()  # type: ignore[misc]
        if hasattr(self, "variants"):  # torch calls this from __init__, before _setup has run
            _init_variants(self)  # type: ignore[arg-type]

    def forward(self, input, hx=None, lengths=None):
        out, state, _ = run(self, input, hx, lengths)  # type: ignore[arg-type]
        return out, state

    def extra_repr(self) -> str:
        return _extra_repr(self, super().extra_repr())  # type: ignore[misc,arg-type]


class LSTM(_LstmkitLayer, nn.LSTM):
    """Drop-in `torch.nn.LSTM` with `forward(x, hx=None, lengths=None)`, gate tracing and variants.

    Keyword-only extras: `layer_norm`, `zoneout`, `input_dropout`, `hidden_dropout`, `output_dropout`,
    `weight_drop`, `forget_bias`, `chrono_init` (see `Variants`) and `backend` ('auto', 'fused', 'explicit').
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
        *,
        backend: str = "auto",
        **variants,
    ) -> None:
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            device=device,
            dtype=dtype,
        )
        _setup(self, "lstm", _variants(variants), backend)


class GRU(_LstmkitLayer, nn.GRU):
    """Drop-in `torch.nn.GRU` with `forward(x, hx=None, lengths=None)`, gate tracing and variants."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
        *,
        backend: str = "auto",
        **variants,
    ) -> None:
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            device=device,
            dtype=dtype,
        )
        _setup(self, "gru", _variants(variants), backend)


class RNN(_LstmkitLayer, nn.RNN):
    """Drop-in `torch.nn.RNN` (tanh or relu) with `forward(x, hx=None, lengths=None)` and variants."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
        *,
        backend: str = "auto",
        **variants,
    ) -> None:
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            nonlinearity,
            bias,
            batch_first,
            dropout,
            bidirectional,
            device=device,
            dtype=dtype,
        )
        _setup(self, "rnn", _variants(variants), backend)


__all__ = ["LSTM", "GRU", "RNN", "Variants", "BACKENDS"]
