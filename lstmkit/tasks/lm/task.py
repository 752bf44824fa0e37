"""The language-model task as the engine sees it: a contiguous token stream, truncated BPTT with the state
carried from batch to batch (reset at each epoch start), and carried-state evaluation.

Notation: N tokens, B parallel streams (columns), T the BPTT length of a batch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from lstmkit.config import ConfigError, to_dict
from lstmkit.data.text import Corpus, TextError
from lstmkit.data.tokenizers import BPETokenizer, CharTokenizer, build_tokenizer
from lstmkit.nn.state import detach_state
from lstmkit.tasks.lm.config import LanguageConfig
from lstmkit.tasks.lm.model import LanguageNet, State

NAME = "lm"
Batch = dict[str, Any]


def columns(tokens: Tensor, n: int) -> Tensor:
    """(N,) -> (n, N // n): n contiguous streams side by side (the tail that does not fill a row is dropped)."""
    width = len(tokens) // n
    return tokens[: width * n].view(n, width)


def bptt_lengths(width: int, bptt: int, variable: bool, rng: np.random.Generator) -> list[int]:
    """Batch lengths that tile `width - 1` target positions exactly. Every epoch has the same number of
    batches (the engine schedules validation by batch count); with `variable`, the lengths follow AWD-LSTM's
    draw (mean bptt, sometimes bptt/2, sd 5) rescaled to fill the stream."""
    total = width - 1
    n = -(-total // bptt)  # ceil
    if not variable:
        return [min(bptt, total - i * bptt) for i in range(n)]
    base = np.where(rng.random(n) < 0.95, bptt, bptt / 2)
    draws = np.maximum(5, rng.normal(base, 5))
    edges = np.round(np.cumsum(draws) / draws.sum() * total).astype(int)
    lengths = np.diff(np.concatenate([[0], edges]))
    if (lengths < 1).any():  # a degenerate draw on a tiny stream: fall back to fixed lengths
        return [min(bptt, total - i * bptt) for i in range(n)]
    return lengths.tolist()


class StreamBatches:
    """One epoch over B streams: batch k holds x = data[:, i:i+T] and y = data[:, i+1:i+T+1]. Every token
    after each stream's first is a target exactly once per epoch; `reset` marks the epoch's first batch."""

    def __init__(self, data: Tensor, bptt: int, variable: bool, seed: int) -> None:
        self.data, self.bptt, self.variable, self.seed = data, bptt, variable, seed

    def _lengths(self, epoch: int) -> list[int]:
        return bptt_lengths(self.data.shape[1], self.bptt, self.variable, np.random.default_rng([self.seed, epoch]))

    def __len__(self) -> int:
        return len(self._lengths(0))  # the same count every epoch

    def epoch_batches(self, epoch: int) -> Iterator[Batch]:
        """Epoch `epoch`'s batches (its BPTT lengths drawn from (seed, epoch)): any epoch, on demand."""
        i = 0
        for k, n in enumerate(self._lengths(epoch)):
            yield {
                "x": self.data[:, i : i + n],
                "y": self.data[:, i + 1 : i + 1 + n],
                "reset": k == 0,
                "scale": n / self.bptt,
            }
            i += n

    def __iter__(self) -> Iterator[Batch]:
        return self.epoch_batches(0)


def encode_text(tokenizer: CharTokenizer | BPETokenizer, text: str, what: str, need: int) -> Tensor:
    ids = tokenizer.encode(text)
    if len(ids) < need:
        raise TextError(
            f"the {what} text has {len(ids)} tokens; at least {need} are needed (one batch): "
            "give more text or lower --batch-size/--bptt"
        )
    return torch.tensor(ids, dtype=torch.long)


def build_model(cfg: LanguageConfig, vocab_size: int) -> LanguageNet:
    return LanguageNet(
        vocab_size,
        cfg.embedding_size,
        cfg.hidden_size,
        cfg.num_layers,
        cfg.tie_weights,
        cfg.embedding_dropout,
        cfg.input_dropout,
        cfg.hidden_dropout,
        cfg.output_dropout,
        cfg.weight_drop,
        cfg.cell,
        cfg.slstm_forget,
    )


def nll(model: nn.Module, batch: Batch, hx: State | None) -> tuple[Tensor, State]:
    """Mean negative log-likelihood (nats per token) of a batch, and the state after it."""
    logits, hx = model(batch["x"], hx)  # (B, T, V)
    loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), batch["y"].reshape(-1))
    return loss, hx


