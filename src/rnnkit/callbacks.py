"""Training controls as callbacks of :class:`rnnkit.training.Trainer`: early
stopping, learning-rate schedules and hooks from functions, named and behaving
as in Keras and PyTorch.

Every model takes them the same way: ``model.fit(..., callbacks=[...])``, or
the constructor's ``early_stopping=`` / ``lr_schedule=`` (built here by
:func:`training_controls`), or on the command line ``--early-stopping PATIENCE``
and ``--lr-schedule {none,step,cosine,plateau}``.

When a control checks, and what it counts::

    EarlyStopping, ReduceLROnPlateau   each time ``monitor`` is measured: at an epoch's
                                       end, or for ``val_*`` metrics at the steps that
                                       hold them (the language model validates every
                                       ``eval_every`` steps); patience counts checks
    StepLR, CosineAnnealingLR          ``interval="epoch"``: before each epoch, from the
                                       epochs done; ``"step"``: before each update, from
                                       the updates done (a resumed run continues its curve)

A control that stops training sets ``stop_reason`` (one line); the models log it
in ``metrics.jsonl`` (:class:`LogStop`), and the learning rate on every line.
Models order their callbacks: their own (validation, logging), then the
controls, then the user's, then :class:`LogStop`.
The weights a control restores are the optimizer's live parameter arrays, so
every model's early stopping restores exactly what it trains.
"""
from __future__ import annotations

import math

import numpy as np

from .training import Callback

SCHEDULES = ("none", "step", "cosine", "plateau")


def _better(mode, min_delta):
    """``better(current, best)`` for ``mode`` ``"min"`` or ``"max"``, by more than ``min_delta``."""
    if mode == "min":
        return lambda current, best: current < best - min_delta
    return lambda current, best: current > best + min_delta


def _mode(mode, monitor):
    """Keras's ``"auto"``: ``"max"`` for accuracies and scores, else ``"min"``."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        return "max" if any(k in monitor for k in ("acc", "score", "f1", "auc")) else "min"
    return mode


def _finite(value):
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and math.isfinite(value)


class _Monitor(Callback):
    """What :class:`EarlyStopping` and :class:`ReduceLROnPlateau` share: reading
    ``monitor`` from the metrics wherever it is measured (see the module docstring)."""

    def __init__(self, monitor, mode, min_delta):
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"monitor must name a metric such as 'val_loss', got {monitor!r}")
        if not _finite(min_delta) or min_delta < 0:
            raise ValueError(f"min_delta must be a number >= 0, got {min_delta!r}")
        self.monitor, self.min_delta = monitor, float(min_delta)
        self.mode = _mode(mode, monitor)
        self._better = _better(self.mode, self.min_delta)

    def on_train_begin(self, trainer):
        self.trainer = trainer
        self.checks = 0

    def on_step_end(self, step, metrics):
        if self.monitor.startswith("val_") and self.monitor in metrics:     # a model validating by steps
            return self._check(metrics[self.monitor], f"step {step}")
        return False

    def on_epoch_end(self, epoch, metrics):
        if self.monitor in metrics:
            return self._check(metrics[self.monitor], f"epoch {epoch}")
        return False

    def _check(self, value, where):
        raise NotImplementedError


class EarlyStopping(_Monitor):
    """Stop when ``monitor`` has not improved for ``patience`` checks (Keras's
    ``EarlyStopping``).

    Arguments:
        monitor: the metric, e.g. ``"val_loss"`` (default), ``"val_accuracy"``, ``"loss"``.
        min_delta: a change of at most this much is no improvement.
        patience: checks without improvement before stopping (>= 1).
        mode: ``"min"``, ``"max"`` or ``"auto"`` (``max`` for accuracies and scores).
        baseline: stop unless the monitor beats this within ``patience`` checks.
        restore_best_weights: when training ends, copy the weights of the best
            check back into the model (default True, unlike Keras).
        start_from_epoch: checks before this many epochs (or steps) are ignored.

    After training: ``best``, ``best_at`` (``"epoch 7"`` or ``"step 400"``),
    ``stopped_at`` and ``stop_reason`` (``None`` when training ran its course),
    ``restored`` (whether best weights were copied back).
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=5, mode="auto", baseline=None,
                 restore_best_weights=True, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta)
        if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 1:
            raise ValueError(f"patience must be an integer >= 1, got {patience!r}")
        self.patience, self.baseline = int(patience), baseline
        self.restore_best_weights, self.start_from_epoch = bool(restore_best_weights), int(start_from_epoch)

    def on_train_begin(self, trainer):
        super().on_train_begin(trainer)
        self.wait = 0
        self.best = math.inf if self.mode == "min" else -math.inf
        if self.baseline is not None:
            self.best = float(self.baseline)
        self.best_at = self.stopped_at = self.stop_reason = None
        self.best_weights, self.restored = None, False

    def _check(self, value, where):
        if int(where.split()[1]) <= self.start_from_epoch:
            return False
        self.checks += 1
        if _finite(value) and self._better(float(value), self.best):
            self.best, self.best_at, self.wait = float(value), where, 0
            if self.restore_best_weights:
                self.best_weights = {k: v.copy() for k, v in self.trainer.optimizer.params.items()}
            return False
        self.wait += 1
        if self.wait < self.patience:
            return False
        self.stopped_at = where
        best = f"best {self.best:.6g} at {self.best_at}" if self.best_at else f"baseline {self.best:.6g} not beaten"
        unit = "epoch" if where.startswith("epoch") else "validation"
        by = f" by more than {self.min_delta:g}" if self.min_delta else ""
        self.stop_reason = (f"early stopping at {where}: {self.monitor} did not improve{by} in {self.patience} "
                            f"{unit}{'s' if self.patience > 1 else ''} ({best})")
        if self.restore_best_weights and self.best_weights is not None:
            self.stop_reason += "; best weights restored"
        return True

    def on_train_end(self, trainer):
        """Copy the best weights back (when a check after the best one made them worse)."""
        if self.restore_best_weights and self.best_weights is not None and self.wait > 0:
            for k, v in trainer.optimizer.params.items():
                v[...] = self.best_weights[k]
            self.restored = True


