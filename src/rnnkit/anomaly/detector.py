"""Recurrent anomaly detector: per-step scores, thresholds, flagged intervals, streaming alerts.

Two kinds of score, on the series standardised with statistics of the training part:

``kind="forecast"``: an LSTM reads the series and a dense head predicts the next
step, ``p_t = Dense(h_t) ≈ x_{t+1}``; the raw score is ``e_t = mean_c |x_t − p_{t−1}|``
(``e_0 = 0``).  Training is truncated BPTT over the training series cut into
``batch_size`` parallel streams, the state carried from chunk to chunk
(``window`` steps), so the network learns to run statefully, exactly as it is run
at scoring time: once over the whole series from a zero state (batch), or one
point at a time with the state carried (streaming).

``kind="reconstruction"``: a sequence autoencoder; an LSTM encodes the last
``window`` steps into ``h`` (``hidden_size`` units, the bottleneck) and a dense
decoder rebuilds the whole window; ``e_t = mean |x_{t−W+1..t} − x̂|`` over the
window ending at ``t`` (``0`` for ``t < W−1``).

Scores are smoothed by a causal EWMA (``span``) and compared with a threshold
(:mod:`.thresholds`): ``"static"`` (the ``quantile`` of the smoothed training
scores), ``"robust"`` (default: median + ``robust_z`` scaled MADs of the trailing
window, which one spike cannot blind) or ``"dynamic"`` (causal telemanom, optionally
leaving flagged scores out of its window); the last two never below the
``floor_quantile`` of the training scores.  The first ``window`` steps (the state's
warm-up from zero) are never flagged.  Everything is causal, so :meth:`stream` flags exactly the
points :meth:`detect` flags.
"""
from __future__ import annotations

from collections import deque

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
from ..recurrent import LSTM
from ..training import Callback, Trainer, joint_grads, joint_parameters
from ..forecast.data import fill_missing
from ..forecast.transforms import Scaler
from .evaluate import intervals
from .stream import LeanLSTM
from .thresholds import DynamicThreshold, RobustThreshold, ewma, static_threshold


def _real(v):
    """A finite int or float (not a bool)."""
    return isinstance(v, (int, float, np.number)) and not isinstance(v, bool) and bool(np.isfinite(v))


