"""A hand-written sLSTM direction for training: forward into preallocated buffers, backward in the open.

Notation: T time, B batch, H hidden. Gate pre-activations come in as pre_x (B, T, 4H) = [i~, f~, z~, o~] from
the input (bias included) and R (H, 4H), the recurrent weights as one gate-major matrix (see
`SLSTMCell.recurrent_matrix`). The equations are nn/slstm.py's `slstm_step`; the state is h, c, n, m (B, H),
with m = -inf where nothing was written yet. Inside, the gates are time-major and gate-major, (T, 4, B, H): each
gate of each step is a contiguous block (exp / tanh / sigmoid run vectorised), while the step's GEMM keeps its
fast orientation, (B, H) @ (H, 4H) (the transposed ones ran 2-4x slower here).

Autograd through the eager loop records ~15 nodes a step and replays them one by one; here the forward runs
without recording (12 cheap ops a step into buffers), the backward is a short loop per step with every
factor the forward knows folded in beforehand for all steps at once, and the recurrent weights' gradient is
one GEMM over all steps (dR = Σ_t h_{t-1}ᵀ dpre_t), as cuDNN and oneDNN do for the LSTM.

The stabiliser m cancels in h = o c / n, but c, n and m of the returned state depend on it, so its gradient is
carried exactly (not dropped): a loss on the final state gets autograd's numbers too. Where carried == i~
exactly (a tie in m = max(carried, i~)), m's gradient goes to carried (autograd splits it; a measure-zero event).

Padded steps (valid = False) leave the state untouched; y there holds the carried h (the caller zeroes it).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from lstmkit.nn.lstm_function import _shifted  # x_{t-1} for every t (T, B, H), the initial state first


def _views(buf: Tensor) -> list[tuple[Tensor, ...]]:
    """Per-step views (made once, in C++) of buf (T, 4, B, H): the [i, f] pair (2, B, H), then i, f, z, o (B, H);
    all contiguous, so exp / tanh / sigmoid run vectorised in one thread (on a strided view, with two threads,
    they took ~4x as long here)."""
    return [buf[:, :2].unbind(0), *(buf[:, k].unbind(0) for k in range(4))]


def _padded_steps(valid: Tensor | None, T: int) -> list[bool]:
    """Which steps have a padded row (only those pay for masking)."""
    return [False] * T if valid is None else (~valid.view(T, -1).all(1)).tolist()


def slstm_forward_buffers(
    acts: Tensor,
    state: tuple[Tensor, Tensor, Tensor, Tensor],
    R: Tensor,
    exp_forget: bool,
    valid: Tensor | None,
    padded: list[bool],
    gemm_dtype: torch.dtype,
) -> tuple[Tensor, ...]:
    """The recurrence; overwrites acts (T, 4, B, H): pre-activations in, the applied gates (i', f', z, o) out.
    R is (H, 4H); the state (B, H) each; each step's GEMM runs in gemm_dtype (bf16 under autocast). Returns acts,
    log f (T, B, H) (sigmoid gate only, else None) and h, c, n, m (T, B, H) after every step."""
    T, _, B, H = acts.shape
    hs, cs, ns = (acts.new_empty(T, B, H) for _ in range(3))
    ms = acts.new_empty(T, 1, B, H)  # (1, B, H) per step: broadcasts over the [i, f] pair without a view op
    lfs = None if exp_forget else acts.new_empty(T, B, H)
    pair_t, i_t, f_t, z_t, o_t = _views(acts)
    act_t, h_t, c_t, n_t, m_t, m1_t = (x.unbind(0) for x in (acts, hs, cs, ns, ms[:, 0], ms))
    R = R.to(gemm_dtype)
    h, c, n, m = state
    for t in range(T):
        rec = torch.mm(h.to(gemm_dtype), R).view(B, 4, H).transpose(0, 1)  # (4, B, H): the fast orientation
        act_t[t].add_(rec)  # the step's pre-activations, gate-major
        if exp_forget:
            carried = f_t[t].add_(m)  # log f + m_{t-1}, in place of f~
        else:
            carried = torch.add(F.logsigmoid(f_t[t], out=lfs[t]), m, out=f_t[t])
        m_new = torch.maximum(carried, i_t[t], out=m_t[t])  # (B, H)
        pair_t[t].sub_(m1_t[t]).exp_()  # i' = exp(i~ - m_t), f' = exp(carried - m_t), in place
        i, f, z, o = i_t[t], f_t[t], z_t[t].tanh_(), o_t[t].sigmoid_()
        c_new = torch.mul(f, c, out=c_t[t]).addcmul_(i, z)
        n_new = torch.addcmul(i, f, n, out=n_t[t])
        h_new = torch.mul(o, c_new, out=h_t[t]).div_(n_new)
        if padded[t]:  # past a sequence's end the state stays
            for new, old in ((h_new, h), (c_new, c), (n_new, n), (m_new, m)):
                torch.where(valid[t], new, old, out=new)
        h, c, n, m = h_t[t], c_t[t], n_t[t], m_t[t]
    return acts, lfs, hs, cs, ns, ms[:, 0]


def _backward_factors(acts: Tensor, lfs: Tensor | None, hs, cs, ns, c0, n0) -> dict[str, Tensor]:
    """Everything the backward step multiplies by, for all steps at once: q (T, 2, B, H): dh -> (dc, dn) through
    h = o c / n; p_z, p_o (T, B, H): dc -> dz~, dh -> do~; k (T, 2, 2, B, H): (dc, dn) -> (a_i, a_f), the gradient
    through i', f' times i', f'; s (T, 2, B, H): m's gradient -> (i~, carried), split by which side of the max won."""
    i, f, z, o = acts.unbind(1)  # each (T, B, H): the gates as applied
    c_prev, n_prev = _shifted(cs, c0, False), _shifted(ns, n0, False)  # the cell and normaliser each step read
    out = {
        "q": torch.stack([o / ns, -hs / ns], 1),
        "p_z": i * (1 - z.square()),
        "p_o": cs / ns * o * (1 - o),
        "k": torch.stack([torch.stack([z * i, i], 1), torch.stack([c_prev * f, n_prev * f], 1)], 1),
        "f": f,
    }
    won = (f == 1).to(f.dtype)  # m_t = carried where f' = exp(0) exactly, else m_t = i~
    out["s"] = torch.stack([1 - won, won], 1)
    if lfs is not None:
        out["p_f"] = -torch.expm1(lfs)  # d log sigmoid(f~) / d f~ = 1 - sigmoid(f~)
    return out


