"""Baselines that share the forecaster's ``fit(y)`` / ``predict(horizon, y=None)`` shape.

- ``Naive``: ``ŷ_{n+k} = y_n``.
- ``SeasonalNaive(m)``: ``ŷ_{n+k} = y_{n+k−m⌈k/m⌉}`` (last season repeated).
- ``ETS(m)``: statsmodels' Holt-Winters ``ExponentialSmoothing`` (additive trend,
  additive season when ``m > 1``), refitted on every history it is given;
  available only when statsmodels is installed (:func:`ets_available`).
- ``AutoETS(m)``: statsmodels' state-space ``ETSModel``, the error / trend / season
  form chosen by AICc at every history (Hyndman et al. 2002, 2008).
- ``SARIMA(m)``: the airline model ``(0,1,1)(0,1,1)_m`` when ``m > 1`` (Box &
  Jenkins); otherwise ``(p,d,q)`` with ``d`` from a KPSS test and ``p, q ≤ 2`` (and a
  drift when ``d = 1``) chosen by AICc.
- ``Theta(m)``: statsmodels' ``ThetaModel`` (Assimakopoulos & Nikolopoulos 2000, as
  Hyndman & Billah 2003 state it), deseasonalised when ``m > 1`` and a test finds a season.

The statsmodels baselines refit on every history they are given (``refit = True``)
and forecast each column of a 2-D history separately.
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


def _per_column(fn, horizon, y):
    """``fn(series, horizon)`` for each column of ``y``, as ``(horizon, C)``, statsmodels' warnings hushed."""
    import warnings

    y = _as2d(y)
    out = np.empty((horizon, y.shape[1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for j in range(y.shape[1]):
            out[:, j] = fn(y[:, j], horizon)
    return out


class AutoETS:
    """ETS with the form chosen by AICc: error ``add``/``mul``, trend none / ``add`` /
    damped ``add``, season none / ``add`` / ``mul`` (when ``m > 1`` and the history
    holds two seasons and two steps more); multiplicative parts only for a positive
    series, and never an additive error with a multiplicative season (R's
    ``forecast::ets`` leaves those out as numerically unstable).  ``chosen_``: the
    form picked at the last history, e.g. ``"ETS(M,Ad,M)"``."""
    name = "auto_ets"
    refit = True

    def __init__(self, m=1):
        self.m = max(int(m), 1)

    def fit(self, y):
        return self

    def _one(self, y, horizon):
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel

        positive = bool(np.all(y > 0))
        seasons = [None] + (["add", "mul"] if self.m > 1 and len(y) >= 2 * self.m + 2 else [])
        best = None
        for error in ["add", "mul"] if positive else ["add"]:
            for trend, damped in ((None, False), ("add", False), ("add", True)):
                for season in seasons:
                    if season == "mul" and (error == "add" or not positive):
                        continue
                    try:
                        res = ETSModel(y, error=error, trend=trend, damped_trend=damped, seasonal=season,
                                       seasonal_periods=self.m if season else None).fit(disp=False)
                        f = np.asarray(res.forecast(horizon), float)
                    except (ValueError, np.linalg.LinAlgError, ZeroDivisionError):
                        continue
                    if np.isfinite(res.aicc) and np.all(np.isfinite(f)) and (best is None or res.aicc < best[0]):
                        form = "ETS(%s,%s,%s)" % (error[0].upper(), "N" if trend is None else "Ad" if damped else "A",
                                                  "N" if season is None else season[0].upper())
                        best = (res.aicc, f, form)
        if best is None:
            raise ValueError(f"no ETS form could be fitted to a history of {len(y)} steps; pass a longer series")
        self.chosen_ = best[2]
        return best[1]

    def predict(self, horizon, y):
        return _per_column(self._one, horizon, y)


class SARIMA:
    """The airline model ``(0,1,1)(0,1,1)_m`` for ``m > 1`` (and a history of at least
    ``2m + 2`` steps); otherwise a small automatic ARIMA: ``d = 1`` when the KPSS
    test rejects level stationarity at 5 %, then ``p, q ∈ {0, 1, 2}`` with a constant
    (``d = 0``) or with and without a drift (``d = 1``), the lowest AICc kept.
    ``chosen_``: the order picked at the last history."""
    name = "sarima"
    refit = True

    def __init__(self, m=1):
        self.m = max(int(m), 1)

    def fit(self, y):
        return self

    def _one(self, y, horizon):
        from statsmodels.tsa.statespace.sarimax import SARIMAX

        if self.m > 1 and len(y) >= 2 * self.m + 2:
            res = SARIMAX(y, order=(0, 1, 1), seasonal_order=(0, 1, 1, self.m)).fit(disp=False)
            self.chosen_ = f"(0,1,1)(0,1,1){self.m}"
            return np.asarray(res.forecast(horizon), float)
        from statsmodels.tsa.stattools import kpss

        d = int(kpss(y, regression="c", nlags="auto")[1] < 0.05)
        best = None
        for p in range(3):
            for q in range(3):
                for trend in (["n", "t"] if d else ["c"]):
                    try:
                        res = SARIMAX(y, order=(p, d, q), trend=trend).fit(disp=False)
                        f = np.asarray(res.forecast(horizon), float)
                    except (ValueError, np.linalg.LinAlgError):
                        continue
                    if np.isfinite(res.aicc) and np.all(np.isfinite(f)) and (best is None or res.aicc < best[0]):
                        best = (res.aicc, f, f"({p},{d},{q}){' drift' if trend == 't' else ''}")
        if best is None:
            raise ValueError(f"no ARIMA order could be fitted to a history of {len(y)} steps; pass a longer series")
        self.chosen_ = best[2]
        return best[1]

    def predict(self, horizon, y):
        return _per_column(self._one, horizon, y)


class Theta:
    """statsmodels' ``ThetaModel`` (method ``"auto"``): simple exponential smoothing
    plus half the linear trend, on the series deseasonalised (multiplicatively for a
    positive series) when ``m > 1`` and statsmodels' seasonality test finds a season."""
    name = "theta"
    refit = True

    def __init__(self, m=1):
        self.m = max(int(m), 1)

    def fit(self, y):
        return self

    def _one(self, y, horizon):
        from statsmodels.tsa.forecasting.theta import ThetaModel

        seasonal = self.m > 1 and len(y) >= 2 * self.m
        res = ThetaModel(y, period=self.m if seasonal else 1, deseasonalize=seasonal).fit()
        return np.asarray(res.forecast(horizon), float)

    def predict(self, horizon, y):
        return _per_column(self._one, horizon, y)
