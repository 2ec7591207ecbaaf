"""The batch-major compiled loop: the reference loop's frame with each step's
elementwise work in one compiled float32 kernel (:mod:`rnnkit.kernels`).

Per step: one product ``hd @ W_hh.T`` (BLAS) and one kernel call that turns
it, the step's input projection and the bias into the gates and the new state
(the cell's equations, compiled once in ``rnnkit.kernels.lstm``, ``.gru``,
``.elman``); going back, one kernel call for the gate gradients and one
product ``dhp @ W_hh``.  Everything is written into preallocated buffers: the
new state straight into the cache, ``dxp`` straight into its time slot, and
no per-step temporaries.

Lengths: when the mask comes from lengths the batch is packed
(:func:`rnnkit.loops.frame.packing`) and only the live rows of each step are
computed; any other mask is applied with ``np.copyto(..., where=)``.
Recurrent dropout as in the reference loop.  Serves the families of
:data:`FAMILIES` (chosen by :func:`rnnkit.engine.choose_loop`).
"""
from __future__ import annotations

import numpy as np

from ..kernels import elman, gru, lstm
from .frame import (SequenceCache, backward_order, buffer, caller_order, input_grads, pack, packed_grads_in,
                    packing, prev_new, project)


# -- the compiled step of each family: (forward, backward, distinct dhp, direct path to h_{t-1}) ----------
def _lstm_forward(cell, p, hp, xp_t, bx, state, mem, out):
    H = state[1].shape[1]
    lstm.lstm_forward_step(hp, xp_t, bx, lstm.lstm_gate_scales(H), state[1], mem["act"], out[1], mem["tc"], out[0])


def _lstm_backward(cell, mem, prev, new_h, dstate, da, dhp, dprev, direct):
    lstm.lstm_backward_step(mem["act"], mem["tc"], prev[1], dstate[0], dstate[1], da, dprev[1])


def _gru_forward(cell, p, hp, xp_t, bx, state, mem, out):
    H = state[0].shape[1]
    b_hn = p["b_hh"][2 * H:] if "b_hh" in p else np.zeros(H, hp.dtype)
    gru.gru_forward_step(hp, xp_t, bx, b_hn, state[0], mem["act"], mem["hn"], out[0])


def _gru_backward(cell, mem, prev, new_h, dstate, da, dhp, dprev, direct):
    gru.gru_backward_step(mem["act"], mem["hn"], prev[0], dstate[0], da, dhp, direct)


def _elman_forward(cell, p, hp, xp_t, bx, state, mem, out):
    elman.rnn_forward_step(hp, xp_t, bx, cell.nonlinearity == "relu", out[0])


def _elman_backward(cell, mem, prev, new_h, dstate, da, dhp, dprev, direct):
    elman.rnn_backward_step(new_h, dstate[0], cell.nonlinearity == "relu", da)


FAMILIES = {"lstm": (_lstm_forward, _lstm_backward, False, False),
            "gru": (_gru_forward, _gru_backward, True, True),
            "elman": (_elman_forward, _elman_backward, False, False)}


def _rows(arrays, n):
    """The first ``n`` rows of each array in the dict ``arrays``."""
    return {k: v[:n] for k, v in arrays.items()}


def forward(cell, family, p, x, state0, mask=None, rmask=None, reverse=False, keep_cache=True, buffers=None):
    """As :func:`rnnkit.loops.reference.forward`, for a cell of ``family``
    (a key of :data:`FAMILIES`) in float32."""
    step = FAMILIES[family][0]
    W_ih, W_hh = p["W_ih"], p["W_hh"]
    T, B, _ = x.shape
    GH, H = W_hh.shape
    n_states = cell.n_states
    dtype = W_ih.dtype
    order = counts = None
    if (packed := packing(mask)) is not None:
        order, counts = packed                   # packed: live rows first, padded rows untouched
        x, state0, mask, rmask = pack(order, x, state0, mask, rmask)

    xp = project(x, W_ih, buffer(buffers, "xp", (T * B, GH), dtype)).reshape(T, B, GH)
    bias = cell.input_bias(p)
    bx = bias if bias is not None else np.zeros(GH, dtype)      # the kernels add it
    hs = np.empty((T, B, H), dtype)
    if keep_cache:
        states = tuple(buffer(buffers, f"state{j}", (T + 1, B, H), dtype) for j in range(n_states))
        for buf, s0 in zip(states, state0):
            buf[T if reverse else 0] = s0
        mem = {k: buffer(buffers, "mem_" + k, (T, B, w), dtype) for k, w in cell.cache_widths(H).items()}
        hd_all = buffer(buffers, "hd", (T, B, H), dtype) if rmask is not None else None
    else:
        mem_step = {k: np.empty((B, w), dtype) for k, w in cell.cache_widths(H).items()}
        pingpong = [tuple(np.empty((B, H), dtype) for _ in range(n_states)) for _ in range(2)]
        hd_buf = np.empty((B, H), dtype) if rmask is not None else None
    hp = np.empty((B, GH), dtype)
    state = tuple(state0)
    for k, t in enumerate(range(T - 1, -1, -1) if reverse else range(T)):
        if keep_cache:
            out = tuple(buf[prev_new(t, reverse)[1]] for buf in states)
            mem_t = {name: v[t] for name, v in mem.items()}
            hd = hd_all[t] if rmask is not None else state[0]
        else:
            out, mem_t = pingpong[k % 2], mem_step
            hd = hd_buf if rmask is not None else state[0]
        n = B if counts is None else int(counts[t])
        full_out = out
        if n < B:                                # packed: rows n.. are padded at step t
            for o, s_ in zip(out, state):
                o[n:] = s_[n:]
            hs[t, n:] = 0
            for v in mem_t.values():             # finite, and no gradient reaches them
                v[n:] = 0
            if rmask is not None:
                hd[n:] = 0
            state, out, hd, mem_t = tuple(s_[:n] for s_ in state), tuple(o[:n] for o in out), hd[:n], _rows(mem_t, n)
        if rmask is not None:
            np.multiply(state[0], rmask[:n], out=hd)
        if n:
            np.matmul(hd, W_hh.T, out=hp[:n])
            step(cell, p, hp[:n], xp[t, :n], bx, state, mem_t, out)
        out = full_out
        if n < B:
            hs[t, :n] = out[0][:n]
        elif mask is not None and not mask[t].all():     # a mask that does not come from lengths
            keep = ~mask[t][:, None]
            for o, s_ in zip(out, state):
                np.copyto(o, s_, where=keep)
            np.multiply(out[0], mask[t][:, None], out=hs[t])
        else:
            hs[t] = out[0]
        state = out
    hs, final = caller_order(order, hs, tuple(s.copy() for s in state) if order is None else state)
    if not keep_cache:
        return hs, final, None
    return hs, final, SequenceCache("rows", x=x, states=states, hd=hd_all, mem=mem, mask=mask, rmask=rmask,
                                    reverse=reverse, order=order, counts=counts)


