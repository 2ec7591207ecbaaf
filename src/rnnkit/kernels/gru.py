"""The reset-after GRU's compiled float32 kernels (``reset_after=True``); the
equations are those of :mod:`rnnkit.cells.gru` (gate blocks ``r, z, n``).

The elementwise arithmetic is written once, in the ``inline="always"`` scalar
functions :func:`_gate`, :func:`_reset_input`, :func:`_candidate`,
:func:`_blend`, :func:`_back_zn` and :func:`_back_r`; both layouts call them,
so they agree to the bit:

* *batch-major* step kernels (:func:`gru_forward_step`,
  :func:`gru_backward_step`; arrays (B, ·)), one call a step in
  :mod:`rnnkit.loops.rows`;
* *column layout* (:mod:`rnnkit.kernels.layout`; arrays (·, B)) step kernels
  (:func:`gru_forward_cols`, :func:`gru_backward_cols`) and the whole-sequence
  loops that :mod:`rnnkit.loops.columns` calls (:func:`gru_columns_forward`,
  :func:`gru_columns_backward`), with products through NumPy's own
  ``cblas_sgemm`` (:mod:`rnnkit.kernels.blas`).

Throughout, ``bx = b_ih + (b_hr, b_hz, 0)`` (3H,) and ``b_hn`` (H,); ``act``
holds ``r, z, n`` and ``hn = W_hn h_prev + b_hn`` the reset's input, as the
cell's ``step`` stores them for the backward pass.  Arrays are C-contiguous
float32; ``n`` is the number of live columns a column kernel works on.
"""
from __future__ import annotations

import numba
import numpy as np

from .activations import JIT, sigmoid, tanh
from .layout import (add_rows, back_step, block_squares, carry_rows, copy_units, live_end, step_indices,
                     units_to_rows, zero_units)
from .product import product_gates, project_step
from .sync import barrier

_ONE = np.float32(1.0)
_ZERO = np.float32(0.0)


# ----------------------------------------------------------------------------- the arithmetic, once
@numba.njit(inline="always", **JIT)
def _gate(hp, xp, bx):
    """``r`` or ``z`` from its recurrent and input projections and bias."""
    return sigmoid(hp + xp + bx)


@numba.njit(inline="always", **JIT)
def _reset_input(hp_n, b_hn):
    """``hn``, the recurrent projection the reset gate scales."""
    return hp_n + b_hn


@numba.njit(inline="always", **JIT)
def _candidate(xp_n, bx_n, r, hn):
    """``n`` from its input projection, bias, the reset gate and ``hn``."""
    return tanh(xp_n + bx_n + r * hn)


@numba.njit(inline="always", **JIT)
def _blend(n, z, h_prev):
    """The new ``h``."""
    return n + z * (h_prev - n)


@numba.njit(inline="always", **JIT)
def _back_zn(r, z, n, h_prev, dh):
    """``(dn, dn r, dz, dh z)`` from ``dh`` w.r.t. the step's ``h``: the gradients
    w.r.t. ``n``'s and ``z``'s pre-activations, ``n``'s recurrent part
    (``hn``'s), and the direct path to ``h_prev``."""
    dn = dh * (_ONE - z) * (_ONE - n * n)
    return dn, dn * r, dh * (h_prev - n) * z * (_ONE - z), dh * z


@numba.njit(inline="always", **JIT)
def _back_r(dn, hn, r):
    """The gradient w.r.t. ``r``'s pre-activation from ``dn`` (of :func:`_back_zn`)."""
    return dn * hn * r * (_ONE - r)


# ----------------------------------------------------------------------------- batch-major steps
@numba.njit(**JIT)
def gru_forward_step(hp, xp_t, bx, b_hn, h_prev, act, hn, h_out):
    """One step: ``hp = h_prev @ W_hh.T`` and ``xp_t = x_t @ W_ih.T`` (B, 3H),
    ``bx``, ``b_hn``, ``h_prev`` (B, H); the gates into ``act`` (B, 3H), the
    reset's input into ``hn`` (B, H), the new ``h`` into ``h_out`` (B, H)."""
    B, H = h_prev.shape
    for b in range(B):
        p = hp[b]
        x = xp_t[b]
        a = act[b]
        for k in range(2 * H):
            a[k] = _gate(p[k], x[k], bx[k])
        hb = hn[b]
        for j in range(H):
            hb[j] = _reset_input(p[2 * H + j], b_hn[j])
        for j in range(H):
            a[2 * H + j] = _candidate(x[2 * H + j], bx[2 * H + j], a[j], hb[j])
        hpv = h_prev[b]
        ho = h_out[b]
        for j in range(H):
            ho[j] = _blend(a[2 * H + j], a[H + j], hpv[j])


