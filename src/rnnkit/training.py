"""The training loop: one loop for every rnnkit model.

A model supplies only what is its own: how one batch goes forward and back
(``train_step``), where its gradients are (``grads``), its optimizer, where its
batches come from, and callbacks for what it does between steps (logging,
validation, checkpoints, progress).  :class:`Trainer` owns the rest::

    for each epoch:                                   on_epoch_begin(epoch)
        for batch in batches(epoch):
            loss, state = train_step(batch, state)    # forward + BPTT, gradients filled
            g = grads()
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
"""
from __future__ import annotations

import time

import numpy as np

from .optim import clip_grad_norm, clip_grad_value, grad_norm

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

    After :meth:`fit`: ``step``, ``state``, ``losses`` (the loss of each update of
    that call) and ``history`` (its epochs' metrics).
    """

    def __init__(self, train_step, grads, optimizer, *, clip_norm=None, clip_value=None, measure_norm=False,
                 batch_size=None, callbacks=(), step=0, state=None):
        self.train_step, self.grads, self.optimizer = train_step, grads, optimizer
        self.clip_norm, self.clip_value, self.measure_norm = clip_norm, clip_value, measure_norm
        self.batch_size = batch_size or (lambda batch: 1)
        self.callbacks = list(callbacks)
        self.step, self.state = step, state
        self.losses, self.history = [], []

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
        callback stopped training before the update."""
        t0 = time.perf_counter()
        loss, state = self.train_step(batch, self.state)
        grads = self.grads()
        metrics = {"loss": loss, "batch_size": self.batch_size(batch)}
        norm = clip_gradients(grads, self.clip_norm, self.clip_value, self.measure_norm)
        if norm is not None:
            metrics["grad_norm"] = norm
        if self._call("on_before_update", grads, metrics):
            return None
        self.optimizer.step(grads)
        self.state = carried(state)
        self.step += 1
        metrics["seconds"] = time.perf_counter() - t0
        return metrics

    def fit(self, batches, epochs=1, start_epoch=0):
        """Train from epoch ``start_epoch`` until ``epochs`` are done;
        ``batches(epoch)`` gives each epoch's batches (drawn as it begins).
        Returns ``self``."""
        self.losses, self.history = [], []
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
