"""The encoder-decoder: a bidirectional LSTM encoder, an LSTM decoder with attention and input feeding (or the
same with another cell of lstmkit.nn, `cell`).

Notation: B batch, S source steps, T target steps, E embedding size, H hidden size (the encoder's per
direction, the decoder's), L layers, V vocabulary, A the attentional vector's size (E when the output layer
is tied to the target embedding, else H). Decoder state (h, c) is (L, B, H), as the core's state helpers
expect (GRU/RNN: h; the modern cells: their named state, batch on dim 1); the encoder's memory is (B, S, H).
The LSTM's and GRU/RNN's decoders start from the encoder's final states (bridged); the modern cells' from
zeros, with the attentional feed starting from the memory's mean (bridged) instead.

One decoder step (Luong et al. 2015, with input feeding):
    x_t = [embed(y_{t-1}); a_{t-1}]                  (B, E + A)
    h_t = LSTM(x_t, state)                           (B, H)    top layer's output
    w_t = softmax(score(h_t, memory)) over real S    (B, S)    padding gets exactly 0
    ctx = w_t @ memory                               (B, H)
    a_t = tanh(W_c [ctx; h_t])                       (B, A)    the attentional vector
    p(y_t) = softmax(W_out a_t)                      (B, V)    W_out = the target embedding when tied
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from lstmkit.nn import LSTM, recurrent_layer, select_state
from lstmkit.nn.state import State
from lstmkit.tasks.translate.features import PAD

DecoderState = State  # LSTM: (h, c), each (L, B, H)


@dataclass
class Memory:
    """What the decoder attends to, computed once per sentence: values (B, S, H), keys (B, S, K) (the score's
    source-side term), the real-step mask (B, S)."""

    values: Tensor
    keys: Tensor
    mask: Tensor

    def select(self, index: Tensor) -> Memory:
        """Rows `index` (e.g. each sentence repeated per beam, or the sentences still being decoded)."""
        return Memory(
            self.values.index_select(0, index), self.keys.index_select(0, index), self.mask.index_select(0, index)
        )


class Attention(nn.Module):
    """Luong general (q·W m), Luong dot (q·m), or Bahdanau's additive score (v·tanh(W_q q + W_k m))."""

    def __init__(self, kind: str, H: int) -> None:
        super().__init__()
        self.kind = kind
        self.key = nn.Linear(H, H, bias=False) if kind in ("general", "bahdanau") else None
        self.query = nn.Linear(H, H, bias=True) if kind == "bahdanau" else None
        self.v = nn.Linear(H, 1, bias=False) if kind == "bahdanau" else None

    def keys(self, values: Tensor) -> Tensor:
        """(B, S, H) -> (B, S, H): the part of the score that depends on the source only (cached)."""
        return values if self.key is None else self.key(values)

    def forward(self, q: Tensor, memory: Memory) -> tuple[Tensor, Tensor]:
        """Query (B, H) -> context (B, H), weights (B, S) summing to 1 over the real source steps."""
        if self.kind == "bahdanau":
            scores = self.v(torch.tanh(self.query(q)[:, None] + memory.keys))[..., 0]  # (B, S)
        else:
            scores = torch.bmm(memory.keys, q[..., None])[..., 0]  # (B, S)
        w = scores.masked_fill(~memory.mask, float("-inf")).softmax(-1)  # (B, S)
        return torch.bmm(w[:, None], memory.values)[:, 0], w  # (B, H), (B, S)


