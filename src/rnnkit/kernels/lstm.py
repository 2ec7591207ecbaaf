"""The LSTM's compiled float32 kernels; the equations are those of
:mod:`rnnkit.cells.lstm` (gate blocks in PyTorch's order ``i, f, g, o``).

The elementwise arithmetic is written once, in the ``inline="always"`` scalar
functions :func:`_gate`, :func:`_cell` and :func:`_cell_back`; both layouts call
them, so they agree to the bit:

* *batch-major* step kernels (:func:`lstm_forward_step`,
  :func:`lstm_backward_step`; arrays (B, ·)), one call a step in
  :mod:`rnnkit.loops.rows`;
* *column layout* (:mod:`rnnkit.kernels.layout`; arrays (·, B)) step kernels
  (:func:`lstm_forward_cols_acc`, :func:`lstm_backward_cols`) and the
  whole-sequence loops that :mod:`rnnkit.loops.columns` calls
  (:func:`lstm_columns_forward`, :func:`lstm_columns_backward`), which make
  their products through NumPy's own ``cblas_sgemm``
  (:mod:`rnnkit.kernels.blas`).

Arrays are C-contiguous float32 unless said otherwise; ``n`` is the number of
live columns (sequences) a column kernel works on, the others left as they are.
"""
from __future__ import annotations

import functools

import numba
import numpy as np

from .activations import JIT, tanh
from .layout import (add_rows, back_step, block_squares, carry_rows, copy_units, live_end, step_indices,
                     units_to_rows, zero_units)
from .product import product_gates, project_step
from .sync import barrier

_ONE = np.float32(1.0)
_ZERO = np.float32(0.0)


# ----------------------------------------------------------------------------- the arithmetic, once
@numba.njit(inline="always", **JIT)
def _gate(a, s_in, s_out, shift):
    """A gate's activation from its pre-activation ``a``, with the scales of
    :func:`lstm_gate_scales` (σ or tanh, by block)."""
    return s_out * tanh(s_in * a) + shift


@numba.njit(inline="always", **JIT)
def _cell(f, c_prev, i, g, o):
    """``(c, tanh(c), h)`` of one unit from its gates and ``c_prev``.

    Keep the argument order: the call sites load the values in this order,
    and LLVM orders the two products of ``c`` by where their operands were
    loaded, which decides the one fused into an FMA.  This order gives
    ``fma(f, c_prev, i·g)``, the bits of the kernels written out by hand
    before (``i, f, g, o`` first gave ``fma(i, g, f·c_prev)``, 1 ulp off in a
    third of the values)."""
    c = f * c_prev + i * g
    t = tanh(c)
    return c, t, o * t


@numba.njit(inline="always", **JIT)
def _cell_back(i, f, g, o, tanh_c, dh, dc, c_prev):
    """``(da_i, da_f, da_g, da_o, dc_prev)`` of one unit from its gates, ``tanh(c)``,
    ``c_prev`` and the gradients ``dh``, ``dc`` w.r.t. the step's ``h``, ``c``."""
    dcv = dc + dh * o * (_ONE - tanh_c * tanh_c)
    return (dcv * g * i * (_ONE - i), dcv * c_prev * f * (_ONE - f), dcv * i * (_ONE - g * g),
            dh * tanh_c * o * (_ONE - o), dcv * f)


@functools.lru_cache(maxsize=32)
def lstm_gate_scales(H):
    """``s_in, s_out, shift`` (each ``(4H,)``, concatenated, float32, read-only)
    for the forward kernels: ``s_out · tanh(s_in · a) + shift`` is
    ``σ(a) = 0.5 tanh(0.5 a) + 0.5`` on the ``i, f, o`` blocks and ``tanh(a)`` on
    the ``g`` block (the same arithmetic as :mod:`rnnkit.kernels.activations`'
    ``sigmoid`` and ``tanh``, to the bit), so one loop (which LLVM vectorises)
    serves all four gates: 40% faster than a loop per block, measured from H 32
    to 512."""
    sc = np.full((3, 4 * H), 0.5, np.float32)
    sc[0, 2 * H : 3 * H], sc[1, 2 * H : 3 * H], sc[2, 2 * H : 3 * H] = 1.0, 1.0, 0.0
    sc = sc.reshape(-1)
    sc.flags.writeable = False
    return sc


