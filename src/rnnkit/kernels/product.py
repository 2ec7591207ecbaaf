"""The column loop's step products, made in fixed blocks.

Each step of :mod:`rnnkit.loops.columns` makes products of weights with the
state's columns, ``C[rows, lo:hi] (+)= A[rows] @ X[:, lo:hi]`` (``A`` (M, K):
``W_hh`` (G, H) and ``W_ih`` (G, D) going forward, ``W_hh.T`` (H, G) going
back; ``X``, ``C`` (·, B)).  A pass split over threads gives each thread a
*part* (:func:`rnnkit.loops.columns._plan`):

* for large recurrent weights, a range of *units* ``u0 ≤ j < u1``
  (:func:`rnnkit.threads.block_ranges`), and so the rows ``q·H + j`` of every
  gate block ``q``, for the whole batch: its own rows of the weights, which
  stay in its core's cache from one step to the next (at H 256 a thread's
  half of ``W_hh`` is 512 KB, the whole 1 MB, one core's L2).  A step needs
  the whole previous state, so the threads meet once a step
  (:mod:`rnnkit.kernels.sync`);
* for small ones (under :data:`SMALL` multiply-adds, which every core's cache
  holds whole), a range of *columns* ``lo ≤ b < hi``, all the units: the
  sequences of a batch are independent, so the threads never meet.

:func:`product_gates` makes the products through NumPy's own ``cblas_sgemm``
(:mod:`rnnkit.kernels.blas`) in blocks:

* the rows in blocks of ``block`` (:func:`unit_block`: ``ROW_WORK / (GROUP·K)``,
  2^19 multiply-adds a call), from the start of each gate block, and threads'
  unit ranges are whole blocks: a call is the same on any thread count;
* the columns in groups of :data:`GROUP`, group ``g`` always
  ``[GROUP·g, GROUP·(g+1))``, and threads' column ranges are whole groups.

So every thread count makes the very same calls and gets the same bits
(OpenBLAS gives a column other bits in a call 64 columns wide than in one
32 wide, so the groups must not follow the split).
OpenBLAS makes products under about 10^6 multiply-adds with its small-matrix
kernel, on the calling thread, from the cache, without packing the weights on
every call.  Measured on the 2-core Zen 4 VM of docs/performance.md, one
thread: 16 columns of the backward product at H 256 (256 x 1024) at 101-108
GFLOP/s in blocks of 2^19 multiply-adds, 79-90 in blocks of 2^18, 76-82 in
one call; a two-thread LSTM pass at H 256, B 32 took 94-98 µs a step
forward and 104-112 back split by units, against 102-118 and 114-120 split by
columns (each thread then reads all of ``W_hh`` every step).  At H 32, B 64
the step product took 4.8 µs in one call of 64 columns and 5.0 in groups of
32, and an inference pass 485 µs on one thread against 335-430 split by
columns over two.
"""
from __future__ import annotations

import numba
import numpy as np

from .activations import JIT

GROUP = 32               # columns per product call
ROW_WORK = 1 << 19       # multiply-adds per product call: rows per call = ROW_WORK // (GROUP * K)
SMALL = 1 << 16          # recurrent weights (G*H) below this: threads split the columns, not the units


def small(G, H):
    """Whether recurrent weights (G, H) are small enough for a pass to split
    its columns rather than its units (see the module's docstring)."""
    return G * H < SMALL


def unit_block(H, G, K):
    """Rows per product call (and units per block of the thread split) in a
    pass whose recurrent weights are (G, H) and whose products have ``K``
    columns of weights at most: ``ROW_WORK // (GROUP·K)``, at least 8, at most
    half the units (so that two threads can share them); all of them for
    small weights (:func:`small`), whose passes split the columns."""
    if small(G, H):
        return H
    return max(8, min(ROW_WORK // (GROUP * K), H // 2))


@numba.njit(inline="always", **JIT)
def product_gates(sgemm, a, x, beta, c, H, u0, u1, lo, hi, group, block):
    """``c[r, lo:hi] = a[r] @ x[:, lo:hi] + beta · c[r, lo:hi]`` for the rows
    ``r = q·H + j``, ``u0 ≤ j < u1``, of every gate block ``q`` of float32
    C-contiguous ``a`` (M, K), ``x`` (K, B), ``c`` (M, B), in the blocks of
    the module's docstring; ``u0`` a multiple of ``block``, ``lo`` of ``group``."""
    M, K = a.shape
    B = x.shape[1]
    for q in range(M // H):
        for i in range(q * H + u0, q * H + u1, block):
            m = min(block, q * H + u1 - i)
            for g in range(lo, hi, group):
                w = min(group, hi - g)
                sgemm(101, 111, 111, m, w, K, np.float32(1.0), a.ctypes.data + 4 * i * K, K, x.ctypes.data + 4 * g,
                      B, beta, c.ctypes.data + 4 * (i * B + g), B)


@numba.njit(inline="always", **JIT)
def project_step(sgemm, w, xT, t, out, H, u0, u1, lo, hi, group, block):
    """``out[r, lo:hi] = w[r] @ xT[t][:, lo:hi]`` for the rows of units ``u0 ≤ j < u1``:
    step ``t``'s input projection (``w`` (G, D), ``xT`` (T, D, B)) in the blocks
    of :func:`product_gates`, made inside the column loop just before the step
    needs it, so that it is still in the cache when the step product is added
    (made for the whole sequence first, P3's projections, 52 MB, went out to
    memory and back).  Nothing when ``w`` is empty: ``out`` already holds the
    projection (token ids, gathered for all steps before the loop,
    :func:`rnnkit.kernels.tokens.gather_columns`; gathered inside the loop, P2's
    pass measured 3-4% slower)."""
    if w.shape[0] > 0:
        product_gates(sgemm, w, xT[t], np.float32(0.0), out, H, u0, u1, lo, hi, group, block)
