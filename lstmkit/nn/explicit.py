"""Explicit-gates backend: every gate computed in the open, one step at a time.

Notation: T time, B batch, I input size, H hidden size, P projection size (P = H without projection),
L layers, D directions. Layer state for LSTM is (h, c) with h: (B, P), c: (B, H); GRU/RNN state is h: (B, H).

Per layer and direction the input projection for all steps is one GEMM (`xp`, (T, B, G*H)); the loop then
adds the recurrent term and applies the cell. Used when gates are traced, or a variant (layer norm, zoneout)
changes the recurrence; otherwise the fused kernels in `recurrent.py` run.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

# Names of the per-step values each cell reports when traced, in GateTrace order.
TRACE_NAMES = {
    "lstm": ("input", "forget", "candidate", "output", "cell", "hidden"),
    "gru": ("reset", "update", "candidate", "hidden"),
    "rnn": ("hidden",),
    "slstm": ("input", "forget", "candidate", "output", "cell", "normaliser", "stabiliser", "hidden"),
    "mlstm": ("input", "forget", "output", "memory_norm", "normaliser", "stabiliser", "hidden"),
    "minlstm": ("input", "forget", "candidate", "hidden"),
    "mingru": ("update", "candidate", "hidden"),
}


@dataclass
class DirectionWeights:
    """The weights of one layer in one direction, as the explicit loop uses them."""

    w_ih: Tensor  # (G*H, I)
    w_hh_t: Tensor  # (P, G*H)  transposed once per forward, so each step is one addmm
    b_ih: Tensor | None  # (G*H,)
    b_hh: Tensor | None  # (G*H,)
    w_hr_t: Tensor | None = None  # (H, P)  LSTM projection
    ln: tuple[Tensor, ...] | None = None  # layer norm (ih_w, ih_b, hh_w, hh_b, cell_w, cell_b)


# ----------------------------------------------------------------------------------------------------------
# cells: one step each. `xp_t` is the input projection at this step, (B, G*H).


def lstm_step(xp_t: Tensor, state: tuple[Tensor, Tensor], w: DirectionWeights):
    """One LSTM step; b_ih + b_hh are already folded into xp_t."""
    h, c = state  # (B, P), (B, H)
    gates = torch.addmm(xp_t, h, w.w_hh_t)  # (B, 4H)
    i, f, g, o = gates.chunk(4, 1)  # each (B, H)
    i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
    c = torch.addcmul(f * c, i, g)  # (B, H)
    h = o * c.tanh()  # (B, H)
    if w.w_hr_t is not None:
        h = h @ w.w_hr_t  # (B, P)
    return (h, c), h, (i, f, g, o)


def ln_lstm_step(xp_t: Tensor, state: tuple[Tensor, Tensor], w: DirectionWeights):
    """One layer-normalised LSTM step (Ba et al. 2016): LN on both projections and on the cell."""
    h, c = state
    ih_w, ih_b, hh_w, hh_b, c_w, c_b = w.ln
    size = xp_t.shape[-1]
    gates = F.layer_norm(xp_t, (size,), ih_w, ih_b) + F.layer_norm(h @ w.w_hh_t, (size,), hh_w, hh_b)
    if w.b_ih is not None:
        gates = gates + (w.b_ih + w.b_hh)  # (B, 4H)
    i, f, g, o = gates.chunk(4, 1)
    i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
    c = torch.addcmul(f * c, i, g)
    h = o * F.layer_norm(c, (c.shape[-1],), c_w, c_b).tanh()
    if w.w_hr_t is not None:
        h = h @ w.w_hr_t
    return (h, c), h, (i, f, g, o)


def gru_step(xp_t: Tensor, h: Tensor, w: DirectionWeights):
    """One GRU step in torch's convention: n = tanh(W_in x + b_in + r * (W_hn h + b_hn))."""
    hp = h @ w.w_hh_t if w.b_hh is None else torch.addmm(w.b_hh, h, w.w_hh_t)  # (B, 3H)
    xr, xz, xn = xp_t.chunk(3, 1)
    hr, hz, hn = hp.chunk(3, 1)
    r = (xr + hr).sigmoid()
    z = (xz + hz).sigmoid()
    n = torch.addcmul(xn, r, hn).tanh()
    h = n + z * (h - n)  # (1 - z) * n + z * h
    return h, h, (r, z, n)


def rnn_tanh_step(xp_t: Tensor, h: Tensor, w: DirectionWeights):
    h = torch.addmm(xp_t, h, w.w_hh_t).tanh()
    return h, h, ()


def rnn_relu_step(xp_t: Tensor, h: Tensor, w: DirectionWeights):
    h = torch.addmm(xp_t, h, w.w_hh_t).relu()
    return h, h, ()


def input_projection(x: Tensor, w: DirectionWeights, cell: str, layer_norm: bool) -> Tensor:
    """All steps' input projection in one GEMM: (T, B, I) -> (T, B, G*H)."""
    if layer_norm or w.b_ih is None:
        return F.linear(x, w.w_ih)
    if cell == "gru":  # b_hn sits inside r * (...), so only b_ih folds in
        return F.linear(x, w.w_ih, w.b_ih)
    return F.linear(x, w.w_ih, w.b_ih + w.b_hh)


# ----------------------------------------------------------------------------------------------------------
# the loop


def _where(ok: Tensor, new, old):
    """Take `new` where ok (B, 1) is True, else `old`, elementwise over state tuples."""
    if isinstance(new, tuple):
        return tuple(_where(ok, n, o) for n, o in zip(new, old))
    return torch.where(ok, new, old)


def _zoneout(new, old, p: float, training: bool):
    """Zoneout (Krueger et al. 2017): each unit keeps its previous value with probability p (its
    expectation at eval time)."""
    if isinstance(new, tuple):
        return tuple(_zoneout(n, o, p, training) for n, o in zip(new, old))
    if training:
        return torch.where(torch.rand_like(new) < p, old, new)
    return torch.lerp(new, old, p)


def _state_values(state) -> tuple:
    """A state as trace values: LSTM (h, c) -> (cell, hidden); GRU/RNN h -> (hidden,)."""
    return (state[1], state[0]) if isinstance(state, tuple) else (state,)


def run_direction(
    step,
    xp: Tensor,
    state,
    w: DirectionWeights,
    *,
    reverse: bool,
    valid: Tensor | None,
    zoneout: float,
    training: bool,
    collect: bool,
):
    """Run one direction over all steps. xp: (T, B, G*H); valid: (T, B, 1) bool or None.

    Returns output (T, B, P), final state, and per-step traces (list over t of tuples) when collecting.
    """
    steps = xp.unbind(0)  # unbind, not xp[t]: indexing makes backward allocate a full-size zero each step
    T = len(steps)
    outs: list[Tensor | None] = [None] * T
    traces: list[tuple | None] = [None] * T
    for t in range(T - 1, -1, -1) if reverse else range(T):
        new_state, out_t, gates = step(steps[t], state, w)
        if zoneout > 0:
            new_state = _zoneout(new_state, state, zoneout, training)
            out_t = new_state[0] if isinstance(new_state, tuple) else new_state
        if valid is not None:
            ok = valid[t]  # (B, 1): padded steps leave the state alone and output zeros
            new_state = _where(ok, new_state, state)
            out_t = out_t * ok
        state = new_state
        outs[t] = out_t
        if collect:
            values = gates + _state_values(state)
            traces[t] = values if valid is None else tuple(v * valid[t] for v in values)
    return torch.stack(outs), state, traces  # (T, B, P)
