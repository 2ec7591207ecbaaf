"""The recurrent forecaster, in two forms (``method``):

- ``"hybrid"`` (what ``method="auto"`` gives with no windowed-network setting):
  exponential smoothing of level, trend and season and an LSTM on the smoothed,
  normalised series, trained jointly (:mod:`.hybrid`), an ensemble over seeds
  (:mod:`.ensemble`), its ``"auto"`` settings decided on the data (:mod:`.auto`);
- ``"window"``: an LSTM/GRU over a lookback window of the transformed target, a
  dense head, as below.

Per window ending at time ``t`` (``L`` = ``lookback``, ``h`` = ``horizon``)::

    u_s   = [w_s, past_s, fut_s]            s = t−L+1 … t        (L, C+P+F)
    h_t   = RNN(u_{t−L+1..t})[-1]                                 (H,)
    ŵ     = Dense([h_t, fut_{t+1..t+h'}])                          (h'·C,)

``w`` is the transformed target (:mod:`.transforms`), ``past`` the past-only
covariates (known up to ``t``), ``fut`` the known-future covariates (known for
the forecast steps too).  ``strategy="direct"``: ``h' = h``, one multi-output
head.  ``strategy="recursive"``: ``h' = 1``, the prediction is fed back ``h``
times (not possible with past-only covariates, whose future is unknown).
Loss: MSE on ``ŵ``; Adam; gradient clipping by global norm.

Prediction intervals (both forms): ``forecast ∓ q_k``, split-conformal: ``q_k`` the
``⌈(N+1)(1−α)⌉``-th smallest of ``N`` absolute residuals of horizon step ``k``
(non-decreasing in ``k``; of the log for a hybrid on the log) at forecast origins in
the last ``calibration`` fraction of the training series:
``interval="holdout"`` (default) predicts them with a model fitted on the part
before (out of sample), then refits on everything; ``"insample"`` uses the final
model (cheaper, narrower).

The hybrid's holdout also chooses the forecast (``settings_["forecast"]``, one of
:data:`CANDIDATES`): the hybrid, the smoothing plus half the network's correction,
the smoothing alone, or seasonal naive, whichever has the least mean absolute error
at those held-out origins (the training series only; the first of equals wins).
With a trend, the hybrid is trained there twice, with Holt's trend and with a damped
one (``settings_["damped"]``), and the three blends of each compete.
"""
from __future__ import annotations

import logging

import numpy as np

from .. import _frames
from .._checks import count, finite_number, not_fitted
from ..callbacks import Validation, check_control_params, needs_validation, stop_reason, training_controls
from .._params import Params, keeps_fitted_state_on_failure, plain
from ..io import estimators
from ..io.estimators import EstimatorFile
from ..layers import Dense
from ..losses import mse
from ..optim import Adam
from ..registry import build_layer, check_cell
from ..training import Callback, Trainer, joint_grads, joint_parameters
from .auto import detect_season, has_drift, n_diffs, seasonally_adjusted, wants_log
from .baselines import SeasonalNaive
from .data import fill_missing
from .ensemble import HybridEnsemble
from .transforms import SCALERS, Scaler, TargetTransform

log = logging.getLogger("rnnkit")


def _is_dates(index):
    """Whether ``index`` is a pandas ``DatetimeIndex`` (its frequency gives a season)."""
    return index is not None and "datetime" in str(getattr(index, "dtype", ""))


