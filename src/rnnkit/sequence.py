"""The time loop: one driver that runs any cell over a whole sequence, in
either direction, with per-sequence lengths and a recurrent-dropout mask.

    forward(cell, p, x, state0, mask, rmask, reverse)  -> (hs, state_T, cache)
    backward(cell, p, cache, dhs, dstate_T)            -> (dx, dstate_0, grads)

``p`` holds one direction of one layer in PyTorch's layout: ``W_ih``
``(G*H, D)``, ``W_hh`` ``(G*H, H)``, ``b_ih``, ``b_hh`` ``(G*H,)`` or ``None``.
Everything is time-major: ``x`` ``(T, B, D)``, ``hs`` ``(T, B, H)``.

Lengths arrive as ``mask`` ``(T, B)`` of booleans (True on real steps).  A
padded step leaves the state as it was and outputs zeros, so the reverse
direction starts at each sequence's own last step and the final state is the
one at that step; in the backward pass padded steps pass the state gradient
through untouched and add nothing to any parameter gradient.

The input projection of all steps is one matrix product before the loop, and
the weight gradients are one product each after it.  ``x`` may also be a
:class:`rnnkit.tokens.TokenInput` (token ids standing for embedding vectors):
the projection is then a lookup in a per-pass table, and the ``dx`` that
:func:`backward` returns is the gradient w.r.t. the embedding's weight
``(V, D)`` instead of ``(T, B, D)``.

Two implementations of the loop share that frame.  The *reference* path
(``fast=False``) calls the cell's readable ``step``/``step_back``.  The *fast*
path (the default, for cells that provide ``step_into``/``step_back_into``)
does the same arithmetic into preallocated buffers: the new state is written
straight into the cache, ``dxp`` straight into its time slot, padded steps are
handled with ``np.copyto(..., where=)`` instead of ``np.where`` copies, and no
per-step temporaries are allocated.  ``tests/test_fast_path.py`` checks that the
two agree.

*Packed loop.*  When the mask comes from lengths (as a layer builds it), the
fast path reorders the batch by decreasing length, so that the live sequences
of every step are the first ``count[t]`` rows, and computes only those rows:
the work of PyTorch's ``pack_padded_sequence`` without asking the caller to sort
(the rows of padded steps carry the state and zero the cache).  The outputs,
final state and gradients go back to the caller's order; the cache stays in
the packed order (``SequenceCache.order``).

*Column loop.*  For an LSTM on the compiled float32 kernels,
:mod:`rnnkit.sequence_columns` runs the loop with the state as columns
(``W_hh @ h``, faster in OpenBLAS), lengths packed as above, the whole
sequence in one compiled call where NumPy's BLAS can be called from it; where
it serves and where the batch-major loop measured faster is
:func:`rnnkit.sequence_columns.applies`.  Its cache says ``columns=True`` and
:func:`backward` hands it back to that module.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import kernels, sequence_columns
from .tokens import TokenInput


@dataclass
class SequenceCache:
    """What the backward pass needs from one forward pass (all time-indexed)."""

    x: np.ndarray            # (T, B, D)
    states: tuple            # each (T+1, B, H); states[j][t] is the state before step t (forward)
    hd: np.ndarray | None    # (T, B, H) dropped-out h fed to W_hh, None without dropout
    mem: dict                # name -> (T, B, width) filled by the cell
    mask: np.ndarray | None  # (T, B) bool
    rmask: np.ndarray | None  # (B, H)
    reverse: bool
    order: np.ndarray | None = None   # (B,) batch order of every array above (packed loop), None: as given
    counts: np.ndarray | None = None  # (T,) live sequences per step (packed loop: rows [0, count) live)
    columns: bool = False    # column layout (rnnkit.sequence_columns): c and mem (T[+1], width, B)

    def gate_activations(self):
        """``(T, B, G*H)``: the post-nonlinearity gates of every step, in the
        caller's batch order (whatever the layout the loop kept them in); for a
        plain RNN, which has no gates, its one activation ``h_t``."""
        if "act" not in self.mem:                      # plain RNN: h_t = act(W x_t + U h_{t-1} + b)
            h = self.states[0]
            act = h[:-1] if self.reverse else h[1:]
        else:
            act = self.mem["act"]
        if self.columns:
            act = act.transpose(0, 2, 1)
        if self.order is not None:
            return act[:, np.argsort(self.order)]
        return act


def _prev_new(t, reverse):
    """Indices into the (T+1)-long state buffers of the state before and after step t."""
    return (t + 1, t) if reverse else (t, t + 1)


def _has_fast(cell, name):
    return callable(getattr(cell, name, None))


def _buffer(buffers, name, shape, dtype):
    """An uninitialised array for ``name``: the one in ``buffers`` when its shape
    and dtype fit (kept there by the caller between passes, so large arrays are
    not mapped and zeroed by the OS on every pass), a new one otherwise."""
    if buffers is None:
        return np.empty(shape, dtype)
    a = buffers.get(name)
    if a is None or a.shape != shape or a.dtype != dtype:
        a = buffers[name] = np.empty(shape, dtype)
    return a


def _packing(mask):
    """``(order, counts)`` when ``mask`` comes from lengths (``mask[t, b]`` is
    ``t < length_b``) and some step is padded: the batch order by decreasing
    length (stable) and the number of live sequences at each step, so that in
    that order the live rows of every step are a prefix.  ``None`` otherwise."""
    if mask is None:
        return None
    T, B = mask.shape
    lengths = mask.sum(axis=0)
    counts = mask.sum(axis=1)
    if counts.min() == B or not np.array_equal(mask, np.arange(T)[:, None] < lengths):
        return None
    order = np.argsort(-lengths, kind="stable")
    return (None if np.array_equal(order, np.arange(B)) else order), counts


def _caller_order(order, seq, state):
    """``seq`` ``(T, B, ·)`` and the tuple ``state`` of ``(B, ·)`` back in the
    caller's batch order from the packed ``order`` (``None``: as they are)."""
    if order is None:
        return seq, state
    inverse = np.argsort(order)
    return None if seq is None else np.take(seq, inverse, axis=1), tuple(s[inverse] for s in state)


