"""sLSTM (Beck et al. 2024, xLSTM): exponential input gate, exponential (or sigmoid) forget gate, a normaliser
state n and a stabiliser state m that keeps exp() in range, recurrent weights block-diagonal over heads.

    z~, i~, f~, o~ = W x_t + R h_{t-1} + b          (R: one (d, 4d) block per head, d = H / heads)
    log f = f~ (exponential) or log sigmoid(f~)     log i = i~
    m_t = max(log f + m_{t-1}, log i)               (m_t = i~ while n is still 0: the first step)
    i' = exp(log i - m_t),  f' = exp(log f + m_{t-1} - m_t)
    c_t = f' c_{t-1} + i' tanh(z~),  n_t = f' n_{t-1} + i',  h_t = sigmoid(o~) * c_t / n_t

The stabiliser cancels in c / n, so h is the unstabilised recurrence's; n >= 1 after the first step, so the
division is safe. This is the xlstm package's vanilla sLSTM cell (gate order there: i, f, z, o).

Notation: B batch, T time, I input, H hidden, NH heads, d = H / NH. The layer's state is
SLSTMState(h, c, n, m), each (L*D, B, H).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from lstmkit.nn.slstm_function import slstm_direction
from lstmkit.nn.stacked import Stacked

TRACES = ("input", "forget", "candidate", "output", "cell", "normaliser", "stabiliser", "hidden")
# Batch x width up to which a sequence runs through the fused function (nn/slstm_function.py): there each step's
# ops are small and per-op overhead dominates, which it removes (1.45-2x faster at 8 x 128); at 32 x 512 and
# above the GEMMs dominate and autograd's bf16 loop is as fast or up to 13 % faster (measured 2026-12-05, 1 thread).
FUSED_MAX_BH = 8192


class SLSTMState(NamedTuple):
    """sLSTM state, each (L*D, B, H): hidden h, cell c, normaliser n, stabiliser m (log scale)."""

    h: Tensor
    c: Tensor
    n: Tensor
    m: Tensor


def slstm_step(
    pre: Tensor, state: SLSTMState, exp_forget: bool
) -> tuple[SLSTMState, tuple[Tensor, Tensor, Tensor, Tensor]]:
    """One step from the gates' pre-activations pre (B, 4, H) = [i~, f~, z~, o~] -> the new state and the gates
    (i', f', z, o) as applied. The state's m is -inf where nothing was written yet (n = 0; see `open_state`):
    then m_t = i~ and f' = exp(-inf) = 0, with no test per step."""
    i_raw, f_raw, z_raw, o_raw = pre.unbind(1)  # each (B, H)
    h, c, n, m = state
    log_f = f_raw if exp_forget else F.logsigmoid(f_raw)
    carried = log_f + m  # (B, H): log of what the forget gate keeps, on the stabiliser's scale
    m_new = torch.maximum(carried, i_raw)  # (B, H)
    i = torch.exp(i_raw - m_new)
    f = torch.exp(carried - m_new)  # never exp() of a large number
    z, o = torch.tanh(z_raw), torch.sigmoid(o_raw)
    c = torch.addcmul(f * c, i, z)
    n = torch.addcmul(i, f, n)
    h = o * c / n
    return SLSTMState(h, c, n, m_new), (i, f, z, o)


def open_state(state: SLSTMState) -> SLSTMState:
    """The state with m = -inf where nothing was written yet (n = 0), as `slstm_step` reads it."""
    return state._replace(m=torch.where(state.n == 0, float("-inf"), state.m))


def close_state(state: SLSTMState) -> SLSTMState:
    """Back to the documented form: m = 0 where nothing was written yet."""
    return state._replace(m=torch.where(state.n == 0, torch.zeros_like(state.m), state.m))


