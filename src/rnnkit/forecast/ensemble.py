"""Training of the smoothing/LSTM hybrid (:mod:`.hybrid`), one network per seed,
and the median of their forecasts.

Each member is a :class:`~.hybrid.HybridNet` started from the series' first seasons,
trained with Adam and global-norm clipping through :class:`rnnkit.training.Trainer`
on mini-batches of the windows ending at ``t = L−1 … n−1−h`` (shuffled each epoch,
the smoothing recursion run over the whole series at every step).  Members differ
only in their seed (``random_state + i``).
"""
from __future__ import annotations

import numpy as np

from ..callbacks import Validation, needs_validation, stop_reason, training_controls
from ..optim import Adam
from ..training import Callback, Trainer
from .hybrid import HybridNet


def one_blas_thread():
    """A block whose BLAS products run on one thread: the hybrid's are small (about
    ``4H·H·batch`` = 10⁵ multiply-adds a step), and on a busy machine two threads made a
    default fit of a monthly series about 2.5 times slower (7.2 s against 2.8 s)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def member_windows(n, lookback, horizon):
    """Ends ``t`` of the training windows of a series of ``n`` steps."""
    return np.arange(lookback - 1, n - horizon)


class HybridEnsemble:
    """``members`` hybrids over one standardised series ``z``; ``settings``: a dict with
    ``season``, ``trend``, ``damped`` (optional, default False), ``lookback``, ``horizon``, ``cell``, ``hidden_size``,
    ``num_layers``, ``epochs``, ``batch_size``, ``lr``, ``clip``, ``early_stopping``,
    ``lr_schedule``, ``validation_fraction``."""

    def __init__(self, settings, members, random_state=0, dtype=np.float32):
        self.settings, self.members, self.random_state, self.dtype = dict(settings), int(members), random_state, dtype
        self.nets = []

    def build(self, seed):
        s = self.settings
        return HybridNet(s["season"], s["trend"], s["lookback"], s["horizon"], s["cell"], s["hidden_size"],
                         s["num_layers"], dtype=self.dtype, seed=seed, damped=s.get("damped", False))

    def fit(self, z, callbacks=None, verbose=False):
        """Train every member on ``z`` ``(n,)``; ``callbacks`` (and ``verbose``) join the
        first member's training.  Sets ``loss_curve``, ``val_loss_curve``, ``n_epochs``,
        ``stop_reason`` from the first member."""
        s = self.settings
        ends = member_windows(len(z), s["lookback"], s["horizon"])
        if len(ends) < 1:
            raise ValueError(f"series of {len(z)} steps leaves no training window of lookback {s['lookback']} "
                             f"and horizon {s['horizon']}; use a shorter lookback or horizon, or a longer series")
        base = 0 if self.random_state is None else int(self.random_state)
        self.nets = []
        with one_blas_thread():
            self._fit_members(z, ends, base, callbacks, verbose)
        return self

    def _fit_members(self, z, ends, base, callbacks, verbose):
        for i in range(self.members):
            extra = [*(callbacks or ())] if i == 0 else []
            if i == 0 and verbose:
                extra.append(Callback(on_epoch_end=lambda epoch, m: verbose(epoch - 1, m["loss"])))
            net, info = self._fit_one(z, ends, base + i, extra)
            self.nets.append(net)
            if i == 0:
                self.loss_curve, self.val_loss_curve, self.n_epochs, self.stop_reason = info

    def _fit_one(self, z, ends, seed, callbacks):
        s = self.settings
        rng = np.random.default_rng(seed)
        net = self.build(rng)
        net.es.start_from(z)
        controls = training_controls(s["early_stopping"], s["lr_schedule"], epochs=s["epochs"], base_lr=s["lr"])
        cbs = [*controls, *callbacks]
        own = []
        train = ends
        if needs_validation(cbs):                         # the last windows, in time order
            n_val = int(round(len(ends) * s["validation_fraction"]))
            if n_val < 1 or n_val >= len(ends):
                raise ValueError(f"validation_fraction={s['validation_fraction']} of {len(ends)} training windows "
                                 f"holds out {n_val}; early stopping needs at least one on each side: pass a "
                                 "longer series or another validation_fraction")
            train, val = ends[:-n_val], ends[-n_val:]
            own.append(Validation(lambda: net.loss_backward(z, val, backward=False)))
        bs = s["batch_size"]

        def train_step(b, state):
            return net.loss_backward(z, train[b]), None

        def batches(epoch):
            order = rng.permutation(len(train))
            return (order[i: i + bs] for i in range(0, len(train), bs))

        opt = Adam(net.named_parameters(), lr=s["lr"])
        trainer = Trainer(train_step, net.named_grads, opt, clip_norm=s["clip"], batch_size=len,
                          callbacks=[*own, *cbs])
        history = trainer.fit(batches, s["epochs"]).history
        net.eval()
        return net, ([m["loss"] for m in history], [m["val_loss"] for m in history if "val_loss" in m] or None,
                     len(history), stop_reason(trainer.callbacks))

    def forecasts(self, z, weight=1.0):
        """Every member's forecast after ``z``: ``(members, h)`` (``weight``: the share of
        the network's correction, :meth:`.HybridNet.forecast`)."""
        return np.array([net.forecast(z, weight) for net in self.nets])

    def forecast(self, z, weight=1.0):
        """The median of the members' forecasts ``(h,)``."""
        return np.median(self.forecasts(z, weight), axis=0)

    def forecast_blends(self, z, weights):
        """The median forecasts for several network shares at once: ``(len(weights), h)``
        (the smoothing and the network run once per member)."""
        parts = [net.forecast_parts(z) for net in self.nets]
        return np.array([np.median([b + w * c for b, c in parts], axis=0) for w in weights])
