"""The reference time loop: any cell, any dtype, run step by step through the
cell's own readable ``step`` and ``step_back`` (:mod:`rnnkit.cells`).

    forward(cell, p, x, state0, mask, rmask, reverse)  -> (hs, state_T, cache)
    backward(cell, p, cache, dhs, dstate_T)            -> (dx, dstate_0, grads)

This is backpropagation through time as the seeds write it, and the oracle
every other loop is tested against.  ``p`` holds one direction of one layer
(:mod:`rnnkit.cells.base`); ``x`` ``(T, B, D)`` (or a
:class:`rnnkit.tokens.TokenInput`), ``hs`` ``(T, B, S)``.  The input
projection of all steps is one product before the loop, the weight gradients
one product each after it.

Lengths arrive as ``mask`` ``(T, B)`` (True on real steps): a padded step
keeps the state as it was and outputs zeros, so the reverse direction starts
at each sequence's own last step and the final state is the one at that step;
going back, padded steps pass the state gradient through untouched and add
nothing to any parameter gradient.  ``rmask`` ``(B, S)`` is the recurrent
dropout mask, one per sequence for every step: ``hd = h ∘ rmask`` enters the
recurrent product.
"""
from __future__ import annotations

import numpy as np

from .frame import SequenceCache, buffer, input_grads, prev_new, project


def forward(cell, p, x, state0, mask=None, rmask=None, reverse=False, keep_cache=True, buffers=None):
    """Run ``cell`` over ``x`` from ``state0`` (tuple of ``(B, ·)``).  Returns
    ``hs`` (zeros on padded steps), the final state (each sequence's own last
    step) and a :class:`~rnnkit.loops.frame.SequenceCache` (``None`` without
    ``keep_cache``)."""
    W_ih = p["W_ih"]
    T, B, _ = x.shape
    GH = W_ih.shape[0]
    H = GH // cell.gates
    S = cell.state_sizes(H)
    dtype = W_ih.dtype

    xp = project(x, W_ih, buffer(buffers, "xp", (T * B, GH), dtype))
    bias = cell.input_bias(p)
    if bias is not None:
        xp += bias
    xp = xp.reshape(T, B, GH)                                    # (T, B, G*H)

    hs = np.empty((T, B, S[0]), dtype)
    if keep_cache:
        states = tuple(buffer(buffers, f"state{j}", (T + 1, B, w), dtype) for j, w in enumerate(S))
        for buf, s0 in zip(states, state0):
            buf[T if reverse else 0] = s0
        mem = {k: buffer(buffers, "mem_" + k, (T, B, w), dtype) for k, w in cell.cache_widths(H).items()}
        hd_all = buffer(buffers, "hd", (T, B, S[0]), dtype) if rmask is not None else None
    else:
        mem_step = {k: np.empty((B, w), dtype) for k, w in cell.cache_widths(H).items()}
    state = tuple(state0)
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        h = state[0]
        if rmask is not None:                                    # recurrent dropout: one mask per sequence
            hd = hd_all[t] if keep_cache else np.empty_like(h)
            np.multiply(h, rmask, out=hd)
        else:
            hd = h
        mem_t = {k: v[t] for k, v in mem.items()} if keep_cache else mem_step
        new = cell.step(p, xp[t], state, hd, mem_t)
        if mask is not None and not mask[t].all():
            m = mask[t][:, None]                                 # (B, 1): padded rows keep their state
            new = tuple(np.where(m, n, s) for n, s in zip(new, state))
            np.multiply(new[0], m, out=hs[t])
        else:
            hs[t] = new[0]
        if keep_cache:
            _, i_new = prev_new(t, reverse)
            for buf, s in zip(states, new):
                buf[i_new] = s
            state = tuple(buf[i_new] for buf in states)
        else:
            state = new
    final = tuple(np.array(s, copy=True) for s in state)
    if not keep_cache:
        return hs, final, None
    return hs, final, SequenceCache("reference", x=x, states=states, hd=hd_all, mem=mem, mask=mask,
                                    rmask=rmask, reverse=reverse)


