"""The gather and per-id sums of token inputs (:mod:`rnnkit.tokens`)."""
from __future__ import annotations

import numba

from .activations import JIT


@numba.njit(inline="always", **JIT)
def gather_step(table, ids_t, out, lo, hi):
    """``out[:, b] = table[:, ids_t[b]]`` for ``lo ≤ b < hi``: ``table`` (G, V),
    ``ids_t`` (B,) int64 in ``[0, V)`` (not checked here), ``out`` (G, B).  One
    step's input projection of token ids in column layout."""
    for g in range(table.shape[0]):
        row = table[g]
        og = out[g]
        for b in range(lo, hi):
            og[b] = row[ids_t[b]]


@numba.njit(**JIT)
def scatter_columns(d, ids, out):
    """``out[:, v] += d[:, n]`` for every ``n`` with ``ids[n] == v``: ``d`` (G, N),
    ``ids`` (N,) int64, ``out`` (G, V); the sums run in ``n`` order."""
    G, N = d.shape
    for g in range(G):
        row = d[g]
        o = out[g]
        for n in range(N):
            o[ids[n]] += row[n]


@numba.njit(**JIT)
def scatter_rows(d, ids, out):
    """``out[v] += d[n]`` for every ``n`` with ``ids[n] == v``: ``d`` (N, G),
    ``ids`` (N,) int64, ``out`` (V, G); the sums run in ``n`` order."""
    N, G = d.shape
    for n in range(N):
        o = out[ids[n]]
        r = d[n]
        for g in range(G):
            o[g] += r[g]
