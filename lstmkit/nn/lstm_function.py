"""A hand-written LSTM direction for the explicit backend: forward and backward in the open.

Notation: T time, B batch, I input, H hidden. Gates in torch's order i, f, g, o; `acts` (T, B, 4H) holds them
activated. Autograd through an eager loop records ~10 nodes per step; here the forward writes into
preallocated buffers and the backward is a short loop per step, with the weight and input gradients done
afterwards as single GEMMs over all steps (dW_hh = Σ_t dz_tᵀ h_{t-1}), as cuDNN and oneDNN do.

Padded steps (valid = False) leave the state untouched and output zeros, as in the autograd loop.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _order(T: int, reverse: bool) -> range:
    return range(T - 1, -1, -1) if reverse else range(T)


def lstm_forward_buffers(xp: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor, reverse: bool, valid: Tensor | None):
    """The recurrence. xp (T, B, 4H) includes both biases. Returns acts (T, B, 4H), tanh of the new cell
    tc (T, B, H), state c (T, B, H) and state h (T, B, H) after every step."""
    T, B, G = xp.shape
    H = G // 4
    acts = torch.empty_like(xp)
    tcs = xp.new_empty(T, B, H)
    cs = xp.new_empty(T, B, H)
    hs = xp.new_empty(T, B, H)
    w_hh_t = w_hh.t()
    h, c = h0, c0
    for t in _order(T, reverse):
        a = torch.addmm(xp[t], h, w_hh_t, out=acts[t])  # (B, 4H)
        a[:, : 2 * H].sigmoid_()
        a[:, 2 * H : 3 * H].tanh_()
        a[:, 3 * H :].sigmoid_()
        i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
        c_new = torch.mul(f, c, out=cs[t]).addcmul_(i, g)  # (B, H)
        tc = torch.tanh(c_new, out=tcs[t])
        h_new = torch.mul(o, tc, out=hs[t])
        if valid is not None:
            m = valid[t]  # (B, 1) bool
            torch.where(m, c_new, c, out=cs[t])
            torch.where(m, h_new, h, out=hs[t])
        h, c = hs[t], cs[t]
    return acts, tcs, cs, hs


class LSTMDirection(torch.autograd.Function):
    """One layer-direction of a plain LSTM (no projection, layer norm or zoneout)."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, bias, reverse, valid):
        T, B, _ = x.shape
        xp = torch.addmm(bias, x.reshape(T * B, -1), w_ih.t()).view(T, B, -1)  # (T, B, 4H): one GEMM
        acts, tcs, cs, hs = lstm_forward_buffers(xp, h0, c0, w_hh, reverse, valid)
        out = hs if valid is None else acts[..., 3 * w_hh.shape[1] :] * tcs * valid  # (T, B, H)
        ctx.reverse = reverse
        ctx.save_for_backward(x, h0, c0, w_ih, w_hh, acts, tcs, cs, hs, valid)
        last = 0 if reverse else T - 1
        return out, hs[last].clone(), cs[last].clone()

    @staticmethod
    def backward(ctx, d_out, d_hT, d_cT):
        x, h0, c0, w_ih, w_hh, acts, tcs, cs, hs, valid = ctx.saved_tensors
        T, B, G = acts.shape
        H = G // 4
        d_out = torch.zeros_like(hs) if d_out is None else d_out
        dh = torch.zeros_like(h0) if d_hT is None else d_hT.clone()
        dc = torch.zeros_like(c0) if d_cT is None else d_cT.clone()
        deriv = acts * (1 - acts)  # sigmoid'(z) = a (1 - a) ...
        deriv[..., 2 * H : 3 * H] = 1 - acts[..., 2 * H : 3 * H].square()  # ... tanh'(z) = 1 - a²
        o_dtc = acts[..., 3 * H :] * (1 - tcs.square())  # dc/dh through h = o tanh(c)
        dz = torch.empty_like(acts)  # (T, B, 4H) pre-activation gradients
        dact = acts.new_empty(B, G)
        order = list(_order(T, ctx.reverse))  # forward processing order; backward walks it from the end
        for k in range(T - 1, -1, -1):
            t = order[k]
            c_prev = c0 if k == 0 else cs[order[k - 1]]
            i, f, g = acts[t, :, :H], acts[t, :, H : 2 * H], acts[t, :, 2 * H : 3 * H]
            dh_total = d_out[t] + dh  # (B, H)
            if valid is not None:
                m = valid[t]
                keep_h, keep_c = dh.masked_fill(m, 0), dc.masked_fill(m, 0)  # padded: state passes through
                dh_total = dh_total.masked_fill(~m, 0)
                dc = dc.masked_fill(~m, 0)
            dc = torch.addcmul(dc, dh_total, o_dtc[t])  # (B, H)
            torch.mul(dc, g, out=dact[:, :H])
            torch.mul(dc, c_prev, out=dact[:, H : 2 * H])
            torch.mul(dc, i, out=dact[:, 2 * H : 3 * H])
            torch.mul(dh_total, tcs[t], out=dact[:, 3 * H :])
            z = torch.mul(dact, deriv[t], out=dz[t])  # (B, 4H)
            dh = z @ w_hh  # (B, H)
            dc = dc * f
            if valid is not None:
                dh, dc = dh + keep_h, dc + keep_c
        h_prev = _shifted(hs, h0, ctx.reverse)  # (T, B, H): the state each step started from
        dz2 = dz.view(T * B, G)
        d_w_hh = dz2.t() @ h_prev.reshape(T * B, H)  # (4H, H): one GEMM over all steps
        d_w_ih = dz2.t() @ x.reshape(T * B, -1)  # (4H, I)
        d_x = (dz2 @ w_ih).view_as(x)  # (T, B, I)
        d_bias = dz2.sum(0)
        return d_x, dh, dc, d_w_ih, d_w_hh, d_bias, None, None


def _shifted(hs: Tensor, h0: Tensor, reverse: bool) -> Tensor:
    """h_{t-1} for every t in processing order: h0 first, then the states shifted by one step."""
    if reverse:
        return torch.cat([hs[1:], h0.unsqueeze(0)])
    return torch.cat([h0.unsqueeze(0), hs[:-1]])


def lstm_direction(x: Tensor, h0: Tensor, c0: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None,
                   b_hh: Tensor | None, reverse: bool, valid: Tensor | None):  # fmt: skip
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
