"""The long-range task's config and its problems: how each one's data is made, what the model outputs, how
it is scored, and the trivial baseline it must beat.

Notation: B batch, T the span to bridge, O outputs. Problems (lstmkit/data/synthetic.py, data/sequences.py):
adding (regression from the last step), copy (a class at every step), temporal order (a class from the last
step), embedded Reber (possible next symbols at every step), and fixed datasets read step by step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from lstmkit.config import ConfigError, option
from lstmkit.data import sequences, synthetic
from lstmkit.data.synthetic import Batch

NAME = "longrange"
ADDING_BASELINE_MSE = 1.0 / 6.0  # predicting 1.0 always: Var(U1 + U2)
LEARNED_MSE = 0.01  # the usual criterion for the adding problem


# ----------------------------------------------------------------------------------------------------------
# problems: data, loss, metric and baseline


def _adding_metrics(out: Tensor, b: Batch) -> dict[str, Tensor]:
    return {"mse": F.mse_loss(out.float(), b["y"])}


def _copy_loss(out: Tensor, b: Batch) -> Tensor:
    return F.cross_entropy(out.float().flatten(0, 1), b["y"].flatten())  # (B*T, 9) vs (B*T,)


def _copy_metrics(out: Tensor, b: Batch) -> dict[str, Tensor]:
    recall = slice(-synthetic.COPY_LENGTH, None)  # the last 10 steps must repeat the symbols
    hit = out[:, recall].argmax(-1) == b["y"][:, recall]
    return {"accuracy": hit.float().mean(), "ce": _copy_loss(out, b)}


def _class_metrics(out: Tensor, b: Batch) -> dict[str, Tensor]:
    return {"accuracy": (out.argmax(-1) == b["y"]).float().mean(), "ce": F.cross_entropy(out.float(), b["y"])}


def _ce(out: Tensor, b: Batch) -> Tensor:
    return F.cross_entropy(out.float(), b["y"])


def _valid(b: Batch) -> Tensor:
    T = b["x"].shape[1]
    return torch.arange(T, device=b["x"].device)[None, :] < b["lengths"][:, None]  # (B, T)


def _recall_loss(out: Tensor, b: Batch) -> Tensor:
    return F.cross_entropy(out.float().flatten(0, 1), b["y"].flatten(), ignore_index=-1)  # query steps only


def _recall_metrics(out: Tensor, b: Batch) -> dict[str, Tensor]:
    asked = b["y"] >= 0  # (B, T)
    hit = (out.argmax(-1) == b["y"]) & asked
    return {"accuracy": hit.sum() / asked.sum(), "ce": _recall_loss(out, b)}


def _reber_loss(out: Tensor, b: Batch) -> Tensor:
    valid = _valid(b).unsqueeze(-1)  # (B, T, 1)
    loss = F.binary_cross_entropy_with_logits(out.float(), b["y"], reduction="none")  # (B, T, 7)
    return (loss * valid).sum() / (valid.sum() * out.shape[-1])


def _reber_metrics(out: Tensor, b: Batch) -> dict[str, Tensor]:
    rows = torch.arange(out.shape[0], device=out.device)
    at_key, target = out[rows, b["key"]], b["y"][rows, b["key"]]  # (B, 7): is it T (1) or P (2)?
    recalled = (at_key[:, 1] > at_key[:, 2]) == (target[:, 1] > 0.5)
    exact = ((out > 0) == (b["y"] > 0.5)).all(-1) | ~_valid(b)  # (B, T): every possible-next set right
    return {"accuracy": recalled.float().mean(), "string_accuracy": exact.all(-1).float().mean()}


@dataclass(frozen=True)
class Problem:
    """One task: how its data is made (generated) or loaded (a fixed set), what the model outputs, how it is
    scored."""

    make: Callable[[int, int, torch.Generator], Batch] | None
    input_size: int
    output_size: int
    per_step: bool  # an output at every step (else one from the last step)
    loss: Callable[[Tensor, Batch], Tensor]
    metrics: Callable[[Tensor, Batch], dict[str, Tensor]]
    metric: str  # the headline metric (also the one selected and early-stopped on)
    mode: Literal["min", "max"]
    baseline: float  # the headline metric of the trivial answer
    baseline_is: str
    solved_at: float  # "learned" when the headline metric is at least this good
    load: Callable[[str | None], dict[str, Batch]] | None = None  # fixed data: {"train", "val", "test"}
    split: str = "generated with fixed seeds"  # how the test set was made, stated in every table
    steps: int | None = None  # the sequence length a fixed dataset sets; None: --length
    variable_length: bool = False  # lengths differ per sequence (set by a grammar): --length is unused

    def learned(self, value: float) -> bool:
        return value <= self.solved_at if self.mode == "min" else value >= self.solved_at


PROBLEMS: dict[str, Problem] = {
    "adding": Problem(
        synthetic.adding,
        2,
        1,
        False,
        lambda o, b: F.mse_loss(o.float(), b["y"]),
        _adding_metrics,
        "mse",
        "min",
        ADDING_BASELINE_MSE,
        "always answer 1.0",
        LEARNED_MSE,
    ),
    "copy": Problem(
        synthetic.copy_memory,
        synthetic.COPY_SYMBOLS + 2,
        synthetic.COPY_SYMBOLS + 1,
        True,
        _copy_loss,
        _copy_metrics,
        "accuracy",
        "max",
        1 / synthetic.COPY_SYMBOLS,
        "guess a symbol",
        0.99,
    ),
    "order": Problem(
        synthetic.temporal_order, 8, 4, False, _ce, _class_metrics, "accuracy", "max", 0.25, "guess the class", 0.99
    ),
    "reber": Problem(
        synthetic.embedded_reber,
        7,
        7,
        True,
        _reber_loss,
        _reber_metrics,
        "accuracy",
        "max",
        0.5,
        "guess T or P",
        0.99,
        variable_length=True,
    ),
    "recall": Problem(
        synthetic.associative_recall,
        synthetic.RECALL_KEYS + synthetic.RECALL_VALUES,
        synthetic.RECALL_VALUES,
        True,
        _recall_loss,
        _recall_metrics,
        "accuracy",
        "max",
        1 / synthetic.RECALL_VALUES,
        "guess a value",
        0.9,
    ),
    "digits": Problem(
        None,
        1,
        10,
        False,
        _ce,
        _class_metrics,
        "accuracy",
        "max",
        0.1,
        "guess one of 10",
        0.95,
        sequences.load_digits,
        "scikit-learn digits, seeded 80/20 train/test split",
        64,
    ),
    "mnist1d": Problem(
        None,
        1,
        10,
        False,
        _ce,
        _class_metrics,
        "accuracy",
        "max",
        0.1,
        "guess one of 10",
        0.95,
        sequences.load_mnist1d,
        "MNIST-1D's own 4000/1000 split",
        40,
    ),
    "smnist": Problem(
        None,
        1,
        10,
        False,
        _ce,
        _class_metrics,
        "accuracy",
        "max",
        0.1,
        "guess one of 10",
        0.95,
        sequences.load_mnist_pixels,
        "the 10k MNIST test images, seeded 80/20 train/test split",
        784,
    ),
}


@dataclass(frozen=True)
class LongRangeConfig:
    """The long-range problem and its model."""

    RENAMED: ClassVar[dict[str, str]] = {"task": "problem"}  # models saved before 0.5 call the problem `task`

    problem: Literal["adding", "copy", "order", "reber", "recall", "digits", "mnist1d", "smnist"] = option(
        "adding",
        "adding: sum 2 marked values; copy: recall 10 symbols after T steps; order: the order of 2 "
        "symbols in noise; reber: embedded Reber grammar; recall: multi-query associative recall (T/4 "
        "key-value pairs, then queries); digits: scikit-learn's 8x8 digits pixel by pixel "
        "(64 steps); mnist1d: MNIST-1D (40 steps, --data FILE.npz); smnist: MNIST pixel by pixel (784 steps, "
        "--data DIR of IDX files). The last four fix their own length",
        aliases=("--task",),
    )
    data: str | None = option(None, "file or folder of a task's local data (mnist1d, smnist)", metavar="PATH")
    length: int = option(100, "sequence length T: the span the memory must bridge")
    cell: Literal["lstm", "gru", "rnn", "slstm", "mlstm", "minlstm", "mingru"] = option(
        "lstm", "recurrent cell: the classic three, or the modern family (sLSTM, mLSTM, minLSTM, minGRU)"
    )
    hidden_size: int = option(64, "hidden units per layer")
    num_layers: int = option(1, "stacked recurrent layers")
    forget_bias: float = option(1.0, "initial LSTM forget-gate bias (ignored by GRU/RNN)")
    chrono_init: bool = option(
        False,
        "chrono initialisation with T_max = length: the LSTM forget gate (overrides "
        "--forget-bias) or the GRU update gate",
    )
    layer_norm: bool = option(False, "layer-normalised LSTM cell (explicit backend: slower)")
    budget: Literal["hidden", "params"] = option(
        "hidden",
        "hidden: every cell gets --hidden-size units; params: GRU/RNN get as many units as match the "
        "parameter count of an LSTM with --hidden-size",
    )
    steps_per_epoch: int = option(200, "fresh training batches generated per epoch")
    val_size: int = option(1000, "validation sequences (fixed seed; used for model selection)")
    test_size: int = option(2000, "test sequences (fixed seed, never seen in training or selection)")
    test_seed: int = option(1234, "seed of the validation and test sets")

    def __post_init__(self) -> None:
        for name in ("length", "hidden_size", "num_layers", "steps_per_epoch", "val_size", "test_size"):
            if getattr(self, name) < (2 if name == "length" else 1):
                raise ConfigError(f"{name} must be >= {2 if name == 'length' else 1}, got {getattr(self, name)}")
        if self.problem == "order" and self.length < 20:
            raise ConfigError(f"the order task needs length >= 20, got {self.length}")
        if self.cell != "lstm" and self.layer_norm:
            raise ConfigError(f"layer_norm is an LSTM variant; the {self.cell} has none")
        if self.cell not in ("lstm", "gru") and self.chrono_init:
            raise ConfigError(
                f"chrono_init sets an LSTM or GRU gate's bias, not the {self.cell}'s (the tanh RNN has no gate; "
                "the modern cells initialise their own gate biases)"
            )

    @property
    def problem_spec(self) -> Problem:
        """How the problem is made and scored (PROBLEMS[problem])."""
        return PROBLEMS[self.problem]

    @property
    def steps(self) -> int:
        """The sequence length actually seen: --length, or what the dataset fixes."""
        return self.problem_spec.steps or self.length

    @property
    def length_label(self) -> int | str:
        """The length for tables: 'var' where a grammar sets each sequence's length."""
        return "var" if self.problem_spec.variable_length else self.steps
