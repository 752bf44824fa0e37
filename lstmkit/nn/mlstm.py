"""mLSTM (Beck et al. 2024, xLSTM): a matrix memory per head written with exponential input gates and read with a
query; the gates read only the input, so training runs in parallel over time.

    q = W_q x,  k = W_k x / sqrt(d),  v = W_v x,  i~ = w_i x,  f~ = w_f x  (one i~, f~ per head),  o = sigmoid(W_o x)
    m_t = max(log sigmoid(f~) + m_{t-1}, i~),  i' = exp(i~ - m_t),  f' = exp(log sigmoid(f~) + m_{t-1} - m_t)
    C_t = f' C_{t-1} + i' v_t k_t^T,  n_t = f' n_{t-1} + i' k_t
    h_t = o * norm(C_t q_t / max(|n_t . q_t|, exp(-m_t)))        (norm: a layer norm per head)

Three forms that agree (tests/nn/test_modern.py): the recurrent step (inference, O(1) per token), the parallel
form (T x T decay matrix; short sequences) and the chunkwise form (the parallel form over chunks of
`chunk_size` steps, the state carried between them: O(T * chunk) memory for training on long sequences). Each
takes an initial state. The stabiliser m cancels in the ratio, so the forms agree whatever m they carry.
The floor exp(-m) is capped at e^80 (see `floor`).

Notation: B batch, T time, I input, H hidden, NH heads, d = H / NH, K the convolution's kernel. The layer's
state is MLSTMState(C, n, m, conv): C (L*D, B, NH, d, d), n (L*D, B, NH, d), m (L*D, B, NH), and the last K-1
inputs conv (L*D, B, K-1, W) (W: the widest layer input, max(I, D*H); a layer uses its first columns).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from lstmkit.nn.stacked import Stacked

TRACES = ("input", "forget", "output", "memory_norm", "normaliser", "stabiliser", "hidden")


class MLSTMState(NamedTuple):
    """mLSTM state: memory C (L*D, B, NH, d, d), normaliser n (L*D, B, NH, d), stabiliser m (L*D, B, NH), and the
    last K-1 inputs of the short causal convolution, conv (L*D, B, K-1, I) (I: the layer's input size)."""

    C: Tensor
    n: Tensor
    m: Tensor
    conv: Tensor


class Memory(NamedTuple):
    """One cell's matrix memory (B, NH, d, d), normaliser (B, NH, d) and stabiliser (B, NH)."""

    C: Tensor
    n: Tensor
    m: Tensor


def floor(m: Tensor) -> Tensor:
    """exp(-m), the denominator's floor, capped at e^80: beyond it h is 0 to float precision anyway, and the cap
    keeps the value (and its gradient) finite when every gate is tiny."""
    return torch.exp((-m).clamp(max=80.0))


def parallel(
    q: Tensor, k: Tensor, v: Tensor, i_raw: Tensor, log_f: Tensor, state: Memory
) -> tuple[Tensor, Memory, Tensor]:
    """q, k, v (B, NH, T, d), i~ and log f (B, NH, T), state (B, NH, ...) -> h~ (B, NH, T, d) (before the output
    gate and norm), the state after the last step, and the stabiliser m (B, NH, T)."""
    C0, n0, m0 = state
    T = q.shape[2]
    Fc = torch.cumsum(log_f, -1)  # (B, NH, T): log of the forget product up to t
    logD = Fc[..., :, None] - Fc[..., None, :] + i_raw[..., None, :]  # (B, NH, T, T): t reads s
    causal = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
    logD = logD.masked_fill(~causal, float("-inf"))
    log_s0 = Fc + m0[..., None]  # (B, NH, T): the initial state's weight at t
    m = torch.maximum(logD.amax(-1), log_s0)  # (B, NH, T)
    D = torch.exp(logD - m[..., None])  # (B, NH, T, T)
    s0 = torch.exp(log_s0 - m)  # (B, NH, T)
    S = (q @ k.transpose(-1, -2)) * D  # (B, NH, T, T)
    num = S @ v + s0[..., None] * (q @ C0.transpose(-1, -2))  # (B, NH, T, d)
    den = S.sum(-1) + s0 * (q @ n0[..., None])[..., 0]  # (B, NH, T)
    h = num / torch.maximum(den.abs(), floor(m))[..., None]
    wl, sl = D[..., -1, :], s0[..., -1]  # the last step's weights (B, NH, T), (B, NH)
    C = sl[..., None, None] * C0 + (v * wl[..., None]).transpose(-1, -2) @ k  # (B, NH, d, d)
    n = sl[..., None] * n0 + (wl[..., None] * k).sum(-2)  # (B, NH, d)
    return h, Memory(C, n, m[..., -1]), m


def chunkwise(
    q: Tensor, k: Tensor, v: Tensor, i_raw: Tensor, log_f: Tensor, state: Memory, chunk: int
) -> tuple[Tensor, Memory, Tensor]:
    """The parallel form over chunks of `chunk` steps, the state carried from one to the next."""
    hs, ms = [], []
    for t0 in range(0, q.shape[2], chunk):
        part = slice(t0, t0 + chunk)
        h, state, m = parallel(q[:, :, part], k[:, :, part], v[:, :, part], i_raw[..., part], log_f[..., part], state)
        hs.append(h)
        ms.append(m)
    return torch.cat(hs, 2), state, torch.cat(ms, -1)


def recurrent_step(
    q: Tensor, k: Tensor, v: Tensor, i_raw: Tensor, log_f: Tensor, state: Memory
) -> tuple[Tensor, Memory]:
    """One step: q, k, v (B, NH, d), i~ and log f (B, NH) -> h~ (B, NH, d) and the new state."""
    C, n, m = state
    m_new = torch.maximum(log_f + m, i_raw)  # (B, NH)
    i, f = torch.exp(i_raw - m_new), torch.exp(log_f + m - m_new)
    C = f[..., None, None] * C + i[..., None, None] * (v[..., :, None] * k[..., None, :])  # (B, NH, d, d)
    n = f[..., None] * n + i[..., None] * k  # (B, NH, d)
    num = (C @ q[..., None])[..., 0]  # (B, NH, d)
    den = (n * q).sum(-1)  # (B, NH)
    h = num / torch.maximum(den.abs(), floor(m_new))[..., None]
    return h, Memory(C, n, m_new)


def recurrent(
    q: Tensor, k: Tensor, v: Tensor, i_raw: Tensor, log_f: Tensor, state: Memory, collect: bool = False
) -> tuple[Tensor, Memory, Tensor, list[Memory]]:
    """The recurrent step over every t: h~ (B, NH, T, d), the last state, m (B, NH, T) and (collect) each state."""
    hs, ms, states = [], [], []
    for t in range(q.shape[2]):
        h, state = recurrent_step(q[:, :, t], k[:, :, t], v[:, :, t], i_raw[..., t], log_f[..., t], state)
        hs.append(h)
        ms.append(state.m)
        if collect:
            states.append(state)
    return torch.stack(hs, 2), state, torch.stack(ms, -1), states


class MLSTMCell(nn.Module):
    """One direction of one mLSTM layer."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_heads: int,
        form: str,
        chunk_size: int,
        bias: bool,
        conv: int,
        width: int = 0,
    ) -> None:
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size {hidden_size} must be a multiple of num_heads {num_heads}")
        self.hidden_size, self.num_heads, self.form, self.chunk_size = hidden_size, num_heads, form, chunk_size
        self.input_size, self.kernel = input_size, max(conv, 1)
        self.width = max(width, input_size)  # the state's buffer width: the widest input of the layer stack
        # a short causal depthwise convolution before q, k and the gates (xLSTM's mLSTM block): a key can be
        # written together with the token that follows it
        self.conv = nn.Conv1d(input_size, input_size, self.kernel, groups=input_size) if conv > 1 else None
        self.qkv = nn.Linear(input_size, 3 * hidden_size, bias=bias)
        self.gates = nn.Linear(input_size, 2 * num_heads)  # [i~, f~] per head
        self.out_gate = nn.Linear(input_size, hidden_size, bias=bias)
        self.norm = nn.LayerNorm(hidden_size // num_heads, bias=False)  # per head, shared over heads
        with torch.no_grad():  # as xLSTM: forget gates start open, input gates small
            self.gates.bias[num_heads:] = torch.linspace(3.0, 6.0, num_heads)
            self.gates.bias[:num_heads] = -1.0

    def zero_state(self, batch: int, device=None, dtype=None) -> MLSTMState:
        NH, d = self.num_heads, self.hidden_size // self.num_heads
        kw = {"device": device, "dtype": dtype}
        return MLSTMState(
            torch.zeros(batch, NH, d, d, **kw),
            torch.zeros(batch, NH, d, **kw),
            torch.zeros(batch, NH, **kw),
            torch.zeros(batch, self.kernel - 1, self.width, **kw),
        )

    def convolved(self, x: Tensor, buffer: Tensor, valid: Tensor | None) -> tuple[Tensor, Tensor]:
        """x (B, T, I) after the causal convolution and swish (the buffer holds the inputs before x), and the new
        buffer: the last K-1 real inputs of each sequence."""
        if self.conv is None:
            return x, buffer
        K, I = self.kernel, self.input_size
        full = torch.cat([buffer[..., :I], x], 1)  # (B, K-1+T, I)
        out = F.silu(self.conv(full.transpose(1, 2)).transpose(1, 2))  # (B, T, I)
        ends = (
            valid.sum(1)
            if valid is not None
            else torch.full((x.shape[0],), x.shape[1], dtype=torch.long, device=x.device)  # (B,) indices
        )
        index = ends[:, None] + torch.arange(K - 1, device=x.device)[None]  # (B, K-1): positions in `full`
        kept = full.gather(1, index[..., None].expand(-1, -1, I))  # (B, K-1, I)
        return out, F.pad(kept, (0, self.width - I))

    def project(self, x: Tensor, xc: Tensor, valid: Tensor | None) -> tuple[Tensor, ...]:
        """x (B, T, I) and its convolution xc -> q, k (from xc), v (from x) (B, NH, T, d), i~, log f (B, NH, T),
        o (B, T, H); padded steps write nothing."""
        B, T, _ = x.shape
        NH, d = self.num_heads, self.hidden_size // self.num_heads
        H = self.hidden_size
        w, b = self.qkv.weight, self.qkv.bias
        qk = F.linear(xc, w[: 2 * H], None if b is None else b[: 2 * H])  # (B, T, 2H)
        vv = F.linear(x, w[2 * H :], None if b is None else b[2 * H :])  # (B, T, H)
        q, k, v = (a.view(B, T, NH, d).transpose(1, 2) for a in (*qk.chunk(2, -1), vv))  # (B, NH, T, d)
        k = k / math.sqrt(d)
        i_raw, f_raw = self.gates(xc).transpose(1, 2).chunk(2, 1)  # (B, NH, T) each
        log_f = F.logsigmoid(f_raw)
        if valid is not None:
            keep = valid[:, None]  # (B, 1, T)
            i_raw = i_raw.masked_fill(~keep, float("-inf"))
            log_f = log_f.masked_fill(~keep, 0.0)
        return q, k, v, i_raw, log_f, torch.sigmoid(self.out_gate(x))

    def mix(self, q, k, v, i_raw, log_f, state, collect: bool) -> tuple[Tensor, MLSTMState, Tensor, list]:
        T = q.shape[2]
        form = self.form
        if form == "auto":
            form = "recurrent" if T == 1 else "parallel" if self.chunk_size >= T else "chunkwise"
        if collect or form == "recurrent":
            return recurrent(q, k, v, i_raw, log_f, state, collect)
        if form == "parallel":
            return (*parallel(q, k, v, i_raw, log_f, state), [])
        return (*chunkwise(q, k, v, i_raw, log_f, state, self.chunk_size), [])

    def forward(
        self, x: Tensor, state: Memory | None, valid: Tensor | None, collect: bool
    ) -> tuple[Tensor, MLSTMState, dict[str, Tensor] | None]:
        B, T, _ = x.shape
        s = self.zero_state(B, x.device, x.dtype) if state is None else state
        xc, buffer = self.convolved(x, s.conv, valid)
        q, k, v, i_raw, log_f, o = self.project(x, xc, valid)
        m0 = s.m
        h, mem, m, states = self.mix(q, k, v, i_raw, log_f, Memory(s.C, s.n, s.m), collect)  # h (B, NH, T, d)
        s = MLSTMState(*mem, buffer)
        y = o * self.norm(h).transpose(1, 2).reshape(B, T, self.hidden_size)  # (B, T, H)
        if valid is not None:
            y = y * valid[..., None]
        return y, s, self._traces(states, i_raw, log_f, o, m, m0, y, valid) if collect else None

    def _traces(self, states, i_raw, log_f, o, m, m0, y, valid) -> dict[str, Tensor]:
        """Per step (B, T, NH) for the per-head values, (B, T, H) for the output gate and h."""
        C = torch.stack([s.C for s in states], 1)  # (B, T, NH, d, d)
        n = torch.stack([s.n for s in states], 1)  # (B, T, NH, d)
        m_prev = torch.cat([m0[..., None], m[..., :-1]], -1)  # (B, NH, T)
        out = {
            "input": torch.exp(i_raw - m).transpose(1, 2),  # i' (B, T, NH)
            "forget": torch.exp(log_f + m_prev - m).transpose(1, 2),  # f'
            "output": o,
            "memory_norm": C.flatten(-2).norm(dim=-1),  # (B, T, NH): |C| (stabilised)
            "normaliser": n.norm(dim=-1),  # (B, T, NH)
            "stabiliser": m.transpose(1, 2),  # (B, T, NH)
            "hidden": y,
        }
        if valid is not None:
            out = {k: v * valid[..., None].to(v.dtype) for k, v in out.items()}
        return out | {"carried": [s.C for s in states]}  # the memory feeds the next step


class mLSTM(Stacked):
    """mLSTM layers, called like torch.nn.LSTM: `y, state = layer(x)` / `layer(x, state, lengths=...)`.

    Args: input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0 (between layers),
    bidirectional=False, num_heads (default 4 when hidden_size divides by 4, else 1), form="auto" (recurrent
    for one step, parallel up to chunk_size steps, chunkwise beyond) or "parallel" / "chunkwise" /
    "recurrent", chunk_size=64, conv=4 (the kernel of a short causal convolution before q, k and the gates, as
    in xLSTM's mLSTM block; 0 or 1: none).
    Returns y (B, T, D*H) (batch_first) and MLSTMState(C, n, m, conv) with C (L*D, B, NH, d, d), n (L*D, B,
    NH, d), m (L*D, B, NH), conv (L*D, B, conv-1, max(I, D*H)): the state after each sequence's last real step."""

    state_type = MLSTMState
    cell_kind = "mlstm"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        num_heads: int | None = None,
        form: str = "auto",
        chunk_size: int = 64,
        conv: int = 4,
    ) -> None:
        if form not in ("auto", "parallel", "chunkwise", "recurrent"):
            raise ValueError(f"form must be auto, parallel, chunkwise or recurrent; got {form!r}")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        heads = num_heads or (4 if hidden_size % 4 == 0 else 1)
        width = max(input_size, hidden_size * (2 if bidirectional else 1))
        self.num_heads, self.form, self.chunk_size = heads, form, chunk_size
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            batch_first,
            dropout,
            bidirectional,
            lambda i, h: MLSTMCell(i, h, heads, form, chunk_size, bias, conv, width),
        )
