"""Copies between the column loop's layouts, and the bookkeeping its whole-sequence loops share.

*Column layout* (feature-major): a step's gates are a ``(G, B)`` block, row
``k`` holding gate ``k`` of every sequence, so that the recurrent product is
``W_hh @ h`` with ``W_hh`` as BLAS's untransposed left operand (see
:mod:`rnnkit.loops.columns` for why).  :func:`steps_to_rows` is a kernel of
its own; the others are ``inline="always"`` helpers of the loops in
:mod:`rnnkit.kernels.lstm` and :mod:`rnnkit.kernels.gru`.
"""
from __future__ import annotations

import numba
import numpy as np

from .activations import JIT


@numba.njit(**JIT)
def steps_to_rows(src, dst, sums, g0, g1):
    """``dst[g, t, :] = src[t, g, :]`` for ``g0 ≤ g < g1``, ``src`` (T, G, B),
    ``dst`` (G, T, B): the per-step blocks of the column loop laid out as one
    (G, T*B) matrix for the weight-gradient products, in row ranges that
    threads may copy at once; 2-2.3x faster than NumPy's strided copy (P2:
    0.41 against 0.93 ms on one thread, 0.26 on two).  ``sums`` (G,), unless
    empty, receives each row's sum (the bias gradient; summed in float64 in the
    order of the copy, so on every thread count the same bits) while the
    values pass by, which saves a pass over ``dst`` (P2: 0.6 ms a layer)."""
    T = src.shape[0]
    B = src.shape[2]
    column = np.empty(B, np.float64)                 # per column: the sums vectorise, no chain of adds
    for g in range(g0, g1):
        d = dst[g]
        column[:] = 0.0
        for t in range(T):
            s = src[t, g]
            dt = d[t]
            for b in range(B):
                dt[b] = s[b]
                column[b] += s[b]
        if sums.shape[0] > 0:
            total = 0.0
            for b in range(B):
                total += column[b]
            sums[g] = total


@numba.njit(inline="always", **JIT)
def step_indices(k, T, reverse, keep_cache):
    """Step ``k`` of a pass: ``(t, i_prev, i_new, slot, row)`` -- the time step, the
    state indices before and after it, its slot in the per-step caches and the
    row of ``hrows`` it writes (with a cache: the (T+1)-long state buffers,
    index ``t`` before step ``t`` going forward; without: ping-pong buffers and
    the output)."""
    t = T - 1 - k if reverse else k
    if keep_cache:
        i_prev = t + 1 if reverse else t
        i_new = t if reverse else t + 1
        return t, i_prev, i_new, t, i_new
    return t, k % 2, (k + 1) % 2, 0, t


@numba.njit(inline="always", **JIT)
def back_step(k, T, reverse, counts, B):
    """Step ``k`` of a backward pass (the last step first): ``(t, i_prev, n)`` --
    the time step, the index of the state that entered it, and its live
    sequences (``counts`` (T,) int64, sorted first, or empty for all ``B``)."""
    t = k if reverse else T - 1 - k
    return t, t + 1 if reverse else t, B if counts.shape[0] == 0 else counts[t]


@numba.njit(inline="always", **JIT)
def live_end(n, b0, b1):
    """Where the live columns of a part ``b0 ≤ b < b1`` end at a step with
    ``n`` live sequences (sorted first): they are ``b0 ≤ b < end``, the padded
    ones ``end ≤ b < b1``."""
    return min(max(n, b0), b1)


@numba.njit(inline="always", **JIT)
def zero_units(x, H, u0, u1, lo, hi):
    """``x[q·H + j, lo:hi] = 0`` for the units ``u0 ≤ j < u1`` of every block ``q`` of ``x`` (q·H, B)."""
    for q in range(x.shape[0] // H):
        for r in range(q * H + u0, q * H + u1):
            x[r, lo:hi] = 0


@numba.njit(inline="always", **JIT)
def copy_units(src, dst, u0, u1, lo, hi):
    """``dst[j, lo:hi] = src[j, lo:hi]`` for ``u0 ≤ j < u1`` of (H, B) arrays: padded columns carried."""
    for j in range(u0, u1):
        dst[j, lo:hi] = src[j, lo:hi]


@numba.njit(inline="always", **JIT)
def carry_rows(src, dst, u0, u1, lo, hi):
    """``dst[b, u0:u1] = src[b, u0:u1]`` for the padded sequences ``lo ≤ b < hi`` of batch-major (B, H) arrays."""
    for b in range(lo, hi):
        dst[b, u0:u1] = src[b, u0:u1]


@numba.njit(inline="always", **JIT)
def units_to_rows(cols, rows, u0, u1, lo, hi):
    """``rows[b, j] = cols[j, b]`` for ``u0 ≤ j < u1``, ``lo ≤ b < hi``: a state
    in columns (H, B) into its batch-major copy (B, H)."""
    c = cols[u0:u1]
    for b in range(lo, hi):
        r = rows[b, u0:u1]
        for j in range(u1 - u0):                        # from 0: LLVM vectorises these loops, not range(u0, u1)
            r[j] = c[j, b]


@numba.njit(inline="always", **JIT)
def add_rows(rows, cols, u0, u1, lo, hi):
    """``cols[j, b] += rows[b, j]`` for ``u0 ≤ j < u1``, ``lo ≤ b < hi``: a
    batch-major gradient (B, H) onto its column-layout sum (H, B)."""
    c = cols[u0:u1]
    for b in range(lo, hi):
        r = rows[b, u0:u1]
        for j in range(u1 - u0):
            c[j, b] += r[j]


@numba.njit(inline="always", **JIT)
def block_squares(dh, u0, u1, lo, hi, block, out):
    """``out[i, b] = Σ dh[j, b]²`` (float64) over the units ``j`` of each block ``i``
    (``block·i ≤ j < block·(i+1)``) within ``u0 ≤ j < u1``, for the columns
    ``lo ≤ b < hi``: the callers add the blocks' sums of every column and take
    the root, so the column norms have the same bits however the units or the
    columns were split between threads."""
    for j0 in range(u0, u1, block):
        o = out[j0 // block, lo:hi]
        for b in range(hi - lo):
            o[b] = 0.0
        for j in range(j0, min(j0 + block, u1)):
            d = dh[j, lo:hi]
            for b in range(hi - lo):
                v = np.float64(d[b])
                o[b] += v * v