def backward(cell, family, p, cache, dhs, dstate_T=None, dh_norms=None, buffers=None, need_dx=True):
    """As :func:`rnnkit.loops.reference.backward`, for a cache of :func:`forward`."""
    _, step_back, distinct_dhp, direct_h = FAMILIES[family]
    W_ih, W_hh = p["W_ih"], p["W_hh"]
    x, states, mask, rmask, reverse = cache.x, cache.states, cache.mask, cache.rmask, cache.reverse
    T, B, _ = x.shape
    GH, H = W_hh.shape
    dtype = W_hh.dtype
    order, counts = cache.order, cache.counts
    dhs, dstate_T = packed_grads_in(order, dhs, dstate_T)
    dstate = [np.zeros((B, H), dtype) if d is None else np.array(d, dtype=dtype)
              for d in (dstate_T or (None,) * cell.n_states)]
    spare = [np.empty((B, H), dtype) for _ in range(cell.n_states)]
    dxp = buffer(buffers, "dxp", (T, B, GH), dtype)
    dhp = buffer(buffers, "dhp", (T, B, GH), dtype) if distinct_dhp else dxp
    t1 = np.empty((B, H), dtype)
    direct = np.empty((B, H), dtype) if direct_h else None
    for t in (range(T) if reverse else range(T - 1, -1, -1)):
        i_prev, i_new = prev_new(t, reverse)
        n = B if counts is None else int(counts[t])
        m = mask[t][:, None] if mask is not None and counts is None else None
        if dhs is not None:
            if m is None:
                dstate[0][:n] += dhs[t, :n]
            else:
                np.multiply(dhs[t], m, out=t1)
                dstate[0] += t1
        if dh_norms is not None:
            dh_norms[t] = np.sqrt(np.einsum("bh,bh->b", dstate[0], dstate[0])).mean()
        partial = m is not None and not mask[t].all()
        if partial:
            kept = [d.copy() for d in dstate]
        if n < B:                                # packed: rows n.. are padded at step t
            dxp[t, n:] = 0
            if distinct_dhp:
                dhp[t, n:] = 0
            for d, k_ in zip(spare, dstate):
                d[n:] = k_[n:]
        if n:
            prev = tuple(buf[i_prev][:n] for buf in states)
            mem_t = {k: v[t, :n] for k, v in cache.mem.items()}
            step_back(cell, mem_t, prev, states[0][i_new][:n], tuple(d[:n] for d in dstate), dxp[t, :n],
                      dhp[t, :n], [d[:n] for d in spare], None if direct is None else direct[:n])
            np.matmul(dhp[t, :n], W_hh, out=spare[0][:n])
        if rmask is not None:
            spare[0][:n] *= rmask[:n]
        if direct is not None:
            spare[0][:n] += direct[:n]
        if partial:
            dxp[t] *= m
            if distinct_dhp:
                dhp[t] *= m
            keep = ~m
            for d, k_ in zip(spare, kept):
                np.copyto(d, k_, where=keep)
        dstate, spare = spare, dstate

    dxp2 = dxp.reshape(T * B, GH)
    dW_ih, dx = input_grads(x, dxp2, W_ih, need_dx)
    hd_all = cache.hd if cache.hd is not None else (states[0][1:] if reverse else states[0][:T])
    grads = {"W_ih": dW_ih}
    grads.update(cell.param_grads(p, dxp2, dhp.reshape(T * B, GH), hd_all.reshape(T * B, H), {}, {}))
    return backward_order(order, x, dx, tuple(dstate)) + (grads,)
