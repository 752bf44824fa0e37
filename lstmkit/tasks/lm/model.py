"""The language model: embedding -> stacked LSTM -> decoder tied to the embedding (AWD-LSTM style).

Notation: B batch (parallel streams), T steps, V vocabulary, E embedding size, H hidden size, L layers,
With tied weights and H != E, a linear map takes the LSTM output from H to E before the decoder (outside the
recurrence, so the fused oneDNN/cuDNN kernels still run; torch's proj_size would not run on oneDNN).
Recurrent state (h, c) is (L, B, H); passed in and returned, never kept on the module.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from lstmkit.nn import recurrent_layer

State = tuple[Tensor, Tensor]


class LanguageNet(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        embedding_size: int,
        hidden_size: int,
        num_layers: int,
        tie_weights: bool = True,
        embedding_dropout: float = 0.0,
        input_dropout: float = 0.0,
        hidden_dropout: float = 0.0,
        output_dropout: float = 0.0,
        weight_drop: float = 0.0,
        cell: str = "lstm",
        slstm_forget: str = "sigmoid",
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embedding_size)
        nn.init.uniform_(self.embed.weight, -0.1, 0.1)
        awd = {"input_dropout": input_dropout, "hidden_dropout": hidden_dropout, "output_dropout": output_dropout}
        awd = {**awd, "weight_drop": weight_drop} if cell in ("lstm", "gru", "rnn") else {"dropout": hidden_dropout}
        awd["forget"] = slstm_forget  # the sLSTM's; recurrent_layer leaves it out for every other cell
        self.rnn = recurrent_layer(cell, embedding_size, hidden_size, num_layers, batch_first=True, **awd)
        self.embedding_dropout = embedding_dropout
        tied_proj = tie_weights and hidden_size != embedding_size
        self.proj = nn.Linear(hidden_size, embedding_size) if tied_proj else None
        self.decoder = None if tie_weights else nn.Linear(hidden_size, vocab_size)
        self.bias = nn.Parameter(torch.zeros(vocab_size)) if tie_weights else None

    def embedding(self, tokens: Tensor) -> Tensor:
        """(B, T) -> (B, T, E); in training, whole rows of the table are dropped (one mask per batch)."""
        weight = self.embed.weight
        if self.training and self.embedding_dropout > 0:
            keep = 1 - self.embedding_dropout
            weight = weight * weight.new_empty(weight.shape[0], 1).bernoulli_(keep) / keep
        return F.embedding(tokens, weight)

    def forward(self, tokens: Tensor, hx: State | None = None) -> tuple[Tensor, State]:
        """(B, T) token ids -> logits (B, T, V) and the state after the last step."""
        out, hx = self.rnn(self.embedding(tokens), hx)  # (B, T, H)
        return self.logits(out), hx

    def logits(self, out: Tensor) -> Tensor:
        """The LSTM's top-layer output (B, T, H) -> next-token logits (B, T, V)."""
        if self.decoder is not None:
            return self.decoder(out)  # (B, T, V)
        if self.proj is not None:
            out = self.proj(out)  # (B, T, E)
        return F.linear(out, self.embed.weight, self.bias)  # (B, T, V)
