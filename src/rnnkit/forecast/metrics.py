"""Point-forecast errors.  ``y``, ``f``: arrays of the same shape.

MAE  = mean |y − f|          RMSE = sqrt(mean (y − f)²)
MAPE = 100 · mean |y − f| / |y|   (steps with y = 0 left out)
MASE = MAE / mean_{t>m} |y_t − y_{t−m}| over the *training* series (Hyndman &
Koehler 2006; m = season length, 1 for non-seasonal): below 1 beats the in-sample
seasonal-naive forecast.  Several series: the mean of their MASEs.
"""
from __future__ import annotations

import numpy as np

from .._checks import count


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
    """In-sample MAE of the seasonal-naive forecast on ``train`` (the MASE
    denominator): a float for a series ``(n,)``, one per column for ``(n, k)``.
    Missing values are left out; where the scale is 0 (a training part the
    seasonal-naive forecast fits exactly) or has no differences, it is NaN:
    MASE is undefined there, not the MAE."""
    m = count("the season length", m, 1)
    train = np.asarray(train, float)
    m = m if len(train) > m else 1
    d = np.abs(train[m:] - train[:-m])
    ok = np.isfinite(d)
    n = ok.sum(axis=0)
    s = np.where(ok, d, 0.0).sum(axis=0) / np.maximum(n, 1)
    s = np.where((n > 0) & (s > 0), s, np.nan)
    return float(s) if s.ndim == 0 else s


def mase(y, f, train, m=1):
    """MAE / :func:`mase_scale`; for several series (``train`` ``(n, k)``, ``y`` and
    ``f`` with ``k`` columns last) the mean of the per-series MASEs (Hyndman &
    Koehler scale each series by its own in-sample error; pooling would let the
    series of the largest scale decide), over the series where MASE is defined
    (NaN when it is defined for none)."""
    scale = mase_scale(train, m)
    if np.ndim(scale) == 0:
        return mae(y, f) / scale
    err = np.abs(np.asarray(y, float) - np.asarray(f, float)).reshape(-1, len(scale)).mean(axis=0)
    per = err / scale
    ok = np.isfinite(scale)
    return float(np.mean(per[ok])) if ok.any() else float("nan")     # series where it is defined


def all_metrics(y, f, train, m=1):
    return {"MAE": mae(y, f), "RMSE": rmse(y, f), "MAPE": mape(y, f), "MASE": mase(y, f, train, m)}