def _backward_order(order, x, dx, dstate0):
    """``(dx, dstate0)`` back in the caller's batch order; for token inputs
    (:mod:`rnnkit.tokens`) ``dx`` is the embedding's gradient, which has no batch axis."""
    if isinstance(x, TokenInput):
        return dx, _caller_order(order, None, dstate0)[1]
    return _caller_order(order, dx, dstate0)


def _rows(arrays, n):
    """The first ``n`` rows of each 2-D array in the dict ``arrays`` (other entries as they are)."""
    return {k: v[:n] if isinstance(v, np.ndarray) and v.ndim == 2 else v for k, v in arrays.items()}


def _kernel(cell, dtype):
    """The compiled kernels module if it serves ``cell`` at ``dtype``, else ``None``."""
    return kernels.load() if getattr(cell, "has_kernels", False) and kernels.enabled(dtype) else None


def _workspace(cell, B, H, dtype, kernel):
    """Scratch buffers for the fast loop, and the compiled kernel (or ``None``)."""
    ws = {"t1": np.empty((B, H), dtype), "kernel": kernel}
    if kernel is not None:
        ws["hp"] = np.empty((B, cell.gates * H), dtype)
    return ws


def forward(cell, p, x, state0, mask=None, rmask=None, reverse=False, keep_cache=True, fast=True,
            buffers=None):
    """Run ``cell`` over ``x`` ``(T, B, D)`` from ``state0`` (tuple of ``(B, H)``).

    Returns ``hs`` ``(T, B, H)`` (zeros on padded steps), the final state (each
    sequence's own last step) and a :class:`SequenceCache` (``None`` when
    ``keep_cache`` is false).  ``fast=False`` forces the reference loop.
    ``buffers`` (a dict the caller keeps) lends the arrays of the cache and of
    the input projection from one pass to the next; the caller must no longer
    need the cache of the pass before.
    """
    W_ih, W_hh, b_ih, b_hh = p["W_ih"], p["W_hh"], p.get("b_ih"), p.get("b_hh")
    T, B, D = x.shape
    GH = W_ih.shape[0]
    H = GH // cell.gates
    dtype = W_ih.dtype

    fast_loop = fast and _has_fast(cell, "step_into")
    order = counts = None
    if fast_loop and (packing := _packing(mask)) is not None:
        order, counts = packing                 # packed loop: live rows first, padded rows untouched
        if order is not None:
            x = x.take(order) if isinstance(x, TokenInput) else np.take(x, order, axis=1)
            state0 = tuple(s0[order] for s0 in state0)
            mask = mask[:, order]
            rmask = rmask[order] if rmask is not None else None
    elif mask is not None and mask.all():
        mask = None                             # lengths that pad nothing
    kernel = _kernel(cell, dtype) if fast_loop else None
    if sequence_columns.applies(cell, kernel, mask, counts, rmask, B, T, H, keep_cache):
        hs, final, parts = sequence_columns.forward(cell, kernel, p, x, state0, counts, reverse, keep_cache,
                                                    lambda name, shape: _buffer(buffers, name, shape, dtype))
        hs, final = _caller_order(order, hs, final)
        cache = None if parts is None else SequenceCache(x=x, hd=None, mask=mask, rmask=None, reverse=reverse,
                                                         order=order, counts=counts, columns=True, **parts)
        return hs, final, cache
    fused_bias = kernel is not None and cell.kernel_serves(kernel)   # the kernel adds it
    xp = _buffer(buffers, "xp", (T * B, GH), dtype)
    if isinstance(x, TokenInput):
        x.project_rows(W_ih, xp)
    else:
        np.matmul(x.reshape(T * B, D), W_ih.T, out=xp)
    b_x = b_ih + cell.folded_bias(b_hh) if b_ih is not None else np.zeros(GH, dtype)
    if b_ih is not None and not fused_bias:
        xp += b_x                                                # one pass over xp
    xp = xp.reshape(T, B, GH)
    b_step = b_hh if b_hh is not None else np.zeros(GH, dtype)

    hs = np.empty((T, B, H), dtype)
    steps = range(T - 1, -1, -1) if reverse else range(T)
    if keep_cache:
        states = tuple(_buffer(buffers, f"state{j}", (T + 1, B, H), dtype) for j in range(cell.n_states))
        start = T if reverse else 0
        for buf, s0 in zip(states, state0):
            buf[start] = s0
        mem = {k: _buffer(buffers, "mem_" + k, (T, B, w), dtype) for k, w in cell.cache_widths(H).items()}
        hd_all = _buffer(buffers, "hd", (T, B, H), dtype) if rmask is not None else None
    else:
        mem_step = {k: np.empty((B, w), dtype) for k, w in cell.cache_widths(H).items()}
    state = tuple(state0)
    if fast_loop:
        ws = _workspace(cell, B, H, dtype, kernel)
        ws["bx"] = b_x
        if not keep_cache:
            pingpong = [tuple(np.empty((B, H), dtype) for _ in range(cell.n_states)) for _ in range(2)]
            hd_buf = np.empty((B, H), dtype) if rmask is not None else None
        for k, t in enumerate(steps):
            if keep_cache:
                _, i_new = _prev_new(t, reverse)
                out = tuple(buf[i_new] for buf in states)
                mem_t = {k2: v[t] for k2, v in mem.items()}
                hd = hd_all[t] if rmask is not None else state[0]
            else:
                out = pingpong[k % 2]
                mem_t = mem_step
                hd = hd_buf if rmask is not None else state[0]
            n = B if counts is None else int(counts[t])
            if n < B:                                # packed: rows n.. are padded at step t
                for o, s_ in zip(out, state):
                    o[n:] = s_[n:]
                hs[t, n:] = 0
                for v in mem_t.values():             # finite, and no gradient reaches them
                    v[n:] = 0
                if rmask is not None:
                    hd[n:] = 0
                full_out = out
                state, out, hd = tuple(s_[:n] for s_ in state), tuple(o[:n] for o in out), hd[:n]
                step_mem, step_ws = _rows(mem_t, n), _rows(ws, n)
            else:
                step_mem, step_ws = mem_t, ws
            if rmask is not None:
                np.multiply(state[0], rmask[:n], out=hd)
            if n:
                cell.step_into(W_hh, b_step, xp[t, :n], state, hd, step_mem, out, step_ws)
            if n < B:
                hs[t, :n] = out[0]
                out = full_out
            elif mask is not None and counts is None and not mask[t].all():
                keep = ~mask[t][:, None]
                for o, s_ in zip(out, state):
                    np.copyto(o, s_, where=keep)
                np.multiply(out[0], mask[t][:, None], out=hs[t])
            else:
                hs[t] = out[0]
            state = out
    for t in (steps if not fast_loop else ()):
        h = state[0]
        if rmask is not None:
            hd = hd_all[t] if keep_cache else np.empty_like(h)
            np.multiply(h, rmask, out=hd)
        else:
            hd = h
        mem_t = {k: v[t] for k, v in mem.items()} if keep_cache else mem_step
        new = cell.step(W_hh, b_step, xp[t], state, hd, mem_t)
        if mask is not None and not mask[t].all():
            m = mask[t][:, None]                                 # (B, 1)
            new = tuple(np.where(m, n, s) for n, s in zip(new, state))
            np.multiply(new[0], m, out=hs[t])
        else:
            hs[t] = new[0]
        if keep_cache:
            _, i_new = _prev_new(t, reverse)
            for buf, s in zip(states, new):
                buf[i_new] = s
            state = tuple(buf[i_new] for buf in states)
        else:
            state = new
    hs, final = _caller_order(order, hs, tuple(s.copy() for s in state) if order is None else state)
    if not keep_cache:
        return hs, final, None
    cache = SequenceCache(x=x, states=states, hd=hd_all, mem=mem, mask=mask, rmask=rmask, reverse=reverse,
                          order=order, counts=counts)
    return hs, final, cache