@numba.njit(**JIT)
def gru_backward_step(act, hn, h_prev, dh, da, dhp, direct):
    """One step back from ``dh`` (B, H) w.r.t. the step's ``h``, with its cache
    ``act`` (B, 3H), ``hn``, ``h_prev`` (B, H): into ``da`` (B, 3H) the gradient
    w.r.t. ``xp_t``, into ``dhp`` (B, 3H) w.r.t. ``hp`` (``W_hh h_prev + b_hh``),
    into ``direct`` (B, H) the path to ``h_prev`` that bypasses ``W_hh``."""
    B, H = h_prev.shape
    for b in range(B):
        a = act[b]
        d = da[b]
        q = dhp[b]
        g = dh[b]
        hb = hn[b]
        hp_ = h_prev[b]
        dr = direct[b]
        for j in range(H):
            dn, dn_r, dz, dd = _back_zn(a[j], a[H + j], a[2 * H + j], hp_[j], g[j])
            d[2 * H + j] = dn
            q[2 * H + j] = dn_r
            d[H + j] = dz
            q[H + j] = dz
            dr[j] = dd
        for j in range(H):
            v = _back_r(d[2 * H + j], hb[j], a[j])
            d[j] = v
            q[j] = v


# ----------------------------------------------------------------------------- column layout steps
@numba.njit(**JIT)
def gru_forward_cols(hp, a_t, bx, b_hn, h_prev, h_new, hn, hs_t, u0, u1, lo, hi):
    """One step in column layout, the bits of :func:`gru_forward_step`:
    ``hp = W_hh @ h_prev`` (3H, B); ``a_t`` (3H, B) enters with ``W_ih x_t`` and
    leaves with the gates; ``bx``, ``b_hn``; ``h_prev``, ``h_new`` (H, B);
    ``hn`` (H, B) receives the reset's input; ``hs_t`` (B, H) the new ``h``
    batch-major.  The units ``u0 ≤ j < u1`` (the rows ``q·H + j``) and the
    columns ``lo:hi``."""
    G = a_t.shape[0]
    H = G // 3
    for q in range(2):
        for k in range(q * H + u0, q * H + u1):
            bk = bx[k]
            p = hp[k, lo:hi]
            a = a_t[k, lo:hi]
            for b in range(hi - lo):
                a[b] = _gate(p[b], a[b], bk)
    for j in range(u0, u1):
        bn = b_hn[j]
        p = hp[2 * H + j, lo:hi]
        hb = hn[j, lo:hi]
        for b in range(hi - lo):
            hb[b] = _reset_input(p[b], bn)
    for j in range(u0, u1):
        bk = bx[2 * H + j]
        r = a_t[j, lo:hi]
        z = a_t[H + j, lo:hi]
        a = a_t[2 * H + j, lo:hi]
        hb = hn[j, lo:hi]
        hp_ = h_prev[j, lo:hi]
        ho = h_new[j, lo:hi]
        for b in range(hi - lo):
            nv = _candidate(a[b], bk, r[b], hb[b])
            a[b] = nv
            ho[b] = _blend(nv, z[b], hp_[b])
    units_to_rows(h_new, hs_t, u0, u1, lo, hi)


@numba.njit(**JIT)
def gru_backward_cols(act, hn, h_prev, dh, da, dhp, u0, u1, lo, hi):
    """One step back in column layout, the bits of :func:`gru_backward_step`.
    ``act`` (3H, B), ``hn``, ``h_prev`` (H, B) the step's cache; ``dh`` (H, B)
    enters with the whole gradient w.r.t. the step's ``h`` (the caller adds the
    outputs' part first) and leaves with the direct path to ``h_prev`` (the
    caller adds ``W_hh.T @ dhp``); ``da`` (3H, B) receives the gradient w.r.t.
    the input projection, ``dhp`` (3H, B) w.r.t. ``W_hh @ h_prev + b_hh``.  The
    units ``u0 ≤ j < u1`` and the columns ``lo:hi``."""
    G = act.shape[0]
    H = G // 3
    for j in range(u0, u1):
        zr = act[H + j, lo:hi]
        nr = act[2 * H + j, lo:hi]
        rr = act[j, lo:hi]
        hpr = h_prev[j, lo:hi]
        g = dh[j, lo:hi]
        dz_ = da[H + j, lo:hi]
        dn_ = da[2 * H + j, lo:hi]
        qz = dhp[H + j, lo:hi]
        qn = dhp[2 * H + j, lo:hi]
        for b in range(hi - lo):
            dn, dn_r, dz, dd = _back_zn(rr[b], zr[b], nr[b], hpr[b], g[b])
            dn_[b] = dn
            qn[b] = dn_r
            dz_[b] = dz
            qz[b] = dz
            g[b] = dd
    for j in range(u0, u1):
        rr = act[j, lo:hi]
        hb = hn[j, lo:hi]
        dn_ = da[2 * H + j, lo:hi]
        dr_ = da[j, lo:hi]
        qr = dhp[j, lo:hi]
        for b in range(hi - lo):
            v = _back_r(dn_[b], hb[b], rr[b])
            dr_[b] = v
            qr[b] = v


