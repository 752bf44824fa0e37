"""The small protocol by which a task plugs into the engine (composition, no base class to inherit)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:  # the protocol is importable without torch (lstmkit.engine stays light)
    from torch import Tensor, nn


class TrainingTask(Protocol):
    """What the engine needs from a task. The engine never asks which task it is running."""

    name: str  # registry name; runs go to runs/<name>/
    monitor: str  # validation metric to select and early-stop on, e.g. "mse"
    monitor_mode: Literal["min", "max"]

    def build_model(self) -> nn.Module:
        """A fresh model from the task's architecture config."""
        ...

    def train_batches(self, batch_size: int, seed: int) -> Iterable[Any]:
        """The training batches of one epoch (any iterable; tensors inside are moved by the engine)."""
        ...

    def val_batches(self, batch_size: int) -> Iterable[Any]:
        """Held-out batches for validation, the same every epoch."""
        ...

    def test_batches(self, batch_size: int) -> Iterable[Any] | None:
        """Test batches, measured once after training on the selected weights; None if the task has none."""
        ...

    def loss(self, model: nn.Module, batch: Any) -> Tensor:
        """The scalar training loss of one batch."""
        ...

    def metrics(self, model: nn.Module, batch: Any) -> dict[str, Tensor]:
        """Per-batch validation metrics (means over the batch); the engine averages them over batches."""
        ...

    def config_dict(self) -> dict[str, Any]:
        """The task's resolved config, saved with the model."""
        ...

    def saved_state(self) -> dict[str, Any]:
        """JSON-able task state saved beside the weights (tokenizer, scalers); {} if none."""
        ...

    # Optional (the engine calls them when a task has them):
    #   param_groups(model, lr) -> list of optimiser groups   per-layer learning rates (discriminative fine-tuning)
    #   on_epoch_start(model, epoch)                          e.g. gradual unfreezing (a function of the epoch)
    #   train_state() / load_train_state(state)               carried state, kept in the resume checkpoint
    #   train_batches(...).epoch_batches(e)                   any epoch on demand: exact mid-epoch resume
    #   finalize(model) -> dict                               after the best weights are selected, before the one
    #                                                         save: post-training steps (a validation gate,
    #                                                         interval calibration) that change saved_state()
