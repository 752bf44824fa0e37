"""Long-range memory tasks: generated problems whose answer depends on something seen long before.

Notation: B batch, T the span to bridge, H hidden size, O outputs. Problems (lstmkit/data/synthetic.py):
adding (regression from the last step), copy (a class at every step), temporal order (a class from the last
step), embedded Reber (possible next symbols at every step). Each reports its own metric beside the trivial
baseline (e.g. MSE 0.167 for adding: always answer 1.0).
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
from lstmkit.data import sequences, synthetic
from lstmkit.data.synthetic import Batch
from lstmkit.inspect.trace import gate_means, trace

NAME = "longrange"
CELLS = {"lstm": lnn.LSTM, "gru": lnn.GRU, "rnn": lnn.RNN}
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
    "adding": Problem(synthetic.adding, 2, 1, False, lambda o, b: F.mse_loss(o.float(), b["y"]), _adding_metrics,
                      "mse", "min", ADDING_BASELINE_MSE, "always answer 1.0", LEARNED_MSE),
    "copy": Problem(synthetic.copy_memory, synthetic.COPY_SYMBOLS + 2, synthetic.COPY_SYMBOLS + 1, True, _copy_loss,
                    _copy_metrics, "accuracy", "max", 1 / synthetic.COPY_SYMBOLS, "guess a symbol", 0.99),
    "order": Problem(synthetic.temporal_order, 8, 4, False, _ce,
                     _class_metrics, "accuracy", "max", 0.25, "guess the class", 0.99),
    "reber": Problem(synthetic.embedded_reber, 7, 7, True, _reber_loss, _reber_metrics,
                     "accuracy", "max", 0.5, "guess T or P", 0.99, variable_length=True),
    "digits": Problem(None, 1, 10, False, _ce, _class_metrics, "accuracy", "max", 0.1, "guess one of 10", 0.95,
                      sequences.load_digits, "scikit-learn digits, seeded 80/20 train/test split", 64),
    "mnist1d": Problem(None, 1, 10, False, _ce, _class_metrics, "accuracy", "max", 0.1, "guess one of 10", 0.95,
                       sequences.load_mnist1d, "MNIST-1D's own 4000/1000 split", 40),
    "smnist": Problem(None, 1, 10, False, _ce, _class_metrics, "accuracy", "max", 0.1, "guess one of 10", 0.95,
                      sequences.load_mnist_pixels, "the 10k MNIST test images, seeded 80/20 train/test split", 784),
}  # fmt: skip


@dataclass(frozen=True)
class LongRangeConfig:
    """The long-range task and its model."""

    task: Literal["adding", "copy", "order", "reber", "digits", "mnist1d", "smnist"] = option(
        "adding", "adding: sum 2 marked values; copy: recall 10 symbols after T steps; order: the order of 2 "
        "symbols in noise; reber: embedded Reber grammar; digits: scikit-learn's 8x8 digits pixel by pixel "
        "(64 steps); mnist1d: MNIST-1D (40 steps, --data FILE.npz); smnist: MNIST pixel by pixel (784 steps, "
        "--data DIR of IDX files). The last four fix their own length"
    )  # fmt: skip
    data: str | None = option(None, "file or folder of a task's local data (mnist1d, smnist)", metavar="PATH")
    length: int = option(100, "sequence length T: the span the memory must bridge")
    cell: Literal["lstm", "gru", "rnn"] = option("lstm", "recurrent cell")
    hidden_size: int = option(64, "hidden units per layer")
    num_layers: int = option(1, "stacked recurrent layers")
    forget_bias: float = option(1.0, "initial LSTM forget-gate bias (ignored by GRU/RNN)")
    chrono_init: bool = option(False, "chrono initialisation with T_max = length: the LSTM forget gate (overrides "
                               "--forget-bias) or the GRU update gate")
    layer_norm: bool = option(False, "layer-normalised LSTM cell (explicit backend: slower)")
    budget: Literal["hidden", "params"] = option(
        "hidden", "hidden: every cell gets --hidden-size units; params: GRU/RNN get as many units as match the "
        "parameter count of an LSTM with --hidden-size"
    )  # fmt: skip
    steps_per_epoch: int = option(200, "fresh training batches generated per epoch")
    val_size: int = option(1000, "validation sequences (fixed seed; used for model selection)")
    test_size: int = option(2000, "test sequences (fixed seed, never seen in training or selection)")
    test_seed: int = option(1234, "seed of the validation and test sets")

    def __post_init__(self) -> None:
        for name in ("length", "hidden_size", "num_layers", "steps_per_epoch", "val_size", "test_size"):
            if getattr(self, name) < (2 if name == "length" else 1):
                raise ConfigError(f"{name} must be >= {2 if name == 'length' else 1}, got {getattr(self, name)}")
        if self.task == "order" and self.length < 20:
            raise ConfigError(f"the order task needs length >= 20, got {self.length}")
        if self.cell != "lstm" and self.layer_norm:
            raise ConfigError(f"layer_norm is an LSTM variant; the {self.cell} has none")
        if self.cell == "rnn" and self.chrono_init:
            raise ConfigError("chrono_init sets a gate's bias (LSTM or GRU); the tanh RNN has no gate")

    @property
    def problem(self) -> Problem:
        return PROBLEMS[self.task]

    @property
    def steps(self) -> int:
        """The sequence length actually seen: --length, or what the dataset fixes."""
        return self.problem.steps or self.length

    @property
    def length_label(self) -> int | str:
        """The length for tables: 'var' where a grammar sets each sequence's length."""
        return "var" if self.problem.variable_length else self.steps


