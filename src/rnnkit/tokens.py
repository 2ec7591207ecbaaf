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

:class:`TokenInput` stands for ``E[ids]`` wherever the time loops
(:mod:`rnnkit.loops`) take ``x``: it makes the input projection (in
either layout) and turns the gate gradients into ``dW_ih`` and ``dE``.  It
folds when the table is the cheaper side (``V <= T * B``) and numba is there
for the gather and the sums; otherwise it looks the vectors up and makes the
usual products, and ``dE`` sums the rows of ``dx``.  Either way the results
are those of the lookup followed by the layer, up to float rounding (the
table's dot products are summed once per id, not once per token).

One-hot vectors (:class:`rnnkit.layers.OneHot`, ``TokenRNN(embedding_dim=0)``,
the seeds' character models) are the case ``E = I``: the table is ``W_ih``
itself, ``dW_ih = dP``, and there is no ``dE``.  At V 256, H 256, T 64, B 32
the first LSTM layer's training pass (forward and backward) took 29.1-29.4 ms
against 39.8-41.5 ms on ``eye(V)[ids]``, and a 2-layer one-hot language
model's step 88.0 against 95.8 ms (interleaved medians).

Users reach it through ``layer(ids, embedding=emb)`` (:class:`rnnkit.Recurrent`),
which the token models use.  P2 of ``benchmarks/compare_torch.py`` (V 96,
E 64, H 256, T 64, B 32): see ``docs/performance.md``.
"""
from __future__ import annotations

import numpy as np

from . import kernels, threads


def sum_rows_by_id(ids, d, V):
    """``out[v] = sum of d[n] over n with ids[n] == v``: ``ids`` (N,), ``d`` (N, W) -> (V, W).
    NumPy only (the embedding's gradient, and the fallback of :class:`TokenInput`)."""
    ids = np.asarray(ids).reshape(-1)
    if V * ids.size <= 1 << 22:              # small vocabulary: one product with the one-hot matrix
        return threads.matmul((ids == np.arange(V)[:, None]).astype(d.dtype), d)
    order = np.argsort(ids, kind="stable")    # sum the rows of each id (np.add.at is slow)
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    out = np.zeros((V, d.shape[1]), d.dtype)
    out[sorted_ids[starts]] = np.add.reduceat(d[order], starts, axis=0)
    return out


class TokenInput:
    """``weight[ids]`` ``(T, B, D)`` without the lookup: ``ids`` ``(T, B)``
    int64 in ``[0, V)`` (checked by the caller), ``weight`` ``(V, D)``; or
    ``weight=None`` for one-hot vectors (``D = V = vocab_size``, ``dtype``),
    whose table is ``W_ih`` itself and which have no gradient of their own."""

    def __init__(self, ids, weight, *, vocab_size=None, dtype=None):
        self.ids = ids
        self.weight = weight
        self.vocab_size = weight.shape[0] if weight is not None else int(vocab_size)
        self.dtype = np.dtype(weight.dtype if weight is not None else dtype)
        T, B = ids.shape
        self.shape = (T, B, weight.shape[1] if weight is not None else self.vocab_size)
        self.fold = self.vocab_size <= T * B and kernels.available(np.float32)

    def take(self, order):
        """The same tokens with the batch reordered (``order`` (B,))."""
        return TokenInput(np.take(self.ids, order, axis=1), self.weight, vocab_size=self.vocab_size, dtype=self.dtype)

    def dense(self):
        """The looked-up vectors ``(T, B, D)``."""
        if self.weight is None:
            return np.eye(self.vocab_size, dtype=self.dtype)[self.ids]
        return self.weight[self.ids]

    def _table(self, W_ih):
        """``P = W_ih @ E.T`` ``(G, V)``: the projections of every token (``W_ih`` for one-hot)."""
        return W_ih if self.weight is None else W_ih @ self.weight.T

    def _grads_from_table(self, dP, W_ih):
        """``(dW_ih, dE)`` from the table's gradient ``dP`` ``(G, V)`` (``dE`` None for one-hot)."""
        if self.weight is None:
            return np.ascontiguousarray(dP), None
        return dP @ self.weight, dP.T @ W_ih

    def _grads_from_vectors(self, dA, W_ih):
        """``(dW_ih, dE)`` from the gate gradients ``dA`` ``(G, T*B)``, without the fold."""
        ids = self.ids.reshape(-1)
        dW_ih = dA @ self.dense().reshape(ids.size, -1)
        return dW_ih, None if self.weight is None else sum_rows_by_id(ids, dA.T @ W_ih, self.vocab_size)

    # -- forward ---------------------------------------------------------------------------
    def project_rows(self, W_ih, out):
        """``out`` ``(T*B, G)`` = the batch-major input projection ``x @ W_ih.T``."""
        T, B, D = self.shape
        if self.fold:
            rows = W_ih.T if self.weight is None else self.weight @ W_ih.T             # (V, G)
            return np.take(rows, self.ids.reshape(-1), axis=0, out=out)
        return np.matmul(self.dense().reshape(T * B, D), W_ih.T, out=out)

    def project_columns(self, W_ih, out):
        """``out`` ``(T, G, B)``: ``out[t] = W_ih @ x[t].T``, the column layout's
        projection, gathered from the table when it folds; returns whether it did
        (otherwise the caller projects :meth:`dense` itself)."""
        if not self.fold:
            return False
        from .kernels import tokens as token_kernels    # imports numba: only when it folds
        table, ids = np.ascontiguousarray(self._table(W_ih)), self.ids
        T, G, B = out.shape
        threads.run(lambda t0, t1: token_kernels.gather_columns(table, ids[t0:t1], out[t0:t1]),
                    threads.row_ranges(T, G * B, threads.COPY_MIN_WORK))
        return True

    # -- backward --------------------------------------------------------------------------
    def grads_rows(self, dxp, W_ih):
        """``(dW_ih, dE)`` from the gate gradients ``dxp`` ``(T*B, G)`` (batch-major);
        ``dE`` is None for one-hot vectors."""
        if self.fold:
            from .kernels import tokens as token_kernels
            dP = np.zeros((self.vocab_size, dxp.shape[1]), dxp.dtype)      # (V, G)
            token_kernels.scatter_rows(dxp, self.ids.reshape(-1), dP)
            return self._grads_from_table(dP.T, W_ih)
        return self._grads_from_vectors(dxp.T, W_ih)

    def grads_columns(self, dA, W_ih):
        """``(dW_ih, dE)`` from the gate gradients ``dA`` ``(G, T*B)`` (column layout);
        ``dE`` is None for one-hot vectors."""
        if self.fold:
            from .kernels import tokens as token_kernels
            dP = np.zeros((dA.shape[0], self.vocab_size), dA.dtype)        # (G, V)
            ids = self.ids.reshape(-1)
            threads.run(lambda g0, g1: token_kernels.scatter_columns(dA[g0:g1], ids, dP[g0:g1]),
                        threads.row_ranges(dA.shape[0], dA.shape[1], threads.COPY_MIN_WORK))
            return self._grads_from_table(dP, W_ih)
        return self._grads_from_vectors(dA, W_ih)
