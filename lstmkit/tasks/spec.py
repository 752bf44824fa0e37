"""What a task tells the rest of lstmkit about itself: one small, import-light spec per task.

The CLI, `lstmkit.load`, `lstmkit datasets` (and serving and export) read these specs and nothing else, so
they never ask which task they are handling. References are "module:attribute" strings, imported on first
use: reading the registry imports no torch, and a saved model's task name only ever selects a registered
spec (nothing named in a file is imported).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lstmkit.engine.config import TrainConfig


def resolve_ref(ref: str) -> Any:
    """'package.module:attr' -> the attribute (only for the references written in the specs below)."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class TaskSpec:
    """One task: its name (the CLI group and the saved model's `task`), where its pieces live, and the
    training settings it recommends over the engine's defaults (YAML and flags still override them)."""

    name: str
    summary: str  # one line: `lstmkit --help`, `lstmkit datasets`
    config: str  # the task's config dataclass (data + architecture)
    api: str  # the Python API class (e.g. Forecaster): fit, predict, save
    loader: str  # (SavedModel, device) -> the loaded model, which implements deploy.protocol.InferenceModel
    cli: str  # register_cli(subparsers, spec): adds `lstmkit <name> <verb>`
    train_defaults: TrainConfig = field(default_factory=TrainConfig)
    data_flag: str = "data"  # the training flag that names a built-in dataset (`lstmkit datasets` shows it)
    exporter: str | None = None  # (loaded model) -> deploy.export.ExportPlan: what `lstmkit export` writes
    onnx_runtime: str | None = None  # (deploy.onnx_runtime.OnnxRunner) -> the task's torch-free runtime

    @property
    def config_class(self) -> type:
        return resolve_ref(self.config)

    @property
    def api_class(self) -> type:
        return resolve_ref(self.api)

    def load_saved(self, saved: Any, device: Any) -> Any:
        return resolve_ref(self.loader)(saved, device)

    def register_cli(self, subparsers: Any) -> None:
        resolve_ref(self.cli)(subparsers, self)

    def defaults_text(self) -> str:
        """The recommended training settings that differ from the engine's, as flags (for --help)."""
        base, mine = TrainConfig(), self.train_defaults
        diff = [f"--{k.replace('_', '-')} {getattr(mine, k)}" for k in mine.__dataclass_fields__
                if getattr(mine, k) != getattr(base, k)]  # fmt: skip
        return ", ".join(diff) or "the engine's defaults"


def lazy_exports(package: str, names: dict[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` that imports a task package's public names from its submodules on first use
    (`names`: attribute -> submodule), so the registry can read the package's SPEC without torch."""

    def __getattr__(name: str) -> Any:
        if name in names:
            return getattr(importlib.import_module(f"{package}.{names[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__


def saved_run(saved: Any, task_cls: type) -> tuple[Any, TrainConfig]:
    """A saved model's task config and TrainConfig, validated (a bad entry is named with its file)."""
    from lstmkit.config import from_dict

    where = f"{saved.path}/config.json"
    return (from_dict(task_cls, saved.config["task"], where=f"{where} task"),
            from_dict(TrainConfig, saved.config.get("train", {}), where=f"{where} train"))  # fmt: skip


def saved_state(saved: Any, name: str, what: str) -> Any:
    """The task state `<name>.json` of a saved model; ModelFileError naming it when it is missing."""
    from lstmkit.deploy.saved_model import ModelFileError

    if name not in saved.state:
        raise ModelFileError(f"{saved.path} lacks {name}.json ({what}); re-save the model")
    return saved.state[name]
