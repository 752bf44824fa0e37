"""The translation task as the engine sees it: length-bucketed batches of pairs, label-smoothed cross-entropy
over the target tokens (teacher forcing), and the validation negative log-likelihood per token (what selects
the weights: decoding the validation set every epoch would cost more than the epoch)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from lstmkit.config import to_dict
from lstmkit.tasks.translate.config import TranslateConfig
from lstmkit.tasks.translate.features import PAD, Batch, PairBatches, Vocabularies
from lstmkit.tasks.translate.model import Seq2Seq

NAME = "translate"


def build_model(cfg: TranslateConfig, vocab: Vocabularies) -> Seq2Seq:
    return Seq2Seq(
        vocab.src_size,
        vocab.tgt_size,
        cfg.embedding_size,
        cfg.hidden_size,
        cfg.num_layers,
        cfg.attention,
        cfg.input_feed,
        cfg.tie_embeddings,
        cfg.dropout,
        cfg.weight_drop,
        cfg.cell,
    )


def token_loss(model: nn.Module, batch: Batch, smoothing: float = 0.0) -> tuple[Tensor, Tensor, Tensor]:
    """(mean loss per target token, correct next-token predictions, target tokens) of one batch."""
    tgt = batch["tgt"]  # (B, T+1): BOS y_1 ... y_T EOS (padded)
    logits, _ = model(batch["src"], batch["src_lengths"], tgt[:, :-1])  # (B, T, V)
    gold = tgt[:, 1:]  # (B, T)
    real = gold != PAD
    loss = F.cross_entropy(logits.float().transpose(1, 2), gold, ignore_index=PAD, label_smoothing=smoothing)
    correct = ((logits.argmax(-1) == gold) & real).sum()
    return loss, correct, real.sum()


class TranslateTask:
    """Train on the training pairs, select on the validation pairs' per-token negative log-likelihood."""

    name = NAME
    monitor, monitor_mode = "nll", "min"

    def __init__(
        self, cfg: TranslateConfig, vocab: Vocabularies, train: tuple[list, list], val: tuple[list, list]
    ) -> None:
        self.cfg, self.vocab, self.train, self.val = cfg, vocab, train, val

    def build_model(self) -> nn.Module:
        return build_model(self.cfg, self.vocab)

    def train_batches(self, batch_size: int, seed: int) -> PairBatches:
        return PairBatches(*self.train, batch_size, seed)

    def val_batches(self, batch_size: int) -> PairBatches:
        return PairBatches(*self.val, max(batch_size, 128))

    def test_batches(self, batch_size: int) -> None:
        return None  # the Translator decodes the test pairs and scores them with sacreBLEU

    def loss(self, model: nn.Module, batch: Batch) -> Tensor:
        return token_loss(model, batch, self.cfg.label_smoothing)[0]

    def metrics(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        nll, correct, n = token_loss(model, batch)
        return {"nll": nll, "ppl": torch.exp(nll), "token_accuracy": correct.float() / n.clamp(min=1)}

    def config_dict(self) -> dict[str, Any]:
        return to_dict(self.cfg)

    def saved_state(self) -> dict[str, Any]:
        return {"vocab": self.vocab.to_dict()}
