"""Predictive early alerts: warn *before* a series leaves its normal operating band.

A residual alarm (:class:`~rnnkit.anomaly.AnomalyDetector`) can only fire after
the fact: the forecast error grows once the anomaly is there.  :class:`EarlyWarning`
looks ahead instead.  At each forecast origin ``t`` a multi-step
:class:`rnnkit.forecast.Forecaster` (used through its public ``fit`` /
``predict(history, return_interval=True)`` only) predicts the next ``h`` steps
``p_{t+1..t+h}`` and their interval ``[lo, hi]``, and an alert is raised when

* ``trigger="point"``: the predicted path leaves the band, ``p_{t+k} > upper`` or
  ``p_{t+k} < lower`` for some ``k ≤ h``;
* ``trigger="interval"``: the interval does, ``hi_{t+k} > upper`` or
  ``lo_{t+k} < lower`` (earlier, and more false alerts);

or when the current value ``x_t`` is already outside (``crossing_in = 0``).
The band is the user's ``limits`` (``(lower, upper)``, a number or one per
column; ``None`` for a one-sided band), or is learned from the training series:
the ``band_quantiles`` of each column widened on each side by ``margin`` times
their distance.  Each alert reports the step it was raised, the expected time to
the crossing (``crossing_in``, steps ahead), the bound and the column.

Forecast origins are every ``every`` steps (``1``: every step; one
``Forecaster.predict`` call per origin, about a millisecond for ``lookback=48``,
``hidden_size=32``); between origins the last decision holds.  Flagged runs at most
``merge_gap`` steps apart form one alert, as in the detector.

``save(path)`` / ``EarlyWarning.load(path)`` write and read a fitted warning as one
rnnkit file of kind ``"early-warning"`` (:mod:`rnnkit.io.estimators`, as the detector
and the forecaster): the settings, the band and the forecaster's own file contents,
its arrays under ``forecaster.*``.
"""
from __future__ import annotations

import numpy as np

from .. import _frames
from .._checks import count, not_fitted
from .._params import Params, plain
from ..forecast.data import fill_missing
from ..io.estimators import EstimatorFile
from .evaluate import intervals


def _series(x, name="series"):
    try:
        x = np.asarray(_frames.as_array(x), np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the {name} must hold numbers ({exc}); convert the columns to floats first") from None
    x = x[:, None] if x.ndim == 1 else x
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"the {name} must be a non-empty (T,) or (T, C) array, got shape {x.shape}")
    if not np.isfinite(x).all():
        x = fill_missing(x, source=name)
    return x