# ----------------------------------------------------------------------------- batch-major steps
@numba.njit(**JIT)
def lstm_forward_step(hp, xp_t, bx, scales, c_prev, act, c_out, tc, h_out):
    """One step: ``hp = h_prev @ W_hh.T`` and ``xp_t = x_t @ W_ih.T`` (B, 4H),
    ``bx = b_ih + b_hh`` (4H,), ``scales`` from :func:`lstm_gate_scales`,
    ``c_prev`` (B, H); the gates into ``act`` (B, 4H), the new ``c`` and
    ``tanh(c)`` into ``c_out``, ``tc`` and the new ``h`` into ``h_out`` (B, H).
    The pre-activation is summed ``(hp + xp_t) + bx``."""
    B, H = c_prev.shape
    G = 4 * H
    s_in, s_out, shift = scales[:G], scales[G : 2 * G], scales[2 * G :]
    for b in range(B):
        # two loops over few arrays each, so that LLVM vectorises both
        p = hp[b]
        x = xp_t[b]
        a = act[b]
        for k in range(G):
            a[k] = _gate(p[k] + x[k] + bx[k], s_in[k], s_out[k], shift[k])
        cp = c_prev[b]
        co = c_out[b]
        t_ = tc[b]
        ho = h_out[b]
        for j in range(H):
            co[j], t_[j], ho[j] = _cell(a[H + j], cp[j], a[j], a[2 * H + j], a[3 * H + j])


@numba.njit(**JIT)
def lstm_backward_step(act, tc, c_prev, dh, dc, da, dc_prev):
    """One step back: from the step's gates ``act`` (B, 4H), ``tc``, ``c_prev``
    (B, H) and the gradients ``dh``, ``dc`` (B, H) w.r.t. its new ``h``, ``c``,
    the pre-activation gradient into ``da`` (B, 4H) and the gradient w.r.t.
    ``c_prev`` into ``dc_prev`` (B, H); ``dh_prev = da @ W_hh`` is left to BLAS."""
    B, H = tc.shape
    for b in range(B):
        a = act[b]
        d = da[b]
        t_ = tc[b]
        cp = c_prev[b]
        dhb = dh[b]
        dcb = dc[b]
        dcp = dc_prev[b]
        for j in range(H):
            d[j], d[H + j], d[2 * H + j], d[3 * H + j], dcp[j] = _cell_back(
                a[j], a[H + j], a[2 * H + j], a[3 * H + j], t_[j], dhb[j], dcb[j], cp[j])


# ----------------------------------------------------------------------------- column layout steps
@numba.njit(inline="always", **JIT)
def _unit_gates(act, H, j, lo, hi):
    """The ``i, f, g, o`` rows of unit ``j`` in a column-layout gate block ``act``
    (4H, B), columns ``lo:hi``."""
    return act[j, lo:hi], act[H + j, lo:hi], act[2 * H + j, lo:hi], act[3 * H + j, lo:hi]


@numba.njit(inline="always", **JIT)
def _cells_columns(act, c_prev, c_out, tc, h_out, hs_t, H, u0, u1, lo, hi):
    """:func:`_cell` for the units ``u0 ≤ j < u1`` and columns ``lo:hi``: the
    gates ``act`` (4H, B) and ``c_prev`` into ``c_out``, ``tc``, ``h_out`` (H,
    B), and ``h`` batch-major into ``hs_t`` (B, H).  (The column kernels loop
    over slices ``[lo:hi]`` from 0: LLVM vectorises those loops, not
    ``range(lo, hi)`` over whole rows.)"""
    for j in range(u0, u1):
        ai, af, ag, ag_o = _unit_gates(act, H, j, lo, hi)
        cp = c_prev[j, lo:hi]
        cn = c_out[j, lo:hi]
        tr = tc[j, lo:hi]
        hn = h_out[j, lo:hi]
        for b in range(hi - lo):
            cn[b], tr[b], hn[b] = _cell(af[b], cp[b], ai[b], ag[b], ag_o[b])
    units_to_rows(h_out, hs_t, u0, u1, lo, hi)


