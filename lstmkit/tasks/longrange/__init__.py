"""Long-range memory tasks: generated problems whose answer depends on something seen long before, and
fixed sequence datasets read step by step; LSTM vs GRU vs RNN under one budget.

    from lstmkit.tasks.longrange import LongRangeModel
    m = LongRangeModel(problem="adding", length=100).fit()
    m.evaluate()
"""

from __future__ import annotations

from lstmkit.engine.config import TrainConfig
from lstmkit.tasks.spec import Capabilities, TaskSpec, lazy_exports

# fp32 by default: bf16 autocast was measured to distort 1,000-step memories (BENCHMARKS.md, long-range notes)
SPEC = TaskSpec(
    name="longrange",
    summary="long-range memory problems: adding, copy, order, Reber, sequential digits",
    config="lstmkit.tasks.longrange.config:LongRangeConfig",
    api="lstmkit.tasks.longrange.lab:LongRangeModel",
    loader="lstmkit.tasks.longrange.lab:load_saved",
    cli="lstmkit.tasks.longrange.cli:register_cli",
    capabilities=Capabilities(inputs="sequence"),
    datasets="lstmkit.tasks.longrange.datasets:datasets",
    examples="lstmkit.tasks.longrange.examples",
    exporter="lstmkit.tasks.longrange.onnx:export_plan",
    train_defaults=TrainConfig(epochs=15, lr=5e-3, batch_size=64, precision="32"),
    data_flag="problem",
)

_LAZY = {
    "LongRangeConfig": "config",
    "PROBLEMS": "config",
    "LongRangeModel": "lab",
    "compare": "lab",
    "CELL_CHOICES": "lab",
    "load_saved": "lab",
    "LongRangeTask": "task",
    "build_model": "model",
    "hidden_size_for": "model",
    "parameter_count": "model",
    "SequenceModel": "model",
}
__all__ = ["SPEC", *_LAZY]

__getattr__ = lazy_exports(__name__, _LAZY)  # the pieces, imported on first use (SPEC needs no torch)
