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
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_scan(log_a: Tensor, log_b: Tensor, h0: Tensor) -> Tensor:
    """h_t = a_t * h_{t-1} + b_t for every t, from log a, log b (B, T, H) and h0 (B, H) -> (B, T, H)."""
    A = torch.cumsum(log_a, 1)  # (B, T, H)
    carried = torch.exp(A) * h0[:, None]  # (B, T, H): what is left of h0
    return carried + torch.exp(A + torch.logcumsumexp(log_b - A, 1))


class MinCell(nn.Module):
    """One direction of one minGRU (`kind="mingru"`) or minLSTM (`"minlstm"`) layer."""

    def __init__(self, input_size: int, hidden_size: int, kind: str, bias: bool = True) -> None:
        super().__init__()
        self.kind, self.hidden_size = kind, hidden_size
        gates = 2 if kind == "mingru" else 3
        self.proj = nn.Linear(input_size, gates * hidden_size, bias=bias)  # [z, h~] or [f, i, h~]

    def zero_state(self, batch: int, device=None, dtype=None) -> MinState:
        return MinState(torch.zeros(batch, self.hidden_size, device=device, dtype=dtype))

    def gates(self, x: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """x (B, T, I) -> log a, log b (B, T, H) and the gates by name."""
        p = self.proj(x)  # (B, T, G*H)
        if self.kind == "mingru":
            k, hx = p.chunk(2, -1)
            log_a, log_z = -F.softplus(k), -F.softplus(-k)  # log(1 - z), log z
            return log_a, log_z + log_g(hx), {"update": torch.sigmoid(k), "candidate": g(hx)}
        kf, ki, hx = p.chunk(3, -1)
        diff = F.softplus(-kf) - F.softplus(-ki)  # log i - log f
        log_f, log_i = -F.softplus(diff), -F.softplus(-diff)  # log f', log i'
        named = {"input": torch.exp(log_i), "forget": torch.exp(log_f), "candidate": g(hx)}
        return log_f, log_i + log_g(hx), named

    def forward(
        self, x: Tensor, state: MinState | None, valid: Tensor | None, collect: bool
    ) -> tuple[Tensor, MinState, dict[str, Tensor] | None]:
        h0 = self.zero_state(x.shape[0], x.device, x.dtype).h if state is None else state.h  # (B, H)
        log_a, log_b, named = self.gates(x)
        if valid is not None:  # past a sequence's end: a = 1, b = 0, so h stays
            keep = valid[..., None]
            log_a = torch.where(keep, log_a, torch.zeros_like(log_a))
            log_b = torch.where(keep, log_b, torch.full_like(log_b, float("-inf")))
        carried: list[Tensor] = []
        if collect or x.shape[1] == 1:  # the recurrence itself, step by step: each h_t feeds step t + 1
            a, b, h_t = torch.exp(log_a), torch.exp(log_b), h0
            for t in range(x.shape[1]):
                h_t = a[:, t] * h_t + b[:, t]
                carried.append(h_t)
            h = torch.stack(carried, 1)  # (B, T, H)
        else:
            h = log_scan(log_a, log_b, h0)  # (B, T, H): the parallel scan
        final = MinState(h[:, -1])
        y = h if valid is None else h * valid[..., None]
        traces = None
        if collect:
            mask = 1.0 if valid is None else valid[..., None].to(h.dtype)
            traces = {n: v * mask for n, v in {**named, "hidden": h}.items()} | {"carried": carried}
        return y, final, traces

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
    ) -> None:
        kind = self.cell_kind
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            batch_first,
            dropout,
            bidirectional,
            lambda i, h: MinCell(i, h, kind, bias),
        )


class minGRU(_MinLayers):
    """minGRU layers, called like torch.nn.GRU: `y, state = layer(x)` / `layer(x, state, lengths=...)`.

    Args: input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0 (between layers),
    bidirectional=False. Returns y (B, T, D*H) (batch_first) and MinState(h) with h (L*D, B, H), each
    sequence's state after its last real step. Trains as a log-space parallel scan."""

    cell_kind = "mingru"


class minLSTM(_MinLayers):
    """minLSTM layers (normalised forget and input gates), called like torch.nn.LSTM but with the state
    MinState(h), h (L*D, B, H). Same arguments as minGRU."""

    cell_kind = "minlstm"
