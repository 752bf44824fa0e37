"""Training settings shared by every task: budget, placement, optimisation, run directory."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from lstmkit.config import ConfigError, from_dict, option, to_dict


@dataclass(frozen=True)
class TrainConfig:
    """Training budget, placement and optimisation (the same options for every task)."""

    epochs: int = option(10, "passes over the training data (for generated tasks: epochs of --steps-per-epoch)")
    max_steps: int = option(-1, "stop after this many optimiser steps (-1: no limit)")
    max_time: str | None = option(None, "stop after this much wall time, e.g. 90s, 10m, 1h30m", metavar="DURATION")
    seed: int = option(0, "seed for weights, data order and generated data")
    device: Literal["auto", "cpu", "cuda"] = option("auto", "where to train: auto picks cuda when available")
    out: str | None = option(
        None, "run directory (default runs/<task>/<name>); the model is saved in OUT/model/", metavar="DIR"
    )
    name: str | None = option(None, "run name under runs/<task>/ (default: a timestamp)", metavar="NAME")
    resume: bool = option(False, "continue the run in --out from its last checkpoint (after a crash or a stop)")
    batch_size: int = option(64, "examples per optimiser step")
    lr: float = option(2e-3, "peak learning rate (AdamW)")
    weight_decay: float = option(0.0, "AdamW weight decay")
    lr_schedule: Literal["constant", "cosine"] = option(
        "cosine", "learning-rate schedule after warm-up (cosine: down to a tenth of the peak over the steps, or over "
        "--max-time when that runs out first)"
    )
    warmup_steps: int = option(0, "linear warm-up steps")
    grad_clip: float = option(1.0, "clip the gradient norm to this value (0: off)")
    early_stopping: int = option(0, "stop after this many validations without improvement (0: off)")
    precision: Literal["auto", "32", "bf16"] = option(
        "auto", "auto: bf16 autocast on CUDA with bf16 and on CPUs with AVX-512-BF16, else fp32"
    )
    deterministic: bool = option(False, "deterministic kernels (reproducible, may be slower)")
    progress: bool = option(True, "show progress bars")

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {self.epochs}")
        if self.max_steps == 0 or self.max_steps < -1:
            raise ConfigError(f"max_steps must be -1 (no limit) or >= 1, got {self.max_steps}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if self.max_time is not None:
            parse_duration(self.max_time)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """'90s', '10m', '1h30m', '2.5h' or plain seconds -> timedelta."""
    text = str(text).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return timedelta(seconds=float(text))
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([smhd])", text)
    if not parts or "".join(n + u for n, u in parts) != text.replace(" ", ""):
        raise ConfigError(f"max_time {text!r} is not a duration; use e.g. 90s, 10m, 1h30m")
    return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))


def task_and_train(
    task_cls: type, config: Any, train: TrainConfig | None, train_defaults: dict[str, Any], options: dict[str, Any],
    where: str,
) -> tuple[Any, TrainConfig]:
    """For Python-API constructors: keyword options split between a task config and TrainConfig, over the
    given configs (or the defaults, and the task's recommended training defaults); unknown names are errors."""
    task_fields = {f.name for f in dataclasses.fields(task_cls)}
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(options) - task_fields - train_fields)
    if unknown:
        raise ConfigError(f"unknown {where} option(s) {unknown}; see {task_cls.__name__} and TrainConfig")
    task_base = to_dict(config) if config else {}
    train_base = to_dict(train) if train else dict(train_defaults)
    task_cfg = from_dict(task_cls, {**task_base, **{k: v for k, v in options.items() if k in task_fields}}, where)
    train_cfg = from_dict(TrainConfig, {**train_base, **{k: v for k, v in options.items() if k in train_fields}}, where)
    return task_cfg, train_cfg