class Seq2Seq(nn.Module):
    def __init__(
        self,
        src_vocab: int,
        tgt_vocab: int,
        embedding_size: int = 256,
        hidden_size: int = 256,
        num_layers: int = 1,
        attention: str = "general",
        input_feed: bool = True,
        tie_embeddings: bool = True,
        dropout: float = 0.0,
        weight_drop: float = 0.0,
        cell: str = "lstm",
    ) -> None:
        super().__init__()
        E, H, L = embedding_size, hidden_size, num_layers
        self.H, self.L, self.input_feed, self.cell = H, L, input_feed, cell
        self.A = E if tie_embeddings else H
        self.src_embed = nn.Embedding(src_vocab, E, padding_idx=PAD)
        self.tgt_embed = nn.Embedding(tgt_vocab, E, padding_idx=PAD)
        between = dropout if L > 1 else 0.0
        if cell == "lstm":
            self.encoder = LSTM(E, H, L, batch_first=True, bidirectional=True, dropout=between, weight_drop=weight_drop)
        else:
            self.encoder = recurrent_layer(cell, E, H, L, batch_first=True, bidirectional=True, dropout=between)
        self.memory_proj = nn.Linear(2 * H, H)  # both directions -> the memory's size
        classic = cell in ("lstm", "gru", "rnn")  # their decoders start from the encoder's final state, bridged
        self.bridge_h = nn.Linear(2 * H, H) if classic else None
        self.bridge_c = nn.Linear(2 * H, H) if cell == "lstm" else None
        self.bridge_feed = None if classic else nn.Linear(H, self.A)  # the modern cells: memory mean -> a_0
        feed = self.A if input_feed else 0
        if cell == "lstm":  # the cells stepped by hand: the LSTM models saved before `cell` keep their weights
            self.cells = nn.ModuleList(nn.LSTMCell((E + feed) if i == 0 else H, H) for i in range(L))
        else:
            self.decoder = recurrent_layer(cell, E + feed, H, L, batch_first=True, dropout=between)
        self.attention = Attention(attention, H)
        self.combine = nn.Linear(2 * H, self.A, bias=False)  # W_c
        # tied: the logits are a_t @ tgt_embed.weight^T + bias (one tensor, so the saved weights share nothing)
        self.out = None if tie_embeddings else nn.Linear(self.A, tgt_vocab)
        self.out_bias = nn.Parameter(torch.zeros(tgt_vocab)) if tie_embeddings else None
        self.drop = nn.Dropout(dropout)

    # ---- encoder

    def encode(self, src: Tensor, lengths: Tensor) -> tuple[Memory, DecoderState]:
        """Source ids (B, S) and lengths (B,) -> the memory and the decoder's initial state."""
        out, final = self.encoder(self.drop(self.src_embed(src)), lengths=lengths)  # (B, S, 2H); (2L, B, H) each
        return self.memory_of(out, lengths), self.initial_state(final, out)

    def initial_state(self, final: Any, out: Tensor) -> DecoderState:
        """The decoder's first state from the encoder's final one (LSTM: (h, c), GRU/RNN: h, each (2L, B, H));
        the modern cells start from their zero state. out (B, S, 2H) gives the batch, device and dtype."""
        B = out.shape[0]
        both = lambda s: s.view(self.L, 2, B, self.H).transpose(1, 2).reshape(self.L, B, 2 * self.H)  # noqa: E731
        if self.cell == "lstm":
            h, c = final
            return torch.tanh(self.bridge_h(both(h))), self.bridge_c(both(c))  # (L, B, H) each
        if self.bridge_feed is None:  # GRU, RNN: h
            return torch.tanh(self.bridge_h(both(final)))  # (L, B, H)
        return self.decoder.initial_state(B, out.device, out.dtype)

    def state_names(self) -> list[str]:
        """The decoder state's tensors by name (LSTM: h, c; GRU/RNN: h; the modern cells: their fields)."""
        if self.cell == "lstm":
            return ["h", "c"]
        kind = getattr(self.decoder, "state_type", None)
        return list(kind._fields) if kind is not None else ["h"]

    def state_tensors(self, state: DecoderState) -> list[Tensor]:
        """A decoder state as its tensors in state_names() order (each with the batch on dim 1)."""
        return [state] if isinstance(state, Tensor) else list(state)

    def state_of(self, tensors: list[Tensor]) -> DecoderState:
        """The inverse of state_tensors."""
        if self.cell == "lstm":
            return tuple(tensors)
        kind = getattr(self.decoder, "state_type", None)
        return kind(*tensors) if kind is not None else tensors[0]

    def memory_of(self, out: Tensor, lengths: Tensor) -> Memory:
        """The encoder's output (B, S, 2H) -> the memory (values and cached keys (B, S, H), mask (B, S))."""
        values = self.memory_proj(out)  # (B, S, H)
        mask = torch.arange(out.shape[1], device=out.device)[None] < lengths.to(out.device)[:, None]  # (B, S)
        return Memory(values, self.attention.keys(values), mask)

    def initial_feed(self, memory: Memory) -> Tensor:
        """a_0 (B, A): zeros, or (modern cells, which start from a zero state) the bridged memory mean."""
        if self.bridge_feed is None:
            return memory.values.new_zeros(memory.values.shape[0], self.A)  # (B, A)
        mask = memory.mask[..., None].to(memory.values.dtype)  # (B, S, 1)
        mean = (memory.values * mask).sum(1) / mask.sum(1).clamp(min=1)  # (B, H)
        return torch.tanh(self.bridge_feed(mean))  # (B, A)

    # ---- decoder

    def _cells(self, x: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        """One step of the stacked cells: (B, E [+ A]) -> top output (B, H), new state (L, B, H) x 2."""
        if self.cell != "lstm":
            out, state = self.decoder(x[:, None], state)  # (B, 1, H)
            return out[:, 0], state
        hs, cs = [], []
        for i, cell in enumerate(self.cells):
            h, c = cell(x, (state[0][i], state[1][i]))
            hs.append(h)
            cs.append(c)
            x = self.drop(h) if i + 1 < self.L else h
        return x, (torch.stack(hs), torch.stack(cs))

    def _attend(self, h: Tensor, memory: Memory) -> tuple[Tensor, Tensor]:
        ctx, w = self.attention(h, memory)  # (B, H), (B, S)
        return torch.tanh(self.combine(torch.cat([ctx, h], -1))), w  # (B, A), (B, S)

    def logits(self, a: Tensor) -> Tensor:
        """Attentional vectors (..., A) -> logits (..., V)."""
        return self.out(a) if self.out is not None else F.linear(a, self.tgt_embed.weight, self.out_bias)

    def step(self, y: Tensor, state: DecoderState, feed: Tensor, memory: Memory):
        """Previous tokens (B,) -> log-probabilities (B, V), new state, new attentional vector (B, A),
        attention weights (B, S). Nothing passed in is modified."""
        x = self.drop(self.tgt_embed(y))  # (B, E)
        if self.input_feed:
            x = torch.cat([x, self.drop(feed)], -1)  # (B, E + A)
        h, state = self._cells(x, state)
        a, w = self._attend(h, memory)
        return F.log_softmax(self.logits(self.drop(a)).float(), -1), state, a, w

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> tuple[Tensor, Tensor]:
        """Teacher forcing: source (B, S), decoder inputs (B, T) (BOS y_1 ... y_{T-1}) -> logits (B, T, V)
        and attention weights (B, T, S)."""
        memory, state = self.encode(src, src_lengths)
        return self.teacher_forced(memory, state, tgt_in)

    def teacher_forced(self, memory: Memory, state: DecoderState, tgt_in: Tensor) -> tuple[Tensor, Tensor]:
        """The decoder over known inputs (B, T) -> logits (B, T, V), attention weights (B, T, S)."""
        feed = self.initial_feed(memory)
        emb = self.drop(self.tgt_embed(tgt_in))  # (B, T, E)
        feeds, weights = [], []
        for e in emb.unbind(1):
            x = torch.cat([e, self.drop(feed)], -1) if self.input_feed else e  # (B, E [+ A])
            h, state = self._cells(x, state)
            feed, w = self._attend(h, memory)
            feeds.append(feed)
            weights.append(w)
        a = torch.stack(feeds, 1)  # (B, T, A)
        return self.logits(self.drop(a)), torch.stack(weights, 1)  # (B, T, V), (B, T, S)

    def teacher_forced_loss(self, out: Tensor, lengths: Tensor, state: DecoderState, tgt: Tensor) -> Tensor:
        """Cross-entropy of targets (B, T+1) (BOS ... EOS) given the encoder's output (B, S, 2H): what the
        gradient-flow probe differentiates with respect to the encoder."""
        logits, _ = self.teacher_forced(self.memory_of(out, lengths), state, tgt[:, :-1])
        return F.cross_entropy(logits.transpose(1, 2), tgt[:, 1:], ignore_index=PAD)


class TorchStepper:
    """The PyTorch model as decode.py's Stepper: numpy in and out, the memory and state kept as tensors and
    reordered with the core's `select_state`."""

    def __init__(self, net: Seq2Seq) -> None:
        self.net = net
        self.device = next(net.parameters()).device

    @torch.no_grad()
    def start(self, src: Any, lengths: Any) -> None:
        src_t = torch.as_tensor(src, device=self.device)
        self.memory, self.state = self.net.encode(src_t, torch.as_tensor(lengths))
        self.feed = self.net.initial_feed(self.memory)

    @torch.no_grad()
    def step(self, y: Any) -> tuple[Any, Any]:
        logp, self.state, self.feed, w = self.net.step(
            torch.as_tensor(y, device=self.device), self.state, self.feed, self.memory
        )
        return logp.cpu().numpy(), w.float().cpu().numpy()

    def select(self, rows: Any, memory_rows: Any = None) -> None:
        idx = torch.as_tensor(rows, device=self.device)
        self.state, self.feed = select_state(self.state, idx), self.feed.index_select(0, idx)
        if memory_rows is not None:
            self.memory = self.memory.select(torch.as_tensor(memory_rows, device=self.device))
