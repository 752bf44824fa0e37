"""The long-range problem as the engine sees it: fixed-seed validation/test sets, fresh or shuffled training
batches, the problem's loss and metrics plus mean gate activations."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from lstmkit.config import to_dict
from lstmkit.inspect.trace import gate_means, trace
from lstmkit.tasks.longrange.batches import FixedBatches, GeneratedBatches, ShuffledBatches
from lstmkit.tasks.longrange.config import NAME, Batch, LongRangeConfig
from lstmkit.tasks.longrange.model import build_model, run_model


class LongRangeTask:
    """A generated long-range problem as an engine Task."""

    name = NAME

    def __init__(self, cfg: LongRangeConfig) -> None:
        self.cfg = cfg
        self.problem_spec = cfg.problem_spec
        self.monitor, self.monitor_mode = self.problem_spec.metric, self.problem_spec.mode
        self._train = None
        if self.problem_spec.load is not None:
            splits = self.problem_spec.load(cfg.data)
            self._train, self._val, self._test = splits["train"], splits["val"], splits["test"]
        else:
            gen = torch.Generator().manual_seed(cfg.test_seed)
            self._test = self.problem_spec.make(cfg.test_size, cfg.length, gen)
            self._val = self.problem_spec.make(cfg.val_size, cfg.length, gen)

    def build_model(self) -> nn.Module:
        return build_model(self.cfg)

    def train_batches(self, batch_size: int, seed: int) -> GeneratedBatches | ShuffledBatches:
        if self._train is not None:
            return ShuffledBatches(self._train, batch_size, seed)

        def make(n: int, gen: torch.Generator) -> Batch:
            return self.problem_spec.make(n, self.cfg.length, gen)

        return GeneratedBatches(make, batch_size, self.cfg.steps_per_epoch, seed)

    def val_batches(self, batch_size: int) -> FixedBatches:
        return FixedBatches(self._val, max(batch_size, 256))

    def test_batches(self, batch_size: int) -> FixedBatches:
        return FixedBatches(self._test, max(batch_size, 256))

    def loss(self, model: nn.Module, batch: Batch) -> Tensor:
        return self.problem_spec.loss(run_model(model, batch), batch)

    def metrics(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        """The problem's metrics, plus mean gate activations per layer (one traced pass gives both)."""
        lengths = batch.get("lengths")
        tr = trace(model.rnn, batch["x"], lengths=lengths)
        return {**self.problem_spec.metrics(model.readout(tr.layer_output, lengths), batch), **gate_means(tr, lengths)}

    def config_dict(self) -> dict[str, Any]:
        return to_dict(self.cfg)

    def saved_state(self) -> dict[str, Any]:
        return {}
