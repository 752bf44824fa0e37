"""Long-range memory tasks. First task: the adding problem (Hochreiter & Schmidhuber 1997).

Notation: B batch, T sequence length, H hidden size. An input is (B, T, 2): channel 0 holds values drawn from
U(0, 1), channel 1 marks exactly two steps, one in each half of the sequence. The target (B, 1) is the sum of
the two marked values. Always answering 1.0 scores MSE = Var(U1 + U2) = 1/6 ≈ 0.167: the baseline to beat.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lstmkit import nn as lnn
from lstmkit.config import ConfigError, from_dict, option, to_dict

NAME = "longrange"
ADDING_BASELINE_MSE = 1.0 / 6.0  # predicting 1.0 always
LEARNED_MSE = 0.01  # a cell "learned" the adding problem below this test MSE (the usual criterion)
CELLS = {"lstm": lnn.LSTM, "gru": lnn.GRU, "rnn": lnn.RNN}


@dataclass(frozen=True)
class LongRangeConfig:
    """The long-range task and its model."""

    task: Literal["adding"] = option("adding", "which long-range task")
    length: int = option(100, "sequence length T: the span the memory must bridge")
    cell: Literal["lstm", "gru", "rnn"] = option("lstm", "recurrent cell")
    hidden_size: int = option(64, "hidden units per layer")
    num_layers: int = option(1, "stacked recurrent layers")
    forget_bias: float = option(1.0, "initial LSTM forget-gate bias (ignored by GRU/RNN)")
    steps_per_epoch: int = option(200, "fresh training batches generated per epoch")
    val_size: int = option(1000, "validation sequences (fixed seed; used for model selection)")
    test_size: int = option(2000, "test sequences (fixed seed, never seen in training or selection)")
    test_seed: int = option(1234, "seed of the validation and test sets")

    def __post_init__(self) -> None:
        for name in ("length", "hidden_size", "num_layers", "steps_per_epoch", "val_size", "test_size"):
            if getattr(self, name) < (2 if name == "length" else 1):
                raise ConfigError(f"{name} must be >= {2 if name == 'length' else 1}, got {getattr(self, name)}")


# ----------------------------------------------------------------------------------------------------------
# data


def adding_problem(n: int, length: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """n adding-problem sequences: x (n, T, 2), y (n, 1)."""
    values = torch.rand(n, length, generator=generator)  # (n, T)
    half = length // 2
    first = torch.randint(0, half, (n,), generator=generator)
    second = torch.randint(half, length, (n,), generator=generator)
    marks = torch.zeros(n, length)
    rows = torch.arange(n)
    marks[rows, first] = 1.0
    marks[rows, second] = 1.0
    x = torch.stack([values, marks], dim=-1)  # (n, T, 2)
    y = (values[rows, first] + values[rows, second]).unsqueeze(1)  # (n, 1)
    return x, y


class GeneratedBatches:
    """An epoch of fresh batches from a generator function; each pass draws new data, reproducibly."""

    def __init__(self, make: Callable[[int, torch.Generator], tuple[Tensor, Tensor]], batch_size: int,
                 steps: int, seed: int) -> None:  # fmt: skip
        self.make, self.batch_size, self.steps, self.seed = make, batch_size, steps, seed
        self.epoch = 0

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        self.epoch += 1
        for _ in range(self.steps):
            yield self.make(self.batch_size, gen)


class FixedBatches:
    """A fixed dataset (x, y) served in order, in batches (a held-out set)."""

    def __init__(self, x: Tensor, y: Tensor, batch_size: int) -> None:
        self.x, self.y, self.batch_size = x, y, batch_size

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        for i in range(0, len(self.x), self.batch_size):
            yield self.x[i : i + self.batch_size], self.y[i : i + self.batch_size]


# ----------------------------------------------------------------------------------------------------------
# model


class SequenceRegressor(nn.Module):
    """Recurrent layer(s) -> linear head on the last step's output: (B, T, I) -> (B, O)."""

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int, output_size: int,
                 forget_bias: float = 1.0) -> None:  # fmt: skip
        super().__init__()
        extra = {"forget_bias": forget_bias} if cell == "lstm" else {}
        self.rnn = CELLS[cell](input_size, hidden_size, num_layers, batch_first=True, **extra)
        self.head = nn.Linear(hidden_size, output_size)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        out, _ = self.rnn(x, lengths=lengths)  # (B, T, H)
        if lengths is None:
            last = out[:, -1]  # (B, H)
        else:
            last = out[torch.arange(out.shape[0]), lengths.to(out.device) - 1]
        return self.head(last)  # (B, O)


