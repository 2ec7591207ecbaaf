"""The column loop's step product, made in fixed blocks.

Each step of :mod:`rnnkit.loops.columns` makes one product of the recurrent
weights with the state's columns, ``C[:, lo:hi] (+)= A @ X[:, lo:hi]`` (``A``
(M, K): ``W_hh`` (G, H) going forward, ``W_hh.T`` (H, G) going back; ``X``,
``C`` (·, B)).  :func:`product_columns` makes it through NumPy's own
``cblas_sgemm`` (:mod:`rnnkit.kernels.blas`) in blocks:

* the columns in groups of ``group`` (:func:`group_width`: :data:`GROUP`, or
  the whole batch for small weights), group ``g`` always
  ``[group·g, group·(g+1))``, so that a pass split over threads by column
  ranges (:func:`rnnkit.threads.column_ranges`) makes the very same calls as
  one thread and gets the same bits whatever the thread count;
* the rows in blocks of ``ROW_WORK / (group·K)`` (at least 8, at most M),
  2^19 multiply-adds a call: OpenBLAS makes products under about 10^6
  multiply-adds with its small-matrix kernel, on the calling thread whatever
  its thread count, from the cache, without packing the weights on every
  call.  On the 2-core Zen 4 VM of docs/performance.md, one thread, 16
  columns: the forward product of H 256 (1024 x 256) at 109-113 GFLOP/s in
  blocks of 128 rows, the backward one (256 x 1024) at 101-108 in blocks of
  32, against 104-108 and 79-90 in blocks of 2^18 multiply-adds and 76-82 for
  one call over all rows; a pass on two threads, each on half of a batch of
  32, took 108-120 µs a step going forward and 111-120 back.
"""
from __future__ import annotations

import numba
import numpy as np

from .activations import JIT

GROUP = 16               # columns per product call (multiples of it start every thread's range)
ROW_WORK = 1 << 19       # multiply-adds per product call: rows per call = ROW_WORK // (group * K)
SMALL = 1 << 16          # weights (M*K) below this: one call over all columns (threads would not pay)


def group_width(B, M, K):
    """Columns per product call for weights (M, K) and a batch of ``B``: the same
    for every thread count, so that the bits are."""
    return GROUP if M * K >= SMALL else max(1, B)


@numba.njit(inline="always", **JIT)
def product_columns(sgemm, a, x, beta, c, lo, hi, group):
    """``c[:, lo:hi] = a @ x[:, lo:hi] + beta * c[:, lo:hi]`` for float32
    C-contiguous ``a`` (M, K), ``x`` (K, B), ``c`` (M, B), in the blocks of the
    module's docstring; ``lo`` a multiple of ``group``."""
    M, K = a.shape
    B = x.shape[1]
    rows = min(M, max(8, ROW_WORK // (group * K)))
    for g in range(lo, hi, group):
        n = min(group, hi - g)
        for i in range(0, M, rows):
            m = min(rows, M - i)
            sgemm(101, 111, 111, m, n, K, np.float32(1.0), a.ctypes.data + 4 * i * K, K, x.ctypes.data + 4 * g, B,
                  beta, c.ctypes.data + 4 * (i * B + g), B)


@numba.njit(inline="always", **JIT)
def project_step(sgemm, w, xT, t, out, lo, hi, group):
    """``out[:, lo:hi] = w @ xT[t][:, lo:hi]``: step ``t``'s input projection
    (``w`` (G, D), ``xT`` (T, D, B)) in the blocks of :func:`product_columns`,
    made inside the column loop just before the step needs it, so that it is
    still in the cache when the step product is added (made for the whole
    sequence first, P3's projections, 52 MB, went out to memory and back).
    Nothing when ``w`` is empty: ``out`` already holds the projection (token ids,
    gathered for all steps before the loop, :func:`rnnkit.kernels.tokens.gather_columns`;
    gathered inside the loop, P2's pass measured 3-4% slower)."""
    if w.shape[0] > 0:
        product_columns(sgemm, w, xT[t], np.float32(0.0), out, lo, hi, group)
