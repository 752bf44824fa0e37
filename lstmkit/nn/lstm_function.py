"""A hand-written LSTM direction for the explicit backend: forward and backward in the open.

Notation: T time, B batch, I input, H hidden. torch stores gates as i, f, g, o; inside this function the rows
are permuted once per call to i, f, o, g, and the g rows doubled, so that one sigmoid a step activates all four
gates (tanh(z) = 2 sigmoid(2z) - 1; tanh is ~4x the cost of sigmoid on these CPUs). `acts` (T, B, 4H) holds
the activated gates in that order.

Autograd through an eager loop records ~10 nodes per step; here the forward writes into preallocated buffers
(7 cheap ops a step) and the backward is a short loop per step, with the weight and input gradients done afterwards
as single GEMMs over all steps (dW_hh = Σ_t dz_tᵀ h_{t-1}), as cuDNN and oneDNN do.

Padded steps (valid = False) leave the state untouched and output zeros, as in the autograd loop.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _order(T: int, reverse: bool) -> range:
    return range(T - 1, -1, -1) if reverse else range(T)


def _perm(H: int, device: torch.device) -> Tensor:
    """torch's gate rows (i, f, g, o) -> (i, f, o, g)."""
    r = torch.arange(H, device=device)
    return torch.cat([r, r + H, r + 3 * H, r + 2 * H])


def _scale(H: int, like: Tensor) -> Tensor:
    """Row scale 1 for i, f, o and 2 for g, so one sigmoid also yields tanh(z_g) = 2 sigmoid(2 z_g) - 1."""
    scale = like.new_ones(4 * H)
    scale[3 * H :] = 2.0
    return scale


def _gates(acts: Tensor, H: int) -> list[tuple[Tensor, ...]]:
    """Per-step views (made once, in C++) of the i, f, o and g blocks."""
    spans = [(0, H), (H, 2 * H), (2 * H, 3 * H), (3 * H, 4 * H)]
    return [acts[..., a:b].unbind(0) for a, b in spans]


def lstm_forward_buffers(xp: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor, reverse: bool, valid: Tensor | None):
    """The recurrence; overwrites xp. xp (T, B, 4H) holds both biases, rows permuted, and w_hh too; the g rows of
    both are doubled (see `_scale`). Returns acts (T, B, 4H) = i, f, o, g; tanh of the new cell tc (T, B, H); and the
    state c and h (T, B, H) after every step."""
    T, B, G = xp.shape
    H = G // 4
    acts = xp  # activated in place, step by step
    tcs, cs, hs = (xp.new_empty(T, B, H) for _ in range(3))
    act_t, tc_t, c_t, h_t = acts.unbind(0), tcs.unbind(0), cs.unbind(0), hs.unbind(0)
    i_t, f_t, o_t, g_t = _gates(acts, H)
    w_hh_t = w_hh.t()
    h, c = h0, c0
    for t in _order(T, reverse):
        a = act_t[t].addmm_(h, w_hh_t)  # (B, 4H), in place: no copy of xp[t]; the g block holds 2z
        a.sigmoid_()  # i, f, o and s = sigmoid(2z): one op; tanh(z) = 2s - 1 (tanh is ~4x dearer here)
        c_new = torch.mul(f_t[t], c, out=c_t[t]).sub_(i_t[t]).addcmul_(i_t[t], g_t[t], value=2)  # f c + i g
        h_new = torch.mul(o_t[t], torch.tanh(c_new, out=tc_t[t]), out=h_t[t])
        if valid is not None:
            torch.where(valid[t], c_new, c, out=c_t[t])
            torch.where(valid[t], h_new, h, out=h_t[t])
        h, c = h_t[t], c_t[t]
    acts[..., 3 * H :].mul_(2).sub_(1)  # s -> g = tanh(z) for all steps at once
    return acts, tcs, cs, hs


