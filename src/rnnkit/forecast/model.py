"""The recurrent forecaster: an LSTM/GRU over a lookback window, a dense head.

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

Prediction intervals: empirical quantiles ``α/2, 1−α/2`` of the residuals of
each horizon step at forecast origins in the last ``calibration`` fraction of the
training series: ``interval="holdout"`` (default) predicts them with a model
fitted on the part before (out of sample), then refits on everything;
``"insample"`` uses the final model (cheaper, narrower).
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
from .data import fill_missing
from .transforms import SCALERS, Scaler, TargetTransform

log = logging.getLogger("rnnkit")


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


class Forecaster(EstimatorFile, Params):
    """Scikit-learn-style recurrent forecaster; see the module docstring.

    Arguments:
        lookback: window length ``L`` fed to the network (>= 1).
        horizon: steps ahead ``h`` (>= 1).
        strategy: ``"direct"`` or ``"recursive"``.
        cell, hidden_size, num_layers: the recurrent part.
        scaler: ``"standard"``, ``"minmax"``, ``"log"`` or ``"none"``.
        diff, seasonal_diff, season: differencing orders and season length ``m``.
        epochs, batch_size, lr, clip: training.
        alpha: interval miss rate (0.1 → 90 % intervals).
        calibration, interval: the tail fraction used for interval residuals, and
            ``"holdout"`` (out of sample, refit; default) or ``"insample"``.
        random_state: int seed for weights and shuffling.
        early_stopping: None/False: off; an int: stop after that many epochs without a
            lower validation loss (True: 10), best weights restored (:mod:`rnnkit.callbacks`).
        validation_fraction: the last share of the training windows held out (in time
            order) for early stopping or ``lr_schedule="plateau"``.
        lr_schedule: ``None``, ``"step"``, ``"cosine"`` or ``"plateau"`` (over ``epochs``).

    Learned: ``loss_curve_``, ``val_loss_curve_`` (when validating), ``n_epochs_``,
    ``stop_reason_`` (of the final training), ``rnn_``, ``head_`` and the scalers.
    """

    def __init__(self, lookback=24, horizon=1, strategy="direct", cell="lstm", hidden_size=32,
                 num_layers=1, scaler="standard", diff=0, seasonal_diff=0, season=1, epochs=100,
                 batch_size=32, lr=0.01, clip=1.0, alpha=0.1, calibration=0.3, interval="holdout",
                 random_state=0, early_stopping=None, validation_fraction=0.1, lr_schedule=None):
        self.lookback, self.horizon, self.strategy, self.cell = lookback, horizon, strategy, cell
        self.hidden_size, self.num_layers, self.scaler = hidden_size, num_layers, scaler
        self.diff, self.seasonal_diff, self.season = diff, seasonal_diff, season
        self.epochs, self.batch_size, self.lr, self.clip = epochs, batch_size, lr, clip
        self.alpha, self.calibration, self.random_state = alpha, calibration, random_state
        self.interval = interval
        self.early_stopping, self.validation_fraction = early_stopping, validation_fraction
        self.lr_schedule = lr_schedule

    # -- checks ------------------------------------------------------------------------
    @property
    def n_features_in_(self):
        """Columns of the series the model was fitted on (scikit-learn's name)."""
        return self.n_targets_

    def _check_params(self):
        for name in ("lookback", "horizon", "hidden_size", "num_layers", "epochs", "batch_size", "season"):
            count(name, getattr(self, name), 1)
        if self.strategy not in ("direct", "recursive"):
            raise ValueError(f"strategy must be 'direct' or 'recursive', got {self.strategy!r}")
        check_cell(self.cell)
        if self.scaler not in SCALERS:
            raise ValueError(f"scaler must be one of {SCALERS}, got {self.scaler!r}")
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float, np.number)) or not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be a number in (0, 1), got {plain(self.alpha)!r}")
        if not 0 < self.calibration < 1:
            raise ValueError(f"calibration must be in (0, 1), got {self.calibration}")
        if self.interval not in ("holdout", "insample"):
            raise ValueError(f"interval must be 'holdout' or 'insample', got {self.interval!r}")
        for name in ("lr", "clip"):
            finite_number(name, getattr(self, name))
        for name in ("diff", "seasonal_diff"):
            count(name, getattr(self, name))
        if self.seasonal_diff and self.season < 2:
            raise ValueError(f"seasonal_diff needs a season length >= 2, got season={self.season}")
        check_control_params(self.early_stopping, self.lr_schedule, self.validation_fraction)

    def _check_fitted(self):
        if not hasattr(self, "rnn_"):
            raise not_fitted(self)

    def _need(self):
        """Fewest steps a training series needs: lookback + horizon + differencing + 1,
        for either strategy: ``recursive`` trains on one-step targets, but the interval
        calibration needs at least one forecast origin with ``horizon`` actuals after it."""
        return self.lookback + self.horizon + self.diff + self.seasonal_diff * self.season + 1

    def _check_data(self, y, past, fut, fitting):
        y = _as2d(y, "y")
        past, fut = _as2d(past, "past_covariates"), _as2d(fut, "future_covariates")
        for n, a in (("past_covariates", past), ("future_covariates", fut)):
            if a is not None and len(a) < len(y):
                raise ValueError(f"{n} has {len(a)} rows but the series has {len(y)}")
        if len(y) == 0:
            raise ValueError("y is empty; pass a series with at least one step per row")
        if fitting:
            if len(y) < self._need():
                raise ValueError(f"series has {len(y)} step(s), fewer than lookback + horizon + differencing + 1 "
                                 f"({self._need()}); use a shorter lookback or horizon, or a longer series")
            if self.strategy == "recursive" and past is not None:
                raise ValueError("strategy='recursive' cannot use past-only covariates (their future is "
                                 "unknown); use strategy='direct' or pass them as future covariates")
            if np.all(np.ptp(y, axis=0) == 0):
                raise ValueError("the target series is constant; there is nothing to learn "
                                 "(its forecast is the constant itself)")
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
        L, hp = self.lookback, self.out_steps_
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
                self._calibrate(y, past, fut, list(range(self.lookback + self.transform_.lost + 1, n - h + 1)))
                return self
            self._train(y[:cut], sl(past, cut), sl(fut, cut), None)
            self._calibrate(y, past, fut, origins)
            q = self.residual_quantiles_
            self._train(y, past, fut, verbose, callbacks)
            self.residual_quantiles_ = q
        else:
            self._train(y, past, fut, verbose, callbacks)
            if len(origins) < 2:
                origins = list(range(self.lookback + self.transform_.lost + 1, n - h + 1))
            self._calibrate(y, past, fut, origins)
        return self

    def _train(self, y, past, fut, verbose, callbacks=None):
        self.n_targets_ = y.shape[1]
        self.out_steps_ = self.horizon if self.strategy == "direct" else 1
        self.transform_ = TargetTransform(self.scaler, self.diff, self.seasonal_diff, self.season)
        need = self.lookback + self.out_steps_ + self.transform_.lost + 1
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
        controls = training_controls(self.early_stopping, self.lr_schedule, epochs=self.epochs, base_lr=self.lr)
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
        history = trainer.fit(batches, self.epochs).history
        self.loss_curve_ = [m["loss"] for m in history]
        self.val_loss_curve_ = [m["val_loss"] for m in history if "val_loss" in m] or None
        self.n_epochs_, self.stop_reason_ = len(history), stop_reason(trainer.callbacks)
        self.rnn_.eval()

    def _calibrate(self, y, past, fut, origins):
        """Residual quantiles per horizon step over forecasts from ``origins``."""
        h = self.horizon
        res = []
        for o in origins:
            f = self.predict(y[:o], None if past is None else past[:o],
                             None if fut is None else fut[: o + h], _raw=True)
            res.append(y[o: o + h] - f)
        res = np.array(res)                                      # (N, h, C)
        self.residual_quantiles_ = np.quantile(res, [self.alpha / 2, 1 - self.alpha / 2], axis=0)

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
        n, h, L, k = len(y), self.horizon, self.lookback, self.transform_.lost
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
        if _raw:
            return f
        shape = lambda a: self._shaped(a, template, flat)  # noqa: E731
        if not return_interval:
            return shape(f)
        lo, hi = self.residual_quantiles_
        return shape(f), (shape(f + lo), shape(f + hi))

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
        arrays = {**joint_parameters(rnn=self.rnn_, head=self.head_),
                  "target.shift": self.transform_.scaler_.shift_, "target.scale": self.transform_.scaler_.scale_,
                  "residual_quantiles": self.residual_quantiles_,
                  "loss_curve": np.asarray(self.loss_curve_)}
        for name, sc in (("past", self.past_scaler_), ("fut", self.fut_scaler_)):
            if sc is not None:
                arrays[name + ".shift"], arrays[name + ".scale"] = sc.shift_, sc.scale_
        config = {"params": self.plain_params(), "n_targets": self.n_targets_, "n_past": self.n_past_,
                  "n_future": self.n_future_}
        return config, arrays

    @classmethod
    def _from_file(cls, cfg, a):
        self = cls(**cfg["params"])
        self._check_params()                         # as fit checks them: a hand-edited file is refused
        self.n_targets_, self.n_past_, self.n_future_ = cfg["n_targets"], cfg["n_past"], cfg["n_future"]
        self.out_steps_ = self.horizon if self.strategy == "direct" else 1
        self.transform_ = TargetTransform(self.scaler, self.diff, self.seasonal_diff, self.season)
        self.transform_.scaler_ = Scaler("standard" if self.scaler == "log" else self.scaler)
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
        self.residual_quantiles_ = a["residual_quantiles"]
        self.loss_curve_ = list(a["loss_curve"])
        return self
