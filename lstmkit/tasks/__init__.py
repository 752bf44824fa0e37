"""Tasks: one package per task (forecast, language, longrange, ...), each with the same layout:

    config.py   the task's config dataclass (data + architecture)
    model.py    the network (nn.Module)
    task.py     the task as the engine sees it (engine.protocol.Task: batches, loss, metrics)
    <api>.py    the Python API class (fit, predict, save) and `load_saved`; it implements the inference
                protocol (deploy.protocol.InferenceModel) and imports no training framework
    cli.py      `lstmkit <task> <verb>`

The registry: every task's spec (tasks/<task>/__init__.py defines SPEC), read by the CLI, `lstmkit.load`,
`lstmkit datasets` and serving. Adding a task: write its package with a SPEC and list it in TASKS below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lstmkit.tasks.classify import SPEC as _CLASSIFY
from lstmkit.tasks.forecast import SPEC as _FORECAST
from lstmkit.tasks.language import SPEC as _LANGUAGE
from lstmkit.tasks.longrange import SPEC as _LONGRANGE
from lstmkit.tasks.spec import TaskSpec
from lstmkit.tasks.translate import SPEC as _TRANSLATE

TASKS: dict[str, TaskSpec] = {spec.name: spec for spec in (_FORECAST, _LANGUAGE, _CLASSIFY, _TRANSLATE, _LONGRANGE)}


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
    import torch

    from lstmkit.deploy.saved_model import CONFIG, ModelFileError, read_saved

    path = Path(path)
    if not (path / CONFIG).exists() and (path / "model" / CONFIG).exists():
        path = path / "model"  # a run directory: its saved model lives in model/
    saved = read_saved(path, device="cpu")
    if saved.task not in TASKS:
        raise ModelFileError(
            f"{path / CONFIG} names task {saved.task!r}, which this lstmkit does not know "
            f"(it knows {', '.join(TASKS)}): upgrade lstmkit or check the file"
        )
    return TASKS[saved.task].load_saved(saved, torch.device(device or "cpu"))


def load_as(path: str | Path, task: str, device: Any = None) -> Any:
    """`load(path)`, which must be a model of `task`; otherwise an error that says which command fits."""
    from lstmkit.errors import UsageError

    model = load(path, device)
    if model.task != task:
        raise UsageError(f"{path} is a {model.task} model, not a {task} one; use lstmkit {model.task} ...")
    return model


def export_model(model: Any, out: str | Path, exporter: str = "legacy", quantize: str | None = None) -> dict[str, Any]:
    """Export a loaded model to ONNX in `out` with its task's export plan (TaskSpec.exporter); returns the
    signature written (lstmkit.deploy.export does the tracing, parity checks and int8)."""
    from lstmkit.deploy.export import ExportError, export_plan
    from lstmkit.tasks.spec import resolve_ref

    spec = get_task(model.task)
    if not spec.exporter:
        raise ExportError(f"{model.task} models cannot be exported to ONNX yet")
    return export_plan(resolve_ref(spec.exporter)(model), out, exporter, quantize)


def load_onnx(path: str | Path, variant: str = "fp32", threads: int | None = None) -> Any:
    """An ONNX export (or the run/saved model holding it in onnx/) as its task's torch-free runtime object
    (TaskSpec.onnx_runtime over a deploy.onnx_runtime.OnnxRunner). Imports no torch."""
    from lstmkit.deploy.onnx_runtime import ExportFileError, OnnxRunner
    from lstmkit.tasks.spec import resolve_ref

    runner = OnnxRunner(path, variant, threads)
    spec = TASKS.get(runner.task)
    if spec is None or not spec.onnx_runtime:
        raise ExportFileError(f"{runner.root} is a {runner.task!r} export, which has no ONNX runtime in this lstmkit")
    return resolve_ref(spec.onnx_runtime)(runner)
