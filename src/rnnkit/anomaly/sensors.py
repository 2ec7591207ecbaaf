"""One detector per sensor, fitted in parallel (:mod:`rnnkit.parallel`).

A plant with many sensors is often better served by one small detector per
sensor than by one detector over all of them: each learns its own sensor's
normal behaviour and threshold, and an alert names the sensor.  The fits are
independent tasks, spread over ``n_jobs`` joblib workers, each with one BLAS
thread; sensor ``j`` is fitted with the ``j``-th seed of
:func:`rnnkit.parallel.task_seeds` ``(random_state, C)``, so the detectors, and
what they flag, do not depend on ``n_jobs``.
"""
from __future__ import annotations

import numpy as np

from .. import _frames
from ..parallel import run_tasks, task_seeds
from .detector import AnomalyDetector


def _columns(x, names=None, layout=None):
    """``(names, [(T,) column, ...])`` of a ``(T, C)`` table (array or DataFrame)."""
    if hasattr(x, "columns"):
        names = [str(c) for c in x.columns] if names is None else list(names)
    x = np.asarray(_frames.as_array(x), np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"pass a (T, C) table of sensors, got shape {x.shape}")
    if layout == "CT":
        x = x.T
    elif layout not in (None, "TC"):
        raise ValueError(f"layout must be 'TC' (time first) or 'CT' (channels first), got {layout!r}")
    names = [str(j) for j in range(x.shape[1])] if names is None else list(names)
    if len(names) != x.shape[1]:
        raise ValueError(f"{len(names)} name(s) for {x.shape[1]} sensor column(s); pass one name per column")
    return names, [x[:, j] for j in range(x.shape[1])]


def _fit_one(params, seed, column):
    return AnomalyDetector(**{**params, "random_state": seed}).fit(column)


def _detect_one(detector, column):
    return detector.detect(column)


def fit_sensors(x, n_jobs=None, names=None, layout=None, **params):
    """``{sensor name: fitted AnomalyDetector}``, one per column of ``x`` ``(T, C)``.

    Arguments:
        x: a ``(T, C)`` array or DataFrame (its column names are the sensor names).
        n_jobs: joblib workers (``None``: joblib's configured default, else one; ``-1``: all cores).
        names: sensor names for an array (default ``"0"``, ``"1"``, …).
        layout: ``"TC"`` (default) or ``"CT"`` for a channels-first array.
        params: :class:`AnomalyDetector` parameters, the same for every sensor;
            ``random_state`` (default 0) seeds the per-sensor seeds.
    """
    names, cols = _columns(x, names, layout)
    params = dict(params)
    seeds = task_seeds(params.pop("random_state", 0), len(cols))
    AnomalyDetector(**params)._check_params()                 # refuse bad parameters before any worker starts
    fitted = run_tasks(_fit_one, [(params, s, c) for s, c in zip(seeds, cols)], n_jobs)
    return dict(zip(names, fitted))


def detect_sensors(detectors, x, n_jobs=None, layout=None):
    """``{sensor name: detect result}`` of each sensor's detector over its column of ``x``
    (columns in the order and with the names the detectors were fitted with)."""
    names, cols = _columns(x, list(detectors) if not hasattr(x, "columns") else None, layout)
    missing = [n for n in detectors if n not in names]
    if missing:
        raise ValueError(f"no column for sensor(s) {missing}; the table has {names}")
    by_name = dict(zip(names, cols))
    out = run_tasks(_detect_one, [(detectors[n], by_name[n]) for n in detectors], n_jobs)
    return dict(zip(detectors, out))