class SLSTMDirection(torch.autograd.Function):
    """One layer-direction of an sLSTM, time-major: (pre_x (T, B, 4, H), R (H, 4H), h0, c0, n0, m0 (B, H)) ->
    (h (T, B, H), the last h, c, n, m (B, H))."""

    @staticmethod
    def forward(ctx, pre_x, R, h0, c0, n0, m0, exp_forget, valid, gemm_dtype):
        acts = pre_x.transpose(1, 2).contiguous()  # (T, 4, B, H): gate-major, a copy the loop overwrites
        ctx.padded, ctx.gemm_dtype = _padded_steps(valid, acts.shape[0]), gemm_dtype
        state = (h0, c0, n0, m0)
        acts, lfs, hs, cs, ns, ms = slstm_forward_buffers(acts, state, R, exp_forget, valid, ctx.padded, gemm_dtype)
        ctx.save_for_backward(R, h0, c0, n0, acts, lfs, hs, cs, ns, valid)
        return hs, hs[-1].clone(), cs[-1].clone(), ns[-1].clone(), ms[-1].clone()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, d_y, d_h, d_c, d_n, d_m):
        R, h0, c0, n0, acts, lfs, hs, cs, ns, valid = ctx.saved_tensors
        T, _, B, H = acts.shape
        fac = _backward_factors(acts, lfs, hs, cs, ns, c0, n0)
        d_y = torch.zeros_like(hs) if d_y is None else d_y
        zero = torch.zeros_like(h0)
        dh, dm = (zero if g is None else g for g in (d_h, d_m))
        dcn = torch.stack([zero if d_c is None else d_c, zero if d_n is None else d_n])  # (2, B, H)
        dpre = acts.new_empty(T, B, 4, H)  # batch-major: each step's (B, 4H) feeds its GEMM as it is
        dif_t, _, df_t, dz_t, do_t = _views(dpre.transpose(1, 2))  # written through gate-major views
        names = ("q", "p_z", "p_o", "k", "s", "f")
        steps = [x.unbind(0) for x in (d_y, dpre, *(fac[k] for k in names))]
        p_f = fac["p_f"].unbind(0) if "p_f" in fac else None
        padded, gd = ctx.padded, ctx.gemm_dtype
        R_t = R.t().to(gd)
        for t in range(T - 1, -1, -1):
            dy, dp, q, p_z, p_o, k, s, f = (x[t] for x in steps)
            g = dy + dh  # (B, H): everything that reaches h_t
            if padded[t]:  # padded rows: the state passed through, the step gets nothing
                keep = valid[t]
                passed = [torch.where(keep, 0.0, x) for x in (g, dcn, dm)]
                g, dcn, dm = (torch.where(keep, x, 0.0) for x in (g, dcn, dm))
            dcn = torch.addcmul(dcn, g, q)  # (2, B, H): the gradient at c_t, n_t
            torch.mul(dcn[0], p_z, out=dz_t[t])
            torch.mul(g, p_o, out=do_t[t])
            a_if = (dcn * k).sum(1)  # (2, B, H): [a_i, a_f]
            dmt = dm - a_if.sum(0)  # m_t's whole gradient: from step t + 1 and from i', f' = exp(. - m_t)
            torch.addcmul(a_if, dmt, s, out=dif_t[t])  # [d i~, d carried]
            dm = df_t[t]  # carried = log f + m_{t-1}
            if p_f is not None:
                dm = dm.clone()
                df_t[t].mul_(p_f[t])
            dh, dcn = torch.mm(dp.view(B, 4 * H).to(gd), R_t), dcn * f  # (B, H), (2, B, H)
            if padded[t]:
                dh, dcn, dm = dh + passed[0], dcn + passed[1], dm + passed[2]
        h_prev = _shifted(hs, h0, False).view(T * B, H).to(gd)
        dR = (h_prev.t() @ dpre.view(T * B, 4 * H).to(gd)).to(R.dtype)  # (H, 4H): one GEMM over all steps
        return dpre, dR, dh.to(h0.dtype), dcn[0], dcn[1], dm, None, None, None


