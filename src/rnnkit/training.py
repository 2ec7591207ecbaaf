"""The training loop: one loop for every rnnkit model.

A model supplies only what is its own: how one batch goes forward and back
(``train_step``), where its gradients are (``grads``), its optimizer, where its
batches come from, and callbacks for what it does between steps (logging,
validation, checkpoints, progress).  :class:`Trainer` owns the rest::

    for each epoch:                                   on_epoch_begin(epoch)
        for batch in batches(epoch):
            loss, state = train_step(batch, state)    # forward + BPTT, gradients filled
            g = grads()                               # several processes, one model: g, loss of the
                                                      # whole batch (reduce=, rnnkit.distributed)
            norm = clip(g)                            # by value, then by global L2 norm
                                                      on_before_update(g, metrics)
            optimizer.step(g)
            state = copy(state)                       # carried into the next step
            step += 1                                 on_step_end(step, metrics)
                                                      on_epoch_end(epoch + 1, metrics)

Gradients need no zeroing: an rnnkit ``backward`` overwrites them.  The carried
``state`` is what truncated BPTT passes from one window to the next (``None``
for models that start every batch from zeros); ``train_step`` decides whether
to start from it.

Callbacks follow :class:`Callback`: any object with any of its methods.  One of
``on_before_update``, ``on_step_end`` or ``on_epoch_end`` returning True stops
training (``on_before_update``: before that update is made).  Callbacks run in
the order given and share one ``metrics`` dict per step and per epoch, so a
callback can add entries for those after it (a validation loss for an
early-stopping rule, diagnostics for a logger).

Divergence is caught here, once, for every model.  Before each update the
trainer checks the step: a loss or global gradient norm that is NaN or
infinite, a carried state that is not finite, or a loss above
``explode`` (default 100) times ``max(the first loss, the median of the last
50 losses)``, which no run that is still learning reaches (a fresh model's
loss is the loss of knowing nothing; a spike of a few times it is ordinary
noise, a hundred times is weights blown up).  Such a step's update is not
made, and the update before it, which made the weights that diverged, is
undone (the trainer keeps the weights from before each update); an update
that would itself make a parameter non-finite is undone at once.  Then
training stops with a :class:`DivergenceError` naming the step, the cause and
the fix (a lower learning rate, gradient clipping), before the callbacks see
the step: the model holds the weights of the last step whose loss was seen in
range, and nothing is written from the diverged ones (``divergence="stop"``
ends training quietly instead, the error kept in ``diverged``).  A model that
checkpoints should write a step's checkpoint once the next step passed this
check (in ``on_before_update``), as the language model does.  NumPy's
overflow warnings inside a step are silenced: this check reports the step once.
"""
from __future__ import annotations

import math
import time

import numpy as np

from .optim import clip_grad_norm, clip_grad_value, grad_norm
from .threads import STEP_MIN_WORK, ThreadTuner

HOOKS = ("on_train_begin", "on_epoch_begin", "on_before_update", "on_step_end", "on_epoch_end", "on_train_end")


class Callback:
    """The callback protocol; every method is optional.  Subclass it, or build
    one from functions: ``Callback(on_epoch_end=lambda epoch, metrics: ...)``.

    ``step`` counts the updates done (this one included); ``epoch`` counts the
    epochs done (``on_epoch_begin``: those before this one).  Step ``metrics``:
    ``loss``, ``batch_size`` (the batch's weight in the epoch's mean loss),
    ``seconds`` (the step's wall time, set after the update) and ``grad_norm``
    (the global norm before any clipping; only when the trainer clips or
    ``measure_norm``).  Epoch ``metrics``: ``loss`` (mean of the step losses,
    weighted by ``batch_size``) and ``steps``.
    """

    def __init__(self, **hooks):
        for name, fn in hooks.items():
            if name not in HOOKS:
                raise TypeError(f"unknown callback hook {name!r}; use one of {', '.join(HOOKS)}")
            setattr(self, name, fn)

    def on_train_begin(self, trainer):
        """Before the first step; ``trainer`` gives the step count, the carried state."""

    def on_epoch_begin(self, epoch):
        """Before the epoch's first batch is drawn."""

    def on_before_update(self, grads, metrics):
        """After clipping, before the optimizer step; True skips the update and stops."""

    def on_step_end(self, step, metrics):
        """After the update and the state carry; True stops training."""

    def on_epoch_end(self, epoch, metrics):
        """After the epoch's last step (or the step that stopped training); True stops."""

    def on_train_end(self, trainer):
        """After the last epoch, or a stop; not after an exception."""