def _as2d(a, name):
    if a is None:
        return None
    try:
        a = np.asarray(_frames.as_array(a), dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must hold numbers ({exc}); convert the columns to floats first") from None
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{name} must be 1-D (T,) or 2-D (T, C), got shape {a.shape}")
    if not np.isfinite(a).all():
        a = fill_missing(a, source=name)
    return a


AUTO = "auto"
WINDOW_ONLY = ("lookback", "scaler", "diff", "seasonal_diff")      # given: method="auto" is the windowed network
WINDOW_DEFAULTS = {"lookback": 24, "scaler": "standard", "diff": 0, "seasonal_diff": 0, "season": 1,
                   "epochs": 100, "ensemble": 1}
HYBRID_EPOCHS, HYBRID_MEMBERS = 50, 5
# the forecasts the hybrid's holdout chooses between: name -> share of the network's correction
# (None: seasonal naive, which needs no network); the first of equals wins
CANDIDATES = {"hybrid": 1.0, "half_network": 0.5, "smoothing": 0.0, "seasonal_naive": None}


def seasonal_naive(y, m, h):
    """The last season of ``y`` ``(T, C)`` repeated over ``h`` steps: ``(h, C)``
    (:class:`.baselines.SeasonalNaive`'s forecast)."""
    return SeasonalNaive(m).predict(h, y)


def conformal_quantiles(res, alpha):
    """Per-step interval bounds ``∓q_k`` from residuals ``res`` ``(N, h, C)`` (split
    conformal, Lei et al. 2018): ``q_k`` the ``⌈(N+1)(1 − α)⌉``-th smallest ``|residual|``
    of step ``k`` (the largest when ``N`` is too small for the level), then made
    non-decreasing over the steps (a later step is never surer) -> ``(2, h, C)``."""
    r = np.sort(np.abs(res), axis=0)
    n = len(r)
    q = np.maximum.accumulate(r[min(int(np.ceil((n + 1) * (1 - alpha))), n) - 1], axis=0)   # (h, C)
    return np.stack([-q, q])


def _auto(v):
    return isinstance(v, str) and v == AUTO


def hybrid_lookback(n, m, h):
    """The hybrid's window when ``lookback="auto"``: two seasons (at least 12 steps),
    cut to a third of what the series leaves after one horizon (at least 2)."""
    return int(max(2, min(max(2 * m, 12), (n - h) // 3)))


class Forecaster(EstimatorFile, Params):
    """Scikit-learn-style recurrent forecaster; see the module docstring.

    Arguments:
        method: ``"hybrid"`` (exponential smoothing and an LSTM trained jointly,
            :mod:`.hybrid`), ``"window"`` (the windowed network above) or ``"auto"``
            (default): the hybrid, unless a setting only the windowed network has is
            given (``lookback``, ``scaler``, ``diff``, ``seasonal_diff``), or
            ``strategy="recursive"``, covariates, or several target columns.
        lookback: window length ``L`` fed to the network (>= 1); ``"auto"``: the
            hybrid's :func:`hybrid_lookback`, 24 for the windowed network.
        horizon: steps ahead ``h`` (>= 1).
        strategy: ``"direct"`` or ``"recursive"`` (windowed network only).
        cell, hidden_size, num_layers: the recurrent part.
        scaler: ``"standard"``, ``"minmax"``, ``"log"`` or ``"none"``; ``"auto"``: the
            hybrid takes the log when the spread grows with the level
            (:func:`.auto.wants_log`), the windowed network ``"standard"``.
        diff, seasonal_diff: differencing orders; ``"auto"``: the hybrid carries a
            trend when the KPSS test asks for two differences, or one and the series
            drifts (:func:`.auto.n_diffs`, :func:`.auto.has_drift`), and smooths the
            season instead of differencing it; the windowed network does not difference.
            Given to the hybrid: ``diff >= 1`` is a trend; ``scaler="log"`` the log, any
            other scaler none.
        season: season length ``m``; ``"auto"``: from a pandas index's frequency or
            the autocorrelation (:func:`.auto.detect_season`).
        epochs, batch_size, lr, clip: training (``epochs="auto"``: 50 for the
            hybrid, 100 for the windowed network).
        ensemble: networks trained from seeds ``random_state + i``, forecast = their
            median; ``"auto"``: 5 for the hybrid (the windowed network trains one).
        alpha: interval miss rate (0.1 → 90 % intervals).
        calibration, interval: the tail fraction used for interval residuals, and
            ``"holdout"`` (out of sample, refit; default) or ``"insample"``.  For the
            hybrid the holdout also chooses the forecast and the trend's damping (see
            the module docstring); ``"insample"`` keeps the full, undamped hybrid.
        random_state: int seed for weights and shuffling.
        early_stopping: None/False: off; an int: stop after that many epochs without a
            lower validation loss (True: 10), best weights restored (:mod:`rnnkit.callbacks`).
        validation_fraction: the last share of the training windows held out (in time
            order) for early stopping or ``lr_schedule="plateau"``.
        lr_schedule: ``None``, ``"step"``, ``"cosine"`` or ``"plateau"`` (over ``epochs``).

    Learned: ``settings_`` (the ``"auto"`` settings as resolved: ``method``,
    ``lookback``, ``season``, ``log``/``scaler``, ``trend``/``diff``, ..., and the
    hybrid's ``forecast``: what its holdout chose, see the module docstring),
    ``loss_curve_``, ``val_loss_curve_`` (when validating), ``n_epochs_``,
    ``stop_reason_`` (of the final training; the first member's for an ensemble),
    ``residual_quantiles_``, ``holdout_errors_`` (the hybrid's candidate forecasts'
    mean absolute errors at the held-out origins, when it chose between them; not
    saved in files); the windowed network's ``rnn_``, ``head_`` and scalers,
    or the hybrid's ``ensemble_`` (:class:`.ensemble.HybridEnsemble`).
    """

    def __init__(self, lookback=AUTO, horizon=1, strategy="direct", cell="lstm", hidden_size=32,
                 num_layers=1, scaler=AUTO, diff=AUTO, seasonal_diff=AUTO, season=AUTO, epochs=AUTO,
                 batch_size=32, lr=0.01, clip=1.0, alpha=0.1, calibration=0.3, interval="holdout",
                 random_state=0, early_stopping=None, validation_fraction=0.1, lr_schedule=None,
                 method=AUTO, ensemble=AUTO):
        self.lookback, self.horizon, self.strategy, self.cell = lookback, horizon, strategy, cell
        self.hidden_size, self.num_layers, self.scaler = hidden_size, num_layers, scaler
        self.diff, self.seasonal_diff, self.season = diff, seasonal_diff, season
        self.epochs, self.batch_size, self.lr, self.clip = epochs, batch_size, lr, clip
        self.alpha, self.calibration, self.random_state = alpha, calibration, random_state
        self.interval = interval
        self.early_stopping, self.validation_fraction = early_stopping, validation_fraction
        self.lr_schedule = lr_schedule
        self.method, self.ensemble = method, ensemble

    # -- checks ------------------------------------------------------------------------
    @property
    def n_features_in_(self):
        """Columns of the series the model was fitted on (scikit-learn's name)."""
        return self.n_targets_

    def _check_params(self):
        for name in ("horizon", "hidden_size", "num_layers", "batch_size"):
            count(name, getattr(self, name), 1)
        for name in ("lookback", "season", "epochs", "ensemble"):
            if not _auto(getattr(self, name)):
                count(name, getattr(self, name), 1)
        if self.method not in ("auto", "hybrid", "window"):
            raise ValueError(f"method must be 'auto', 'hybrid' or 'window', got {self.method!r}")
        if self.strategy not in ("direct", "recursive"):
            raise ValueError(f"strategy must be 'direct' or 'recursive', got {self.strategy!r}")
        check_cell(self.cell)
        if not _auto(self.scaler) and self.scaler not in SCALERS:
            raise ValueError(f"scaler must be 'auto' or one of {SCALERS}, got {self.scaler!r}")
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float, np.number)) or not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be a number in (0, 1), got {plain(self.alpha)!r}")
        if not 0 < self.calibration < 1:
            raise ValueError(f"calibration must be in (0, 1), got {self.calibration}")
        if self.interval not in ("holdout", "insample"):
            raise ValueError(f"interval must be 'holdout' or 'insample', got {self.interval!r}")
        for name in ("lr", "clip"):
            finite_number(name, getattr(self, name))
        for name in ("diff", "seasonal_diff"):
            if not _auto(getattr(self, name)):
                count(name, getattr(self, name))
        if not _auto(self.seasonal_diff) and self.seasonal_diff and not _auto(self.season) and self.season < 2:
            raise ValueError(f"seasonal_diff needs a season length >= 2, got season={self.season}")
        if self.method == "hybrid" and self.strategy == "recursive":
            raise ValueError("method='hybrid' forecasts all horizon steps at once; use strategy='direct' "
                             "or method='window'")
        if self.method == "hybrid" and not _auto(self.seasonal_diff) and self.seasonal_diff:
            raise ValueError("method='hybrid' smooths the season instead of differencing it; leave seasonal_diff "
                             "at 'auto' (or 0), or use method='window'")
        if self.method == "window" and not _auto(self.ensemble) and self.ensemble > 1:
            raise ValueError(f"ensemble={self.ensemble} needs method='hybrid' (the windowed network trains one "
                             "network); leave ensemble at 'auto' or 1")
        check_control_params(self.early_stopping, self.lr_schedule, self.validation_fraction)

    def _check_fitted(self):
        if not hasattr(self, "rnn_") and not hasattr(self, "ensemble_"):
            raise not_fitted(self)

    @property
    def _hybrid(self):
        return self.settings_["method"] == "hybrid"

    def _method(self, n_targets, past, fut):
        """The method the settings and data call for (see ``method``)."""
        if self.method != AUTO:
            return self.method
        window = (any(not _auto(getattr(self, k)) for k in WINDOW_ONLY) or self.strategy == "recursive"
                  or past is not None or fut is not None or n_targets > 1)
        return "window" if window else "hybrid"

    def _resolve(self, y, past, fut, index=None):
        """``settings_``: every ``"auto"`` setting decided on the training series ``y`` ``(T, C)``."""
        method = self._method(y.shape[1], past, fut)
        h = self.horizon
        given = lambda k: not _auto(getattr(self, k))  # noqa: E731
        if method == "window":
            s = {k: getattr(self, k) if given(k) else v for k, v in WINDOW_DEFAULTS.items()}
            if not given("season") and s["seasonal_diff"]:
                s["season"] = detect_season(y[:, 0], index)
                if s["season"] < 2:
                    raise ValueError("seasonal_diff needs a season, and none was found in the series; "
                                     "pass season=")
            return {"method": "window", **{k: plain(v) for k, v in s.items()}}
        if y.shape[1] > 1 or past is not None or fut is not None:
            raise ValueError("method='hybrid' forecasts one series without covariates; pass one target column, "
                             "or use method='window'")
        y1, n = y[:, 0], len(y)
        m = self.season if given("season") else detect_season(y1, index)
        if m > 1 and n < 2 * m + h + 1:
            m = 1                                            # two seasons are needed to start the smoothing
        if given("scaler"):
            log = self.scaler == "log"
        else:
            log = wants_log(y1, m)
        if log and (y1 <= 0).any():
            raise ValueError("scaler 'log' needs strictly positive targets; use 'standard' or 'minmax'")
        g = np.log(y1) if log else y1
        if given("diff"):
            trend = self.diff >= 1
        else:
            adjusted = seasonally_adjusted(g, m)
            trend = n_diffs(adjusted) >= 2 or (n_diffs(adjusted) == 1 and has_drift(adjusted))
        return {"method": "hybrid", "season": int(m), "log": bool(log), "trend": bool(trend),
                "lookback": int(self.lookback if given("lookback") else hybrid_lookback(n, m, h)),
                "epochs": int(self.epochs if given("epochs") else HYBRID_EPOCHS),
                "ensemble": int(self.ensemble if given("ensemble") else HYBRID_MEMBERS),
                "damped": False,                             # the holdout may damp the trend (_select)
                "forecast": "hybrid"}                        # the holdout may choose another (_select)

    def _need(self):
        """Fewest steps a training series needs: lookback + horizon + differencing + 1,
        for either strategy: ``recursive`` trains on one-step targets, but the interval
        calibration needs at least one forecast origin with ``horizon`` actuals after it.
        Before ``fit`` resolved the settings: :meth:`_min_need`."""
        s = getattr(self, "settings_", None)
        if s is None:
            return self._min_need()
        if s["method"] == "hybrid":
            return s["lookback"] + self.horizon + 1
        return s["lookback"] + self.horizon + s["diff"] + s["seasonal_diff"] * s["season"] + 1

    def _min_need(self):
        """The least :meth:`_need` any resolution of the ``"auto"`` settings can give."""
        if self._method(1, None, None) == "hybrid":
            return (2 if _auto(self.lookback) else self.lookback) + self.horizon + 1
        s = {k: WINDOW_DEFAULTS[k] if _auto(getattr(self, k)) else getattr(self, k)
             for k in ("lookback", "diff", "seasonal_diff", "season")}
        return s["lookback"] + self.horizon + s["diff"] + s["seasonal_diff"] * s["season"] + 1

    def _first_origin(self):
        """The first origin whose forecast the network can make."""
        if self._hybrid:
            return self.settings_["lookback"] + 1
        return self.settings_["lookback"] + self.transform_.lost + 1

    def _target_transform(self):
        s = self.settings_
        return TargetTransform(s["scaler"], s["diff"], s["seasonal_diff"], s["season"])

    def _check_data(self, y, past, fut, fitting):
        index = getattr(y, "index", None) if _frames.is_frame(y) else None
        y = _as2d(y, "y")
        past, fut = _as2d(past, "past_covariates"), _as2d(fut, "future_covariates")
        for n, a in (("past_covariates", past), ("future_covariates", fut)):
            if a is not None and len(a) < len(y):
                raise ValueError(f"{n} has {len(a)} rows but the series has {len(y)}")
        if len(y) == 0:
            raise ValueError("y is empty; pass a series with at least one step per row")
        if fitting:
            if len(y) < self._min_need():
                raise ValueError(f"series has {len(y)} step(s), fewer than lookback + horizon + differencing + 1 "
                                 f"({self._min_need()}); use a shorter lookback or horizon, or a longer series")
            if self.strategy == "recursive" and past is not None:
                raise ValueError("strategy='recursive' cannot use past-only covariates (their future is "
                                 "unknown); use strategy='direct' or pass them as future covariates")
            if np.all(np.ptp(y, axis=0) == 0):
                raise ValueError("the target series is constant; there is nothing to learn "
                                 "(its forecast is the constant itself)")
            self.settings_ = self._resolve(y, past, fut, index if _is_dates(index) else None)
            if len(y) < self._need():
                raise ValueError(f"series has {len(y)} step(s), fewer than lookback + horizon + differencing + 1 "
                                 f"({self._need()}); use a shorter lookback or horizon, or a longer series")
        return y, past, fut

    # -- features ----------------------------------------------------------------------
    def _features(self, y, past, fut):
        """Input rows aligned with the transformed target: ``(T − lost, C + P + F)``."""
        w = self.transform_.transform(y)
        k = self.transform_.lost
        parts = [w]
        if past is not None:
            parts.append(self.past_scaler_.transform(past[k: len(y)]))
        if fut is not None:
            parts.append(self.fut_scaler_.transform(fut[k: len(y)]))
        return w, np.concatenate(parts, axis=1)

    def _windows(self, w, u, fut_s):
        """Training windows: inputs ``(N, L, D)``, head extras ``(N, h'·F)``, targets ``(N, h'·C)``."""
        L, hp = self.settings_["lookback"], self.out_steps_
        ends = np.arange(L - 1, len(w) - hp)
        X = np.stack([u[e - L + 1: e + 1] for e in ends])
        Y = np.stack([w[e + 1: e + 1 + hp].reshape(-1) for e in ends])
        E = (np.stack([fut_s[e + 1: e + 1 + hp].reshape(-1) for e in ends])
             if fut_s is not None else np.zeros((len(ends), 0)))
        return X, E, Y

    # -- network -----------------------------------------------------------------------
    def _forward(self, X, E, train=False):
        y, _ = self.rnn_(X.astype(self.rnn_.dtype), keep_cache=train)
        h = y[:, -1]                                             # (N, H)
        z = np.concatenate([h, E.astype(h.dtype)], axis=1) if E.shape[1] else h
        return self.head_(z), y.shape

    def _backward(self, g, yshape):
        dz = self.head_.backward(g)
        dy = np.zeros(yshape, self.rnn_.dtype)
        dy[:, -1] = dz[:, : self.hidden_size]
        self.rnn_.backward(dy, input_grad=False)

    @keeps_fitted_state_on_failure                 # a failed fit (a diverged one) leaves the model as it was
    def fit(self, y, past_covariates=None, future_covariates=None, verbose=False, callbacks=None):
        """Fit on ``y`` ``(T,)`` or ``(T, C)``; covariates ``(T, P)`` / ``(T, F)``; each may
        be a pandas Series/DataFrame (read by position; pandas is not required).

        With ``interval="holdout"`` the network is first fitted on the leading
        ``1 − calibration`` of the series, its residuals on the held-out tail give the
        interval quantiles, and then it is refitted on the whole series (twice the cost).
        With ``interval="insample"`` the residuals come from the final model on the same
        tail (cheaper, intervals too narrow when the model overfits).

        ``callbacks`` (:mod:`rnnkit.callbacks` objects) join the final training, after
        the constructor's controls (which steer both trainings)."""
        self._check_params()
        y, past, fut = self._check_data(y, past_covariates, future_covariates, True)
        for name in ("rnn_", "head_", "ensemble_", "holdout_errors_"):   # a refit replaces the earlier state
            self.__dict__.pop(name, None)
        n, h = len(y), self.horizon
        cut = int(n * (1 - self.calibration))
        origins = list(range(cut, n - h + 1))
        sl = lambda a, k: None if a is None else a[:k]  # noqa: E731
        if self.interval == "holdout":
            short = cut < self._need() or len(origins) < 2
            if short or np.all(np.ptp(y[:cut], axis=0) == 0):
                log.warning("%s; using in-sample residuals for interval calibration",
                            f"series too short to hold out {100 * self.calibration:.0f}%" if short else
                            "the part before the calibration tail is constant")
                self._train(y, past, fut, verbose, callbacks)
                self._calibrate(y, past, fut, list(range(self._first_origin(), n - h + 1)))
                return self
            if self._hybrid:
                self._select(y, cut, origins)
            else:
                self._train(y[:cut], sl(past, cut), sl(fut, cut), None)
                self._calibrate(y, past, fut, origins)
            q = self.residual_quantiles_
            self._train(y, past, fut, verbose, callbacks)
            self.residual_quantiles_ = q
        else:
            self._train(y, past, fut, verbose, callbacks)
            if len(origins) < 2:
                origins = list(range(self._first_origin(), n - h + 1))
            self._calibrate(y, past, fut, origins)
        return self

    def _train(self, y, past, fut, verbose, callbacks=None):
        if self._hybrid:
            return self._train_hybrid(y, verbose, callbacks)
        self.n_targets_ = y.shape[1]
        self.out_steps_ = self.horizon if self.strategy == "direct" else 1
        self.transform_ = self._target_transform()
        need = self.settings_["lookback"] + self.out_steps_ + self.transform_.lost + 1
        if len(y) < need:
            raise ValueError(f"series has {len(y)} steps, fewer than lookback + horizon + differencing "
                             f"({need}); use a shorter lookback or horizon, or a longer series")
        if np.all(np.ptp(y, axis=0) == 0):
            raise ValueError("the training part of the target series is constant")
        self.transform_.fit(y)
        self.past_scaler_ = Scaler("standard").fit(past[: len(y)]) if past is not None else None
        self.fut_scaler_ = Scaler("standard").fit(fut[: len(y)]) if fut is not None else None
        self.n_past_ = 0 if past is None else past.shape[1]
        self.n_future_ = 0 if fut is None else fut.shape[1]
        w, u = self._features(y, past, fut)
        fut_s = self.fut_scaler_.transform(fut[self.transform_.lost:]) if fut is not None else None
        X, E, Y = self._windows(w, u, fut_s)
        controls = training_controls(self.early_stopping, self.lr_schedule, epochs=self.settings_["epochs"],
                                     base_lr=self.lr)
        callbacks = [*controls, *(callbacks or ())]
        own = []
        if needs_validation(callbacks):                          # the last windows, in time order
            n_val = int(round(len(X) * self.validation_fraction))
            if n_val < 1 or n_val >= len(X):
                raise ValueError(f"validation_fraction={self.validation_fraction} of {len(X)} training windows "
                                 f"holds out {n_val}; early stopping needs at least one on each side: pass a "
                                 "longer series or another validation_fraction")
            Xv, Ev, Yv = X[-n_val:], E[-n_val:], Y[-n_val:]
            X, E, Y = X[:-n_val], E[:-n_val], Y[:-n_val]
            own.append(Validation(lambda: mse(self._forward(Xv, Ev)[0], Yv)[0]))
        rng = np.random.default_rng(self.random_state)
        self.rnn_ = build_layer(self.cell, u.shape[1], self.hidden_size, self.num_layers, batch_first=True,
                                dtype=np.float64, seed=rng)
        self.head_ = Dense(self.hidden_size + E.shape[1], Y.shape[1], dtype=np.float64, seed=rng)

        def train_step(b, state):
            out, shape = self._forward(X[b], E[b], train=True)
            loss, g = mse(out, Y[b])
            self._backward(g, shape)
            return loss, None

        def batches(epoch):
            order = rng.permutation(len(X))
            return (order[s: s + self.batch_size] for s in range(0, len(X), self.batch_size))

        opt = Adam(joint_parameters(rnn=self.rnn_, head=self.head_), lr=self.lr)
        if verbose:
            own.append(Callback(on_epoch_end=lambda epoch, m: verbose(epoch - 1, m["loss"])))
        trainer = Trainer(train_step, lambda: joint_grads(rnn=self.rnn_, head=self.head_), opt,
                          clip_norm=self.clip, batch_size=len, callbacks=[*own, *callbacks])
        history = trainer.fit(batches, self.settings_["epochs"]).history
        self.loss_curve_ = [m["loss"] for m in history]
        self.val_loss_curve_ = [m["val_loss"] for m in history if "val_loss" in m] or None
        self.n_epochs_, self.stop_reason_ = len(history), stop_reason(trainer.callbacks)
        self.rnn_.eval()

    # -- the hybrid ----------------------------------------------------------------------
    def _hybrid_z(self, y1):
        """The hybrid's series ``z = (g(y) − μ) / σ`` ``(n,)``, ``g`` the log or identity."""
        if self._log and (y1 <= 0).any():
            raise ValueError("this model works on the log of the series (fitted on positive values); the history "
                             "given holds values <= 0: pass positive values or refit with scaler='standard'")
        mu, sigma = self.hybrid_scale_
        return ((np.log(y1) if self._log else y1) - mu) / sigma

    def _train_hybrid(self, y, verbose, callbacks=None):
        s, h = self.settings_, self.horizon
        self.n_targets_, self.n_past_, self.n_future_, self.out_steps_ = 1, 0, 0, h
        y1 = y[:, 0]
        if len(y1) < self._need():
            raise ValueError(f"series has {len(y1)} steps, fewer than lookback + horizon + 1 ({self._need()}); "
                             "use a shorter lookback or horizon, or a longer series")
        if np.ptp(y1) == 0:
            raise ValueError("the training part of the target series is constant")
        g = np.log(y1) if self._log else y1
        sigma = float(np.std(np.diff(g))) or float(np.std(g)) or 1.0
        self.hybrid_scale_ = (float(np.mean(g)), sigma)
        ens = HybridEnsemble(self._ensemble_settings(), s["ensemble"], self.random_state)
        ens.fit(self._hybrid_z(y1), callbacks, verbose)
        self.ensemble_ = ens
        self.loss_curve_, self.val_loss_curve_ = ens.loss_curve, ens.val_loss_curve
        self.n_epochs_, self.stop_reason_ = ens.n_epochs, ens.stop_reason

    def _ensemble_settings(self):
        s = self.settings_
        return {"season": s["season"], "trend": s["trend"], "damped": s.get("damped", False),
                "lookback": s["lookback"], "horizon": self.horizon, "cell": self.cell,
                "hidden_size": self.hidden_size, "num_layers": self.num_layers,
                "epochs": s["epochs"], "batch_size": self.batch_size, "lr": self.lr, "clip": self.clip,
                "early_stopping": self.early_stopping, "lr_schedule": self.lr_schedule,
                "validation_fraction": self.validation_fraction}

    def _predict_hybrid(self, y):
        """The forecast after ``y`` ``(T, 1)`` that the holdout chose: ``(h, 1)`` (the median
        of the members' forecasts, or seasonal naive; a file from before the choice: the hybrid)."""
        L = self.settings_["lookback"]
        if len(y) < L:
            raise ValueError(f"history has {len(y)} steps, fewer than the lookback ({L})")
        weight = CANDIDATES[self.settings_.get("forecast", "hybrid")]
        if weight is None:
            return seasonal_naive(y, self.settings_["season"], self.horizon)
        z = self.ensemble_.forecast(self._hybrid_z(y[:, 0]), weight)
        mu, sigma = self.hybrid_scale_
        return self._g_inv(z * sigma + mu)[:, None]

    def _select(self, y, cut, origins):
        """Train the hybrid on ``y[:cut]`` (with a trend: once undamped, once damped) and
        choose its forecast (:data:`CANDIDATES`; ``damped``) by the mean absolute error at
        ``origins``; set ``residual_quantiles_`` and ``holdout_errors_`` (candidate -> that
        error; ``damped_`` names the damped trend's) from the same forecasts."""
        h, m = self.horizon, self.settings_["season"]
        actual = np.array([y[o: o + h, 0] for o in origins])    # (N, h)
        blends = [(k, w) for k, w in CANDIDATES.items() if w is not None]
        cands = {}                                               # name -> (damped, forecast, (N, h))
        for damped in ((False, True) if self.settings_["trend"] else (False,)):
            self.settings_["damped"] = damped
            self._train(y[:cut], None, None, None)
            mu, sigma = self.hybrid_scale_
            weights = [w for _, w in blends]
            fc = np.array([self._g_inv(self.ensemble_.forecast_blends(self._hybrid_z(y[:o, 0]), weights) * sigma + mu)
                           for o in origins])                    # (N, blends, h)
            for j, (k, _) in enumerate(blends):
                cands[("damped_" if damped else "") + k] = (damped, k, fc[:, j])
        cands["seasonal_naive"] = (False, "seasonal_naive", np.array([seasonal_naive(y[:o], m, h)[:, 0]
                                                                      for o in origins]))
        self.holdout_errors_ = {k: float(np.mean(np.abs(f - actual))) for k, (_, _, f) in cands.items()}
        best = min(self.holdout_errors_, key=self.holdout_errors_.get)      # the first of equals
        self.settings_["damped"], self.settings_["forecast"], f = cands[best]
        res = self._g(actual) - self._g(f)                     # (N, h), in the scale of _g
        self.residual_quantiles_ = conformal_quantiles(res[..., None], self.alpha)

    def _g(self, a):
        """The scale of the interval residuals: the log for a hybrid on the log, else ``a``."""
        return np.log(a) if self._log else np.asarray(a, np.float64)

    def _g_inv(self, a):
        return np.exp(a) if self._log else a

    @property
    def _log(self):
        return self._hybrid and self.settings_["log"]

    def _calibrate(self, y, past, fut, origins):
        """Residual quantiles per horizon step over forecasts from ``origins`` (for a
        hybrid on the log: of the log, so that the intervals scale with the level)."""
        h = self.horizon
        res = []
        for o in origins:
            f = self.predict(y[:o], None if past is None else past[:o],
                             None if fut is None else fut[: o + h], _raw=True)
            res.append(self._g(y[o: o + h]) - self._g(f))
        res = np.array(res)                                      # (N, h, C), in the scale of _g
        self.residual_quantiles_ = conformal_quantiles(res, self.alpha)

    # -- prediction --------------------------------------------------------------------
    def predict(self, y, past_covariates=None, future_covariates=None, return_interval=False, _raw=False):
        """Forecast the ``horizon`` steps after the history ``y``.

        ``future_covariates`` must cover the history and the horizon
        (``len(y) + horizon`` rows).  The forecast has the shape of ``y``: a 1-D
        history ``(T,)`` gives ``(h,)``, a 2-D one ``(T, C)`` gives ``(h, C)`` (also
        ``(T, 1)`` -> ``(h, 1)``).  A pandas Series/DataFrame gives a Series/DataFrame
        (same name or columns) whose index continues ``y``'s: a DatetimeIndex by its
        frequency (its ``freq`` or ``pd.infer_freq``), a RangeIndex by its step.  With
        ``return_interval=True`` also ``(lower, upper)``, each shaped like the forecast."""
        self._check_fitted()
        template = y if _frames.is_frame(y) else None
        flat = np.ndim(y) == 1 if template is None else not hasattr(y, "columns")
        y, past, fut = self._check_data(y, past_covariates, future_covariates, False)
        if y.shape[1] != self.n_targets_:
            raise ValueError(f"model was fitted on {self.n_targets_} target column(s), got {y.shape[1]}")
        if (past is None) != (self.n_past_ == 0) or (fut is None) != (self.n_future_ == 0):
            raise ValueError("pass the same kinds of covariates as at fit time")
        if self._hybrid:
            f = self._predict_hybrid(y)
            return f if _raw else self._with_interval(f, template, flat, return_interval)
        n, h, L, k = len(y), self.horizon, self.settings_["lookback"], self.transform_.lost
        if n < L + k:
            raise ValueError(f"history has {n} steps, fewer than lookback + differencing ({L + k})")
        if fut is not None and len(fut) < n + h:
            raise ValueError(f"future covariates need {n + h} rows (history + horizon), got {len(fut)}")
        fut_s = self.fut_scaler_.transform(fut[k: n + h]) if fut is not None else None
        if self.strategy == "direct":
            w, u = self._features(y, past, fut)
            E = fut_s[len(w): len(w) + h].reshape(1, -1) if fut_s is not None else np.zeros((1, 0))
            out, _ = self._forward(u[None, -L:], E)
            wf = out.reshape(h, self.n_targets_)
        else:
            hist = y.copy()
            wf = []
            for s in range(h):
                w, u = self._features(hist, None, fut)
                E = fut_s[len(w): len(w) + 1].reshape(1, -1) if fut_s is not None else np.zeros((1, 0))
                out, _ = self._forward(u[None, -L:], E)
                wf.append(out[0])
                step = self.transform_.inverse_forecast(hist, out.reshape(1, -1))
                hist = np.vstack([hist, step])
            wf = np.array(wf)
        f = self.transform_.inverse_forecast(y, wf)
        return f if _raw else self._with_interval(f, template, flat, return_interval)

    def _with_interval(self, f, template, flat, return_interval):
        shape = lambda a: self._shaped(a, template, flat)  # noqa: E731
        if not return_interval:
            return shape(f)
        lo, hi = self.residual_quantiles_
        g = self._g(f)
        return shape(f), (shape(self._g_inv(g + lo)), shape(self._g_inv(g + hi)))

    def _shaped(self, a, template, flat):
        """A ``(h, C)`` forecast in the form of the history: 1-D for a 1-D one, a pandas
        object on the continued index for a pandas one."""
        if template is not None:
            return _frames.like(a, template, _frames.future_index(template.index, len(a)))
        return a[:, 0] if flat and a.shape[1] == 1 else a

    def score(self, y, y_future, past_covariates=None, future_covariates=None):
        """Negative MAE of the forecast after ``y`` against ``y_future`` (higher is better)."""
        f = _as2d(self.predict(y, past_covariates, future_covariates), "the forecast")
        t = _as2d(y_future, "y_future")[: len(f)]
        return -float(np.mean(np.abs(f[: len(t)] - t)))

    # -- files -------------------------------------------------------------------------
    FILE_KIND = "forecaster"                  # save / load: rnnkit.io.estimators

    def _file_contents(self):
        config = {"params": self.plain_params(), "n_targets": self.n_targets_, "n_past": self.n_past_,
                  "n_future": self.n_future_, "settings": self.settings_}
        common = {"residual_quantiles": self.residual_quantiles_, "loss_curve": np.asarray(self.loss_curve_)}
        if self._hybrid:
            config["hybrid_scale"] = list(self.hybrid_scale_)
            nets = {f"m{i}": net for i, net in enumerate(self.ensemble_.nets)}
            return config, {**joint_parameters(**nets), **common}
        arrays = {**joint_parameters(rnn=self.rnn_, head=self.head_),
                  "target.shift": self.transform_.scaler_.shift_, "target.scale": self.transform_.scaler_.scale_,
                  **common}
        for name, sc in (("past", self.past_scaler_), ("fut", self.fut_scaler_)):
            if sc is not None:
                arrays[name + ".shift"], arrays[name + ".scale"] = sc.shift_, sc.scale_
        return config, arrays

    @classmethod
    def _from_file(cls, cfg, a):
        params = dict(cfg["params"])
        settings = cfg.get("settings")
        if settings is None:                         # a file from before "auto": the windowed network
            params.setdefault("method", "window")
            settings = {"method": "window", **{k: params[k] for k in WINDOW_DEFAULTS if k in params},
                        "ensemble": 1}
        self = cls(**params)
        self._check_params()                         # as fit checks them: a hand-edited file is refused
        self.settings_ = dict(settings)
        self.n_targets_, self.n_past_, self.n_future_ = cfg["n_targets"], cfg["n_past"], cfg["n_future"]
        self.residual_quantiles_ = a["residual_quantiles"]
        self.loss_curve_ = list(a["loss_curve"])
        if self._hybrid:
            self.out_steps_ = self.horizon
            self.hybrid_scale_ = tuple(float(v) for v in cfg["hybrid_scale"])
            ens = HybridEnsemble(self._ensemble_settings(), self.settings_["ensemble"], self.random_state)
            for i in range(self.settings_["ensemble"]):
                net = ens.build(0)
                prefix = f"m{i}."
                net.load_state_dict({k[len(prefix):]: v for k, v in a.items() if k.startswith(prefix)})
                ens.nets.append(net.eval())
            self.ensemble_ = ens
            return self
        self.out_steps_ = self.horizon if self.strategy == "direct" else 1
        self.transform_ = self._target_transform()
        scaler = self.settings_["scaler"]
        self.transform_.scaler_ = Scaler("standard" if scaler == "log" else scaler)
        self.transform_.scaler_.shift_, self.transform_.scaler_.scale_ = a["target.shift"], a["target.scale"]
        self.past_scaler_ = self.fut_scaler_ = None
        for name in ("past", "fut"):
            if name + ".shift" in a:
                sc = Scaler("standard")
                sc.shift_, sc.scale_ = a[name + ".shift"], a[name + ".scale"]
                setattr(self, name + "_scaler_", sc)
        D = self.n_targets_ + self.n_past_ + self.n_future_
        self.rnn_, self.head_ = estimators.load_readout(a, build_layer(
            self.cell, D, self.hidden_size, self.num_layers, batch_first=True, dtype=np.float64))
        return self
