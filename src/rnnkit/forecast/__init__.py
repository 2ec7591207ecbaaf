"""Time-series forecasting with recurrent networks: :class:`Forecaster`, rolling-origin
:func:`backtest`, baselines and metrics.  See ``docs/forecasting.md``."""
from .backtest import backtest, format_report
from .baselines import ETS, SARIMA, AutoETS, Naive, SeasonalNaive, Theta, ets_available
from .data import read_csv
from .metrics import all_metrics, mae, mape, mase, rmse
from .model import Forecaster
from .panel import ForecasterPanel, fit_panel
from .transforms import Scaler, TargetTransform

__all__ = ["ETS", "SARIMA", "AutoETS", "Forecaster", "ForecasterPanel", "Naive", "Scaler", "SeasonalNaive",
           "TargetTransform", "Theta", "all_metrics", "backtest", "ets_available", "fit_panel", "format_report",
           "mae", "mape", "mase", "read_csv", "rmse"]
