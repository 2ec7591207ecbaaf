"""What the time loops share: the cache a forward pass leaves for its backward
pass, the lending of buffers between passes, and the packing of sequences by
length.

Everything is time-major: ``x`` ``(T, B, D)``, outputs ``(T, B, S)``.  The
state buffers of a cache are ``(T+1, B, ·)`` and index ``t`` is the state
before step ``t`` going forward (:func:`prev_new`), for either direction.

*Packing.*  When the mask comes from lengths (``mask[t, b]`` is
``t < length_b``), the compiled loops reorder the batch by decreasing length,
so that the live sequences of every step are the first ``count[t]`` rows, and
compute only those rows: the work of PyTorch's ``pack_padded_sequence``
without asking the caller to sort.  Outputs, final state and gradients go back
to the caller's order; the cache stays in the packed order (``order``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..tokens import TokenInput


@dataclass
class SequenceCache:
    """What the backward pass needs from one forward pass (all time-indexed)."""

    loop: str                # the loop that made it: "reference", "rows" or "columns" (rnnkit.engine)
    x: np.ndarray            # (T, B, D) or a TokenInput
    states: tuple            # each (T+1, B, ·); states[j][t] is the state before step t (forward)
    hd: np.ndarray | None    # (T, B, S) dropped-out h fed to W_hh, None without dropout
    mem: dict                # name -> (T, B, width) filled by the cell (columns: (T, width, B))
    mask: np.ndarray | None  # (T, B) bool
    rmask: np.ndarray | None  # (B, S)
    reverse: bool
    order: np.ndarray | None = None   # (B,) batch order of every array above (packed), None: as given
    counts: np.ndarray | None = None  # (T,) live sequences per step (packed: rows [0, count) live)

    def gate_activations(self):
        """``(T, B, G*H)``: the post-nonlinearity gates of every step, in the
        caller's batch order (whatever the layout the loop kept them in); for a
        plain RNN, which has no gates, its one activation ``h_t``."""
        if "act" not in self.mem:                      # plain RNN: h_t = act(W x_t + U h_{t-1} + b)
            h = self.states[0]
            act = h[:-1] if self.reverse else h[1:]
        else:
            act = self.mem["act"]
        if self.loop == "columns":
            act = act.transpose(0, 2, 1)
        if self.order is not None:
            return act[:, np.argsort(self.order)]
        return act


def prev_new(t, reverse):
    """Indices into the (T+1)-long state buffers of the state before and after step t."""
    return (t + 1, t) if reverse else (t, t + 1)


def buffer(buffers, name, shape, dtype):
    """An uninitialised array for ``name``: the one in ``buffers`` when its shape
    and dtype fit (kept there by the caller between passes, so large arrays are
    not mapped and zeroed by the OS on every pass), a new one otherwise."""
    if buffers is None:
        return empty(shape, dtype)
    a = buffers.get(name)
    if a is None or a.shape != shape or a.dtype != dtype:
        a = buffers[name] = empty(shape, dtype)
    return a


def empty(shape, dtype, align=64):
    """``np.empty(shape, dtype)`` starting on an ``align``-byte boundary (a cache
    line): threads that write neighbouring row ranges of the column loop's
    ``(·, B)`` arrays (:func:`rnnkit.threads.block_ranges`, whole blocks of at
    least 8 rows) then rarely write into the same cache line (two threads' gate
    kernels took 2.5x longer when they shared lines at every row)."""
    dtype = np.dtype(dtype)
    n = math.prod(shape)
    raw = np.empty(n * dtype.itemsize + align, np.uint8)
    start = -raw.ctypes.data % align
    return raw[start:start + n * dtype.itemsize].view(dtype).reshape(shape)


def packing(mask):
    """``(order, counts)`` when ``mask`` comes from lengths (``mask[t, b]`` is
    ``t < length_b``) and some step is padded: the batch order by decreasing
    length (stable; ``None`` when already so) and the number of live sequences
    at each step, so that in that order the live rows of every step are a
    prefix.  ``None`` otherwise."""
    if mask is None:
        return None
    T, B = mask.shape
    lengths = mask.sum(axis=0)
    counts = mask.sum(axis=1)
    if counts.min() == B or not np.array_equal(mask, np.arange(T)[:, None] < lengths):
        return None
    order = np.argsort(-lengths, kind="stable")
    return (None if np.array_equal(order, np.arange(B)) else order), counts


def pack(order, x, state0, mask, rmask):
    """``x``, ``state0``, ``mask`` and ``rmask`` in the packed batch ``order``."""
    if order is None:
        return x, state0, mask, rmask
    x = x.take(order) if isinstance(x, TokenInput) else np.take(x, order, axis=1)
    return (x, tuple(s0[order] for s0 in state0), mask[:, order],
            rmask[order] if rmask is not None else None)


def caller_order(order, seq, state):
    """``seq`` ``(T, B, ·)`` and the tuple ``state`` of ``(B, ·)`` back in the
    caller's batch order from the packed ``order`` (``None``: as they are)."""
    if order is None:
        return seq, state
    inverse = np.argsort(order)
    return None if seq is None else np.take(seq, inverse, axis=1), tuple(s[inverse] for s in state)


def packed_grads_in(order, dhs, dstate_T):
    """The backward pass's incoming gradients in the cache's packed ``order``."""
    if order is None:
        return dhs, dstate_T
    return (np.take(dhs, order, axis=1) if dhs is not None else None,
            tuple(None if d is None else np.asarray(d)[order] for d in dstate_T or ()))


def backward_order(order, x, dx, dstate0):
    """``(dx, dstate0)`` back in the caller's batch order; for token inputs
    (:mod:`rnnkit.tokens`) ``dx`` is the embedding's gradient, which has no batch axis."""
    if isinstance(x, TokenInput):
        return dx, caller_order(order, None, dstate0)[1]
    return caller_order(order, dx, dstate0)


def project(x, W_ih, out):
    """``out = x @ W_ih.T`` ``(T*B, G*H)`` for vectors or token ids."""
    if isinstance(x, TokenInput):
        return x.project_rows(W_ih, out)
    T, B, D = x.shape
    return np.matmul(x.reshape(T * B, D), W_ih.T, out=out)


def input_grads(x, dxp2, W_ih, need_dx):
    """``(dW_ih, dx)`` from the projection's gradient ``dxp2`` ``(T*B, G*H)``:
    ``dx`` ``(T, B, D)``, or for token ids the embedding's gradient ``(V, D)``
    (``None`` for one-hot ids, or when ``need_dx`` is false for vectors)."""
    if isinstance(x, TokenInput):
        return x.grads_rows(dxp2, W_ih)
    T, B, D = x.shape
    dW_ih = dxp2.T @ x.reshape(T * B, D)
    return dW_ih, ((dxp2 @ W_ih).reshape(T, B, D) if need_dx else None)