class SLSTMCell(nn.Module):
    """One direction of one sLSTM layer."""

    def __init__(self, input_size: int, hidden_size: int, num_heads: int, exp_forget: bool, bias: bool) -> None:
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size {hidden_size} must be a multiple of num_heads {num_heads}")
        self.hidden_size, self.num_heads, self.exp_forget = hidden_size, num_heads, exp_forget
        d = hidden_size // num_heads
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))  # rows [i, f, z, o] x H
        self.weight_hh = nn.Parameter(torch.empty(num_heads, d, 4 * d))  # per head: h_head (d) -> [i f z o] (4d)
        self.bias = nn.Parameter(torch.zeros(4 * hidden_size)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        H, d = self.hidden_size, self.hidden_size // self.num_heads
        nn.init.uniform_(self.weight_ih, -1 / math.sqrt(H), 1 / math.sqrt(H))
        nn.init.uniform_(self.weight_hh, -1 / math.sqrt(d), 1 / math.sqrt(d))
        if self.bias is not None:
            with torch.no_grad():
                self.bias.zero_()
                self.bias[H : 2 * H] = torch.linspace(3.0, 6.0, H)  # forget gates start open (as xLSTM)

    def zero_state(self, batch: int, device=None, dtype=None) -> SLSTMState:
        z = torch.zeros(batch, self.hidden_size, device=device, dtype=dtype)
        return SLSTMState(z, z, z, z)

    def recurrent_matrix(self) -> Tensor:
        """The block-diagonal recurrent weights as one (H, 4H) matrix, columns gate-major ([i f z o] x H): each
        step is then one addmm, without a batched product and a reshuffle."""
        NH, d, _ = self.weight_hh.shape
        if NH == 1:
            return self.weight_hh[0]  # (H, 4H)
        blocks = torch.block_diag(*self.weight_hh.unbind(0))  # (H, NH*4d): head-major columns
        return blocks.view(self.hidden_size, NH, 4, d).transpose(1, 2).reshape(self.hidden_size, 4 * self.hidden_size)

    def forward(
        self, x: Tensor, state: SLSTMState | None, valid: Tensor | None, collect: bool
    ) -> tuple[Tensor, SLSTMState, dict[str, Tensor] | None]:
        B, H = x.shape[0], self.hidden_size
        s = open_state(self.zero_state(B, x.device, x.dtype) if state is None else state)
        pre_x = F.linear(x, self.weight_ih, self.bias)  # (B, T, 4H)
        if not collect and x.shape[1] > 1 and B * H <= FUSED_MAX_BH and not torch.jit.is_tracing():  # the fused form
            y, last = slstm_direction(pre_x, self.recurrent_matrix(), s, self.exp_forget, valid)  # (B, T, H)
            y = y if valid is None else y * valid[..., None]
            return y.to(pre_x.dtype), close_state(SLSTMState(*(v.to(s.h.dtype) for v in last))), None
        R = self.recurrent_matrix().to(pre_x.dtype)  # (H, 4H): the recurrence as written (traced, exported)
        ys, traced = [], []
        for t, p in enumerate(pre_x.unbind(1)):
            pre = torch.addmm(p, s.h.to(p.dtype), R).view(B, 4, H)  # (B, 4, H)
            new, gates = slstm_step(pre, s, self.exp_forget)
            if valid is not None:  # past a sequence's end the state stays
                keep = valid[:, t, None]
                new = SLSTMState(*(torch.where(keep, a, b) for a, b in zip(new, s)))
            s = new
            ys.append(s.h)
            if collect:
                traced.append((*gates, s.c, s.n, s.m, s.h))
        y = torch.stack(ys, 1)  # (B, T, H)
        if valid is not None:
            y = y * valid[..., None]
        traces = None
        if collect:
            mask = 1.0 if valid is None else valid[..., None].to(y.dtype)
            traces = {name: torch.stack([v[j] for v in traced], 1) * mask for j, name in enumerate(TRACES)}
            traces["carried"] = ys
        return y, close_state(s), traces


class sLSTM(Stacked):
    """sLSTM layers, called like torch.nn.LSTM: `y, state = layer(x)` / `layer(x, state, lengths=...)`.

    Args: input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0 (between layers),
    bidirectional=False, num_heads=1 (block-diagonal recurrent weights), forget="exp" or "sigmoid".
    Returns y (B, T, D*H) (batch_first) and SLSTMState(h, c, n, m), each (L*D, B, H): the state after each
    sequence's last real step."""

    state_type = SLSTMState
    cell_kind = "slstm"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        num_heads: int = 1,
        forget: str = "exp",
    ) -> None:
        if forget not in ("exp", "sigmoid"):
            raise ValueError(f"forget must be 'exp' or 'sigmoid', got {forget!r}")
        self.num_heads, self.forget = num_heads, forget
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            batch_first,
            dropout,
            bidirectional,
            lambda i, h: SLSTMCell(i, h, num_heads, forget == "exp", bias),
        )
