"""Rolling-origin evaluation (Tashman 2000).

The model is fitted once on ``y[:first]`` (``refit=False``) and then, for each
origin ``o = first, first+step, …, n−h``, forecasts ``y[o:o+h]`` from the history
``y[:o]``; with ``refit=True`` a fresh copy of it (same parameters, same seed) is
fitted on ``y[:o]`` at every origin instead.  Baselines take the same origins; ETS
refits at every origin.  The refits and the baselines' forecasts are independent
tasks, run through :func:`rnnkit.parallel.run_tasks` (``n_jobs``): the results do
not depend on the number of workers or the joblib backend.
Metrics are pooled over all origins and horizon steps; MASE is scaled by the
seasonal-naive MAE on ``y[:first]``.
"""
from __future__ import annotations

import numpy as np

from .._checks import count
from .._frames import as_array
from ..parallel import run_tasks
from ..progress import progress
from .baselines import ETS, Naive, SeasonalNaive, ets_available
from .metrics import all_metrics


def origins(n, first, horizon, step=1):
    for name, v in (("first", first), ("horizon", horizon), ("step", step)):
        count(name, v, 1)
    out = list(range(first, n - horizon + 1, step))
    if not out:
        raise ValueError(f"no forecast origin: series of {n} steps, training part {first}, horizon {horizon}")
    return out


def backtest(model, y, first, step=1, season=1, past_covariates=None, future_covariates=None,
             baselines=True, fit=True, verbose=False, refit=False, n_jobs=None):
    """``y`` ``(T,)``/``(T, C)`` (or a pandas Series/DataFrame); the arrays returned are
    always 3-D, one column per target even for a 1-D ``y``.  ``verbose``: a progress
    bar (plain lines off a terminal, :mod:`rnnkit.progress`) over the forecasts made.

    ``baselines``: ``True`` (naive, seasonal naive and, with statsmodels, ETS), ``False``
    (none) or a list of baseline objects (``.name``, ``.predict(horizon, history)``, e.g.
    :class:`~rnnkit.forecast.baselines.AutoETS`).  ``refit``: fit a copy of ``model`` (its
    parameters and seed) on ``y[:o]`` at every origin ``o``; ``model`` itself is then
    left unfitted and ``fit`` is ignored.  ``n_jobs``: joblib workers for the refits
    and the baselines' forecasts (``None``: the enclosing ``joblib.parallel_config``'s,
    else one); each task runs with one BLAS thread.

    Returns ``{"origins": [...], "forecasts": {name: (N, h, C)}, "actuals": (N, h, C),
    "metrics": {name: {MAE, RMSE, MAPE, MASE}}, "interval": {"lower", "upper", "coverage",
    "nominal"}}``; ``coverage`` is the share of actuals inside the RNN's intervals."""
    y = np.asarray(as_array(y), float)               # a pandas Series/DataFrame is read by position
    y = y[:, None] if y.ndim == 1 else y
    if not np.isfinite(y).all():                         # the actuals are what every model is scored on
        bad = np.argwhere(~np.isfinite(y))[0]
        raise ValueError(f"y has {int((~np.isfinite(y)).sum())} missing or infinite value(s) (first at step "
                         f"{bad[0]}, column {bad[1]}); a backtest scores forecasts against them: fill them first "
                         "(e.g. rnnkit.forecast.data.fill_missing(y))")
    h = model.horizon
    orig = origins(len(y), first, h, step)
    count("the season length", season, 1)               # checked before anything is fitted
    past, fut = as_array(past_covariates), as_array(future_covariates)
    cut = lambda a, k: None if a is None else a[:k]     # noqa: E731
    if baselines is True:
        models = [Naive(), SeasonalNaive(season)] + ([ETS(season)] if ets_available() else [])
    else:
        models = list(baselines or [])
    names = [b.name for b in models]
    if "rnn" in names or len(set(names)) < len(names):
        raise ValueError(f"baselines {names} repeat a name (or use 'rnn', the model's); give each its own .name")
    if fit and not refit:                                # before the bar: a failed fit prints no progress line
        model.fit(y[:first], cut(past, first), cut(fut, first))
    bar = progress(len(orig) * (1 + len(models)), "forecast eval", disable=not verbose, unit="forecast")
    if refit:
        params = model.get_params()
        runs = run_tasks(_refit_predict, [(type(model), params, y[:o], cut(past, o), cut(fut, o),
                                           cut(fut, o + h)) for o in orig], n_jobs)
        bar.update(len(orig))
    else:
        runs = [_counted(bar, model.predict(y[:o], cut(past, o), cut(fut, o + h), return_interval=True))
                for o in orig]
    fc = {"rnn": np.array([f for f, _ in runs])}
    lower, upper = np.array([lo for _, (lo, _) in runs]), np.array([hi for _, (_, hi) in runs])
    for b in models:                                     # one baseline at a time: the bar moves between them
        fc[b.name] = np.array(run_tasks(_baseline_predict, [(b, h, y[:o]) for o in orig], n_jobs))
        bar.update(len(orig))
    bar.close()
    actual = np.array([y[o: o + h] for o in orig])
    metrics = {k: all_metrics(actual, v, y[:first], season) for k, v in fc.items()}
    coverage = float(np.mean((actual >= lower) & (actual <= upper)))
    return {"origins": orig, "forecasts": fc, "actuals": actual, "metrics": metrics,
            "interval": {"lower": lower, "upper": upper, "coverage": coverage, "nominal": 1 - model.alpha}}


def _counted(bar, value):
    """``value``, one forecast more on ``bar``."""
    bar.update(1)
    return value


def _refit_predict(cls, params, y, past, fut, fut_ahead):
    """A fresh ``cls(**params)`` fitted on the history ``y``; its forecast and interval after it."""
    model = cls(**params).fit(y, past, fut)
    return model.predict(y, past, fut_ahead, return_interval=True)


def _baseline_predict(baseline, horizon, y):
    return baseline.predict(horizon, y)


def format_report(metrics):
    names = ["MAE", "RMSE", "MAPE", "MASE"]
    lines = [f"{'model':16s}" + "".join(f"{n:>12s}" for n in names)]
    for k, m in metrics.items():
        lines.append(f"{k:16s}" + "".join(f"{m[n]:12.4f}" for n in names))
    return "\n".join(lines)
