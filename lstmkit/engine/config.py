"""Training settings shared by every task: budget, placement, optimisation, run directory."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from lstmkit.config import ConfigError, load_yaml, merge, option, split_layer, to_dict


@dataclass(frozen=True)
class TrainConfig:
    """Training budget, placement and optimisation (the same options for every task)."""

    epochs: int = option(10, "passes over the training data (for generated tasks: epochs of --steps-per-epoch)")
    max_steps: int = option(-1, "stop after this many optimiser steps (-1: no limit)")
    max_time: str | None = option(
        None,
        "stop after this much wall time, e.g. 90s, 10m, 1h30m; given without --epochs, the time is the budget "
        "(early stopping or --max-steps may still end the run sooner)",
        metavar="DURATION",
    )
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
        "cosine",
        "learning-rate schedule after warm-up (cosine: down to a tenth of the peak over the steps, or over "
        "--max-time when that runs out first)",
    )
    warmup_steps: int = option(0, "linear warm-up steps")
    grad_clip: float = option(1.0, "clip the gradient norm to this value (0: off)")
    early_stopping: int = option(0, "stop after this many validations without improvement (0: off)")
    precision: Literal["auto", "32", "bf16"] = option(
        "auto", "auto: bf16 autocast on CUDA with bf16 and on CPUs with AVX-512-BF16, else fp32"
    )
    deterministic: bool = option(False, "deterministic kernels (reproducible, may be slower)")
    progress: bool = option(True, "show progress bars (on stderr)")
    devices: int = option(1, "processes (CPU, gloo) or GPUs (NCCL) to train on with distributed data parallel")
    num_nodes: int = option(1, "machines, each running --devices processes (launch with torchrun or SLURM)")
    strategy: Literal["auto", "ddp", "ddp_spawn"] = option(
        "auto",
        "how processes are started: auto (ddp when --devices x --num-nodes > 1), ddp (the command runs "
        "again in each process), ddp_spawn (processes started from this one: forked on CPU, spawned on CUDA)",
    )
    track: str | None = option(
        None,
        "log params, metrics, curves, plots and the model to MLflow at this tracking URI "
        "(e.g. sqlite:///mlflow.db, a directory, or an http:// server)",
        metavar="URI",
    )
    checkpoint_every: str = option(
        "60s",
        "save the resume checkpoint every N optimiser steps (e.g. 200) or every DURATION (e.g. 60s, 5m); "
        "a run killed at any moment continues with --resume",
        metavar="N|DURATION",
    )

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
        if self.devices < 1 or self.num_nodes < 1:
            raise ConfigError(f"devices and num_nodes must be >= 1, got {self.devices} and {self.num_nodes}")
        self.checkpoint_schedule()

    @property
    def world_size(self) -> int:
        return self.devices * self.num_nodes

    def checkpoint_schedule(self) -> tuple[int | None, timedelta | None]:
        """--checkpoint-every as (every N steps, None) or (None, every duration)."""
        text = str(self.checkpoint_every).strip()
        if text.isdigit():
            if int(text) < 1:
                raise ConfigError(f"checkpoint_every must be >= 1 step or a duration, got {text!r}")
            return int(text), None
        try:
            return None, parse_duration(text, "checkpoint_every")
        except ConfigError:
            raise ConfigError(
                f"checkpoint_every {text!r} is neither a step count (e.g. 200) nor a duration (e.g. 60s, 5m)"
            ) from None


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, what: str = "max_time") -> timedelta:
    """'90s', '10m', '1h30m', '2.5h' or plain seconds -> timedelta."""
    text = str(text).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return timedelta(seconds=float(text))
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([smhd])", text)
    if not parts or "".join(n + u for n, u in parts) != text.replace(" ", ""):
        raise ConfigError(f"{what} {text!r} is not a duration; use e.g. 90s, 10m, 1h30m")
    return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))


@dataclass(frozen=True)
class RunConfig:
    """A run's whole config: the task's (architecture, data) and the engine's (training). Saved with every
    run (config.yaml) and every model (config.json), as {"task": ..., "train": ...}."""

    task: Any
    train: TrainConfig

    def to_dict(self) -> dict[str, Any]:
        return {"task": to_dict(self.task), "train": to_dict(self.train)}


def split_options(task_cls: type, options: dict[str, Any], where: str) -> dict[str, dict[str, Any]]:
    """Flat keyword options -> {"task": ..., "train": ...}; an unknown name is an error naming `where`."""
    return split_layer(options, {"task": task_cls, "train": TrainConfig}, where)


def resolve_run(
    task_cls: type,
    train_defaults: TrainConfig | None = None,
    *,
    resume_dir: str | Path | None = None,
    yaml_path: str | Path | None = None,
    base: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    where: str = "options",
) -> RunConfig:
    """The one config path for the CLI and the Python API, lowest first: dataclass defaults < the task's
    training defaults < the saved run config (`resume_dir`/config.yaml) < `base` (configs given as objects)
    < the YAML file < `options` (flags or keyword arguments). Every layer is checked as it comes in and the
    result is validated."""
    sections = {"task": task_cls, "train": TrainConfig}
    layers: list[tuple[str, dict[str, Any]]] = [
        ("the task's training defaults", {"train": to_dict(train_defaults or TrainConfig())})
    ]
    if resume_dir is not None:
        saved = Path(resume_dir) / "config.yaml"
        if saved.is_file():
            layers.append((str(saved), load_yaml(saved)))
    if base:
        layers.append(("the given configs", base))
    if yaml_path:
        layers.append((str(yaml_path), load_yaml(yaml_path)))
    layers.append((where, dict(options or {})))
    merged = merge(sections, layers)
    return RunConfig(merged["task"], until_time(merged["train"], layers[1:], sections))


UNTIL_TIME = 100_000  # epochs when --max-time is the budget: time, early stopping or --max-steps end the run


def until_time(train: TrainConfig, given: list[tuple[str, dict[str, Any]]], sections: dict[str, type]) -> TrainConfig:
    """A time budget given without epochs is the budget: the task's default epochs do not cut it short (a
    2-hour translation run once ended after its 10 default epochs, ~30 minutes)."""
    chosen = [split_layer(data, sections, source)["train"] for source, data in given]
    if train.max_time is None or any("epochs" in part for part in chosen):
        return train
    return replace(train, epochs=UNTIL_TIME)


def config_objects(config: Any = None, train: TrainConfig | None = None) -> dict[str, Any]:
    """Configs given as objects (Python API), as a merge layer."""
    return {
        **({"task": to_dict(config)} if config is not None else {}),
        **({"train": to_dict(train)} if train is not None else {}),
    }


def unique_name(prefix: str = "") -> str:
    """A run name that sorts by time and cannot collide with another run started in the same second."""
    return f"{prefix}{datetime.now().strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
