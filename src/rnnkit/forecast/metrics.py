"""Point-forecast errors.  ``y``, ``f``: arrays of the same shape.

MAE  = mean |y − f|          RMSE = sqrt(mean (y − f)²)
MAPE = 100 · mean |y − f| / |y|   (steps with y = 0 left out)
MASE = MAE / mean_{t>m} |y_t − y_{t−m}| over the *training* series (Hyndman &
Koehler 2006; m = season length, 1 for non-seasonal): below 1 beats the in-sample
seasonal-naive forecast.
"""
from __future__ import annotations

import numpy as np


def mae(y, f):
    return float(np.mean(np.abs(np.asarray(y) - np.asarray(f))))


def rmse(y, f):
    return float(np.sqrt(np.mean((np.asarray(y) - np.asarray(f)) ** 2)))


def mape(y, f):
    y, f = np.asarray(y, float), np.asarray(f, float)
    ok = y != 0
    if not ok.any():
        return float("nan")
    return float(100.0 * np.mean(np.abs(y[ok] - f[ok]) / np.abs(y[ok])))


def mase_scale(train, m=1):
    """In-sample MAE of the seasonal-naive forecast on ``train`` (the MASE denominator)."""
    train = np.asarray(train, float)
    m = m if len(train) > m else 1
    d = np.abs(train[m:] - train[:-m])
    s = float(np.mean(d)) if d.size else 0.0
    return s if s > 0 else 1.0


def mase(y, f, train, m=1):
    return mae(y, f) / mase_scale(train, m)


def all_metrics(y, f, train, m=1):
    return {"MAE": mae(y, f), "RMSE": rmse(y, f), "MAPE": mape(y, f), "MASE": mase(y, f, train, m)}