# ----------------------------------------------------------------------------------------------------------
# batches


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A distinct, reproducible random stream for each (seed, epoch)."""
    return torch.Generator().manual_seed(seed * 100_003 + epoch)


class GeneratedBatches:
    """An epoch of fresh batches from a generator; each pass draws new data, reproducibly."""

    def __init__(self, make: Callable[[int, torch.Generator], Batch], batch_size: int, steps: int, seed: int) -> None:
        self.make, self.batch_size, self.steps, self.seed = make, batch_size, steps, seed
        self.epoch = 0

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[Batch]:
        gen = _epoch_generator(self.seed, self.epoch)
        self.epoch += 1
        for _ in range(self.steps):
            yield self.make(self.batch_size, gen)


class ShuffledBatches:
    """A fixed training set, reshuffled (reproducibly) at every pass."""

    def __init__(self, data: Batch, batch_size: int, seed: int) -> None:
        self.data, self.batch_size, self.seed = data, batch_size, seed
        self.epoch = 0

    def __len__(self) -> int:
        return -(-len(self.data["x"]) // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        gen = _epoch_generator(self.seed, self.epoch)
        self.epoch += 1
        order = torch.randperm(len(self.data["x"]), generator=gen)
        for i in range(0, len(order), self.batch_size):
            idx = order[i : i + self.batch_size]
            yield {k: v[idx] for k, v in self.data.items()}


class FixedBatches:
    """A fixed held-out set served in order, in batches."""

    def __init__(self, data: Batch, batch_size: int) -> None:
        self.data, self.batch_size = data, batch_size

    def __len__(self) -> int:
        return -(-len(self.data["x"]) // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        for i in range(0, len(self.data["x"]), self.batch_size):
            yield synthetic.take(self.data, i, i + self.batch_size)


# ----------------------------------------------------------------------------------------------------------
# model


class SequenceModel(nn.Module):
    """Recurrent layer(s) -> linear head, at every step (B, T, O) or from each sequence's last step (B, O)."""

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int, output_size: int,
                 per_step: bool = False, **variants: Any) -> None:  # fmt: skip
        super().__init__()
        self.per_step = per_step
        self.rnn = CELLS[cell](input_size, hidden_size, num_layers, batch_first=True, **variants)
        self.head = nn.Linear(hidden_size, output_size)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        out, _ = self.rnn(x, lengths=lengths)  # (B, T, H)
        return self.readout(out, lengths)

    def readout(self, out: Tensor, lengths: Tensor | None = None) -> Tensor:
        """The head on the recurrent output (B, T, H): (B, T, O) per step, else (B, O) from the last step."""
        if self.per_step:
            return self.head(out)
        if lengths is None:
            return self.head(out[:, -1])
        return self.head(out[torch.arange(out.shape[0]), lengths.to(out.device) - 1])


def parameter_count(cell: str, input_size: int, hidden: int, layers: int, output_size: int) -> int:
    """Weights of a SequenceModel: per layer G*H*(in + H) + 2*G*H, plus the head (H + 1) * O."""
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[cell]
    total, inp = 0, input_size
    for _ in range(layers):
        total += gates * hidden * (inp + hidden) + 2 * gates * hidden
        inp = hidden
    return total + (hidden + 1) * output_size


def hidden_size_for(cfg: LongRangeConfig) -> int:
    """The hidden size this config gives its cell: --hidden-size, or under an equal parameter budget the size
    whose parameter count comes closest to the LSTM's at --hidden-size."""
    if cfg.budget == "hidden" or cfg.cell == "lstm":
        return cfg.hidden_size
    p = cfg.problem
    target = parameter_count("lstm", p.input_size, cfg.hidden_size, cfg.num_layers, p.output_size)
    sizes = range(1, 8 * cfg.hidden_size + 1)
    return min(
        sizes, key=lambda h: abs(parameter_count(cfg.cell, p.input_size, h, cfg.num_layers, p.output_size) - target)
    )


