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
from pathlib import Path
from typing import Any

from lstmkit.engine.config import TrainConfig


def resolve_ref(ref: str) -> Any:
    """'package.module:attr' -> the attribute (only for the references written in the specs below)."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class Capabilities:
    """What a task's loaded models can do, read by serving, the web page and the tests (never a task name).

    stateful: models implement deploy.protocol.StatefulModel (sessions, `step`).
    generates_text: models stream text from a prompt (`generate` / `stream`; the generate route).
    inputs: what one input record carries, which picks the web page's panel: "series" (history rows of a
        long-format frame), "prompt" (a text to continue), "text" (a text to label or translate),
        "sequence" (a numeric sequence).
    """

    stateful: bool = False
    generates_text: bool = False
    inputs: str = "text"

    def to_dict(self) -> dict[str, Any]:
        return {"stateful": self.stateful, "generates_text": self.generates_text, "inputs": self.inputs}


@dataclass(frozen=True)
class TaskSpec:
    """One task: its name (the CLI group, the package's name and the saved model's `task`), where its pieces
    live, what its models can do, the built-in datasets it reads, and the training settings it recommends over
    the engine's defaults (YAML and flags still override them)."""

    name: str
    summary: str  # one line: `lstmkit --help`, `lstmkit datasets`
    config: str  # the task's config dataclass (data + architecture)
    api: str  # the Python API class (e.g. Forecaster): fit, predict, save
    loader: str  # (SavedModel, device) -> the loaded model, which implements deploy.protocol.InferenceModel
    cli: str  # register_cli(subparsers, spec): adds `lstmkit <name> <verb>`
    capabilities: Capabilities = field(default_factory=Capabilities)
    train_defaults: TrainConfig = field(default_factory=TrainConfig)
    data_flag: str = "data"  # the training flag that names a built-in dataset (`lstmkit datasets` shows it)
    datasets: str | None = None  # () -> list[data.registry.DatasetInfo]: the built-in datasets it reads
    examples: str | None = None  # the module of a tiny model and example inputs (tests/tasks/conformance)
    exporter: str | None = None  # (loaded model) -> deploy.export.ExportPlan: what `lstmkit export` writes
    onnx_runtime: str | None = None  # (deploy.onnx_runtime.OnnxRunner) -> the task's torch-free runtime
    models: tuple[tuple[str, str], ...] = ()  # (name, "package:folder") saved models shipped inside lstmkit

    @property
    def config_class(self) -> type:
        return resolve_ref(self.config)

    @property
    def api_class(self) -> type:
        return resolve_ref(self.api)

    @property
    def exportable(self) -> bool:
        return self.exporter is not None

    def builtin_datasets(self) -> list[Any]:
        """The data.registry.DatasetInfo rows of the built-in datasets this task reads."""
        return list(resolve_ref(self.datasets)()) if self.datasets else []

    def example_module(self) -> Any:
        """The task's examples module (make(out) -> a tiny saved model; inputs; answer(model, where))."""
        if not self.examples:
            raise NotImplementedError(f"task {self.name!r} declares no examples module")
        return importlib.import_module(self.examples)

    def resolve(
        self, config: Any = None, train: Any = None, options: dict[str, Any] | None = None, where: str = ""
    ) -> Any:
        """The API classes' one config resolution (engine.config.resolve_run): defaults < this task's training
        defaults < the given config objects < keyword options. Configs already resolved (both objects given,
        no options: what the CLI passes after its own merge) are taken as they are, not merged again."""
        from lstmkit.engine.config import RunConfig, config_objects, resolve_run

        if config is not None and train is not None and not options:
            return RunConfig(config, train)
        base = config_objects(config, train)
        return resolve_run(self.config_class, self.train_defaults, base=base, options=options or {}, where=where)

    def model_path(self, path: str | Path) -> str | Path:
        """`path`, or the folder of the model shipped under that name (e.g. "pretrained") when no such path
        exists here."""
        shipped = dict(self.models)
        if str(path) in shipped and not Path(path).exists():
            from importlib.resources import files

            package, folder = shipped[str(path)].split(":")
            return Path(str(files(package) / folder))
        return path

    def load_saved(self, saved: Any, device: Any) -> Any:
        return resolve_ref(self.loader)(saved, device)

    def load_read(self, saved: Any, device: Any = None) -> Any:
        """A read SavedModel of this task as the task's object, on `device` (default: CPU)."""
        import torch

        return self.load_saved(saved, torch.device(device or "cpu"))

    def load(self, path: str | Path, device: Any = None) -> Any:
        """A saved model (or a run holding one in model/) of this task; an error naming the command that fits
        a model of another task. What a task's own commands use (the registry's `load` takes any task)."""
        from lstmkit.deploy.saved_model import read_saved, saved_model_dir
        from lstmkit.errors import UsageError

        saved = read_saved(saved_model_dir(self.model_path(path)), device="cpu")
        if saved.task != self.name:
            raise UsageError(f"{path} is a {saved.task} model, not a {self.name} one; use lstmkit {saved.task} ...")
        return self.load_read(saved, device)

    def runtime_of(self, runner: Any) -> Any:
        """The task's torch-free runtime object over an OnnxRunner of one of its exports."""
        return resolve_ref(self.onnx_runtime)(runner)

    def load_onnx(self, path: str | Path, variant: str = "fp32", threads: int | None = None) -> Any:
        """This task's ONNX export at `path` (or the run/saved model holding it in onnx/), without torch."""
        from lstmkit.deploy.onnx_runtime import ExportFileError, OnnxRunner
        from lstmkit.errors import UsageError

        if not self.onnx_runtime:
            raise ExportFileError(f"{self.name} models have no ONNX runtime in this lstmkit; use --runtime torch")
        runner = OnnxRunner(path, variant, threads)
        if runner.task != self.name:
            raise UsageError(
                f"{path} holds a {runner.task} export, not a {self.name} one; use lstmkit {runner.task} ..."
            )
        return self.runtime_of(runner)

    def register_cli(self, subparsers: Any) -> None:
        resolve_ref(self.cli)(subparsers, self)

    def defaults_text(self) -> str:
        """The recommended training settings that differ from the engine's, as flags (for --help)."""
        base, mine = TrainConfig(), self.train_defaults
        diff = [
            f"--{k.replace('_', '-')} {getattr(mine, k)}"
            for k in mine.__dataclass_fields__
            if getattr(mine, k) != getattr(base, k)
        ]
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
    return (
        from_dict(task_cls, saved.config["task"], where=f"{where} task"),
        from_dict(TrainConfig, saved.config.get("train", {}), where=f"{where} train"),
    )


def saved_state(saved: Any, name: str, what: str) -> Any:
    """The task state `<name>.json` of a saved model; ModelFileError naming it when it is missing."""
    from lstmkit.deploy.saved_model import ModelFileError

    if name not in saved.state:
        raise ModelFileError(f"{saved.path} lacks {name}.json ({what}); re-save the model")
    return saved.state[name]