def backward(cell, p, cache, dhs, dstate_T=None, dh_norms=None, buffers=None, need_dx=True):
    """BPTT through one :func:`forward` pass.

    ``dhs`` ``(T, B, S)`` is the gradient w.r.t. the outputs (or ``None``),
    ``dstate_T`` a tuple (entries may be ``None``) w.r.t. the final state.
    Returns ``dx`` ``(T, B, D)`` (for token ids the embedding's gradient;
    ``None`` when ``need_dx`` is false), the gradient w.r.t. ``state0`` and
    ``grads`` keyed like ``p``.  ``dh_norms`` ``(T,)``, if given, receives at
    each ``t`` the batch mean of ``‖dL/dh_t‖₂``, the gradient that reaches the
    step's output state from the loss and the future.
    """
    W_ih = p["W_ih"]
    x, states, mask, rmask, reverse = cache.x, cache.states, cache.mask, cache.rmask, cache.reverse
    T, B, _ = x.shape
    GH = W_ih.shape[0]
    H = GH // cell.gates
    dtype = W_ih.dtype
    dstate = [np.zeros((B, s.shape[2]), dtype) if d is None else np.array(d, dtype=dtype)
              for s, d in zip(states, dstate_T or (None,) * len(states))]
    dxp = buffer(buffers, "dxp", (T, B, GH), dtype)
    dhp = buffer(buffers, "dhp", (T, B, GH), dtype) if cell.distinct_dhp else dxp
    dmem = {k: buffer(buffers, "dmem_" + k, (T, B, w), dtype) for k, w in cell.grad_widths(H).items()}
    for t in (range(T) if reverse else range(T - 1, -1, -1)):
        i_prev, i_new = prev_new(t, reverse)
        if dhs is not None:                                      # the output's gradient joins the future's
            dstate[0] = dstate[0] + (dhs[t] if mask is None else dhs[t] * mask[t][:, None])
        if dh_norms is not None:
            dh_norms[t] = np.sqrt(np.einsum("bh,bh->b", dstate[0], dstate[0])).mean()
        prev = tuple(buf[i_prev] for buf in states)
        new = tuple(buf[i_new] for buf in states)
        hd = cache.hd[t] if cache.hd is not None else prev[0]
        mem_t = {k: v[t] for k, v in cache.mem.items()}
        dmem_t = {k: v[t] for k, v in dmem.items()}
        da, dh_rec, direct, dhd = cell.step_back(p, mem_t, prev, hd, new, tuple(dstate), dmem_t)
        if rmask is not None:
            dhd = dhd * rmask                                    # backprop through hd = h ∘ rmask
        dprev = [dhd if direct[0] is None else dhd + direct[0]] + list(direct[1:])
        if mask is not None and not mask[t].all():
            m = mask[t][:, None]                                 # padded rows: no gradient, state passes
            da = da * m
            if cell.distinct_dhp:
                dh_rec = dh_rec * m
            for v in dmem_t.values():
                v *= m
            dprev = [np.where(m, dp, ds) for dp, ds in zip(dprev, dstate)]
        dxp[t] = da
        if cell.distinct_dhp:
            dhp[t] = dh_rec
        dstate = dprev

    dxp2 = dxp.reshape(T * B, GH)
    dW_ih, dx = input_grads(x, dxp2, W_ih, need_dx)
    hd_all = cache.hd if cache.hd is not None else (states[0][1:] if reverse else states[0][:T])
    grads = {"W_ih": dW_ih}
    grads.update(cell.param_grads(p, dxp2, dhp.reshape(T * B, GH), hd_all.reshape(T * B, -1),
                                  {k: v.reshape(T * B, -1) for k, v in cache.mem.items()},
                                  {k: v.reshape(T * B, -1) for k, v in dmem.items()}))
    return dx, tuple(dstate), grads