class AnomalyDetector(EstimatorFile, Params):
    """Scikit-learn-style detector; see the module docstring.

    Arguments:
        kind: ``"forecast"`` or ``"reconstruction"``.
        window: TBPTT chunk length (forecast) or autoencoder window (reconstruction).
        hidden_size, num_layers: the LSTM.
        epochs, batch_size, lr, clip: training.
        span: EWMA span for smoothing scores.
        threshold: ``"robust"`` (median + ``robust_z`` scaled MADs, the default), ``"dynamic"``
            (telemanom) or ``"static"``; quantile: the static quantile; floor_quantile: the dynamic and
            robust thresholds' floor; dyn_window, refresh: their window and refresh period.
        exclude_flagged: the dynamic threshold's window leaves flagged scores out, so one
            spike does not raise it (``False``, default: telemanom as published, which a
            spike blinds for up to ``dyn_window`` steps; see docs/anomaly.md).
        robust_z: the robust threshold's multiple of the scaled MAD.
        merge_gap: flagged runs at most this many steps apart form one interval (one alert).
        random_state: int seed.
        early_stopping: None/False: off; an int: stop after that many epochs without a
            lower validation loss (True: 10), best weights restored (:mod:`rnnkit.callbacks`).
        validation_fraction: the last share of the training series held out for early
            stopping or ``lr_schedule="plateau"`` (the thresholds still see all of it).
        lr_schedule: ``None``, ``"step"``, ``"cosine"`` or ``"plateau"`` (over ``epochs``).

    Learned: ``loss_curve_``, ``val_loss_curve_`` (when validating), ``n_epochs_``,
    ``stop_reason_``, ``rnn_``, ``head_``, ``scaler_`` and the thresholds.
    """

    def __init__(self, kind="forecast", window=32, hidden_size=32, num_layers=1, epochs=20, batch_size=16,
                 lr=0.01, clip=1.0, span=5, threshold="robust", quantile=0.995, floor_quantile=0.95,
                 dyn_window=500, refresh=50, merge_gap=20, random_state=0, early_stopping=None,
                 validation_fraction=0.1, lr_schedule=None, exclude_flagged=False, robust_z=6.0):
        self.kind, self.window, self.hidden_size, self.num_layers = kind, window, hidden_size, num_layers
        self.epochs, self.batch_size, self.lr, self.clip, self.span = epochs, batch_size, lr, clip, span
        self.threshold, self.quantile, self.floor_quantile = threshold, quantile, floor_quantile
        self.dyn_window, self.refresh, self.random_state = dyn_window, refresh, random_state
        self.merge_gap = merge_gap
        self.early_stopping, self.validation_fraction = early_stopping, validation_fraction
        self.lr_schedule = lr_schedule
        self.exclude_flagged, self.robust_z = exclude_flagged, robust_z

    @property
    def n_features_in_(self):
        """Columns of the series the detector was fitted on (scikit-learn's name)."""
        return self.n_features_

    # -- input ---------------------------------------------------------------------------
    def _check_params(self):
        if self.kind not in ("forecast", "reconstruction"):
            raise ValueError(f"kind must be 'forecast' or 'reconstruction', got {self.kind!r}")
        if self.threshold not in ("dynamic", "robust", "static"):
            raise ValueError(f"threshold must be 'dynamic', 'robust' or 'static', got {self.threshold!r}")
        if not _real(self.robust_z) or self.robust_z <= 0:
            raise ValueError(f"robust_z must be a number > 0, got {plain(self.robust_z)!r}")
        if not isinstance(self.exclude_flagged, (bool, np.bool_)):
            raise ValueError(f"exclude_flagged must be True or False, got {self.exclude_flagged!r}")
        for n in ("window", "hidden_size", "num_layers", "epochs", "batch_size", "dyn_window", "refresh"):
            count(n, getattr(self, n), 1)
        if not _real(self.span) or self.span < 1:
            raise ValueError(f"span must be a number >= 1 (1: no smoothing), got {plain(self.span)!r}")
        for n in ("lr", "clip"):
            finite_number(n, getattr(self, n))
        for n in ("quantile", "floor_quantile"):
            v = getattr(self, n)
            if not _real(v) or not 0 < v <= 1:
                raise ValueError(f"{n} must be in (0, 1], got {plain(v)!r}")
        count("merge_gap", self.merge_gap)
        check_control_params(self.early_stopping, self.lr_schedule, self.validation_fraction)

    def _prep(self, x, fitting=False, layout=None):
        frame = _frames.is_frame(x)
        try:
            x = np.asarray(_frames.as_array(x), np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"the series must hold numbers ({exc}); convert the columns to floats first") from None
        x = _time_first(x, layout, frame)
        if x.ndim != 2:
            raise ValueError(f"series must be (T,) or (T, C), got shape {x.shape}")
        if len(x) == 0:
            raise ValueError("the series is empty; pass at least one step per row")
        if not np.isfinite(x).all():
            x = fill_missing(x, source="series")
        if fitting:
            need = 2 * self.window + 1
            if len(x) < need:
                raise ValueError(f"series has {len(x)} step(s), fewer than 2 * window + 1 ({need}); "
                                 "use a smaller window or a longer series")
            if np.all(np.ptp(x, axis=0) == 0):
                raise ValueError("the series is constant; a detector cannot learn what normal looks like")
        elif x.shape[1] != self.n_features_:
            raise ValueError(f"detector was fitted on {self.n_features_} column(s), got {x.shape[1]}")
        return x

    # -- training --------------------------------------------------------------------------
    @keeps_fitted_state_on_failure                 # a failed fit (a diverged one) leaves the detector as it was
    def fit(self, x, verbose=False, callbacks=None, layout=None):
        """Fit on a (mostly normal) series ``x`` ``(T,)`` or ``(T, C)``; ``callbacks``:
        :mod:`rnnkit.callbacks` objects, after the constructor's controls; ``layout``:
        ``"TC"`` (time first, rnnkit's), ``"CT"`` (channels first, a transposed array)
        or ``None`` (``"TC"``, with a warning when a 2-D array has fewer rows than columns)."""
        self._check_params()
        x = self._prep(x, fitting=True, layout=layout)
        T, C = x.shape
        self.n_features_ = C
        self.scaler_ = Scaler("standard").fit(x)
        s = self.scaler_.transform(x)
        rng = np.random.default_rng(self.random_state)
        self.rnn_ = LSTM(C, self.hidden_size, self.num_layers, batch_first=True, dtype=np.float64, seed=rng)
        out = C if self.kind == "forecast" else C * self.window
        self.head_ = Dense(self.hidden_size, out, dtype=np.float64, seed=rng)
        opt = Adam(joint_parameters(rnn=self.rnn_, head=self.head_), lr=self.lr)
        callbacks = [*training_controls(self.early_stopping, self.lr_schedule, epochs=self.epochs, base_lr=self.lr),
                     *(callbacks or ())]
        cut = self._validation_cut(T) if needs_validation(callbacks) else T
        if self.kind == "forecast":
            train_step, batches = self._stream_chunks(s[:cut], rng)
        else:
            train_step, batches = self._window_batches(s[:cut], rng)
        curve = _MeanLosses(verbose)
        own = [curve] + ([Validation(lambda: self._tail_loss(s, cut))] if cut < T else [])
        trainer = Trainer(train_step, lambda: joint_grads(rnn=self.rnn_, head=self.head_), opt, clip_norm=self.clip,
                          callbacks=[*own, *callbacks]).fit(batches, self.epochs)
        self.loss_curve_ = curve.curve
        self.val_loss_curve_ = [m["val_loss"] for m in trainer.history if "val_loss" in m] or None
        self.n_epochs_, self.stop_reason_ = len(trainer.history), stop_reason(trainer.callbacks)
        self.rnn_.eval()
        _, sm = self._scores(x)
        self.static_threshold_ = static_threshold(sm, self.quantile)
        self.floor_ = static_threshold(sm, self.floor_quantile)
        self.train_tail_ = sm[-self.dyn_window:].copy()
        return self

    def _validation_cut(self, T):
        """Where the held-out tail of a ``T``-step training series begins."""
        cut = T - int(round(T * self.validation_fraction))
        if cut < self.window + 2 or T - cut < 2:
            raise ValueError(f"validation_fraction={self.validation_fraction} of {T} steps leaves {cut} for "
                             f"training and {T - cut} for validation; early stopping needs more than window + 1 "
                             "and 2: pass a longer series or another validation_fraction")
        return cut

    def _tail_loss(self, s, cut):
        """The training loss on the held-out tail ``s[cut:]``: one-step forecasts from
        the state run over the whole series (``kind="forecast"``), or the rebuilt
        windows ending in the tail (``"reconstruction"``)."""
        if self.kind == "forecast":
            y, _ = self.rnn_(s[None], keep_cache=False)
            p = self.head_(y[0, cut - 1:-1], keep_cache=False)    # predicts s[cut:]
            return float(np.mean((p - s[cut:]) ** 2))
        W = self.window
        wins = np.stack([s[e - W + 1: e + 1] for e in range(max(cut, W - 1), len(s))])
        y, _ = self.rnn_(wins, keep_cache=False)
        rec = self.head_(y[:, -1], keep_cache=False)
        return float(np.mean((rec - wins.reshape(len(wins), -1)) ** 2))

    def _stream_chunks(self, s, rng):
        """``kind="forecast"``: truncated BPTT over the scaled series ``s`` cut into
        ``B`` parallel streams at a random offset each epoch; a chunk is ``window``
        steps of every stream, the state carried from chunk to chunk (zeros at an
        epoch's first).  Returns ``(train_step, batches)`` for the trainer."""
        T, C = s.shape

        def train_step(chunk, state):
            X, Y, first = chunk
            y, state = self.rnn_(X, None if first else state)
            out = self.head_(y)                                   # (B, k, C)
            loss, g = mse(out, Y)
            self.rnn_.backward(self.head_.backward(g), input_grad=False)
            return loss, state

        def batches(epoch):
            B = max(1, min(self.batch_size, (T - 1) // (self.window + 1)))
            Ts = (T - 1) // B
            off = int(rng.integers(0, (T - 1) - B * Ts + 1))
            X = s[off: off + B * Ts].reshape(B, Ts, C)
            Y = s[off + 1: off + 1 + B * Ts].reshape(B, Ts, C)
            for a in range(0, Ts, self.window):
                yield X[:, a: a + self.window], Y[:, a: a + self.window], a == 0

        return train_step, batches

    def _window_batches(self, s, rng):
        """``kind="reconstruction"``: the windows of ``window`` steps ending at each
        step, in mini-batches shuffled each epoch, each window rebuilt by the read-out
        of its last state.  Returns ``(train_step, batches)`` for the trainer."""
        W = self.window
        wins = np.stack([s[e - W + 1: e + 1] for e in range(W - 1, len(s))])

        def train_step(b, state):
            y, _ = self.rnn_(b)
            out = self.head_(y[:, -1])                            # (B, W·C)
            loss, g = mse(out, b.reshape(len(b), -1))
            dy = np.zeros_like(y)
            dy[:, -1] = self.head_.backward(g)
            self.rnn_.backward(dy, input_grad=False)
            return loss, None

        def batches(epoch):
            order = rng.permutation(len(wins))
            return (wins[order[a: a + self.batch_size]] for a in range(0, len(order), self.batch_size))

        return train_step, batches

    # -- batch scoring ------------------------------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "rnn_"):
            raise not_fitted(self)

    def score(self, x, layout=None):
        """Raw and smoothed scores, each ``(T,)``; for a pandas Series/DataFrame ``x``
        each is a Series on ``x``'s index; ``layout`` as in :meth:`fit`."""
        e, sm = self._scores(x, layout)
        if _frames.is_frame(x):
            import pandas as pd

            return pd.Series(e, index=x.index, name="score"), pd.Series(sm, index=x.index, name="smoothed")
        return e, sm

    def _scores(self, x, layout=None):
        self._check_fitted()
        x = self._prep(x, layout=layout)
        s = self.scaler_.transform(x)
        T, C = s.shape
        e = np.zeros(T)
        if self.kind == "forecast":
            y, _ = self.rnn_(s[None], keep_cache=False)
            p = self.head_(y[0])                                  # (T, C)
            e[1:] = np.abs(s[1:] - p[:-1]).mean(axis=1)
        else:
            W = self.window
            if T >= W:
                wins = np.stack([s[t - W + 1: t + 1] for t in range(W - 1, T)])
                y, _ = self.rnn_(wins, keep_cache=False)
                rec = self.head_(y[:, -1]).reshape(len(wins), W, C)
                e[W - 1:] = np.abs(wins - rec).mean(axis=(1, 2))
        return e, ewma(e, self.span)

    def thresholds(self, smoothed):
        if self.threshold == "static":
            return np.full(len(smoothed), self.static_threshold_)
        return self._threshold_tracker().run(smoothed)

    def _threshold_tracker(self):
        """The causal threshold (``"dynamic"`` or ``"robust"``), seeded with the training tail."""
        if self.threshold == "robust":
            return RobustThreshold(self.train_tail_, self.dyn_window, self.refresh, z=self.robust_z, floor=self.floor_)
        return DynamicThreshold(self.train_tail_, self.dyn_window, self.refresh,
                                exclude_flagged=self.exclude_flagged, floor=self.floor_)

    def detect(self, x, layout=None):
        """Batch detection: ``{"score", "smoothed", "threshold", "flags", "intervals"}``.

        For a pandas Series/DataFrame ``x``, ``score``, ``smoothed``, ``threshold`` and
        ``flags`` are Series on ``x``'s index; ``intervals`` stay ``(start, end)`` positions;
        ``layout`` as in :meth:`fit`."""
        e, sm = self._scores(x, layout)
        thr = self.thresholds(sm)
        flags = sm > thr
        flags[: self.window] = False                              # state warm-up: never flagged
        out = {"score": e, "smoothed": sm, "threshold": thr, "flags": flags}
        if _frames.is_frame(x):
            import pandas as pd

            out = {k: pd.Series(v, index=x.index, name=k) for k, v in out.items()}
        return {**out, "intervals": intervals(flags, self.merge_gap)}

    # -- streaming ----------------------------------------------------------------------------
    def stream(self, points):
        """Score one point at a time, the LSTM state carried (:class:`LeanLSTM`).

        Yields ``(t, score, smoothed, threshold, flag, alert)`` per point; ``alert``
        is True on the first flagged point of an interval (the early alert): a flag
        more than ``merge_gap`` steps after the previous flag.  ``points``: any
        iterable of points (``(C,)`` each), a ``(T, C)`` array, or a pandas
        DataFrame or Series (read by rows); a missing or infinite value is an error
        naming its row and column."""
        self._check_fitted()
        names = None
        if hasattr(points, "to_numpy"):                  # pandas: rows, not the column labels
            names = [str(c) for c in points.columns] if hasattr(points, "columns") else None
            points = points.to_numpy()
        lean = LeanLSTM(self.rnn_)
        Wd, bd = self.head_.params["weight"].T.copy(), self.head_.params["bias"]
        shift, scale = self.scaler_.shift_, self.scaler_.scale_
        a = 2.0 / (self.span + 1.0)
        dyn = None if self.threshold == "static" else self._threshold_tracker()
        state, pred, sm, last = lean.zero_state(), None, None, None
        W, C = self.window, self.n_features_
        buf = deque(maxlen=W)
        for t, x in enumerate(points):
            x = np.asarray(x, np.float64).reshape(-1)
            if x.shape[0] != C:
                raise ValueError(f"point {t} has {x.shape[0]} value(s), the detector expects {C}")
            if not np.isfinite(x).all():
                j = int(np.flatnonzero(~np.isfinite(x))[0])
                col = repr(names[j]) if names else str(j)
                raise ValueError(f"point {t}, column {col}: {x[j]} is missing or not finite; streaming cannot "
                                 "interpolate, fill it before sending")
            s = (x - shift) / scale
            if self.kind == "forecast":
                e = float(np.abs(s - pred).mean()) if pred is not None else 0.0
                h, state = lean.step(s, state)
                pred = h @ Wd + bd
            else:
                buf.append(s)
                e = 0.0
                if len(buf) == W:
                    st = lean.zero_state()
                    for v in buf:
                        h, st = lean.step(v, st)
                    rec = (h @ Wd + bd).reshape(W, C)
                    e = float(np.abs(np.asarray(buf) - rec).mean())
            sm = e if sm is None else a * e + (1 - a) * sm
            thr = self.static_threshold_ if dyn is None else dyn.update(sm)
            flag = bool(sm > thr) and t >= W
            alert = flag and (last is None or t - last - 1 > self.merge_gap)
            if flag:
                last = t
            yield t, e, sm, thr, flag, alert

    # -- files --------------------------------------------------------------------------------
    FILE_KIND = "anomaly-detector"            # save / load: rnnkit.io.estimators

    def _file_contents(self):
        arrays = {**joint_parameters(rnn=self.rnn_, head=self.head_),
                  "scaler.shift": self.scaler_.shift_, "scaler.scale": self.scaler_.scale_,
                  "train_tail": self.train_tail_, "loss_curve": np.asarray(self.loss_curve_)}
        config = {"params": self.plain_params(), "n_features": self.n_features_,
                  "static_threshold": self.static_threshold_, "floor": self.floor_}
        return config, arrays

    @classmethod
    def _from_file(cls, cfg, a):
        self = cls(**cfg["params"])
        self._check_params()                         # as fit checks them: a hand-edited file is refused
        self.n_features_ = cfg["n_features"]
        self.static_threshold_, self.floor_ = cfg["static_threshold"], cfg["floor"]
        self.scaler_ = Scaler("standard")
        self.scaler_.shift_, self.scaler_.scale_ = a["scaler.shift"], a["scaler.scale"]
        self.rnn_, self.head_ = estimators.load_readout(a, LSTM(self.n_features_, self.hidden_size, self.num_layers,
                                                                batch_first=True, dtype=np.float64))
        self.train_tail_ = a["train_tail"]
        self.loss_curve_ = list(a["loss_curve"])
        return self


def _time_first(x, layout, frame=False):
    """A series ``(T,)``, ``(T, C)`` or, with ``layout="CT"``, ``(C, T)`` as ``(T, C)``;
    warns (naming the fix) when a 2-D array with no layout has fewer rows than columns."""
    if layout not in (None, "TC", "CT"):
        raise ValueError(f"layout must be 'TC' (time first) or 'CT' (channels first), got {layout!r}")
    if x.ndim == 1:
        return x[:, None]
    if x.ndim == 2 and layout == "CT":
        return x.T
    if x.ndim == 2 and layout is None and not frame and x.shape[0] < x.shape[1]:
        import warnings

        from ..data.panels import _outside_rnnkit

        warnings.warn(f"the series of shape {x.shape} has fewer rows (time steps) than columns (channels), so it "
                      f"looks channels-first; if it holds {x.shape[0]} channels of {x.shape[1]} steps pass "
                      "layout='CT' (or x.T); pass layout='TC' to silence this", UserWarning,
                      stacklevel=_outside_rnnkit())
    return x


class _MeanLosses(Callback):
    """The detector's loss curve: each epoch's plain mean of its chunk (or batch)
    losses; ``verbose(epoch index, loss)`` after each epoch when given."""

    def __init__(self, verbose=None):
        self.verbose, self.curve, self.losses = verbose, [], []

    def on_step_end(self, step, metrics):
        self.losses.append(metrics["loss"])

    def on_epoch_end(self, epoch, metrics):
        self.curve.append(float(np.mean(self.losses)))
        self.losses = []
        if self.verbose:
            self.verbose(epoch - 1, self.curve[-1])
