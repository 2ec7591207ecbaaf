"""Training on long streams with truncated backpropagation through time.

TBPTT(k1, k2) (Williams & Peng 1990; Sutskever 2013): every ``k1`` new steps,
run BPTT over the last ``k2`` steps (``k2 >= k1``), starting from the state
carried from ``k2`` steps back.  ``k1 == k2`` is the usual stateful chunking of
the seeds' case study: the final state of one chunk starts the next.
"""
from __future__ import annotations

import numpy as np

from .losses import softmax_cross_entropy
from .training import Callback, Trainer, carried


def tbptt_schedule(n_steps, k1, k2=None):
    """Windows of TBPTT(k1, k2) over a stream of ``n_steps``.

    Returns a list of ``(start, stop, loss_from)``: run the forward pass over
    ``[start, stop)``, count the loss on ``[loss_from, stop)`` only (the ``k1``
    new steps) and back-propagate through the whole window: the new steps and
    the ``k2 - k1`` steps of context before them.  The last window may hold
    fewer new steps.
    """
    k2 = k1 if k2 is None else k2
    if k1 < 1 or k2 < k1:
        raise ValueError(f"truncated BPTT needs 1 <= k1 <= k2, got k1={k1}, k2={k2}")
    out = []
    stop = 0
    while stop < n_steps:
        loss_from = stop
        stop = min(stop + k1, n_steps)
        out.append((max(0, loss_from - (k2 - k1)), stop, loss_from))
    return out


def _window_start(net, inputs, carried, start):
    """The state at ``start``, from the ``carried`` ``(at, state at, stop, state at stop)``
    of the window before: its final state when ``start`` is where it stopped
    (``k1 == k2``), else its start state run forward to ``start`` with the
    weights as updated since (``k2 > k1``)."""
    at, s_at, stop, s_stop = carried
    if start == stop:
        return s_stop
    if start > at:
        _, s_at = net.forward(inputs[:, at:start], s_at, keep_cache=False)
    return s_at


def fit_stream(net, inputs, targets, optimizer, k1, k2=None, clip_norm=None, clip_value=None,
               state=None, callback=None):
    """One pass of TBPTT(k1, k2) over batched token streams (the loop of
    :class:`rnnkit.training.Trainer`, one window a step).

    ``net`` is a :class:`rnnkit.models.TokenRNN` (or anything with the same
    ``forward(ids, state, keep_cache)`` / ``backward(dlogits)`` /
    ``named_parameters()`` / ``named_grads()``); ``inputs`` and ``targets``
    ``(B, N)`` ints.  Gradients are clipped by value (``clip_value``), then by
    global norm (``clip_norm``).  ``callback(window_index, loss, grad_norm)`` runs
    after each update, ``grad_norm`` the global gradient norm before any clipping.
    Returns ``(mean loss per window list, final state)``.
    """
    inputs, targets = np.asarray(inputs), np.asarray(targets)
    B, N = inputs.shape
    windows = tbptt_schedule(N, k1, k2)
    if not windows:
        return [], state

    def train_step(window, carried):
        start, stop, loss_from = window
        s0 = _window_start(net, inputs, carried, start)
        logits, s_end = net.forward(inputs[:, start:stop], s0)
        mask = np.zeros((B, stop - start), dtype=bool)
        mask[:, loss_from - start:] = True                    # the loss counts the k1 new steps only
        loss, dlogits = softmax_cross_entropy(logits, targets[:, start:stop], mask=mask)
        net.backward(dlogits)
        return loss, (start, s0, stop, s_end)

    hooks = [Callback(on_step_end=lambda step, m: callback(step - 1, m["loss"], m["grad_norm"]))] if callback else []
    trainer = Trainer(train_step, net.named_grads, optimizer, clip_norm=clip_norm, clip_value=clip_value,
                      measure_norm=callback is not None, callbacks=hooks, state=(0, carried(state), 0, carried(state)))
    trainer.fit(lambda epoch: windows)
    return trainer.losses, trainer.state[3]