@numba.njit(**JIT)
def lstm_forward_cols_acc(a_t, bx, scales, c_prev, c_out, tc, h_out, hs_t, u0, u1, lo, hi):
    """One step in column layout, in place: ``a_t`` (4H, B) enters with
    ``W_ih x_t + W_hh h_prev`` (the product accumulated onto the projection)
    and leaves with the gates; ``bx`` (4H,), ``scales`` from
    :func:`lstm_gate_scales`, ``c_prev`` (H, B); the new ``c``, ``tanh(c)`` and
    ``h`` into ``c_out``, ``tc``, ``h_out`` (H, B) and ``h`` batch-major into
    ``hs_t`` (B, H).  The units ``u0 ≤ j < u1`` (the rows ``q·H + j`` of ``a_t``)
    and the columns ``lo:hi``.  With ``a_t = hp + xp_t`` the bits of
    :func:`lstm_forward_step` (``(hp + xp) + bx``)."""
    G = a_t.shape[0]
    H = G // 4
    s_in, s_out, shift = scales[:G], scales[G : 2 * G], scales[2 * G :]
    for q in range(4):
        for k in range(q * H + u0, q * H + u1):
            si = s_in[k]
            so = s_out[k]
            sh = shift[k]
            bk = bx[k]
            a = a_t[k, lo:hi]
            for b in range(hi - lo):
                a[b] = _gate(a[b] + bk, si, so, sh)
    _cells_columns(a_t, c_prev, c_out, tc, h_out, hs_t, H, u0, u1, lo, hi)


@numba.njit(**JIT)
def lstm_backward_cols(act, tc, c_prev, dh, dhs_t, dc, da, u0, u1, lo, hi):
    """One step back in column layout, the bits of :func:`lstm_backward_step`.
    ``act`` (4H, B), ``tc``, ``c_prev`` (H, B) the step's cache; ``dh`` (H, B)
    receives ``dhs_t`` (B, H, the gradient from the outputs; skipped when
    empty), so that it leaves with the total; ``dc`` (H, B) enters w.r.t. the
    new ``c`` and leaves w.r.t. ``c_prev``; ``da`` (4H, B) receives the
    pre-activation gradient.  The units ``u0 ≤ j < u1`` and columns ``lo:hi``."""
    G = act.shape[0]
    H = G // 4
    if dhs_t.shape[0] > 0:
        add_rows(dhs_t, dh, u0, u1, lo, hi)
    for j in range(u0, u1):
        ai, af, ag, ag_o = _unit_gates(act, H, j, lo, hi)
        tr = tc[j, lo:hi]
        cp = c_prev[j, lo:hi]
        dhr = dh[j, lo:hi]
        dcr = dc[j, lo:hi]
        d_i, d_f, d_g, d_o = _unit_gates(da, H, j, lo, hi)
        for b in range(hi - lo):
            d_i[b], d_f[b], d_g[b], d_o[b], dcr[b] = _cell_back(ai[b], af[b], ag[b], ag_o[b], tr[b], dhr[b],
                                                                dcr[b], cp[b])


