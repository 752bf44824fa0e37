"""The tagger: word + suffix + shape embeddings (tokens) or an input projection (series) -> BiLSTM -> a score per
tag and step (emissions), and optionally a linear-chain CRF over them.

Notation: B batch, T steps (padded to the longest in the batch), E input width, H hidden size per direction,
D directions, K tags. Padded steps never reach a score that counts: the LSTM runs with `lengths`, and the
losses mask them.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from lstmkit.nn import recurrent_layer

SHAPE_SIZE = 8  # width of the token-shape embedding (lower, Title, UPPER, digits, other)


def step_mask(lengths: Tensor, T: int) -> Tensor:
    """(B,) -> (B, T) True at real steps."""
    return torch.arange(T, device=lengths.device)[None, :] < lengths[:, None]


class TagNet(nn.Module):
    def __init__(
        self,
        n_tags: int,
        embedding_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.0,
        vocab_size: int = 0,
        suffix_size: int = 0,
        input_size: int = 0,
        crf: bool = False,
        cell: str = "lstm",
    ) -> None:
        super().__init__()
        if (vocab_size > 0) == (input_size > 0):
            raise ValueError("give a vocabulary size (tokens) or an input size (series), not both")
        if vocab_size:
            self.words = nn.Embedding(vocab_size, embedding_size, padding_idx=0)
            self.suffixes = nn.Embedding(suffix_size, embedding_size // 2, padding_idx=0)
            self.shapes = nn.Embedding(6, SHAPE_SIZE, padding_idx=0)
            width = embedding_size + embedding_size // 2 + SHAPE_SIZE
        else:
            self.project = nn.Linear(input_size, embedding_size)
            width = embedding_size
        self.tokens = bool(vocab_size)
        self.rnn = recurrent_layer(
            cell,
            width,
            hidden_size,
            num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), n_tags)
        if crf:  # transition scores (from row to column), and of starting / ending in each tag
            self.transitions = nn.Parameter(torch.zeros(n_tags, n_tags))
            self.start = nn.Parameter(torch.zeros(n_tags))
            self.end = nn.Parameter(torch.zeros(n_tags))

    @property
    def has_crf(self) -> bool:
        return hasattr(self, "transitions")

    def inputs(self, x: Tensor) -> Tensor:
        """Ids (B, T, 3) of word, suffix, shape, or values (B, T, F) -> the LSTM's input (B, T, E)."""
        if not self.tokens:
            return self.project(x)
        return torch.cat([self.words(x[..., 0]), self.suffixes(x[..., 1]), self.shapes(x[..., 2])], -1)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        """-> emissions (B, T, K): each tag's score at each step."""
        out, _ = self.rnn(self.drop(self.inputs(x)), lengths=lengths)  # (B, T, D*H)
        return self.head(self.drop(out))  # (B, T, K)

    def crf_scores(self) -> dict[str, Tensor]:
        return {"transitions": self.transitions, "start": self.start, "end": self.end}


def token_loss(emissions: Tensor, y: Tensor, lengths: Tensor, weight: Tensor | None) -> Tensor:
    """Mean cross-entropy over the real steps."""
    mask = step_mask(lengths, y.shape[1])  # (B, T)
    return F.cross_entropy(emissions[mask], y[mask], weight=weight)


def crf_loss(net: TagNet, emissions: Tensor, y: Tensor, lengths: Tensor) -> Tensor:
    """The CRF's negative log-likelihood of the true paths, per real step: log Z - score(y)."""
    mask = step_mask(lengths, y.shape[1]).float()  # (B, T)
    B, T, _ = emissions.shape
    rows = torch.arange(B, device=y.device)
    last = y[rows, lengths - 1]  # (B,)
    gold = net.start[y[:, 0]] + emissions[rows, 0, y[:, 0]] + net.end[last]  # (B,)
    for t in range(1, T):
        step = net.transitions[y[:, t - 1], y[:, t]] + emissions[rows, t, y[:, t]]  # (B,)
        gold = gold + step * mask[:, t]
    alpha = net.start[None] + emissions[:, 0]  # (B, K)
    for t in range(1, T):
        nxt = torch.logsumexp(alpha[:, :, None] + net.transitions[None], 1) + emissions[:, t]  # (B, K)
        alpha = torch.where(mask[:, t, None] > 0, nxt, alpha)
    log_z = torch.logsumexp(alpha + net.end[None], 1)  # (B,)
    return (log_z - gold).sum() / mask.sum()