class _Schedule(Callback):
    """A learning rate set from a closed-form curve of the epochs (or steps) done,
    from ``base_lr`` (default: the optimizer's ``lr`` when training first begins)."""

    def __init__(self, interval="epoch", base_lr=None):
        if interval not in ("epoch", "step"):
            raise ValueError(f"interval must be 'epoch' or 'step', got {interval!r}")
        self.interval, self.base_lr = interval, base_lr

    def lr_at(self, t):
        """The learning rate after ``t`` epochs (or steps)."""
        raise NotImplementedError

    def _set(self, t):
        self.trainer.optimizer.lr = float(self.lr_at(t))

    def on_train_begin(self, trainer):
        self.trainer = trainer
        if self.base_lr is None:
            self.base_lr = float(trainer.optimizer.lr)
        if self.interval == "step":
            self._set(trainer.step)

    def on_epoch_begin(self, epoch):
        if self.interval == "epoch":
            self._set(epoch)

    def on_step_end(self, step, metrics):
        if self.interval == "step":
            self._set(step)


class StepLR(_Schedule):
    """``lr = base_lr · gamma ^ ⌊t / step_size⌋`` (PyTorch's ``StepLR``); ``t``
    counts epochs, or updates with ``interval="step"``."""

    def __init__(self, step_size, gamma=0.1, interval="epoch", base_lr=None):
        super().__init__(interval, base_lr)
        if isinstance(step_size, bool) or not isinstance(step_size, (int, np.integer)) or step_size < 1:
            raise ValueError(f"step_size must be an integer >= 1, got {step_size!r}")
        if not _finite(gamma) or not 0 < gamma <= 1:
            raise ValueError(f"gamma must be in (0, 1], got {gamma!r}")
        self.step_size, self.gamma = int(step_size), float(gamma)

    def lr_at(self, t):
        return self.base_lr * self.gamma ** (t // self.step_size)


class CosineAnnealingLR(_Schedule):
    """``lr = eta_min + (base_lr − eta_min)(1 + cos(π t / T_max)) / 2`` (PyTorch's
    ``CosineAnnealingLR``, whose curve rises again after ``T_max``); ``t`` counts
    epochs, or updates with ``interval="step"``."""

    def __init__(self, T_max, eta_min=0.0, interval="epoch", base_lr=None):  # noqa: N803 (PyTorch's name)
        super().__init__(interval, base_lr)
        if isinstance(T_max, bool) or not isinstance(T_max, (int, np.integer)) or T_max < 1:
            raise ValueError(f"T_max must be an integer >= 1, got {T_max!r}")
        if not _finite(eta_min) or eta_min < 0:
            raise ValueError(f"eta_min must be a number >= 0, got {eta_min!r}")
        self.T_max, self.eta_min = int(T_max), float(eta_min)

    def lr_at(self, t):
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2


class ReduceLROnPlateau(_Monitor):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved
    for ``patience`` checks (PyTorch's ``ReduceLROnPlateau``, Keras's names),
    then wait ``cooldown`` checks; never below ``min_lr``."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, mode="auto", min_delta=1e-4, cooldown=0,
                 min_lr=0.0):
        super().__init__(monitor, mode, min_delta)
        if not _finite(factor) or not 0 < factor < 1:
            raise ValueError(f"factor must be in (0, 1), got {factor!r}")
        if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 0:
            raise ValueError(f"patience must be an integer >= 0, got {patience!r}")
        self.factor, self.patience, self.cooldown, self.min_lr = float(factor), int(patience), int(cooldown), min_lr

    def on_train_begin(self, trainer):
        super().on_train_begin(trainer)
        self.best = math.inf if self.mode == "min" else -math.inf
        self.wait = self.cooling = 0
        self.reductions = []                       # (where, new lr)

    def _check(self, value, where):
        """PyTorch's step: a better value resets the count, a cooldown check does
        not count, ``patience`` checks exceeded lower the rate (by more than 1e-8)."""
        self.checks += 1
        if _finite(value) and self._better(float(value), self.best):
            self.best, self.wait = float(value), 0
        else:
            self.wait += 1
        if self.cooling:
            self.cooling -= 1
            self.wait = 0
        if self.wait > self.patience:
            opt = self.trainer.optimizer
            new = max(opt.lr * self.factor, self.min_lr)
            if opt.lr - new > 1e-8:
                opt.lr = new
                self.reductions.append((where, new))
            self.cooling, self.wait = self.cooldown, 0
        return False


