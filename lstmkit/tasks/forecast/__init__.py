"""Time-series forecasting: one global LSTM over many series, quantiles, covariates, backtests.

from lstmkit.tasks.forecast import Forecaster
f = Forecaster(horizon=12).fit("air-passengers")
f.predict("air-passengers")
"""

from __future__ import annotations

from lstmkit.engine.config import TrainConfig
from lstmkit.tasks.spec import Capabilities, TaskSpec, lazy_exports

SPEC = TaskSpec(
    name="forecast",
    summary="forecast time series: one or many series, covariates, quantiles, backtests",
    config="lstmkit.tasks.forecast.config:ForecastConfig",
    api="lstmkit.tasks.forecast.forecaster:Forecaster",
    loader="lstmkit.tasks.forecast.forecaster:load_saved",
    cli="lstmkit.tasks.forecast.cli:register_cli",
    capabilities=Capabilities(stateful=True, inputs="series"),
    datasets="lstmkit.tasks.forecast.datasets:datasets",
    examples="lstmkit.tasks.forecast.examples",
    exporter="lstmkit.tasks.forecast.onnx:export_plan",
    onnx_runtime="lstmkit.tasks.forecast.onnx_runtime:load",
    models=(("pretrained", "lstmkit.tasks.forecast:pretrained_model"),),  # benchmarks/pretrain_forecaster.py
    train_defaults=TrainConfig(epochs=10, lr=3e-3, batch_size=64, early_stopping=4),
)

_LAZY = {"ForecastConfig": "config", "Forecaster": "forecaster", "load_saved": "forecaster"}
__all__ = ["SPEC", *_LAZY]

__getattr__ = lazy_exports(__name__, _LAZY)  # the pieces, imported on first use (SPEC needs no torch)
