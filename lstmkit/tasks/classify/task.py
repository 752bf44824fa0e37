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
# the selection score is accuracy - TIE_BREAK * loss: below one example's share of accuracy for any validation
# split under ~10k examples (loss < 10), so it only breaks ties: a tiny validation split reaches 100 % early, and
# without it the first epoch to get there would be kept (measured on the UCR sets: under-trained weights)
TIE_BREAK = 1e-5


def build_model(cfg: ClassifyConfig, enc: Encoding) -> ClassifierNet:
    return ClassifierNet(
        len(enc.classes),
        cfg.embedding_size,
        cfg.hidden_size,
        cfg.num_layers,
        cfg.bidirectional,
        cfg.pooling,
        cfg.dropout,
        vocab_size=enc.vocab_size,
        input_size=enc.input_features,
        cell=cfg.cell,
        conv_filters=cfg.conv_filters if cfg.resolved(enc.kind).conv == "on" else 0,
    )


class ClassifyTask:
    """Train on one split, select on another (by accuracy: the validation loss bottoms out epochs before the
    accuracy does on MR, measured; multi-label: by micro-F1), ties broken by the loss."""

    name = NAME
    monitor, monitor_mode = "selection", "max"  # accuracy (multi-label: micro-F1), ties broken by the lower loss

    def __init__(
        self,
        cfg: ClassifyConfig,
        train: Labelled,
        val: Labelled,
        enc: Encoding,
        pretrained: dict[str, Tensor] | None = None,
    ) -> None:
        self.cfg, self.enc, self.pretrained = cfg, enc, pretrained or {}
        self.train_x, self.train_y = enc.inputs(train), enc.targets(train)
        self.val_x, self.val_y = enc.inputs(val), enc.targets(val)
        counts = torch.tensor(enc.counts, dtype=torch.float32)
        if enc.multi_label:  # BCE per class: weigh the positives by negatives / positives
            self.weights = ((enc.n_train - counts) / counts.clamp(min=1)) if cfg.class_weights else None  # (C,)
        else:
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
            groups.append(
                {"params": [p for n, p in named if self._is_pretrained(n)], "lr": lr * self.cfg.pretrained_lr}
            )
        return groups

    def on_epoch_start(self, model: nn.Module, epoch: int) -> None:
        """Gradual unfreezing: the pretrained layers train from epoch `freeze_epochs` on."""
        for n, p in model.named_parameters():
            if self._is_pretrained(n):
                p.requires_grad_(epoch >= self.cfg.freeze_epochs)

    def train_batches(self, batch_size: int, seed: int) -> ExampleBatches:
        numeric = self.enc.kind == "numeric"
        return ExampleBatches(
            self.train_x,
            self.train_y,
            batch_size,
            seed,
            epoch_size=self.cfg.epoch_size if numeric else 0,
            augment=self.cfg.augment and numeric,
        )

    def val_batches(self, batch_size: int) -> ExampleBatches:
        return ExampleBatches(self.val_x, self.val_y, max(batch_size, 128))

    def test_batches(self, batch_size: int) -> None:
        return None  # the Classifier scores the test split beside its baselines

    def _loss(self, logits: Tensor, y: Tensor, weighted: bool) -> Tensor:
        w = None if self.weights is None or not weighted else self.weights.to(y.device)
        if self.enc.multi_label:
            return F.binary_cross_entropy_with_logits(logits, y, pos_weight=w)
        return F.cross_entropy(logits, y, weight=w)

    def loss(self, model: nn.Module, batch: Batch) -> Tensor:
        return self._loss(model(batch["x"], batch["lengths"]).float(), batch["y"], weighted=True)

    def metrics(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        logits, y = model(batch["x"], batch["lengths"]).float(), batch["y"]
        out = {"loss": self._loss(logits, y, weighted=False)}
        if not self.enc.multi_label:
            out["accuracy"] = (logits.argmax(-1) == y).float().mean()
            return out | {"selection": out["accuracy"] - TIE_BREAK * out["loss"]}
        hit = (torch.sigmoid(logits) >= self.cfg.threshold).float()  # (B, C)
        tp = (hit * y).sum()
        out["accuracy"] = (hit == y).all(-1).float().mean()  # exact set match
        out["f1_micro"] = 2 * tp / (hit.sum() + y.sum()).clamp(min=1)
        return out | {"selection": out["f1_micro"] - TIE_BREAK * out["loss"]}

    def config_dict(self) -> dict[str, Any]:
        return to_dict(self.cfg)

    def saved_state(self) -> dict[str, Any]:
        return {"encoding": self.enc.to_dict()}
