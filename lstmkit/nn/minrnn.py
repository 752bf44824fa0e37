"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?"): the gates read only the input, so the
recurrence h_t = a_t * h_{t-1} + b_t is linear in h and trains as a parallel scan over time; inference steps
one token at a time in O(1).

    minGRU:  z = sigmoid(W_z x),  h~ = g(W_h x),  h_t = (1 - z) * h_{t-1} + z * h~
    minLSTM: f = sigmoid(W_f x),  i = sigmoid(W_i x),  h~ = g(W_h x),
             f' = f / (f + i),  i' = i / (f + i),  h_t = f' * h_{t-1} + i' * h~
    g(x) = x + 1/2 for x >= 0, sigmoid(x) otherwise (positive, so the scan runs in log space)

The scan is Heinsen's (2023) in log space: with A_t = sum_{k<=t} log a_k,
    h_t = exp(A_t) * h_0 + exp(A_t + logcumsumexp_k<=t(log b_k - A_k))
exact for any initial state h_0 (its term is kept apart), stable for long T (no products of small numbers).
On a CPU the same recurrence run as one fused multiply-add per step (`scan="sequential"`, its backward the
reverse recurrence) is exact and several times cheaper: a parallel scan buys nothing on one or two cores, and
logcumsumexp's exp/log passes dominate its cost. `scan="auto"` (the default) takes it on CPU, the log-space scan
on GPUs.

Notation: B batch, T time, I input size, H hidden size. The layer's state is MinState(h): h (L*D, B, H).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from lstmkit.nn.stacked import Stacked

TRACES = {"mingru": ("update", "candidate", "hidden"), "minlstm": ("input", "forget", "candidate", "hidden")}


class MinState(NamedTuple):
    """minGRU / minLSTM state: h (L*D, B, H) (unbatched input: (L*D, H))."""

    h: Tensor


def log_g(x: Tensor) -> Tensor:
    """log g(x), g(x) = x + 1/2 (x >= 0) or sigmoid(x) (x < 0)."""
    return torch.where(x >= 0, torch.log(F.relu(x) + 0.5), -F.softplus(-x))


def g(x: Tensor) -> Tensor:
    """g(x) = x + 1/2 (x >= 0) or sigmoid(x) (x < 0), written as relu(x) + sigmoid(min(x, 0)): no `where`,
    whose forward and backward passes cost more on a CPU."""
    return F.relu(x) + torch.sigmoid(x.clamp(max=0))


def log_scan(log_a: Tensor, log_b: Tensor, h0: Tensor) -> Tensor:
    """h_t = a_t * h_{t-1} + b_t for every t, from log a, log b (B, T, H) and h0 (B, H) -> (B, T, H)."""
    A = torch.cumsum(log_a, 1)  # (B, T, H)
    carried = torch.exp(A) * h0[:, None]  # (B, T, H): what is left of h0
    return carried + torch.exp(A + torch.logcumsumexp(log_b - A, 1))


class _SequentialScan(torch.autograd.Function):
    """h_t = a_t * h_{t-1} + b_t by one fused multiply-add per step on a, b (B, T, H), h0 (B, H); the backward
    runs the transposed recurrence g_t = dh_t + a_{t+1} * g_{t+1} the same way. Steps read strided views, so
    nothing is transposed or copied."""

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor, h0: Tensor) -> Tensor:
        h = torch.empty_like(b)  # (B, T, H)
        prev = h0.to(b.dtype)
        for a_t, b_t, h_t in zip(a.unbind(1), b.unbind(1), h.unbind(1)):
            prev = torch.addcmul(b_t, a_t, prev, out=h_t)
        ctx.save_for_backward(a, h, h0)
        return h

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dh: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        a, h, h0 = ctx.saved_tensors
        g = torch.empty_like(h)  # (B, T, H): the loss's gradient through h_t, from every later step
        steps = list(zip(dh.unbind(1), a.unbind(1)[1:] + (None,), g.unbind(1)))
        nxt = None
        for dh_t, a_next, g_t in reversed(steps):
            nxt = g_t.copy_(dh_t) if nxt is None else torch.addcmul(dh_t, a_next, nxt, out=g_t)
        da = torch.empty_like(g)  # (B, T, H): g_t * h_{t-1}
        torch.mul(g[:, 1:], h[:, :-1], out=da[:, 1:])
        torch.mul(g[:, 0], h0.to(h.dtype), out=da[:, 0])
        return da, g, (a[:, 0] * g[:, 0]).to(h0.dtype)


def sequential_scan(a: Tensor, b: Tensor, h0: Tensor) -> Tensor:
    """The same result as `log_scan` from a and b themselves (B, T, H) -> (B, T, H), step by step (exact);
    half-precision inputs (autocast) are scanned in float32, so rounding does not build up over T."""
    if a.dtype in (torch.float16, torch.bfloat16):
        a, b = a.float(), b.float()
    return _SequentialScan.apply(a, b, h0)


SCANS = ("auto", "log", "sequential")


