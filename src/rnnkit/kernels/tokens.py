"""The gather and per-id sums of token inputs (:mod:`rnnkit.tokens`)."""
from __future__ import annotations

import numba

from .activations import JIT


@numba.njit(**JIT)
def gather_columns(table, ids, out):
    """``out[t][:, b] = table[:, ids[t, b]]``: ``table`` (G, V), ``ids`` (T, B)
    int64 in ``[0, V)`` (not checked here), ``out`` (T, G, B).  The input
    projection of token ids in column layout."""
    T, B = ids.shape
    G = table.shape[0]
    for t in range(T):
        idt = ids[t]
        o = out[t]
        for g in range(G):
            row = table[g]
            og = o[g]
            for b in range(B):
                og[b] = row[idt[b]]


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