def build_model(cfg: LongRangeConfig) -> SequenceRegressor:
    return SequenceRegressor(cfg.cell, 2, cfg.hidden_size, cfg.num_layers, 1, cfg.forget_bias)


def mse_metrics(model: nn.Module, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
    x, y = batch
    return {"mse": F.mse_loss(model(x).float(), y)}


# ----------------------------------------------------------------------------------------------------------
# the task, as the engine sees it


class LongRangeTask:
    """The adding problem as an engine Task."""

    name = NAME
    monitor = "mse"
    monitor_mode = "min"

    def __init__(self, cfg: LongRangeConfig) -> None:
        self.cfg = cfg
        gen = torch.Generator().manual_seed(cfg.test_seed)
        self._test = adding_problem(cfg.test_size, cfg.length, gen)
        self._val = adding_problem(cfg.val_size, cfg.length, gen)

    def build_model(self) -> nn.Module:
        return build_model(self.cfg)

    def train_batches(self, batch_size: int, seed: int) -> GeneratedBatches:
        def make(n: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
            return adding_problem(n, self.cfg.length, gen)

        return GeneratedBatches(make, batch_size, self.cfg.steps_per_epoch, seed)

    def val_batches(self, batch_size: int) -> FixedBatches:
        return FixedBatches(*self._val, max(batch_size, 256))

    def test_batches(self, batch_size: int) -> FixedBatches:
        return FixedBatches(*self._test, max(batch_size, 256))

    def loss(self, model: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
        x, y = batch
        return F.mse_loss(model(x).float(), y)

    def metrics(self, model: nn.Module, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        return mse_metrics(model, batch)

    def config_dict(self) -> dict[str, Any]:
        return to_dict(self.cfg)

    def saved_state(self) -> dict[str, Any]:
        return {}


# ----------------------------------------------------------------------------------------------------------
# inference: a saved model, loaded without the training stack


@dataclass
class LongRangeModel:
    """A trained long-range model with the config it was trained with."""

    config: LongRangeConfig
    model: SequenceRegressor

    @torch.no_grad()
    def predict(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """(B, T, 2) -> (B, 1)."""
        if x.dim() != 3 or x.shape[-1] != 2:
            raise ValueError(f"expected inputs of shape (batch, time, 2) for the adding problem, got {tuple(x.shape)}")
        self.model.eval()
        device = next(self.model.parameters()).device
        return self.model(x.to(device), lengths)

    def evaluate(self, batch_size: int = 256) -> dict[str, float]:
        """Test MSE on the config's fixed-seed test set, with the baseline beside it."""
        from lstmkit.engine.evaluate import evaluate

        task = LongRangeTask(self.config)
        metrics = evaluate(task.metrics, self.model, task.test_batches(batch_size))
        return {"test_mse": metrics["mse"], "baseline_mse": ADDING_BASELINE_MSE}


def load_saved(saved: Any, device: torch.device) -> LongRangeModel:
    """Rebuild the model exactly as configured at training time (the saved-model loader for this task)."""
    cfg = from_dict(LongRangeConfig, saved.config["task"], where=f"{saved.path}/config.json task")
    model = build_model(cfg)
    try:
        model.load_state_dict(saved.tensors)
    except RuntimeError as err:
        from lstmkit.deploy.saved_model import ModelFileError

        raise ModelFileError(f"{saved.path}/model.safetensors does not fit the model in config.json: {err}") from err
    return LongRangeModel(cfg, model.to(device).eval())