def slstm_direction(
    pre_x: Tensor, R: Tensor, state: tuple[Tensor, Tensor, Tensor, Tensor], exp_forget: bool, valid: Tensor | None
) -> tuple[Tensor, tuple[Tensor, Tensor, Tensor, Tensor]]:
    """pre_x (B, T, 4H), R (H, 4H), state h, c, n, m (B, H) (m = -inf where unwritten), valid (B, T) or None ->
    y (B, T, H) (padded steps hold the carried h) and the state after the last step, each (B, H). Under autocast
    the steps' GEMMs run in its dtype (as autocast runs them elsewhere) and everything else in fp32 (the buffers
    are written in place, which autocast cannot retype)."""
    dtype = torch.promote_types(pre_x.dtype, R.dtype)  # bf16 pre-activations with fp32 weights: fp32
    device = pre_x.device.type
    gemm_dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else dtype
    B, T, G = pre_x.shape
    vt = None if valid is None else valid.t()[..., None].contiguous()  # (T, B, 1)
    with torch.autocast(device, enabled=False):
        gates = pre_x.to(dtype).transpose(0, 1).contiguous().view(T, B, 4, G // 4)  # (T, B, 4, H)
        states = (s.to(dtype) for s in state)
        hs, *last = SLSTMDirection.apply(gates, R.to(dtype), *states, exp_forget, vt, gemm_dtype)
    return hs.transpose(0, 1), tuple(last)
