"""The modern cells (sLSTM, mLSTM, minLSTM, minGRU) for ONNX export: the same arithmetic as lstmkit.nn's
recurrent forms, with each time loop a TorchScript function, which the TorchScript-based exporter writes as an
ONNX Loop, so the exported graph takes any batch and any length, with lengths and an explicit state.

    OnnxStacked(layer)(x (B, T, I), lengths (B,), *state) -> (y (B, T, D*H), *state after each sequence)

The state tensors are the layer's state fields in order (sLSTM h, c, n, m; mLSTM C, n, m, conv; min h), each
(L*D, B, ...); none given: zeros. Everything outside the loops (projections, the convolution, norms, gates
that read only the input) is traced as it is written in lstmkit.nn. Scripting happens when a graph is built,
never at import (TorchScript is what the legacy exporter reads; training never runs through it). A layer gives
this form as `layer.export_form()`, which lstmkit.deploy finds without importing the cells.

Notation as in lstmkit.nn: B batch, T time, H hidden, NH heads, d = H / NH, L layers, D directions.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from lstmkit.nn.stacked import Stacked, cell_state, gather_time, reverse_index, stack_states


def _linear_scan(a: Tensor, b: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
    """h_t = a_t h_{t-1} + b_t: a, b (T, B, H), h (B, H) -> every h_t (T, B, H), the last."""
    ys = torch.zeros_like(b)
    for t in range(a.size(0)):
        h = a[t] * h + b[t]
        ys[t] = h
    return ys, h


def _slstm_scan(
    pre: Tensor, h: Tensor, c: Tensor, n: Tensor, m: Tensor, w_hh: Tensor, valid: Tensor, exp_forget: bool
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """sLSTM over time (nn/slstm.py's slstm_step): input pre-activations pre (T, 4, B, H) (gates leading: the
    exporter indexes leading axes reliably inside a loop), state (B, H) each, block-diagonal recurrent weights
    w_hh (NH, d, 4d), valid (T, B, 1) -> h per step (T, B, H) and the state."""
    NH, d = w_hh.size(0), w_hh.size(1)
    H = NH * d
    ys = torch.zeros_like(pre[:, 0])
    for t in range(pre.size(0)):
        B = h.size(0)
        r = torch.bmm(h.reshape(B, NH, d).transpose(0, 1), w_hh)  # (NH, B, 4d)
        p = pre[t] + r.reshape(NH, B, 4, d).permute(2, 1, 0, 3).reshape(4, B, H)  # (4, B, H)
        i_raw, f_raw, z_raw, o_raw = p[0], p[1], p[2], p[3]
        log_f = f_raw if exp_forget else F.logsigmoid(f_raw)
        first = n == 0
        m_new = torch.where(first, i_raw, torch.maximum(log_f + m, i_raw))
        i = torch.exp(i_raw - m_new)
        f = torch.exp(torch.where(first, torch.full_like(m, -float("inf")), log_f + m - m_new))
        c_new = f * c + i * torch.tanh(z_raw)
        n_new = f * n + i
        h_new = torch.sigmoid(o_raw) * c_new / n_new
        keep = valid[t] > 0  # (B, 1): past a sequence's end the state stays
        h, c = torch.where(keep, h_new, h), torch.where(keep, c_new, c)
        n, m = torch.where(keep, n_new, n), torch.where(keep, m_new, m)
        ys[t] = h * valid[t]
    return ys, h, c, n, m


def _mlstm_scan(
    q: Tensor, k: Tensor, v: Tensor, i_raw: Tensor, log_f: Tensor, C: Tensor, n: Tensor, m: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """mLSTM's recurrent step over time (nn/mlstm.py's recurrent_step): q, k, v (T, B, NH, d), i~ and log f
    (T, B, NH) (padded steps: -inf and 0, which write nothing) -> h~ (T, B, NH, d) and C, n, m."""
    hs = torch.zeros_like(q)
    for t in range(q.size(0)):
        m_new = torch.maximum(log_f[t] + m, i_raw[t])  # (B, NH)
        i, f = torch.exp(i_raw[t] - m_new), torch.exp(log_f[t] + m - m_new)
        C = f.unsqueeze(-1).unsqueeze(-1) * C + i.unsqueeze(-1).unsqueeze(-1) * (
            v[t].unsqueeze(-1) * k[t].unsqueeze(-2)
        )  # (B, NH, d, d)
        n = f.unsqueeze(-1) * n + i.unsqueeze(-1) * k[t]  # (B, NH, d)
        num = torch.matmul(C, q[t].unsqueeze(-1)).squeeze(-1)  # (B, NH, d)
        den = (n * q[t]).sum(-1)  # (B, NH)
        hs[t] = num / torch.maximum(den.abs(), torch.exp((-m_new).clamp(max=80.0))).unsqueeze(-1)
        m = m_new
    return hs, C, n, m


@functools.cache
def _scripted(name: str) -> Any:
    """The loop `name`, scripted once per process (only when a graph is exported)."""
    return torch.jit.script({"linear": _linear_scan, "slstm": _slstm_scan, "mlstm": _mlstm_scan}[name])


def _min_cell(cell: nn.Module, x: Tensor, state: Any, valid: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
    log_a, log_b, _ = cell.gates(x)  # (B, T, H) each
    keep = valid[..., None]
    log_a = torch.where(keep, log_a, torch.zeros_like(log_a))
    log_b = torch.where(keep, log_b, torch.full_like(log_b, -float("inf")))
    ys, h = _scripted("linear")(torch.exp(log_a).transpose(0, 1), torch.exp(log_b).transpose(0, 1), state.h)
    return ys.transpose(0, 1) * valid[..., None], (h,)


def _slstm_cell(cell: nn.Module, x: Tensor, state: Any, valid: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
    B, T = x.shape[:2]  # traced as sizes, so the graph keeps both axes dynamic (unflatten would freeze them)
    pre = F.linear(x, cell.weight_ih, cell.bias).view(B, T, 4, cell.hidden_size)  # (B, T, 4, H)
    mask = valid.transpose(0, 1)[..., None].to(x.dtype)  # (T, B, 1)
    ys, *s = _scripted("slstm")(pre.permute(1, 2, 0, 3), *state, cell.weight_hh, mask, cell.exp_forget)
    return ys.transpose(0, 1), tuple(s)


def _mlstm_cell(cell: nn.Module, x: Tensor, state: Any, valid: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
    xc, buffer = cell.convolved(x, state.conv, valid)
    q, k, v, i_raw, log_f, o = cell.project(x, xc, valid)  # (B, NH, T, d) x 3, (B, NH, T) x 2, (B, T, H)
    time = lambda a: a.permute(2, 0, 1, 3)  # noqa: E731  (B, NH, T, d) -> (T, B, NH, d)
    h, C, n, m = _scripted("mlstm")(
        time(q), time(k), time(v), i_raw.permute(2, 0, 1), log_f.permute(2, 0, 1), state.C, state.n, state.m
    )
    B, T = x.shape[:2]
    y = o * cell.norm(h.permute(1, 0, 2, 3)).reshape(B, T, cell.hidden_size)  # (B, T, H)
    return y * valid[..., None], (C, n, m, buffer)


FORMS = {"slstm": _slstm_cell, "mlstm": _mlstm_cell, "mingru": _min_cell, "minlstm": _min_cell}


class OnnxStacked(nn.Module):
    """A modern layer (lstmkit.nn.Stacked) for export: batch-first x (B, T, I), lengths (B,) and the state
    tensors -> output (B, T, D*H) (zeros past each length) and the state tensors after each sequence."""

    def __init__(self, layer: Stacked) -> None:
        super().__init__()
        if layer.cell_kind not in FORMS:
            raise ValueError(f"no ONNX form for the {layer.cell_kind} cell")
        self.layer, self.run_cell = layer, FORMS[layer.cell_kind]

    def forward(self, x: Tensor, lengths: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        layer, kind = self.layer, self.layer.state_type
        full = kind(*state) if state else layer.initial_state(x.shape[0], x.device, x.dtype)
        T = x.shape[1]
        valid = torch.arange(T, device=x.device)[None] < lengths[:, None]  # (B, T)
        back = reverse_index(lengths, T)
        dirs = 2 if layer.bidirectional else 1
        finals = []
        for lay in range(layer.num_layers):
            outs = []
            for d in range(dirs):
                k = lay * dirs + d
                xd = x if d == 0 else gather_time(x, back)
                y, s = self.run_cell(layer.cells[k], xd, cell_state(full, k, kind), valid)
                outs.append(y if d == 0 else gather_time(y, back))
                finals.append(kind(*s))
            x = torch.cat(outs, -1) if dirs == 2 else outs[0]  # (B, T, D*H)
        return (x, *stack_states(finals, kind))
