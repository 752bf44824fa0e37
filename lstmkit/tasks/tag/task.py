"""The tagging task as the engine sees it: padded batches of sentences or series windows, cross-entropy per step
(or the CRF's likelihood), and on the validation split the score the task is judged by (token accuracy, entity
F1 or the flag's F1), ties broken by the loss."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from lstmkit.config import to_dict
from lstmkit.tasks.tag.config import TagConfig
from lstmkit.tasks.tag.data import Sequences
from lstmkit.tasks.tag.encoding import TagEncoding, pad
from lstmkit.tasks.tag.metrics import tag_scores, viterbi
from lstmkit.tasks.tag.model import TagNet, crf_loss, token_loss

NAME = "tag"
TIE_BREAK = 1e-5  # the selection score is the task's score - TIE_BREAK * loss: the loss only breaks ties

Batch = dict[str, Tensor]


def build_model(cfg: TagConfig, enc: TagEncoding) -> TagNet:
    return TagNet(
        len(enc.tags),
        cfg.embedding_size,
        cfg.hidden_size,
        cfg.num_layers,
        cfg.bidirectional,
        cfg.dropout,
        vocab_size=len(enc.words) + 2 if enc.kind == "tokens" else 0,
        suffix_size=len(enc.suffixes) + 2 if enc.kind == "tokens" else 0,
        input_size=enc.input_width if enc.kind == "numeric" else 0,
        crf=cfg.crf,
        cell=cfg.cell,
    )


class SequenceBatches:
    """Padded batches (x, y, lengths) of whole sequences; shuffled with the seed when one is given."""

    def __init__(self, xs: list[np.ndarray], ys: list[np.ndarray], batch_size: int, seed: int | None = None) -> None:
        self.xs, self.ys, self.batch_size, self.seed = xs, ys, batch_size, seed

    def __len__(self) -> int:
        return -(-len(self.xs) // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        order = np.arange(len(self.xs))
        if self.seed is not None:
            order = np.random.default_rng(self.seed).permutation(len(self.xs))
        for i in range(0, len(order), self.batch_size):
            idx = order[i : i + self.batch_size]
            x, lengths = pad([self.xs[j] for j in idx])
            y, _ = pad([self.ys[j] for j in idx])
            yield {"x": torch.from_numpy(x), "y": torch.from_numpy(y), "lengths": torch.from_numpy(lengths)}


class TagTask:
    """Train on one split, select on another by the task's score."""

    name = NAME
    monitor, monitor_mode = "selection", "max"

    def __init__(self, cfg: TagConfig, train: Sequences, val: Sequences, enc: TagEncoding) -> None:
        self.cfg, self.enc = cfg, enc
        self.train_x, self.train_y = enc.inputs(train), enc.targets(train)
        self.val_x, self.val_y = enc.inputs(val), enc.targets(val)
        weighted = cfg.class_weights == "on" or (cfg.class_weights == "auto" and enc.kind == "numeric")
        counts = torch.tensor(enc.counts, dtype=torch.float32)
        self.weights = counts.sum() / (len(counts) * counts) if weighted else None  # (K,)

    def build_model(self) -> nn.Module:
        return build_model(self.cfg, self.enc)

    def train_batches(self, batch_size: int, seed: int) -> SequenceBatches:
        return SequenceBatches(self.train_x, self.train_y, batch_size, seed)

    def val_batches(self, batch_size: int) -> SequenceBatches:
        return SequenceBatches(self.val_x, self.val_y, max(batch_size, 128))

    def test_batches(self, batch_size: int) -> None:
        return None  # the Tagger scores the test split beside its baseline

    def loss(self, model: nn.Module, batch: Batch) -> Tensor:
        em = model(batch["x"], batch["lengths"]).float()  # (B, T, K)
        if model.has_crf:
            return crf_loss(model, em, batch["y"], batch["lengths"])
        w = None if self.weights is None else self.weights.to(em.device)
        return token_loss(em, batch["y"], batch["lengths"], w)

    def metrics(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        em = model(batch["x"], batch["lengths"]).float()
        lengths = batch["lengths"].cpu().numpy()
        loss = crf_loss(model, em, batch["y"], batch["lengths"]) if model.has_crf else None
        if loss is None:
            loss = token_loss(em, batch["y"], batch["lengths"], None)
        scores = em.detach().cpu().numpy()
        crf = {k: v.detach().cpu().numpy() for k, v in model.crf_scores().items()} if model.has_crf else None
        paths = [viterbi(e, n, crf) if crf else e[:n].argmax(-1).tolist() for e, n in zip(scores, lengths)]
        y = batch["y"].cpu().numpy()
        tags = self.enc.tags
        s = tag_scores(
            [[tags[k] for k in y[i, :n]] for i, n in enumerate(lengths)],
            [[tags[k] for k in p] for p in paths],
            self.enc.scheme,
            self.enc.positive,
        )
        score = s["accuracy"] if self.enc.scheme == "tags" else s["f1"]
        out = {"loss": loss, "accuracy": torch.tensor(s["accuracy"]), "f1": torch.tensor(s["f1"])}
        return out | {"selection": torch.tensor(score) - TIE_BREAK * loss.detach()}

    def config_dict(self) -> dict[str, Any]:
        return to_dict(self.cfg)

    def saved_state(self) -> dict[str, Any]:
        return {"encoding": self.enc.to_dict()}
