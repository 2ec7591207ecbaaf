"""Token ids as a recurrent layer's input: the embedding folded into the input projection.

A language model, a text classifier or a tagger feeds an embedding ``E``
``(V, D)`` into its first recurrent layer: ``x_t = E[ids_t]``, and the layer's
first product is ``W_ih x_t`` ``(G, B)`` for every step.  Both maps are linear,
so that product is a lookup in one table per pass,

    P = W_ih @ E.T   (G, V)              W_ih x_t[:, b] = P[:, ids[t, b]]

(``2 G D V`` flops instead of ``2 G D T B``), and the backward pass sums the
gate gradients of every token into the table's gradient instead of making
two products over all steps:

    dP[:, v] = sum of dA[t][:, b] over (t, b) with ids[t, b] == v
    dW_ih = dP @ E                 dE = dP.T @ W_ih

:class:`TokenInput` stands for ``E[ids]`` wherever :mod:`rnnkit.sequence` and
:mod:`rnnkit.sequence_columns` take ``x``: it makes the input projection (in
either layout) and turns the gate gradients into ``dW_ih`` and ``dE``.  It
folds when the table is the cheaper side (``V <= T * B``) and numba is there
for the gather and the sums; otherwise it looks the vectors up and makes the
usual products, and ``dE`` sums the rows of ``dx``.  Either way the results
are those of the lookup followed by the layer, up to float rounding (the
table's dot products are summed once per id, not once per token).

Users reach it through ``layer(ids, embedding=emb)`` (:class:`rnnkit.Recurrent`),
which the token models use.  P2 of ``benchmarks/compare_torch.py`` (V 96,
E 64, H 256, T 64, B 32): see ``docs/performance.md``.
"""
from __future__ import annotations

import numpy as np

from . import kernels


def sum_rows_by_id(ids, d, V):
    """``out[v] = sum of d[n] over n with ids[n] == v``: ``ids`` (N,), ``d`` (N, W) -> (V, W).
    NumPy only (the embedding's gradient, and the fallback of :class:`TokenInput`)."""
    ids = np.asarray(ids).reshape(-1)
    if V * ids.size <= 1 << 22:              # small vocabulary: one product with the one-hot matrix
        return (ids == np.arange(V)[:, None]).astype(d.dtype) @ d
    order = np.argsort(ids, kind="stable")    # sum the rows of each id (np.add.at is slow)
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    out = np.zeros((V, d.shape[1]), d.dtype)
    out[sorted_ids[starts]] = np.add.reduceat(d[order], starts, axis=0)
    return out


class TokenInput:
    """``weight[ids]`` ``(T, B, D)`` without the lookup: ``ids`` ``(T, B)``
    int64 in ``[0, V)`` (checked by the caller), ``weight`` ``(V, D)``."""

    def __init__(self, ids, weight):
        self.ids = ids
        self.weight = weight
        T, B = ids.shape
        self.shape = (T, B, weight.shape[1])
        self.fold = weight.shape[0] <= T * B and kernels.enabled(np.float32)
        self._kernel = kernels.load() if self.fold else None

    def take(self, order):
        """The same tokens with the batch reordered (``order`` (B,))."""
        return TokenInput(np.take(self.ids, order, axis=1), self.weight)

    def dense(self):
        """The looked-up vectors ``(T, B, D)``."""
        return self.weight[self.ids]

    # -- forward ---------------------------------------------------------------------------
    def project_rows(self, W_ih, out):
        """``out`` ``(T*B, G)`` = the batch-major input projection ``x @ W_ih.T``."""
        T, B, D = self.shape
        if self.fold:
            return np.take(self.weight @ W_ih.T, self.ids.reshape(-1), axis=0, out=out)
        return np.matmul(self.dense().reshape(T * B, D), W_ih.T, out=out)

    def project_columns(self, W_ih, out, dense_projection):
        """``out`` ``(T, G, B)``: ``out[t] = W_ih @ x[t].T``, the column layout's
        projection (``dense_projection(W_ih, x, out)`` makes it from vectors)."""
        if self.fold:
            self._kernel.gather_columns(np.ascontiguousarray(W_ih @ self.weight.T), self.ids, out)
            return out
        return dense_projection(W_ih, self.dense(), out)

    # -- backward --------------------------------------------------------------------------
    def grads_rows(self, dxp, W_ih):
        """``(dW_ih, dE)`` from the gate gradients ``dxp`` ``(T*B, G)`` (batch-major)."""
        ids = self.ids.reshape(-1)
        if self.fold:
            dP = np.zeros((self.weight.shape[0], dxp.shape[1]), dxp.dtype)      # (V, G)
            self._kernel.scatter_rows(dxp, ids, dP)
            return dP.T @ self.weight, dP @ W_ih
        return dxp.T @ self.dense().reshape(ids.size, -1), sum_rows_by_id(ids, dxp @ W_ih, self.weight.shape[0])

    def grads_columns(self, dA, W_ih):
        """``(dW_ih, dE)`` from the gate gradients ``dA`` ``(G, T*B)`` (column layout)."""
        ids = self.ids.reshape(-1)
        if self.fold:
            dP = np.zeros((dA.shape[0], self.weight.shape[0]), dA.dtype)       # (G, V)
            self._kernel.scatter_columns(dA, ids, dP)
            return dP @ self.weight, dP.T @ W_ih
        return dA @ self.dense().reshape(ids.size, -1), sum_rows_by_id(ids, dA.T @ W_ih, self.weight.shape[0])