class LanguageTask:
    """Train a language model on one corpus; the carried state lives here (never on the model)."""

    name = NAME
    monitor, monitor_mode = "loss", "min"

    def __init__(
        self,
        cfg: LanguageConfig,
        corpus: Corpus,
        batch_size: int,
        tokenizer: CharTokenizer | BPETokenizer | None = None,
    ) -> None:
        self.cfg, self.corpus = cfg, corpus
        self.tokenizer = tokenizer or build_tokenizer(cfg.tokenizer, corpus.train, cfg.vocab_size)
        self.train_ids = encode_text(self.tokenizer, corpus.train, "training", batch_size * (cfg.bptt + 1))
        self.val_ids = encode_text(self.tokenizer, corpus.val, "validation", cfg.eval_columns * 2 + 1)
        self.chars_per_token = len(corpus.val) / len(self.val_ids)
        self._state: dict[str, State | None] = {"train": None, "val": None}

    def build_model(self) -> nn.Module:
        return build_model(self.cfg, self.tokenizer.vocab_size)

    def train_batches(self, batch_size: int, seed: int) -> StreamBatches:
        return StreamBatches(columns(self.train_ids, batch_size), self.cfg.bptt, self.cfg.variable_bptt, seed)

    def shard_train_batches(self, batch_size: int, seed: int, rank: int, world: int) -> StreamBatches:
        """Process `rank`'s contiguous 1/world of the training stream as `batch_size` streams (distributed
        training: each process carries the state of its own stretch, as one process carries each stream's)."""
        part = len(self.train_ids) // world
        if part // batch_size < self.cfg.bptt + 1:
            raise ConfigError(
                f"{len(self.train_ids)} training tokens are too few for {world} processes x "
                f"{batch_size} streams of at least bptt {self.cfg.bptt} + 1 tokens"
            )
        mine = self.train_ids[rank * part : (rank + 1) * part]
        return StreamBatches(columns(mine, batch_size), self.cfg.bptt, self.cfg.variable_bptt, seed)

    def val_batches(self, batch_size: int) -> StreamBatches:
        return StreamBatches(columns(self.val_ids, self.cfg.eval_columns), self.cfg.bptt, False, 0)

    def shard_val_batches(self, batch_size: int, rank: int, world: int) -> StreamBatches | None:
        """Process `rank`'s evaluation streams (every world-th of them; None when there are fewer streams than
        processes): the streams are independent, so per-process token sums add up to the whole."""
        data = columns(self.val_ids, self.cfg.eval_columns)
        if len(data) < world:
            return None
        return StreamBatches(data[rank::world], self.cfg.bptt, False, 0)

    def test_batches(self, batch_size: int) -> None:
        return None  # the test text is scored by LanguageModel.evaluate, as one carried-state pass

    def _carried(self, key: str, model: nn.Module, batch: Batch) -> Tensor:
        hx = None if batch["reset"] else self._state[key]
        loss, hx = nll(model, batch, hx)
        self._state[key] = detach_state(hx)
        return loss

    def loss(self, model: nn.Module, batch: Batch) -> Tensor:
        return self._carried("train", model, batch) * batch["scale"]  # AWD: shorter batches count less

    def metrics(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        loss = self._carried("val", model, batch)
        return {"loss": loss, "bpc": loss / self.chars_per_token / math.log(2)}

    def train_state(self) -> dict[str, Any]:
        """The carried training state, for exact resume (checkpointed by the engine)."""
        return {"train": self._state["train"]}

    def load_train_state(self, state: dict[str, Any]) -> None:
        self._state["train"] = state["train"]

    def config_dict(self) -> dict[str, Any]:
        return to_dict(self.cfg)

    def saved_state(self) -> dict[str, Any]:
        return {"tokenizer": self.tokenizer.to_dict()}
