"""The classifier: embedding (texts) or input projection (numbers) -> (Bi)LSTM -> pooling -> linear head,
optionally with a fully convolutional branch beside the recurrent one (LSTM-FCN, Karim et al. 2017: three
convolution blocks, global average pooling, concatenated before the head), which learns from few examples.

Notation: B batch, T steps (padded to the longest in the batch), V vocabulary, F features per step, E
embedding size, H hidden size per direction, D directions, K convolution filters, C classes. Padded steps
never reach a pooled vector: the LSTM runs with `lengths` (packed), the convolutions see padded steps as
zeros (as one example alone sees its borders), batch normalisation takes its statistics over real steps only
(a ragged batch's padding would otherwise drag the mean towards zero and change with the batch's lengths), and
pooling masks them.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lstmkit.nn import recurrent_layer


def step_mask(lengths: Tensor, T: int) -> Tensor:
    """(B,) -> (B, T) True at real steps."""
    return torch.arange(T, device=lengths.device)[None, :] < lengths[:, None]


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d over (B, K, T) whose training statistics count only the real steps; evaluation (and no mask:
    an all-real batch) is exactly nn.BatchNorm1d. Same parameters and buffers, so saved weights load either way."""

    def forward(self, z: Tensor, mask: Tensor | None = None) -> Tensor:
        """(B, K, T), mask (B, 1, T) of 0/1 or None -> (B, K, T)."""
        if not self.training or mask is None:
            return super().forward(z)
        z, mask = z.float(), mask.float()  # statistics in float32 under autocast too
        n = mask.sum()
        mean = (z * mask).sum((0, 2)) / n  # (K,)
        var = (((z - mean[:, None]) * mask) ** 2).sum((0, 2)) / n  # (K,) biased, as BatchNorm normalises
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), m)
                unbiased = var.detach() * n / (n - 1).clamp(min=1)  # as BatchNorm keeps it
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), m)
        z = (z - mean[:, None]) / torch.sqrt(var[:, None] + self.eps)
        return z * self.weight[:, None] + self.bias[:, None] if self.affine else z


class ConvBranch(nn.Module):
    """FCN blocks (Wang et al. 2017): conv(K, 8) -> conv(2K, 5) -> conv(K, 3), each batch-normed (over real
    steps) and ReLU'd; the masked mean over steps. Padded steps are zeroed before every convolution."""

    def __init__(self, in_size: int, filters: int) -> None:
        super().__init__()
        sizes = [(in_size, filters, 8), (filters, 2 * filters, 5), (2 * filters, filters, 3)]
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.ConstantPad1d(((k - 1) // 2, k // 2), 0.0),  # "same" length (an even kernel: one more after)
                nn.Conv1d(i, o, k),
                MaskedBatchNorm1d(o),
                nn.ReLU(),
            )
            for i, o, k in sizes
        )

    def forward(self, e: Tensor, lengths: Tensor) -> Tensor:
        """(B, T, E) -> (B, K)."""
        mask = step_mask(lengths.to(e.device), e.shape[1])[:, None, :].to(e.dtype)  # (B, 1, T)
        ragged = mask if self.training and bool((lengths < e.shape[1]).any()) else None  # decided once per batch
        z = e.transpose(1, 2)  # (B, E, T)
        for pad, conv, norm, act in self.blocks:
            z = act(norm(conv(pad(z * mask)), ragged))  # (B, K', T)
        return (z * mask).sum(-1) / mask.sum(-1)  # (B, K)


class ClassifierNet(nn.Module):
    def __init__(
        self,
        n_classes: int,
        embedding_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = True,
        pooling: str = "max",
        dropout: float = 0.0,
        vocab_size: int = 0,
        input_size: int = 0,
        cell: str = "lstm",
        conv_filters: int = 0,
    ) -> None:
        super().__init__()
        if (vocab_size > 0) == (input_size > 0):
            raise ValueError("give a vocabulary size (texts) or an input size (numbers), not both")
        self.embed = nn.Embedding(vocab_size, embedding_size, padding_idx=0) if vocab_size else None
        self.project = nn.Linear(input_size, embedding_size) if input_size else None
        self.rnn = recurrent_layer(
            cell,
            embedding_size,
            hidden_size,
            num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        width = hidden_size * (2 if bidirectional else 1)
        self.pooling, self.drop = pooling, nn.Dropout(dropout)
        self.score = nn.Linear(width, 1) if pooling == "attention" else None
        self.conv = ConvBranch(embedding_size, conv_filters) if conv_filters else None
        self.head = nn.Linear(width + conv_filters, n_classes)

    def inputs(self, x: Tensor) -> Tensor:
        """Token ids (B, T) or numbers (B, T, F) -> the LSTM's input (B, T, E)."""
        return self.embed(x) if self.embed is not None else self.project(x)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        """-> logits (B, C)."""
        return self.from_inputs(self.inputs(x), lengths)

    def from_inputs(self, e: Tensor, lengths: Tensor) -> Tensor:
        """The LSTM's input (B, T, E) -> logits (B, C): what attributions differentiate."""
        out, _ = self.rnn(self.drop(e), lengths=lengths)  # (B, T, D*H)
        return self.classify(out, e, lengths)

    def classify(self, out: Tensor, e: Tensor, lengths: Tensor) -> Tensor:
        """The LSTM's output (B, T, D*H) and input (B, T, E) -> logits (B, C): pooled, with the convolution
        branch's features when there is one."""
        pooled, _ = self.pool(out, lengths)  # (B, D*H)
        if self.conv is not None:
            pooled = torch.cat([pooled, self.conv(e, lengths)], dim=-1)  # (B, D*H + K)
        return self.head(self.drop(pooled))  # (B, C)

    def pool(self, out: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor | None]:
        """(B, T, D*H) -> (B, D*H), and the attention weights (B, T) when pooling is attention."""
        mask = step_mask(lengths.to(out.device), out.shape[1])  # (B, T)
        if self.pooling == "max":
            return out.masked_fill(~mask[..., None], float("-inf")).amax(1), None
        if self.pooling == "mean":
            return (out * mask[..., None]).sum(1) / lengths.to(out.device)[:, None], None
        if self.pooling == "attention":
            w = self.score(out)[..., 0].masked_fill(~mask, float("-inf")).softmax(-1)  # (B, T)
            return (w[..., None] * out).sum(1), w
        return self.last(out, lengths), None

    def last(self, out: Tensor, lengths: Tensor) -> Tensor:
        """The forward direction at each sequence's last real step (and the backward one at its first)."""
        rows = torch.arange(out.shape[0], device=out.device)
        H = self.rnn.hidden_size
        fwd = out[rows, lengths.to(out.device) - 1, :H]  # (B, H)
        return torch.cat([fwd, out[:, 0, H:]], dim=-1) if self.rnn.bidirectional else fwd