class LambdaCallback(Callback):
    """A callback from functions, under Keras's names: ``on_epoch_begin(epoch)``,
    ``on_epoch_end(epoch, metrics)``, ``on_batch_end(step, metrics)`` (also
    ``on_step_end``), ``on_train_begin(trainer)``, ``on_train_end(trainer)``,
    ``on_before_update(grads, metrics)``.  A function returning True stops
    training (``stop_reason``: "stopped by a callback at ...")."""

    _ALIASES = {"on_batch_end": "on_step_end"}

    def __init__(self, **hooks):
        self.stop_reason = None
        for name, fn in hooks.items():
            hook = self._ALIASES.get(name, name)
            if not callable(fn):
                raise TypeError(f"{name} must be a function, got {type(fn).__name__}")
            if hook not in ("on_train_begin", "on_epoch_begin", "on_before_update", "on_step_end", "on_epoch_end",
                            "on_train_end"):
                raise TypeError(f"unknown callback hook {name!r}; use on_train_begin, on_epoch_begin, "
                                "on_batch_end (on_step_end), on_before_update, on_epoch_end or on_train_end")
            setattr(self, hook, self._stopping(hook, fn))

    def _stopping(self, hook, fn):
        def call(*args):
            if fn(*args) is True:
                at = {"on_epoch_end": f"epoch {args[0]}", "on_step_end": f"step {args[0]}"}.get(hook, hook)
                self.stop_reason = self.stop_reason or f"stopped by a callback at {at}"
                return True
            return False
        return call