class TrainMode(Callback):
    """``module.train()`` as each epoch begins, ``module.eval()`` as it ends (so
    whatever runs between epochs, such as validation, sees evaluation mode)."""

    def __init__(self, module):
        self.module = module

    def on_epoch_begin(self, epoch):
        self.module.train()

    def on_epoch_end(self, epoch, metrics):
        self.module.eval()


def clip_gradients(grads, clip_norm=None, clip_value=None, measure=False):
    """Clip ``grads`` in place: every element into ``[-clip_value, clip_value]``,
    then by global L2 norm to ``clip_norm`` (``None``: not that one).  Returns
    the global norm before any clipping, or ``None`` when nothing clipped and
    not ``measure``."""
    norm = None
    if clip_value is not None:
        norm = clip_grad_value(grads, clip_value)
    if clip_norm is not None:
        after_value = clip_grad_norm(grads, clip_norm)
        norm = after_value if norm is None else norm
    if norm is None and measure:
        norm = grad_norm(grads)
    return norm


def carried(state):
    """A copy of a carried state: arrays copied through nested tuples (the next
    forward pass may reuse the buffers its predecessor returned)."""
    if isinstance(state, np.ndarray):
        return state.copy()
    if isinstance(state, tuple):
        return tuple(carried(s) for s in state)
    return state


def joint_parameters(**modules):
    """Parameters of several modules for one optimizer, each name prefixed by its
    keyword: ``joint_parameters(rnn=lstm, head=dense)`` -> ``{"rnn.weight_ih_l0": ..., "head.weight": ...}``."""
    return {k: v for name, m in modules.items() for k, v in m.named_parameters(name + ".").items()}


def joint_grads(**modules):
    """The gradients of :func:`joint_parameters`, keyed alike."""
    return {k: v for name, m in modules.items() for k, v in m.named_grads(name + ".").items()}


EXPLODE = 100.0          # a loss this many times its reference is divergence (see the module docstring)
RECENT = 50              # losses in the running median of that reference


class DivergenceError(RuntimeError):
    """Training diverged (see the module docstring).  ``step``: the step whose
    check failed (its update was not made); ``cause``: what was seen, in words;
    ``weights_step``: the step whose weights the model holds now."""

    def __init__(self, message, step, cause, weights_step):
        super().__init__(message)
        self.step, self.cause, self.weights_step = step, cause, weights_step


def finite_state(state):
    """Whether every array in a carried ``state`` (nested tuples) is finite."""
    if isinstance(state, np.ndarray):
        return state.dtype.kind not in "fc" or bool(np.isfinite(state).all())
    if isinstance(state, tuple):
        return all(finite_state(s) for s in state)
    return True