def backward(cell, p, cache, dhs, dstate_T=None, dh_norms=None, fast=True, buffers=None, need_dx=True):
    """BPTT through one :func:`forward` pass.

    ``dhs`` ``(T, B, H)`` is the gradient w.r.t. the outputs (may be ``None``),
    ``dstate_T`` a tuple (entries may be ``None``) w.r.t. the final state.
    Returns ``dx`` ``(T, B, D)``, the gradient w.r.t. ``state0`` (tuple) and
    ``grads`` with the keys of ``p``.  If ``dh_norms`` ``(T,)`` is given, it
    receives at each ``t`` the batch mean of ``‖dL/dh_t‖₂`` (the gradient that
    reaches the step's output state from the loss and the future), at the cost
    of one norm per step.  ``fast=False`` forces the reference loop; ``buffers``
    as in :func:`forward` (for the step gradients, which do not outlive the call).
    ``need_dx=False`` skips the input gradient (one product over all steps) and
    returns ``None`` for it (token inputs still give the embedding's gradient).
    """
    W_ih, W_hh, b_ih, b_hh = p["W_ih"], p["W_hh"], p.get("b_ih"), p.get("b_hh")
    x, states, mask, rmask, reverse = cache.x, cache.states, cache.mask, cache.rmask, cache.reverse
    T, B, D = x.shape
    GH, H = W_hh.shape
    dtype = W_hh.dtype
    b_step = b_hh if b_hh is not None else np.zeros(GH, dtype)

    order, counts = cache.order, cache.counts
    if order is not None:                        # the cache is in packed batch order
        dhs = np.take(dhs, order, axis=1) if dhs is not None else None
        dstate_T = tuple(None if d is None else np.asarray(d)[order] for d in dstate_T or ())
    if cache.columns:                            # whatever ``fast`` says: only the column loop reads this cache
        dx, dstate0, grads = sequence_columns.backward(kernels.load(), p, cache, dhs, dstate_T, dh_norms,
                                                       lambda name, shape: _buffer(buffers, name, shape, dtype),
                                                       need_dx)
        return _backward_order(order, x, dx, dstate0) + (grads,)
    dstate = [np.zeros((B, H), dtype) if (dstate_T is None or d is None) else np.array(d, dtype=dtype)
              for d in (dstate_T or (None,) * cell.n_states)]
    dxp = _buffer(buffers, "dxp", (T, B, GH), dtype)
    dhp = _buffer(buffers, "dhp", (T, B, GH), dtype) if cell.distinct_dhp else dxp
    steps = range(T) if reverse else range(T - 1, -1, -1)
    kernel = _kernel(cell, dtype) if fast else None
    use_fast = fast and _has_fast(cell, "step_back_into") and cell.can_step_back_into(kernel)
    if use_fast:
        ws = _workspace(cell, B, H, dtype, kernel)
        direct = cell.direct_h
        if direct:
            ws["direct"] = np.empty((B, H), dtype)
        spare = [np.empty((B, H), dtype) for _ in range(cell.n_states)]
        for t in steps:
            i_prev, i_new = _prev_new(t, reverse)
            n = B if counts is None else int(counts[t])
            m = mask[t][:, None] if mask is not None and counts is None else None
            if dhs is not None:
                if m is None:
                    dstate[0][:n] += dhs[t, :n]
                else:
                    np.multiply(dhs[t], m, out=ws["t1"])
                    dstate[0] += ws["t1"]
            if dh_norms is not None:
                dh_norms[t] = np.sqrt(np.einsum("bh,bh->b", dstate[0], dstate[0])).mean()
            prev = tuple(buf[i_prev][:n] for buf in states)
            mem_t = {k: v[t, :n] for k, v in cache.mem.items()}
            mem_t["h"] = states[0][i_new][:n]
            partial = m is not None and not mask[t].all()
            if partial:
                kept = [d.copy() for d in dstate]
            if cell.distinct_dhp:
                ws["dhp_t"] = dhp[t]
            if n < B:                                # packed: rows n.. are padded at step t
                dxp[t, n:] = 0
                if cell.distinct_dhp:
                    dhp[t, n:] = 0
                for d, k_ in zip(spare, dstate):
                    d[n:] = k_[n:]
            if n:
                cell.step_back_into(W_hh, mem_t, prev, tuple(d[:n] for d in dstate), dxp[t, :n],
                                    [d[:n] for d in spare], ws if n == B else _rows(ws, n))
            if rmask is not None:
                spare[0][:n] *= rmask[:n]
            if direct:
                spare[0][:n] += ws["direct"][:n]
            if partial:
                dxp[t] *= m
                if cell.distinct_dhp:
                    dhp[t] *= m
                keep = ~m
                for d, k_ in zip(spare, kept):
                    np.copyto(d, k_, where=keep)
            dstate, spare = spare, dstate
    for t in (steps if not use_fast else ()):
        i_prev, i_new = _prev_new(t, reverse)
        if dhs is not None:
            dstate[0] = dstate[0] + dhs[t] if mask is None else dstate[0] + dhs[t] * mask[t][:, None]
        if dh_norms is not None:
            dh_norms[t] = np.sqrt(np.einsum("bh,bh->b", dstate[0], dstate[0])).mean()
        prev = tuple(buf[i_prev] for buf in states)
        new = tuple(buf[i_new] for buf in states)
        hd = cache.hd[t] if cache.hd is not None else prev[0]
        mem_t = {k: v[t] for k, v in cache.mem.items()}
        da, dh_rec, direct, dhd = cell.step_back(W_hh, b_step, mem_t, prev, hd, new, tuple(dstate))
        if rmask is not None:
            dhd *= rmask
        dprev = [dhd if direct[0] is None else dhd + direct[0]]
        dprev += list(direct[1:])
        if mask is not None and not mask[t].all():
            m = mask[t][:, None]
            da = da * m
            if cell.distinct_dhp:
                dh_rec = dh_rec * m
            dprev = [np.where(m, dp, ds) for dp, ds in zip(dprev, dstate)]
        dxp[t] = da
        if cell.distinct_dhp:
            dhp[t] = dh_rec
        dstate = dprev

    dxp2 = dxp.reshape(T * B, GH)
    if isinstance(x, TokenInput):
        dW_ih, dx = x.grads_rows(dxp2, W_ih)                     # dx: the embedding's gradient (V, D)
    else:
        dW_ih, dx = dxp2.T @ x.reshape(T * B, D), None
    grads = {"W_ih": dW_ih}                                      # (G*H, D)
    hd_all = cache.hd if cache.hd is not None else (states[0][1:] if reverse else states[0][:T])
    mem2 = {k: v.reshape(T * B, -1) for k, v in cache.mem.items()}
    grads["W_hh"] = cell.weight_hh_grad(dhp.reshape(T * B, GH), hd_all.reshape(T * B, H), mem2)
    if b_ih is not None:
        grads["b_ih"] = dxp2.sum(axis=0)
        grads["b_hh"] = dhp.reshape(T * B, GH).sum(axis=0) if cell.distinct_dhp else grads["b_ih"].copy()
    if dx is None and need_dx and not isinstance(x, TokenInput):      # one-hot tokens: no gradient
        dx = (dxp2 @ W_ih).reshape(T, B, D)
    return _backward_order(order, x, dx, tuple(dstate)) + (grads,)
