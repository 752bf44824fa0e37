"""Time-series forecasting: one global LSTM over many series, quantiles, covariates, backtests.

    from lstmkit.tasks.forecast import Forecaster
    f = Forecaster(horizon=12).fit("air-passengers")
    f.predict("air-passengers")
"""

from lstmkit.tasks.forecast.config import ForecastConfig
from lstmkit.tasks.forecast.forecaster import Forecaster, load_saved

__all__ = ["ForecastConfig", "Forecaster", "load_saved"]
