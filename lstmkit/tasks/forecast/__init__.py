"""Time-series forecasting: one global LSTM over many series, quantiles, covariates, backtests.

    from lstmkit.tasks.forecast import Forecaster
    f = Forecaster(horizon=12).fit("air-passengers")
    f.predict("air-passengers")
"""

from __future__ import annotations

from typing import Any

from lstmkit.engine.config import TrainConfig
from lstmkit.tasks.spec import TaskSpec

SPEC = TaskSpec(
    name="forecast",
    summary="forecast time series: one or many series, covariates, quantiles, backtests",
    config="lstmkit.tasks.forecast.config:ForecastConfig",
    api="lstmkit.tasks.forecast.forecaster:Forecaster",
    loader="lstmkit.tasks.forecast.forecaster:load_saved",
    cli="lstmkit.tasks.forecast.cli:register_cli",
    train_defaults=TrainConfig(epochs=10, lr=3e-3, batch_size=64, early_stopping=4),
)

_LAZY = {"ForecastConfig": "config", "Forecaster": "forecaster", "load_saved": "forecaster"}
__all__ = ["SPEC", *_LAZY]


def __getattr__(name: str) -> Any:
    """The task's pieces, imported on first use (the registry reads SPEC without importing torch)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