def build_model(cfg: LongRangeConfig) -> SequenceModel:
    p = cfg.problem
    variants = {}
    if cfg.cell == "lstm":
        variants = {"forget_bias": cfg.forget_bias, "layer_norm": cfg.layer_norm}
        if cfg.chrono_init:
            variants = {"chrono_init": max(cfg.steps, 3), "layer_norm": cfg.layer_norm}
    elif cfg.cell == "gru" and cfg.chrono_init:
        variants = {"chrono_init": max(cfg.steps, 3)}
    return SequenceModel(cfg.cell, p.input_size, hidden_size_for(cfg), cfg.num_layers, p.output_size, p.per_step,
                         **variants)  # fmt: skip


def run_model(model: nn.Module, batch: Batch) -> Tensor:
    return model(batch["x"], batch.get("lengths"))


# ----------------------------------------------------------------------------------------------------------
# the task, as the engine sees it


class LongRangeTask:
    """A generated long-range problem as an engine Task."""

    name = NAME

    def __init__(self, cfg: LongRangeConfig) -> None:
        self.cfg = cfg
        self.problem = cfg.problem
        self.monitor, self.monitor_mode = self.problem.metric, self.problem.mode
        self._train = None
        if self.problem.load is not None:
            splits = self.problem.load(cfg.data)
            self._train, self._val, self._test = splits["train"], splits["val"], splits["test"]
        else:
            gen = torch.Generator().manual_seed(cfg.test_seed)
            self._test = self.problem.make(cfg.test_size, cfg.length, gen)
            self._val = self.problem.make(cfg.val_size, cfg.length, gen)

    def build_model(self) -> nn.Module:
        return build_model(self.cfg)

    def train_batches(self, batch_size: int, seed: int) -> GeneratedBatches | ShuffledBatches:
        if self._train is not None:
            return ShuffledBatches(self._train, batch_size, seed)

        def make(n: int, gen: torch.Generator) -> Batch:
            return self.problem.make(n, self.cfg.length, gen)

        return GeneratedBatches(make, batch_size, self.cfg.steps_per_epoch, seed)

    def val_batches(self, batch_size: int) -> FixedBatches:
        return FixedBatches(self._val, max(batch_size, 256))

    def test_batches(self, batch_size: int) -> FixedBatches:
        return FixedBatches(self._test, max(batch_size, 256))

    def loss(self, model: nn.Module, batch: Batch) -> Tensor:
        return self.problem.loss(run_model(model, batch), batch)

    def metrics(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        """The problem's metrics, plus mean gate activations per layer (one traced pass gives both)."""
        lengths = batch.get("lengths")
        tr = trace(model.rnn, batch["x"], lengths=lengths)
        return {**self.problem.metrics(model.readout(tr.output, lengths), batch), **gate_means(tr, lengths)}

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
    model: SequenceModel

    @torch.no_grad()
    def predict(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """(B, T, I) -> (B, O), or (B, T, O) for per-step problems."""
        size = self.config.problem.input_size
        if x.dim() != 3 or x.shape[-1] != size:
            raise ValueError(
                f"expected inputs of shape (batch, time, {size}) for {self.config.task}, got {tuple(x.shape)}"
            )
        self.model.eval()
        device = next(self.model.parameters()).device
        return self.model(x.to(device), lengths)

    def probe(self, n: int = 64) -> tuple[torch.nn.Module, Tensor, Tensor | None, Callable[[Tensor], Tensor]]:
        """For `lstmkit inspect`: the recurrent layer, n test inputs, their lengths, and the task loss as a
        function of the layer's output."""
        p = self.config.problem
        data = p.load(self.config.data)["test"] if p.load else p.make(n, self.config.length, _probe_gen())
        batch = synthetic.take(data, 0, n)
        device = next(self.model.parameters()).device
        batch = {k: v.to(device) for k, v in batch.items()}
        lengths = batch.get("lengths")

        def loss_of_output(out: Tensor) -> Tensor:
            return self.config.problem.loss(self.model.readout(out, lengths), batch)

        return self.model.rnn, batch["x"], lengths, loss_of_output

    def evaluate(self, batch_size: int = 256) -> dict[str, float]:
        """Metrics on the config's fixed-seed test set, with the trivial baseline beside the headline one."""
        from lstmkit.engine.evaluate import evaluate

        task = LongRangeTask(self.config)
        metrics = evaluate(task.metrics, self.model, task.test_batches(batch_size))
        p = self.config.problem
        return {**{f"test_{k}": v for k, v in metrics.items()}, f"baseline_{p.metric}": p.baseline}


def _probe_gen() -> torch.Generator:
    return torch.Generator().manual_seed(4321)  # fixed: the same probe inputs every time


def load_saved(saved: Any, device: torch.device) -> LongRangeModel:
    """Rebuild the model exactly as configured at training time (the saved-model loader for this task)."""
    cfg = from_dict(LongRangeConfig, saved.config["task"], where=f"{saved.path}/config.json task")
    from lstmkit.deploy.saved_model import load_weights

    return LongRangeModel(cfg, load_weights(build_model(cfg), saved).to(device).eval())