class LSTMDirection(torch.autograd.Function):
    """One layer-direction of a plain LSTM (no projection, layer norm or zoneout)."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, bias, reverse, valid):
        T, B, _ = x.shape
        H = w_hh.shape[1]
        perm = _perm(H, x.device)
        w_ih_p, w_hh_p = w_ih.index_select(0, perm), w_hh.index_select(0, perm)  # (4H, I), (4H, H)
        scale = _scale(H, x)  # (4H,)
        xp = torch.addmm(bias[perm] * scale, x.reshape(T * B, -1), (w_ih_p * scale[:, None]).t())  # one GEMM
        xp = xp.view(T, B, 4 * H)
        acts, tcs, cs, hs = lstm_forward_buffers(xp, h0, c0, w_hh_p * scale[:, None], reverse, valid)
        out = hs if valid is None else acts[..., 2 * H : 3 * H] * tcs * valid  # (T, B, H)
        ctx.reverse = reverse
        ctx.save_for_backward(x, h0, c0, w_ih_p, w_hh_p, acts, tcs, cs, hs, valid, perm)
        last = 0 if reverse else T - 1
        return out, hs[last].clone(), cs[last].clone()

    @staticmethod
    def backward(ctx, d_out, d_hT, d_cT):
        x, h0, c0, w_ih_p, w_hh_p, acts, tcs, cs, hs, valid, perm = ctx.saved_tensors
        T, B, G = acts.shape
        H = G // 4
        d_out = torch.zeros_like(hs) if d_out is None else d_out
        dh = torch.zeros_like(h0) if d_hT is None else d_hT
        dc = torch.zeros_like(c0) if d_cT is None else d_cT
        i, f, o, g = acts.split(H, -1)  # each (T, B, H)
        c_prev = _shifted(cs, c0, ctx.reverse)  # (T, B, H): the cell each step started from
        # dz = dact * activation', with every factor known from the forward folded in once, for all steps:
        # [dz_i, dz_f, dz_o, dz_g] = [dc, dc, dh, dc] * [g i(1-i), c_prev f(1-f), tc o(1-o), i (1-g²)]
        factors = torch.cat([g * i * (1 - i), c_prev * f * (1 - f), tcs * o * (1 - o), i * (1 - g.square())], -1)
        o_dtc = o * (1 - tcs.square())  # (T, B, H): dh/dc through h = o tanh(c)
        dz = torch.empty_like(acts)  # (T, B, 4H) pre-activation gradients, permuted rows
        f_t, dz_t, fac_t, o_dtc_t = f.unbind(0), dz.unbind(0), factors.unbind(0), o_dtc.unbind(0)
        order = list(_order(T, ctx.reverse))  # forward processing order; backward walks it from the end
        for t in reversed(order):
            dh_total = d_out[t] + dh  # (B, H)
            if valid is not None:
                m = valid[t]
                keep_h, keep_c = dh.masked_fill(m, 0), dc.masked_fill(m, 0)  # padded: state passes through
                dh_total, dc = dh_total.masked_fill(~m, 0), dc.masked_fill(~m, 0)
            dc = torch.addcmul(dc, dh_total, o_dtc_t[t])  # (B, H)
            z = torch.mul(torch.cat([dc, dc, dh_total, dc], 1), fac_t[t], out=dz_t[t])  # (B, 4H)
            dh = z @ w_hh_p  # (B, H)
            dc = dc * f_t[t]
            if valid is not None:
                dh, dc = dh + keep_h, dc + keep_c
        inv = torch.argsort(perm)
        dz2 = dz.view(T * B, G)
        h_prev = _shifted(hs, h0, ctx.reverse).reshape(T * B, H)  # the state each step started from
        d_w_hh = (dz2.t() @ h_prev)[inv]  # (4H, H): one GEMM over all steps, rows back in torch's order
        d_w_ih = (dz2.t() @ x.reshape(T * B, -1))[inv]  # (4H, I)
        d_x = (dz2 @ w_ih_p).view_as(x)  # (T, B, I)
        return d_x, dh, dc, d_w_ih, d_w_hh, dz2.sum(0)[inv], None, None


def _shifted(hs: Tensor, h0: Tensor, reverse: bool) -> Tensor:
    """x_{t-1} for every t in processing order: the initial state first, then the states shifted by one."""
    if reverse:
        return torch.cat([hs[1:], h0.unsqueeze(0)])
    return torch.cat([h0.unsqueeze(0), hs[:-1]])


def lstm_direction(
    x: Tensor,
    h0: Tensor,
    c0: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
    reverse: bool,
    valid: Tensor | None,
):
    """Run one direction: output (T, B, H) and final (h, c). Under autocast it runs in fp32 (the buffers
    are written in place, which autocast cannot retype)."""
    bias = x.new_zeros(w_ih.shape[0]) if b_ih is None else b_ih + b_hh
    device = x.device.type
    if torch.is_autocast_enabled(device):
        with torch.autocast(device, enabled=False):
            args = [t.float() for t in (x, h0, c0, w_ih, w_hh, bias)]
            out, h, c = LSTMDirection.apply(*args, reverse, valid)
    else:
        out, h, c = LSTMDirection.apply(x, h0, c0, w_ih, w_hh, bias, reverse, valid)
    return out, (h, c)
