"""Baselines that share the forecaster's ``fit(y)`` / ``predict(horizon, y=None)`` shape.

- ``Naive``: ``ŷ_{n+k} = y_n``.
- ``SeasonalNaive(m)``: ``ŷ_{n+k} = y_{n+k−m⌈k/m⌉}`` (last season repeated).
- ``ETS(m)``: statsmodels' Holt-Winters ``ExponentialSmoothing`` (additive trend,
  additive season when ``m > 1``), refitted on every history it is given;
  available only when statsmodels is installed (:func:`ets_available`).
"""
from __future__ import annotations

import numpy as np


def _as2d(y):
    y = np.asarray(y, float)
    return y[:, None] if y.ndim == 1 else y


class Naive:
    name = "naive"
    refit = False

    def fit(self, y):
        return self

    def predict(self, horizon, y):
        y = _as2d(y)
        return np.repeat(y[-1:], horizon, axis=0)


class SeasonalNaive:
    name = "seasonal_naive"
    refit = False

    def __init__(self, m=1):
        self.m = max(int(m), 1)

    def fit(self, y):
        return self

    def predict(self, horizon, y):
        y = _as2d(y)
        m = self.m if len(y) >= self.m else 1
        idx = [len(y) - m + (k % m) for k in range(horizon)]
        return y[idx]


def ets_available():
    try:
        import statsmodels  # noqa: F401
        return True
    except ImportError:
        return False


class ETS:
    name = "ets"
    refit = True

    def __init__(self, m=1, trend="add", damped=True):
        self.m, self.trend, self.damped = int(m), trend, damped

    def fit(self, y):
        return self

    def predict(self, horizon, y):
        import warnings

        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        y = _as2d(y)
        out = np.empty((horizon, y.shape[1]))
        for j in range(y.shape[1]):
            seasonal = "add" if self.m > 1 and len(y) >= 2 * self.m + 2 else None
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = ExponentialSmoothing(y[:, j], trend=self.trend, damped_trend=self.damped,
                                             seasonal=seasonal, seasonal_periods=self.m if seasonal else None,
                                             initialization_method="estimated").fit()
                out[:, j] = model.forecast(horizon)
        return out