# -- controls from settings: what the constructors' parameters and the CLI options build ----------------
def training_controls(early_stopping=None, lr_schedule=None, *, epochs, interval="epoch", monitor="val_loss",
                      min_delta=0.0, step_size=None, gamma=0.1, lr_patience=2, base_lr=None):
    """The callbacks of the settings every model and train command share.

    Arguments:
        early_stopping: ``None``/``False``/``0``: off; ``True``: patience 10 (as
            scikit-learn's ``n_iter_no_change``); an int: the patience; or an
            :class:`EarlyStopping` (used as it is).
        lr_schedule: ``None``/``"none"``, ``"step"`` (``StepLR(step_size, gamma)``,
            ``step_size`` default a third of ``epochs``), ``"cosine"``
            (``CosineAnnealingLR(T_max=epochs)``), ``"plateau"``
            (``ReduceLROnPlateau(monitor, factor=gamma, patience=lr_patience)``),
            or a callback (used as it is).
        epochs: the epochs (or with ``interval="step"``, updates) training will run.
        monitor, min_delta: what early stopping and the plateau schedule watch.
        base_lr: the schedules' starting rate (default: the optimizer's as training
            begins; pass the model's ``lr`` so that a resumed run continues its curve).
    Returns ``[schedule, early stopping]``, without the ones turned off.
    """
    out = []
    if isinstance(lr_schedule, Callback):
        out.append(lr_schedule)
    elif lr_schedule not in (None, "none"):
        if lr_schedule not in SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {', '.join(SCHEDULES)} or a callback, got {lr_schedule!r}")
        total = max(1, int(epochs))
        if lr_schedule == "step":
            out.append(StepLR(step_size or max(1, total // 3), gamma, interval, base_lr))
        elif lr_schedule == "cosine":
            out.append(CosineAnnealingLR(total, interval=interval, base_lr=base_lr))
        else:
            out.append(ReduceLROnPlateau(monitor, factor=gamma, patience=lr_patience, min_delta=min_delta))
    if isinstance(early_stopping, Callback):
        out.append(early_stopping)
    elif early_stopping is not None and early_stopping is not False and early_stopping != 0:
        patience = 10 if early_stopping is True else early_stopping
        out.append(EarlyStopping(monitor, min_delta=min_delta, patience=patience))
    return out


def needs_validation(callbacks):
    """Whether any callback monitors a validation metric (``val_*``): the model
    then holds out ``validation_fraction`` of its training data when given none."""
    return any(isinstance(cb, _Monitor) and cb.monitor.startswith("val_") for cb in callbacks)


def stop_reason(callbacks):
    """The first ``stop_reason`` set among ``callbacks`` (``None``: none stopped)."""
    return next((cb.stop_reason for cb in callbacks if getattr(cb, "stop_reason", None)), None)


def check_control_params(early_stopping, lr_schedule, validation_fraction=None):
    """Refuse constructor settings of the controls that no training can use, in one line each."""
    if not (early_stopping is None or isinstance(early_stopping, bool)
            or (isinstance(early_stopping, (int, np.integer)) and early_stopping >= 0)):
        raise ValueError(f"early_stopping must be None, True/False or a patience (an integer >= 1), got "
                         f"{early_stopping!r}; pass an EarlyStopping object to fit(callbacks=[...])")
    if not (lr_schedule is None or (isinstance(lr_schedule, str) and lr_schedule in SCHEDULES)):
        raise ValueError(f"lr_schedule must be one of {', '.join(SCHEDULES)} (or None), got {lr_schedule!r}; "
                         "pass a schedule object to fit(callbacks=[...])")
    if validation_fraction is not None and (not _finite(validation_fraction) or not 0 < validation_fraction < 1):
        raise ValueError(f"validation_fraction must be a number in (0, 1), got {validation_fraction!r}")


class Validation(Callback):
    """Put ``score()`` (a validation loss) into each epoch's metrics as ``name``,
    for the controls and loggers after it.  Models place it first."""

    def __init__(self, score, name="val_loss"):
        self.score, self.name = score, name

    def on_epoch_end(self, epoch, metrics):
        metrics[self.name] = float(self.score())


class MetricsLog(Callback):
    """One line per epoch into ``log(**fields)`` (e.g. :meth:`rnnkit.runs.RunDir.log`):
    ``step`` (epochs done), ``loss``, the epoch's ``val_*`` metrics and the
    learning rate ``lr`` it trained with; and the ``stop`` line of
    :class:`LogStop`.  Put it after the controls."""

    def __init__(self, log):
        self.log, self.stop = log, None

    def on_train_begin(self, trainer):
        self.trainer, self.lr = trainer, trainer.optimizer.lr
        self.stop = LogStop(self.log)

    def on_epoch_begin(self, epoch):
        self.lr = self.trainer.optimizer.lr                  # after the schedules set it

    def on_epoch_end(self, epoch, metrics):
        self.stop.on_epoch_end(epoch, metrics)
        self.log(step=epoch, loss=metrics["loss"], lr=self.lr,
                 **{k: v for k, v in metrics.items() if k.startswith("val_")})

    def on_train_end(self, trainer):
        self.stop.on_train_end(trainer)


class EpochProgress(Callback):
    """Advance a progress bar (:func:`rnnkit.progress.progress`) one epoch at each
    epoch's end, with the epoch's loss (and validation loss) beside it."""

    def __init__(self, bar):
        self.bar = bar

    def on_epoch_end(self, epoch, metrics):
        shown = {k: f"{metrics[k]:.4g}" for k in ("loss", "val_loss") if k in metrics}
        self.bar.set_postfix(**shown)
        self.bar.update(1)

    def on_train_end(self, trainer):
        self.bar.close()


class LogStop(Callback):
    """Log one ``stop`` line when a control stopped training: at the end,
    ``log(step=..., stop=reason)`` (with ``best``, ``best_at`` and ``restored``
    of an early stop); ``step`` counts epochs (``unit="epoch"``) or updates, as
    the run's other lines do.  Put it after the controls."""

    def __init__(self, log, unit="epoch"):
        self.log, self.unit, self.epoch = log, unit, 0

    def on_epoch_end(self, epoch, metrics):
        self.epoch = epoch

    def on_train_end(self, trainer):
        reason = stop_reason(trainer.callbacks)
        if not reason or self.log is None:
            return
        fields = {"step": trainer.step if self.unit == "step" else self.epoch, "stop": reason}
        es = next((cb for cb in trainer.callbacks if isinstance(cb, EarlyStopping) and cb.stop_reason), None)
        if es is not None:
            fields.update(best=es.best, best_at=es.best_at, restored=es.restored)
        self.log(**fields)