# ----------------------------------------------------------------------------- whole sequences
@numba.njit(**JIT)
def gru_columns_forward(sgemm, pause, W_ih, xT, W_hh, bx, b_hn, hcols, hp, hrows, act, hn, counts, reverse,
                        keep_cache, u0, u1, b0, b1, sync, parts, group, block):
    """The column loop in one call, for the units ``u0 ≤ j < u1`` of the
    sequences ``b0 ≤ b < b1`` (calls on disjoint unit ranges run at once and
    meet once a step, calls on disjoint column ranges need not, as
    :func:`rnnkit.kernels.lstm.lstm_columns_forward`): per step the input
    projection into their rows of ``act[t]``
    (:func:`rnnkit.kernels.product.project_step`), their rows of ``hp = W_hh @
    h_prev`` (:func:`rnnkit.kernels.product.product_gates`), then
    :func:`gru_forward_cols`.  ``W_hh`` (3H, H); ``hp`` (3H, B) scratch;
    ``act`` (T, 3H, B) receives the gates (without a cache and with ``W_ih``,
    one step's, (1, 3H, B)); ``hcols`` the states in columns, ``(T+1, H, B)``
    with a cache (as ``hrows`` (T+1, B, H), index ``t`` the state before step
    ``t`` going forward, initial state at 0 or ``T`` when ``reverse``) or ``(2,
    H, B)`` ping-ponging from 0 without (``hrows`` is then the output ``(T, B,
    H)``); ``hn`` ``(T, H, B)`` or one step.  ``counts`` (T,) int64, the live
    sequences per step (sorted first), or empty for all; only with a cache."""
    T = hrows.shape[0] - 1 if keep_cache else hrows.shape[0]
    H = W_hh.shape[1]
    B = act.shape[2]
    for k in range(T):
        t, i_prev, i_new, a, row = step_indices(k, T, reverse, keep_cache)
        h_out = hrows[row]
        gates = act[t] if act.shape[0] == T else act[a]
        n = live_end(B if counts.shape[0] == 0 else counts[t], b0, b1)
        hc_prev = hcols[i_prev]
        hc_new = hcols[i_new]
        if n < b1:                                       # padded sequences: state carried, gates zero
            carry_rows(hrows[i_prev], h_out, u0, u1, n, b1)
            copy_units(hc_prev, hc_new, u0, u1, n, b1)
            zero_units(hn[a], H, u0, u1, n, b1)
            zero_units(gates, H, u0, u1, n, b1)
        if n > b0:
            project_step(sgemm, W_ih, xT, t, gates, H, u0, u1, b0, n, group, block)
            product_gates(sgemm, W_hh, hc_prev, _ZERO, hp, H, u0, u1, b0, n, group, block)
            gru_forward_cols(hp, gates, bx, b_hn, hc_prev, hc_new, hn[a], h_out, u0, u1, b0, n)
        barrier(pause, sync, parts * (k + 1))


@numba.njit(**JIT)
def gru_columns_backward(sgemm, pause, W_hh_T, act, hn, hcols, dhs, dh, dA, dHP, counts, reverse, squares, u0, u1,
                         b0, b1, sync, parts, group, block):
    """The backward column loop in one call, for the units ``u0 ≤ j < u1`` of
    the columns ``b0 ≤ b < b1``:
    per step (last first) :func:`gru_backward_cols` into their rows, the
    barrier, then ``dh[u0:u1] += W_hh_T[u0:u1] @ dHP[t]`` (``beta = 1``, onto the
    direct path; every gate row of ``dHP[t]``).  ``W_hh_T`` (H, 3H) contiguous;
    ``act``, ``hn``, ``hcols`` the forward cache; ``dhs`` (T, B, H) or ``(T, 0,
    0)``; ``dh`` (H, B) enters w.r.t. the final ``h`` and leaves w.r.t. the
    initial one; ``dA``, ``dHP`` (T, 3H, B) receive the gradients of
    :func:`gru_backward_cols`, padded columns zeroed (their ``dh`` passes
    through); ``counts`` as in :func:`gru_columns_forward`; ``squares`` as in
    :func:`rnnkit.kernels.lstm.lstm_columns_backward`, or empty."""
    T, G, B = dA.shape
    H = G // 3
    for k in range(T):
        t, i_prev, n = back_step(k, T, reverse, counts, B)
        n = live_end(n, b0, b1)
        if n < b1:
            zero_units(dA[t], H, u0, u1, n, b1)
            zero_units(dHP[t], H, u0, u1, n, b1)
        if dhs.shape[1] > 0:
            add_rows(dhs[t], dh, u0, u1, b0, n)
        if squares.shape[0] > 0:
            block_squares(dh, u0, u1, b0, b1, block, squares[t])
        if n > b0:
            gru_backward_cols(act[t], hn[t], hcols[i_prev], dh, dA[t], dHP[t], u0, u1, b0, n)
        barrier(pause, sync, parts * (k + 1))
        if n > b0:
            product_gates(sgemm, W_hh_T, dHP[t], _ONE, dh, H, u0, u1, b0, n, group, block)