class EarlyWarning(EstimatorFile, Params):
    """Predictive alerts from a multi-step forecast and a normal operating band;
    see the module docstring.

    Arguments:
        horizon: steps looked ahead ``h``.
        lookback, hidden_size, epochs, diff, alpha, lr, random_state: the forecaster's
            (``Forecaster(strategy="direct", cell="lstm", interval="holdout")``);
            ``diff=1`` (default) forecasts changes, so a level the network never saw
            in training is carried forward instead of pulled back to the training mean.
        limits: ``(lower, upper)``, each a number, one number per column, or ``None``
            (no bound on that side); ``None``: learned from the training series.
        band_quantiles, margin: the learned band, quantiles ``(q_lo, q_hi)`` of each
            training column widened by ``margin · (q_hi − q_lo)`` on each side.
        trigger: ``"point"`` (the predicted path) or ``"interval"`` (its interval).
        every: steps between forecast origins.
        merge_gap: flagged runs at most this many steps apart are one alert.

    Learned: ``forecaster_``, ``lower_``, ``upper_`` (``(C,)``, ``±inf`` where unbounded),
    ``n_features_``.  ``save(path)`` / ``EarlyWarning.load(path)``: one rnnkit file.
    """

    def __init__(self, horizon=20, lookback=48, hidden_size=32, epochs=30, diff=1, alpha=0.1, lr=0.01,
                 limits=None, band_quantiles=(0.005, 0.995), margin=0.1, trigger="point", every=1, merge_gap=20,
                 random_state=0):
        self.horizon, self.lookback, self.hidden_size, self.epochs = horizon, lookback, hidden_size, epochs
        self.diff, self.alpha, self.lr, self.random_state = diff, alpha, lr, random_state
        self.limits, self.band_quantiles, self.margin = limits, band_quantiles, margin
        self.trigger, self.every, self.merge_gap = trigger, every, merge_gap

    def _check_params(self):
        for n in ("horizon", "lookback", "hidden_size", "epochs", "every"):
            count(n, getattr(self, n), 1)
        count("diff", self.diff)
        count("merge_gap", self.merge_gap)
        if self.trigger not in ("point", "interval"):
            raise ValueError(f"trigger must be 'point' or 'interval', got {self.trigger!r}")
        q = self.band_quantiles
        if not (isinstance(q, (tuple, list)) and len(q) == 2 and 0 <= q[0] < q[1] <= 1):
            raise ValueError(f"band_quantiles must be a pair 0 <= q_lo < q_hi <= 1, got {plain(q)!r}")
        if isinstance(self.margin, bool) or not isinstance(self.margin, (int, float)) or not self.margin >= 0:
            raise ValueError(f"margin must be a number >= 0, got {plain(self.margin)!r}")
        if self.limits is not None and not (isinstance(self.limits, (tuple, list)) and len(self.limits) == 2):
            raise ValueError(f"limits must be a pair (lower, upper) (either may be None), got {self.limits!r}")

    def _band(self, x):
        C = x.shape[1]
        if self.limits is None:
            q_lo, q_hi = np.quantile(x, self.band_quantiles, axis=0)
            pad = self.margin * (q_hi - q_lo)
            return q_lo - pad, q_hi + pad
        out = []
        for side, v in zip(("lower", "upper"), self.limits):
            if v is None:
                out.append(np.full(C, -np.inf if side == "lower" else np.inf))
                continue
            v = np.asarray(v, np.float64).reshape(-1)
            if v.size not in (1, C) or not np.all(np.isfinite(v)):
                raise ValueError(f"the {side} limit must be a finite number or {C} of them (one per column), "
                                 f"got {plain(self.limits[side == 'upper'])!r}")
            out.append(np.broadcast_to(v, (C,)).copy())
        if np.any(out[0] >= out[1]):
            raise ValueError(f"limits must have lower < upper, got {self.limits!r}")
        return out[0], out[1]

    def _check_fitted(self):
        if not hasattr(self, "forecaster_"):
            raise not_fitted(self)

    def fit(self, x):
        """Fit the forecaster on a (normal) series ``x`` ``(T,)`` or ``(T, C)`` and set
        the band (``limits``, or learned from ``x``)."""
        from ..forecast import Forecaster

        self._check_params()
        x = _series(x)
        lower, upper = self._band(x)
        f = Forecaster(lookback=self.lookback, horizon=self.horizon, strategy="direct", cell="lstm",
                       hidden_size=self.hidden_size, num_layers=1, scaler="standard", diff=self.diff,
                       seasonal_diff=0, season=1, epochs=self.epochs, batch_size=32, lr=self.lr, clip=1.0,
                       alpha=self.alpha, calibration=0.3, interval="holdout", random_state=self.random_state)
        self.forecaster_ = f.fit(x)
        self.lower_, self.upper_, self.n_features_ = lower, upper, x.shape[1]
        return self

    def warn(self, x, start=0):
        """Run over ``x`` ``(T, C)`` (history included: the first forecast origin needs
        ``lookback + diff`` steps before it); origins are ``start, start + every, …``.

        Returns ``{"flags", "crossing_in", "bound", "column", "alerts", "lower", "upper"}``:
        per step ``(T,)`` whether a crossing is expected within the horizon, the steps
        to it (NaN: none), ``+1``/``−1`` (upper/lower, 0: none) and the column
        (−1: none); ``alerts``: one dict per merged alert, ``{"time", "end",
        "crossing_in", "expected_crossing", "bound", "column"}`` as of its first step."""
        self._check_fitted()
        x = _series(x)
        if x.shape[1] != self.n_features_:
            raise ValueError(f"the early warning was fitted on {self.n_features_} column(s), got {x.shape[1]}")
        T, need = len(x), self.lookback + self.diff
        count("start", start)
        eta = np.full(T, np.nan)
        bound = np.zeros(T, np.int8)
        column = np.full(T, -1)
        decision = (np.nan, 0, -1)
        for t in range(start, T):
            if (t - start) % self.every == 0:
                decision = self._look_ahead(x, t, need)
            eta[t], bound[t], column[t] = decision
        flags = ~np.isnan(eta)
        alerts = []
        for a, b in intervals(flags, self.merge_gap):
            alerts.append({"time": a, "end": b, "crossing_in": int(eta[a]), "expected_crossing": a + int(eta[a]),
                           "bound": "upper" if bound[a] > 0 else "lower", "column": int(column[a])})
        return {"flags": flags, "crossing_in": eta, "bound": bound, "column": column, "alerts": alerts,
                "lower": self.lower_, "upper": self.upper_}

    def _look_ahead(self, x, t, need):
        """``(steps to crossing, bound sign, column)`` seen from origin ``t`` (``x[t]``
        known), or ``(nan, 0, -1)``."""
        now = x[t]
        hit = self._crossing(now[None], now[None])
        if hit is not None:
            return (0.0, *hit[1:])
        if t + 1 < need:
            return np.nan, 0, -1
        p, (lo, hi) = self.forecaster_.predict(x[t + 1 - need: t + 1], return_interval=True)   # (h, C) each
        hit = self._crossing(p, p) if self.trigger == "point" else self._crossing(lo, hi)
        if hit is None:
            return np.nan, 0, -1
        return (float(hit[0] + 1), *hit[1:])

    def _crossing(self, lo, hi):
        """First ``(step, sign, column)`` where ``hi > upper`` or ``lo < lower``, else None."""
        up, down = hi > self.upper_, lo < self.lower_                     # (k, C)
        bad = up | down
        if not bad.any():
            return None
        k, j = np.argwhere(bad)[0]
        return int(k), (1 if up[k, j] else -1), int(j)

    # -- files --------------------------------------------------------------------------------
    FILE_KIND = "early-warning"               # save / load: rnnkit.io.estimators
    _PREFIX = "forecaster."

    def _file_contents(self):
        f_config, f_arrays = self.forecaster_._file_contents()
        config = {"params": self.plain_params(), "n_features": self.n_features_,
                  "lower": _bound_list(self.lower_), "upper": _bound_list(self.upper_), "forecaster": f_config}
        return config, {self._PREFIX + k: v for k, v in f_arrays.items()}

    @classmethod
    def _from_file(cls, cfg, a):
        from ..forecast import Forecaster

        params = dict(cfg["params"])
        for k in ("limits", "band_quantiles"):          # pairs come back from JSON as lists
            if isinstance(params.get(k), list):
                params[k] = tuple(params[k])
        self = cls(**params)
        self._check_params()                         # as fit checks them: a hand-edited file is refused
        C = cfg["n_features"]
        lower, upper = _bound_array(cfg["lower"], -np.inf), _bound_array(cfg["upper"], np.inf)
        if isinstance(C, bool) or not isinstance(C, int) or C < 1 or lower.shape != (C,) or upper.shape != (C,):
            raise ValueError(f"the band holds {lower.size} lower and {upper.size} upper limit(s) for {C!r} column(s)")
        f = Forecaster._from_file(cfg["forecaster"], {k[len(cls._PREFIX):]: v for k, v in a.items()
                                                      if k.startswith(cls._PREFIX)})
        if f.n_targets_ != C or f.horizon != self.horizon or f.lookback != self.lookback:
            raise ValueError(f"the forecaster (horizon {f.horizon}, lookback {f.lookback}, {f.n_targets_} column(s)) "
                             f"does not match the warning's (horizon {self.horizon}, lookback {self.lookback}, "
                             f"{C} column(s))")
        self.forecaster_, self.lower_, self.upper_, self.n_features_ = f, lower, upper, C
        return self


def _bound_list(v):
    """A band side ``(C,)`` as JSON: numbers, ``None`` where unbounded (``±inf``)."""
    return [None if np.isinf(b) else float(b) for b in v]


def _bound_array(v, open_side):
    """:func:`_bound_list` read back: ``(C,)`` float64, ``None`` as ``open_side``."""
    if not isinstance(v, list):
        raise ValueError(f"a band side must be a list of numbers, got {type(v).__name__}")
    return np.array([open_side if b is None else float(b) for b in v], np.float64)