class MinCell(nn.Module):
    """One direction of one minGRU (`kind="mingru"`) or minLSTM (`"minlstm"`) layer; `scan` picks the
    training form (see the module's docstring)."""

    def __init__(self, input_size: int, hidden_size: int, kind: str, bias: bool = True, scan: str = "auto") -> None:
        super().__init__()
        if scan not in SCANS:
            raise ValueError(f"scan must be one of {SCANS}, got {scan!r}")
        self.kind, self.hidden_size, self.scan = kind, hidden_size, scan
        gates = 2 if kind == "mingru" else 3
        self.proj = nn.Linear(input_size, gates * hidden_size, bias=bias)  # [z, h~] or [f, i, h~]

    def zero_state(self, batch: int, device=None, dtype=None) -> MinState:
        return MinState(torch.zeros(batch, self.hidden_size, device=device, dtype=dtype))

    def coefficients(self, x: Tensor, log: bool) -> tuple[Tensor, Tensor]:
        """x (B, T, I) -> a, b (B, T, H) of h_t = a_t * h_{t-1} + b_t, or log a, log b (`log`, for the log-space
        scan), each computed directly in its own space."""
        p = self.proj(x)  # (B, T, G*H)
        if self.kind == "mingru":
            k, hx = p.chunk(2, -1)
            if log:
                return -F.softplus(k), -F.softplus(-k) + log_g(hx)  # log(1 - z), log z + log g
            z = torch.sigmoid(k)
            return 1 - z, z * g(hx)
        kf, ki, hx = p.chunk(3, -1)
        diff = F.softplus(-kf) - F.softplus(-ki)  # log i - log f: f' = sigmoid(-diff), i' = sigmoid(diff)
        if log:
            return -F.softplus(diff), -F.softplus(-diff) + log_g(hx)
        return torch.sigmoid(-diff), torch.sigmoid(diff) * g(hx)

    def named_gates(self, x: Tensor) -> dict[str, Tensor]:
        """The gates by name (B, T, H) each, for traces."""
        p = self.proj(x)
        if self.kind == "mingru":
            k, hx = p.chunk(2, -1)
            return {"update": torch.sigmoid(k), "candidate": g(hx)}
        kf, ki, hx = p.chunk(3, -1)
        diff = F.softplus(-kf) - F.softplus(-ki)
        return {"input": torch.sigmoid(diff), "forget": torch.sigmoid(-diff), "candidate": g(hx)}

    def gates(self, x: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """x (B, T, I) -> log a, log b (B, T, H) and the gates by name (the ONNX export's form)."""
        log_a, log_b = self.coefficients(x, log=True)
        return log_a, log_b, self.named_gates(x)

    def forward(
        self, x: Tensor, state: MinState | None, valid: Tensor | None, collect: bool
    ) -> tuple[Tensor, MinState, dict[str, Tensor] | None]:
        h0 = self.zero_state(x.shape[0], x.device, x.dtype).h if state is None else state.h  # (B, H)
        written = collect or x.shape[1] == 1  # the recurrence as written: each h_t feeds step t + 1 (gradient
        # flow reads them; a single step is also what the ONNX exporter traces)
        log = not written and (self.scan == "log" or (self.scan == "auto" and x.device.type != "cpu"))
        a, b = self.coefficients(x, log=log)  # (B, T, H) each
        carried: list[Tensor] = []
        if log:
            a, b = self._pad(valid, a, 0.0, b, float("-inf"))
            h = log_scan(a, b, h0)  # (B, T, H): the parallel scan in log space
        elif written:
            a, b = self._pad(valid, a, 1.0, b, 0.0)
            h_t = h0
            for t in range(x.shape[1]):
                h_t = a[:, t] * h_t + b[:, t]
                carried.append(h_t)
            h = torch.stack(carried, 1)  # (B, T, H)
        else:
            a, b = self._pad(valid, a, 1.0, b, 0.0)
            h = sequential_scan(a, b, h0)  # (B, T, H): one fused step at a time
        final = MinState(h[:, -1])
        y = h if valid is None else h * valid[..., None]
        traces = None
        if collect:
            mask = 1.0 if valid is None else valid[..., None].to(h.dtype)
            named = self.named_gates(x)
            traces = {n: v * mask for n, v in {**named, "hidden": h}.items()} | {"carried": carried}
        return y, final, traces

    @staticmethod
    def _pad(valid: Tensor | None, a: Tensor, a_pad: float, b: Tensor, b_pad: float) -> tuple[Tensor, Tensor]:
        """Past a sequence's end (valid False): a = 1, b = 0 (in log space 0 and -inf), so h stays."""
        if valid is None:
            return a, b
        keep = valid[..., None]
        return torch.where(keep, a, torch.full_like(a, a_pad)), torch.where(keep, b, torch.full_like(b, b_pad))

    def step(self, x: Tensor, state: MinState) -> tuple[Tensor, MinState]:
        """One step in plain arithmetic (the recurrence as written): x (B, I) -> h (B, H)."""
        p = self.proj(x)
        if self.kind == "mingru":
            k, hx = p.chunk(2, -1)
            z = torch.sigmoid(k)
            h = (1 - z) * state.h + z * g(hx)
        else:
            kf, ki, hx = p.chunk(3, -1)
            f, i = torch.sigmoid(kf), torch.sigmoid(ki)
            h = f / (f + i) * state.h + i / (f + i) * g(hx)
        return h, MinState(h)


class _MinLayers(Stacked):
    """minGRU / minLSTM layers: the same stack, the cell's kind from the subclass."""

    state_type = MinState

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        scan: str = "auto",
    ) -> None:
        kind = self.cell_kind
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            batch_first,
            dropout,
            bidirectional,
            lambda i, h: MinCell(i, h, kind, bias, scan),
        )


class minGRU(_MinLayers):
    """minGRU layers, called like torch.nn.GRU: `y, state = layer(x)` / `layer(x, state, lengths=...)`.

    Args: input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0 (between layers),
    bidirectional=False, scan="auto" ("log": Heinsen's log-space parallel scan; "sequential": one fused step at
    a time, faster on CPUs; "auto": sequential on CPU, log on GPU). Returns y (B, T, D*H) (batch_first) and
    MinState(h) with h (L*D, B, H), each sequence's state after its last real step."""

    cell_kind = "mingru"


class minLSTM(_MinLayers):
    """minLSTM layers (normalised forget and input gates), called like torch.nn.LSTM but with the state
    MinState(h), h (L*D, B, H). Same arguments as minGRU."""

    cell_kind = "minlstm"
