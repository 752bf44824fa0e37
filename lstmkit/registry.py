"""The task registry and the facade above it: `load`, `load_as`, `export_model`, `load_onnx`.

The registry is one line per task (TASK_PACKAGES below): each package `lstmkit.tasks.<name>` defines SPEC, a
TaskSpec that says where its pieces live and what it can do (capabilities, built-in datasets, exporter, ONNX
runtime, examples). The CLI, serving, `lstmkit datasets` and the tests read the specs and never ask which task
they are handling. Dependencies run one way: this module imports the task packages; the tasks never import
it (a task loads its own models through its SPEC). Reading the registry imports no torch.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from lstmkit.tasks.spec import TaskSpec, resolve_ref

# The registry: adding a task is its package and one line here (its name is the package's name).
TASK_PACKAGES = (
    "forecast",
    "lm",
    "classify",
    "translate",
    "longrange",
    "tag",
)


def _specs() -> dict[str, TaskSpec]:
    specs = {}
    for package in TASK_PACKAGES:
        spec = importlib.import_module(f"lstmkit.tasks.{package}").SPEC
        if spec.name != package:
            raise RuntimeError(f"lstmkit.tasks.{package} registers as {spec.name!r}: a task's name is its package's")
        specs[spec.name] = spec
    return specs


TASKS: dict[str, TaskSpec] = _specs()


def get_task(name: str) -> TaskSpec:
    """The spec of a registered task; KeyError naming the known ones otherwise."""
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; lstmkit knows {', '.join(TASKS)}")
    return TASKS[name]


def load(path: str | Path, device: Any = None) -> Any:
    """Load a saved model (its directory, or a run directory holding it in model/) as its task's object
    (e.g. a Forecaster), on `device` (default: CPU). Imports no training framework.

    The weights are read to CPU whatever device they were trained on; the task rebuilds the model from
    exactly the config it was saved with. The object implements the inference protocol
    (lstmkit.deploy.protocol.InferenceModel)."""
    from lstmkit.deploy.saved_model import CONFIG, ModelFileError, read_saved, saved_model_dir

    for spec in TASKS.values():  # a model shipped inside lstmkit, by its name (e.g. "pretrained")
        path = spec.model_path(path)
    saved = read_saved(saved_model_dir(path), device="cpu")
    if saved.task not in TASKS:
        raise ModelFileError(
            f"{saved.path / CONFIG} names task {saved.task!r}, which this lstmkit does not know "
            f"(it knows {', '.join(TASKS)}): upgrade lstmkit or check the file"
        )
    return TASKS[saved.task].load_read(saved, device)


def load_as(path: str | Path, task: str, device: Any = None) -> Any:
    """`load(path)`, which must be a model of `task`; otherwise an error that says which command fits."""
    return get_task(task).load(path, device)


def export_model(model: Any, out: str | Path, exporter: str = "legacy", quantize: str | None = None) -> dict[str, Any]:
    """Export a loaded model to ONNX in `out` with its task's export plan (TaskSpec.exporter); returns the
    signature written (lstmkit.deploy.export does the tracing, parity checks and int8)."""
    from lstmkit.deploy.export import ExportError, export_plan

    spec = get_task(model.task)
    if not spec.exporter:
        raise ExportError(f"{model.task} models cannot be exported to ONNX yet")
    return export_plan(resolve_ref(spec.exporter)(model), out, exporter, quantize)


def load_onnx(path: str | Path, variant: str = "fp32", threads: int | None = None) -> Any:
    """An ONNX export (or the run/saved model holding it in onnx/) as its task's torch-free runtime object
    (TaskSpec.onnx_runtime over a deploy.onnx_runtime.OnnxRunner). Imports no torch."""
    from lstmkit.deploy.onnx_runtime import ExportFileError, OnnxRunner

    runner = OnnxRunner(path, variant, threads)
    spec = TASKS.get(runner.task)
    if spec is None or not spec.onnx_runtime:
        raise ExportFileError(f"{runner.root} is a {runner.task!r} export, which has no ONNX runtime in this lstmkit")
    return spec.runtime_of(runner)