class Trainer:
    """The step loop (see the module docstring).

    Arguments:
        train_step: ``train_step(batch, state) -> (loss, state)``: the forward pass
            and BPTT of one batch from the carried ``state``; fills the gradients.
        grads: ``grads() -> {name: array}``, keyed like the optimizer's parameters.
        optimizer: an :mod:`rnnkit.optim` optimizer.
        clip_norm, clip_value: clipping (:func:`clip_gradients`); ``None``: none.
        measure_norm: put ``grad_norm`` in the step metrics even without clipping.
        batch_size: ``batch_size(batch)``, the batch's weight in the epoch's mean
            loss (e.g. ``len``); default 1 each.
        callbacks: objects following :class:`Callback`.
        step: updates done before (a resumed run).   state: the state carried
            into the first step.
        explode: the factor of the divergence rule (``None``: only non-finite
            values are divergence).   start_loss: the reference loss of that
            rule for a resumed run (default: the first loss of this trainer).
        divergence: ``"raise"`` (default) a :class:`DivergenceError`, or
            ``"stop"``: end training as a callback's stop would, the error in
            ``diverged``.
        reduce: for one model trained by several processes
            (:class:`rnnkit.distributed.GradientAllreduce`):
            ``reduce(batch, loss, grads, state) -> (loss, state_finite)``, called
            after ``train_step``, before clipping: makes ``grads`` (in place) and
            the loss those of the whole batch, and says whether every process's
            carried state is finite.  ``None`` (default): one process.

    After :meth:`fit`: ``step``, ``state``, ``losses`` (the loss of each update of
    that call), ``history`` (its epochs' metrics) and ``diverged`` (``None``, or
    the :class:`DivergenceError` that stopped it).
    """

    def __init__(self, train_step, grads, optimizer, *, clip_norm=None, clip_value=None, measure_norm=False,
                 batch_size=None, callbacks=(), step=0, state=None, explode=EXPLODE, start_loss=None,
                 divergence="raise", reduce=None):
        if divergence not in ("raise", "stop"):
            raise ValueError(f"divergence must be 'raise' or 'stop', got {divergence!r}")
        self.train_step, self.grads, self.optimizer = train_step, grads, optimizer
        self.clip_norm, self.clip_value, self.measure_norm = clip_norm, clip_value, measure_norm
        self.batch_size = batch_size or (lambda batch: 1)
        self.callbacks = list(callbacks)
        self.step, self.state = step, state
        self.explode, self.start_loss, self.divergence = explode, start_loss, divergence
        self.reduce = reduce
        self.losses, self.history, self.diverged = [], [], None
        self._recent, self._backup, self._undoable = [], {}, False
        self._threads, self._work = ThreadTuner(), None

    def _call(self, hook, *args):
        """Call ``hook`` on every callback that has it; True when one asks to stop."""
        stop = False
        for cb in self.callbacks:
            fn = getattr(cb, hook, None)
            if fn is not None and fn(*args):
                stop = True
        return stop

    def update(self, batch):
        """One step on ``batch``: forward and BPTT, clipping, the optimizer step,
        the state carried.  Returns the step's metrics, or ``None`` when a
        callback stopped training before the update.

        The whole step runs under one thread setting, one thread or rnnkit's
        split over the cores, chosen by timing steps
        (:class:`rnnkit.threads.ThreadTuner`, where the user set none): on a busy
        machine the head's and the loss's products go to one thread with the
        layers'.  OpenBLAS's own threads are not timed here: their spinning
        after a step slowed the split step after it, and the tuner then kept
        them (measured: 113 ms a step against 81 for the split, the README's
        model).  Steps of fewer than :data:`rnnkit.threads.STEP_MIN_WORK`
        multiply-adds run as they are."""
        if self._work is None:                    # the first step: measures the model and runs as it is
            metrics = self._update(batch)
            params = sum(np.size(g) for g in self.grads().values())
            self._work = 3 * params * max(1, int(self.batch_size(batch)))
            return metrics
        if self._work < STEP_MIN_WORK:
            return self._update(batch)
        return self._threads.run("step", self._work, self._update, batch, ways=("one", "split"))

    def _update(self, batch):
        t0 = time.perf_counter()
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):     # reported below, once
            loss, state = self.train_step(batch, self.state)
            grads = self.grads()
            if self.reduce is None:
                state_finite = finite_state(state)
            else:                                 # the whole batch's gradient, on every process alike
                loss, state_finite = self.reduce(batch, loss, grads, state)
            norm = clip_gradients(grads, self.clip_norm, self.clip_value, measure=True)
        metrics = {"loss": loss, "batch_size": self.batch_size(batch)}
        if self.clip_norm is not None or self.clip_value is not None or self.measure_norm:
            metrics["grad_norm"] = norm
        cause = self._divergence(loss, norm, state_finite)
        if cause is not None:                     # the update before made this: undone too
            return self._diverge(cause, undo=True)
        if self._call("on_before_update", grads, metrics):
            return None
        cause = self._apply(grads)
        if cause is not None:
            return self._diverge(cause, undo=False)
        self.state = carried(state)
        self.step += 1
        metrics["seconds"] = time.perf_counter() - t0
        return metrics

    def _divergence(self, loss, norm, state_finite):
        """What makes this step a divergence, in words, or ``None`` (see the module docstring);
        ``state_finite``: whether the carried state is finite."""
        loss = float(loss)
        if not math.isfinite(loss):
            return f"the loss is {loss}"
        if not math.isfinite(norm):
            return f"the gradient norm is {norm}"
        if not state_finite:
            return "the hidden state carried to the next step is not finite"
        if self.start_loss is None:
            self.start_loss = loss
        median = float(np.median(self._recent)) if self._recent else 0.0
        ref = max(self.start_loss, median)
        if self.explode is not None and ref > 0 and loss > self.explode * ref:
            what = "its start" if ref == self.start_loss else "its recent median"
            return f"the loss rose to {loss:.4g}, over {self.explode:g} times {what} ({ref:.4g})"
        self._recent = self._recent[-(RECENT - 1):] + [loss]
        return None

    def _apply(self, grads):
        """The optimizer's step, the weights before it kept (in place) so that it
        can be undone; one that makes a parameter non-finite is undone at once,
        and its cause returned; else ``None``."""
        params = getattr(self.optimizer, "params", None)
        if not isinstance(params, dict):
            self.optimizer.step(grads)
            return None
        for k in grads:
            self._backup.setdefault(k, np.empty_like(params[k]))
            np.copyto(self._backup[k], params[k])
        self._undoable = True
        with np.errstate(over="ignore", invalid="ignore"):
            self.optimizer.step(grads)
        bad = next((k for k in grads if not np.isfinite(params[k]).all()), None)
        if bad is None:
            return None
        self._undo()
        return f"the update made {bad!r} non-finite"

    def _undo(self):
        """Put back the weights from before the last update (and the optimizer's
        step count; its moments keep that step); ``False`` when there is none."""
        if not self._undoable:
            return False
        params = self.optimizer.params
        for k, saved in self._backup.items():
            np.copyto(params[k], saved)
        if isinstance(getattr(self.optimizer, "steps", None), int):
            self.optimizer.steps -= 1
        self._undoable = False
        return True

    def _diverge(self, cause, undo):
        """Stop on divergence (``undo``: the last update made the diverging
        weights, so it is undone too): raise, or (``divergence="stop"``) keep the
        error and return ``None``."""
        weights = self.step - 1 if undo and self._undo() else self.step
        lr = getattr(self.optimizer, "lr", None)
        fix = f"lower the learning rate ({'now ' + format(lr, 'g') + ': ' if lr is not None else ''}--lr, lr=)"
        if self.clip_norm is None and self.clip_value is None:
            fix += " or turn on gradient clipping (--clip 1, clip=1)"
        else:
            fix += f" or clip harder (now {self.clip_norm if self.clip_norm is not None else self.clip_value:g}: " \
                   "a smaller --clip, clip=)"
        err = DivergenceError(f"training diverged at step {self.step + 1}: {cause}; stopped with the weights of "
                              f"step {weights}, the last that did not diverge; {fix}", self.step + 1, cause, weights)
        if self.divergence == "raise":
            raise err
        self.diverged = err
        return None

    def fit(self, batches, epochs=1, start_epoch=0):
        """Train from epoch ``start_epoch`` until ``epochs`` are done;
        ``batches(epoch)`` gives each epoch's batches (drawn as it begins).
        Returns ``self``."""
        self.losses, self.history, self.diverged = [], [], None
        self._call("on_train_begin", self)
        stop = False
        for epoch in range(start_epoch, epochs):
            self._call("on_epoch_begin", epoch)
            total = count = 0.0
            steps = 0
            for batch in batches(epoch):
                metrics = self.update(batch)
                if metrics is None:
                    stop = True
                    break
                self.losses.append(metrics["loss"])
                total += metrics["loss"] * metrics["batch_size"]
                count += metrics["batch_size"]
                steps += 1
                if self._call("on_step_end", self.step, metrics):
                    stop = True
                    break
            summary = {"loss": total / max(count, 1), "steps": steps}
            self.history.append(summary)
            if self._call("on_epoch_end", epoch + 1, summary) or stop:
                break
        self._call("on_train_end", self)
        return self
