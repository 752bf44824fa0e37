"""The classification task as the engine sees it: padded batches of the training split, cross-entropy
(optionally class-weighted), loss and accuracy on the validation split."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from lstmkit.config import to_dict
from lstmkit.data.labelled import Labelled
from lstmkit.tasks.classify.config import ClassifyConfig
from lstmkit.tasks.classify.features import Batch, Encoding, ExampleBatches
from lstmkit.tasks.classify.model import ClassifierNet

NAME = "classify"


def build_model(cfg: ClassifyConfig, enc: Encoding) -> ClassifierNet:
    return ClassifierNet(len(enc.classes), cfg.embedding_size, cfg.hidden_size, cfg.num_layers, cfg.bidirectional,
                         cfg.pooling, cfg.dropout, vocab_size=enc.vocab_size, input_size=enc.n_features)  # fmt: skip


class ClassifyTask:
    """Train on one split, select on another (by accuracy: the validation loss bottoms out epochs before the
    accuracy does on MR, measured)."""

    name = NAME
    monitor, monitor_mode = "accuracy", "max"

    def __init__(self, cfg: ClassifyConfig, train: Labelled, val: Labelled, enc: Encoding,
                 pretrained: dict[str, Tensor] | None = None) -> None:  # fmt: skip
        self.cfg, self.enc, self.pretrained = cfg, enc, pretrained or {}
        self.train_x, self.train_y = enc.inputs(train), enc.targets(train)
        self.val_x, self.val_y = enc.inputs(val), enc.targets(val)
        counts = torch.tensor(enc.counts, dtype=torch.float32)
        self.weights = (counts.sum() / (len(counts) * counts)) if cfg.class_weights else None  # (C,)

    def build_model(self) -> nn.Module:
        model = build_model(self.cfg, self.enc)
        if self.pretrained:  # ULMFiT-style: the language model's embedding and LSTM
            missing = set(self.pretrained) - set(model.state_dict())
            assert not missing, f"pretrained tensors {sorted(missing)} have no place in the classifier"
            model.load_state_dict(self.pretrained, strict=False)
        return model

    def _is_pretrained(self, name: str) -> bool:
        return name in self.pretrained

    def param_groups(self, model: nn.Module, lr: float) -> list[dict[str, Any]]:
        """Discriminative learning rates: the pretrained layers learn at `pretrained_lr` x the rate."""
        named = list(model.named_parameters())
        groups = [{"params": [p for n, p in named if not self._is_pretrained(n)], "lr": lr}]
        if self.pretrained:
            groups.append({"params": [p for n, p in named if self._is_pretrained(n)], "lr": lr * self.cfg.pretrained_lr})
        return groups

    def on_epoch_start(self, model: nn.Module, epoch: int) -> None:
        """Gradual unfreezing: the pretrained layers train from epoch `freeze_epochs` on."""
        for n, p in model.named_parameters():
            if self._is_pretrained(n):
                p.requires_grad_(epoch >= self.cfg.freeze_epochs)

    def train_batches(self, batch_size: int, seed: int) -> ExampleBatches:
        return ExampleBatches(self.train_x, self.train_y, batch_size, seed)

    def val_batches(self, batch_size: int) -> ExampleBatches:
        return ExampleBatches(self.val_x, self.val_y, max(batch_size, 128))

    def test_batches(self, batch_size: int) -> None:
        return None  # the Classifier scores the test split beside its baselines

    def loss(self, model: nn.Module, batch: Batch) -> Tensor:
        w = None if self.weights is None else self.weights.to(batch["y"].device)
        return F.cross_entropy(model(batch["x"], batch["lengths"]).float(), batch["y"], weight=w)

    def metrics(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        logits = model(batch["x"], batch["lengths"]).float()
        return {"loss": F.cross_entropy(logits, batch["y"]), "accuracy": (logits.argmax(-1) == batch["y"]).float().mean()}

    def config_dict(self) -> dict[str, Any]:
        return to_dict(self.cfg)

    def saved_state(self) -> dict[str, Any]:
        return {"encoding": self.enc.to_dict()}
