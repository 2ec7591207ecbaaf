"""Training on long streams with truncated backpropagation through time.

TBPTT(k1, k2) (Williams & Peng 1990; Sutskever 2013): every ``k1`` new steps,
run BPTT over the last ``k2`` steps (``k2 >= k1``), starting from the state
carried from ``k2`` steps back.  ``k1 == k2`` is the usual stateful chunking of
the seeds' case study: the final state of one chunk starts the next.
"""
from __future__ import annotations

import numpy as np

from .losses import softmax_cross_entropy
from .optim import clip_grad_norm, clip_grad_value, grad_norm


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


def _copy_state(state):
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.copy() for s in state)
    return state.copy()


def fit_stream(net, inputs, targets, optimizer, k1, k2=None, clip_norm=None, clip_value=None,
               state=None, callback=None):
    """One pass of TBPTT(k1, k2) over batched token streams.

    ``net`` is a :class:`rnnkit.models.TokenRNN` (or anything with the same
    ``forward(ids, state, keep_cache)`` / ``backward(dlogits)`` /
    ``named_parameters()`` / ``named_grads()``); ``inputs`` and ``targets``
    ``(B, N)`` ints.  ``callback(window_index, loss, grad_norm)`` runs after
    each update, ``grad_norm`` the global gradient norm before any clipping.
    Returns ``(mean loss per window list, final state)``.
    """
    inputs, targets = np.asarray(inputs), np.asarray(targets)
    B, N = inputs.shape
    windows = tbptt_schedule(N, k1, k2)
    s0 = _copy_state(state)                   # the state at windows[w][0]
    losses = []
    for w, (start, stop, loss_from) in enumerate(windows):
        logits, s_end = net.forward(inputs[:, start:stop], s0)
        mask = np.zeros((B, stop - start), dtype=bool)
        mask[:, loss_from - start:] = True
        loss, dlogits = softmax_cross_entropy(logits, targets[:, start:stop], mask=mask)
        net.backward(dlogits)
        grads = net.named_grads()
        norm = None                           # the global norm before any clipping, for the callback
        if clip_value is not None:
            norm = clip_grad_value(grads, clip_value)
        if clip_norm is not None:
            after_value = clip_grad_norm(grads, clip_norm)
            norm = after_value if norm is None else norm
        if norm is None and callback is not None:
            norm = grad_norm(grads)
        optimizer.step(grads)
        losses.append(loss)
        if callback is not None:
            callback(w, loss, norm)
        if w + 1 < len(windows):
            nxt = windows[w + 1][0]
            if nxt == stop:                   # k1 == k2: carry the final state
                s0 = _copy_state(s_end)
            elif nxt > start:                 # k2 > k1: advance with the updated weights
                _, s0 = net.forward(inputs[:, start:nxt], s0, keep_cache=False)
        state = s_end
    return losses, state