# ----------------------------------------------------------------------------- whole sequences
@numba.njit(**JIT)
def lstm_columns_forward(sgemm, pause, W_ih, xT, W_hh, bx, scales, hcols, hrows, c, act, tc, counts, reverse,
                         keep_cache, u0, u1, b0, b1, sync, parts, group, block):
    """The column loop of :func:`rnnkit.loops.columns.forward` in one call, for
    one part of the pass: the units ``u0 ≤ j < u1`` of the sequences (columns)
    ``b0 ≤ b < b1`` (:mod:`rnnkit.kernels.product`).  Per step the input projection
    into their rows of ``act[t]`` (:func:`rnnkit.kernels.product.project_step`:
    ``W_ih`` (4H, D) and ``xT`` (T, D, B); both empty when ``act`` enters with
    the projections), ``+= W_hh @ h`` (:func:`rnnkit.kernels.product.product_gates`,
    ``beta = 1``), then :func:`lstm_forward_cols_acc` in place, then the
    barrier (:func:`rnnkit.kernels.sync.barrier`) where the ``parts`` calls
    sharing ``sync`` meet: calls on disjoint unit ranges run at once from
    several threads (no GIL held), each reading the whole previous ``h`` of its
    columns (calls on disjoint column ranges need not meet: ``parts`` 1, a
    ``sync`` each).  ``u0`` a multiple of ``block``, the rows per product call,
    ``b0`` of ``group``, its columns.

    ``W_hh`` (4H, H); ``act`` (T, 4H, B) receives the gates (without a cache and
    with ``W_ih``, one step's, (1, 4H, B)); ``hcols`` (2, H, B) the state in
    columns, ping-ponging: ``hcols[0]`` enters with the initial ``h``,
    ``hcols[T % 2]`` leaves with the last.  With ``keep_cache``: ``hrows`` (T+1,
    B, H), ``c`` (T+1, H, B), index ``t`` the state before step ``t`` going
    forward (both enter with the initial state at index 0, or ``T`` when
    ``reverse``), ``tc`` (T, H, B).  Without: ``hrows`` is the output ``(T, B,
    H)``, ``c`` ``(2, H, B)`` ping-pongs from index 0, ``tc`` holds one step.
    ``counts`` (T,) int64, the live sequences per step (sorted first), or empty
    for all; only with a cache.
    """
    T = hrows.shape[0] - 1 if keep_cache else hrows.shape[0]
    H = W_hh.shape[1]
    B = act.shape[2]
    for k in range(T):
        t, i_prev, i_new, a, row = step_indices(k, T, reverse, keep_cache)
        h_in, h_new = hcols[k % 2], hcols[(k + 1) % 2]
        h_out = hrows[row]
        gates = act[t] if act.shape[0] == T else act[a]
        n = live_end(B if counts.shape[0] == 0 else counts[t], b0, b1)
        if n < b1:                                       # padded sequences: state carried, gates zero
            carry_rows(hrows[i_prev], h_out, u0, u1, n, b1)
            copy_units(h_in, h_new, u0, u1, n, b1)
            copy_units(c[i_prev], c[i_new], u0, u1, n, b1)
            zero_units(tc[a], H, u0, u1, n, b1)
            zero_units(gates, H, u0, u1, n, b1)
        if n > b0:
            project_step(sgemm, W_ih, xT, t, gates, H, u0, u1, b0, n, group, block)
            product_gates(sgemm, W_hh, h_in, _ONE, gates, H, u0, u1, b0, n, group, block)
            lstm_forward_cols_acc(gates, bx, scales, c[i_prev], c[i_new], tc[a], h_new, h_out, u0, u1, b0, n)
        barrier(pause, sync, parts * (k + 1))


@numba.njit(**JIT)
def lstm_columns_backward(sgemm, pause, W_hh_T, act, tc, c, dhs, dh, dc, dA, counts, reverse, squares, u0, u1,
                          b0, b1, sync, parts, group, block):
    """The backward loop of :func:`rnnkit.loops.columns.backward` in one
    call, for the units ``u0 ≤ j < u1`` of the columns ``b0 ≤ b < b1`` (as
    :func:`lstm_columns_forward`): per step (last first)
    :func:`lstm_backward_cols` into their rows of ``dA[t]`` (4H, B), the
    barrier, then their rows ``dh[u0:u1] = W_hh_T[u0:u1] @ dA[t]`` (every gate
    row of ``dA[t]``, written by all the calls of a unit split).

    ``W_hh_T`` (H, 4H) contiguous; ``act``, ``tc``, ``c`` the forward cache;
    ``dhs`` (T, B, H) the gradients from the outputs, or ``(T, 0, 0)`` for
    none; ``dh``, ``dc`` (H, B) enter with the gradients w.r.t. the final state
    and leave w.r.t. the initial one; ``counts`` as in :func:`lstm_columns_forward`
    (padded columns of ``dA`` are zeroed, their ``dh``, ``dc`` pass through);
    ``squares`` (T, H // block + 1, B) float64 receives at ``[t, i]`` the sums of
    ``(dL/dh_t)²`` over the units of block ``i``
    (:func:`rnnkit.kernels.layout.block_squares`), or is empty.
    """
    T, G, B = dA.shape
    H = G // 4
    for k in range(T):
        t, i_prev, n = back_step(k, T, reverse, counts, B)
        n = live_end(n, b0, b1)
        if n < b1:
            zero_units(dA[t], H, u0, u1, n, b1)
        if n > b0:
            lstm_backward_cols(act[t], tc[t], c[i_prev], dh, dhs[t], dc, dA[t], u0, u1, b0, n)
        if squares.shape[0] > 0:
            block_squares(dh, u0, u1, b0, b1, block, squares[t])
        barrier(pause, sync, parts * (k + 1))
        if n > b0:
            product_gates(sgemm, W_hh_T, dA[t], _ZERO, dh, H, u0, u1, b0, n, group, block)
