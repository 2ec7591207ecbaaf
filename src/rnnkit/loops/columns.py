"""The column-layout loop: the LSTM's and the reset-after GRU's whole
sequence in one compiled call, with the state as columns.

The batch-major loops keep a step's state as ``h`` ``(B, H)`` and make the
recurrent product as ``h @ W_hh.T``.  This loop keeps it feature-major,
``h`` as ``(H, B)`` columns, and computes the same product as

    gates (G, B) = W_hh (G, H) @ h (H, B)            forward
    dh    (H, B) = W_hh.T (H, G) @ da (G, B)         backward (W_hh.T copied once per pass)

with the weight matrix as BLAS's untransposed, C-contiguous left operand and
the batch as the short side, which OpenBLAS (NumPy's) runs faster at these
shapes.  The products go through NumPy's own ``cblas_sgemm``, found with
:mod:`ctypes` (:mod:`rnnkit.kernels.blas`), so that the whole loop runs in
one numba call per sequence and direction (``lstm_columns_forward`` and
``_backward`` in :mod:`rnnkit.kernels.lstm`, ``gru_columns_*`` in
:mod:`rnnkit.kernels.gru`): each step's product is accumulated (``beta = 1``)
onto the input projection, which the kernel turns into the gates in place,
so the projection buffer *is* the cache's ``act``.

The cache keeps one contiguous block per step, ``act`` ``(T, G, B)``, ``tc``
or ``hn`` ``(T, H, B)``, ``c`` ``(T+1, H, B)``, so that a step's kernel walks
memory as the batch-major one does.  ``h`` is kept batch-major, ``(T+1, B, H)``
(index ``t`` the state before step ``t`` going forward): the product takes it
as ``h.T`` at the same speed, and it is the right operand of ``dW_hh`` as it
is; the GRU keeps it in columns too (``hcols``), since its kernels read
``h_prev``.  The weight gradients are one product each over all steps, after
one copy of ``dA`` into ``(G, T*B)``:

    dW_ih = dA @ X          dW_hh = dHP @ H_prev          db = dA.sum(1)
    dX    = dA.T @ W_ih                                    (X, H_prev: (T*B, ·))

(the LSTM's ``dHP`` is ``dA``; the GRU's differs by ``r`` on the ``n`` block).
Token inputs (:class:`rnnkit.tokens.TokenInput`) make the projection by a
gather from their table and turn ``dA`` into ``dW_ih`` and the embedding's
gradient by summing it per id.  Lengths are packed as in the batch-major loop
(:mod:`rnnkit.loops.frame`), only the live columns computed.  Where it serves
is decided by :func:`rnnkit.engine.choose_loop`.
"""
from __future__ import annotations

import numpy as np

from .. import threads
from ..kernels import blas, gru, layout, lstm, product, sync
from ..tokens import TokenInput
from .frame import SequenceCache, backward_order, buffer, caller_order, empty, pack, packed_grads_in, packing


def forward(cell, family, p, x, state0, mask=None, reverse=False, keep_cache=True, buffers=None):
    """As :func:`rnnkit.loops.reference.forward` (no recurrent dropout) for a
    float32 LSTM (``family="lstm"``) or reset-after GRU (``"gru"``).  A mask
    must come from lengths, and only in passes that keep a cache."""
    dtype = p["W_hh"].dtype
    order = counts = None
    if (packed := packing(mask)) is not None:
        order, counts = packed                   # sorted by decreasing length: live columns first
        x, state0, _, _ = pack(order, x, state0, mask, None)
    if counts is not None and not keep_cache:
        raise ValueError("the column loop takes lengths in training passes only (keep_cache=True)")
    buf = lambda name, shape: buffer(buffers, name, shape, dtype)   # noqa: E731
    run = _lstm_forward if family == "lstm" else _gru_forward
    hs, final, parts = run(p, x, state0, counts, reverse, keep_cache, buf)
    hs, final = caller_order(order, hs, final)
    if parts is None:
        return hs, final, None
    return hs, final, SequenceCache("columns", x=x, hd=None, mask=None if counts is None else mask, rmask=None,
                                    reverse=reverse, order=order, counts=counts, **parts)


def _lstm_forward(p, x, state0, counts, reverse, keep_cache, buf):
    W_ih, W_hh, b_ih, b_hh = p["W_ih"], p["W_hh"], p.get("b_ih"), p.get("b_hh")
    T, B, _ = x.shape
    G, H = W_hh.shape
    dtype = W_hh.dtype
    # the gates (T, 4H, B), the cache's ``act``: the loop makes each step's input projection in place, adds
    # the recurrent product and turns them into the gates; one step's block without a cache
    act, inputs = _gates_and_inputs(W_ih, x, keep_cache, buf)
    bx = b_ih + b_hh if b_ih is not None else np.zeros(G, dtype)
    h_cols = buf("h_cols", (2, H, B))                    # h in columns, ping-ponging: the product's operand
    hs = empty((T, B, H), dtype)
    if keep_cache:
        hb, c, tc = buf("col_h", (T + 1, B, H)), buf("col_c", (T + 1, H, B)), buf("col_tc", (T, H, B))
        start = T if reverse else 0
    else:
        hb, c, tc = hs, buf("inf_c", (2, H, B)), buf("inf_tc", (1, H, B))
        start = 0
    if keep_cache:
        hb[start] = state0[0]
    c[start] = state0[1].T
    h_cols[0] = state0[0].T
    W_hh, scales, live = np.ascontiguousarray(W_hh), lstm.lstm_gate_scales(H), _live(counts)
    _run(lambda *split: lstm.lstm_columns_forward(*_calls(), *inputs, W_hh, bx, scales, h_cols, hb, c, act, tc,
                                                  live, reverse, keep_cache, *split),
         _plan(H, G, max(H, inputs[0].shape[1]), B))
    i_new = (0 if reverse else T) if keep_cache else T % 2
    final = (h_cols[T % 2].T.copy(), c[i_new].T.copy())  # the last h of every sequence, padded or not
    if not keep_cache:
        return hs, final, None
    hs[:] = hb[:T] if reverse else hb[1:]
    _zero_padded(hs, counts)
    return hs, final, dict(states=(hb, c), mem={"act": act, "tc": tc})


def _gru_forward(p, x, state0, counts, reverse, keep_cache, buf):
    """``r, z`` from ``W_ih x + W_hh h + b``; ``n = tanh(W_in x + b_in + r (W_hn h + b_hn))``.
    The cache holds ``act`` (T, 3H, B), ``hn`` (T, H, B) and ``h`` both ways:
    ``hcols`` (T+1, H, B) for the kernels, batch-major (T+1, B, H) for ``dW_hh``."""
    W_ih, W_hh, b_ih, b_hh = p["W_ih"], p["W_hh"], p.get("b_ih"), p.get("b_hh")
    T, B, _ = x.shape
    G, H = W_hh.shape
    dtype = W_hh.dtype
    act, inputs = _gates_and_inputs(W_ih, x, keep_cache, buf)
    if b_ih is not None:
        bx = b_ih + b_hh
        bx[2 * H:] = b_ih[2 * H:]                        # b_hn stays inside r (W_hn h + b_hn)
        b_hn = np.ascontiguousarray(b_hh[2 * H:])
    else:
        bx, b_hn = np.zeros(G, dtype), np.zeros(H, dtype)
    hs = empty((T, B, H), dtype)
    if keep_cache:
        hb, hcols, hn = buf("col_h", (T + 1, B, H)), buf("col_hc", (T + 1, H, B)), buf("col_hn", (T, H, B))
        start = T if reverse else 0
        hb[start] = state0[0]
    else:
        hb, hcols, hn = hs, buf("h_cols", (2, H, B)), buf("inf_hn", (1, H, B))
        start = 0
    hcols[start] = state0[0].T
    W_hh, hp, live = np.ascontiguousarray(W_hh), buf("hp", (G, B)), _live(counts)
    _run(lambda *split: gru.gru_columns_forward(*_calls(), *inputs, W_hh, bx, b_hn, hcols, hp, hb, act, hn, live,
                                                reverse, keep_cache, *split),
         _plan(H, G, max(H, inputs[0].shape[1]), B))
    i_new = (0 if reverse else T) if keep_cache else T % 2
    final = (hcols[i_new].T.copy(),)
    if not keep_cache:
        return hs, final, None
    hs[:] = hb[:T] if reverse else hb[1:]
    _zero_padded(hs, counts)
    return hs, final, dict(states=(hb,), mem={"act": act, "hn": hn, "hcols": hcols})


def _gates_and_inputs(W_ih, x, keep_cache, buf):
    """``(act, (W_ih, xT))``: the gates' buffer and what the whole-sequence
    kernels make each step's input projection from
    (:func:`rnnkit.kernels.product.project_step`).  Vectors ``x`` (T, B, D):
    ``W_ih`` and ``x`` as (T, D, B) (copied by steps in
    :func:`rnnkit.threads.row_ranges` at once); ``act`` (T, G, B) with a cache,
    one step's (1, G, B) without.  A folding :class:`rnnkit.tokens.TokenInput`:
    its projections gathered into ``act`` (T, G, B) for all steps first, and
    the pair empty."""
    T, B, D = x.shape
    G = W_ih.shape[0]
    dtype = W_ih.dtype
    folds = isinstance(x, TokenInput) and x.fold
    act = buf("col_act" if keep_cache else "col_xp" if folds else "inf_act", (T if keep_cache or folds else 1, G, B))
    if isinstance(x, TokenInput):
        if x.project_columns(W_ih, act):
            return act, (np.empty((0, 0), dtype), np.empty((0, 0, 0), dtype))
        x = x.dense()
    xT = buf("xT", (T, D, B))

    def steps(t0, t1):
        xT[t0:t1] = x[t0:t1].transpose(0, 2, 1)

    ranges = threads.row_ranges(T, D * B, threads.COPY_MIN_WORK)
    if len(ranges) > 1:
        threads.run(steps, ranges)
    else:
        steps(0, T)                              # a NumPy copy: no BLAS to keep at one thread
    return act, (np.ascontiguousarray(W_ih, dtype), xT)


def _plan(H, G, K, B):
    """``(group, block, parts, meet)`` of a pass over ``W_hh`` (G, H) whose
    longest product row is ``K`` and batch ``B``: the columns and rows per
    product call (:data:`rnnkit.kernels.product.GROUP`,
    :func:`~rnnkit.kernels.product.unit_block`), the parts ``(u0, u1, b0,
    b1)`` of the running pass's threads, and whether they meet once a step.
    Large weights: unit ranges of whole blocks over all columns, which meet.
    Small ones (:func:`rnnkit.kernels.product.small`): column ranges of whole
    groups over all units, which need not, as many as have
    :data:`rnnkit.threads.MIN_WORK` multiply-adds of step product each."""
    group, block = product.GROUP, product.unit_block(H, G, K)
    if product.small(G, H):
        n = min(threads.width(), max(1, B * G * H // threads.MIN_WORK))
        return group, block, [(0, H, b0, b1) for b0, b1 in threads.block_ranges(B, group, n)], False
    return group, block, [(u0, u1, 0, B) for u0, u1 in threads.block_ranges(H, block)], True


def _run(part, plan):
    """A pass's whole-sequence kernel, ``part(u0, u1, b0, b1, sync, parts,
    group, block)``, once per part of ``plan`` (:func:`_plan`), at once:
    parts that meet share one :mod:`~rnnkit.kernels.sync` count, the others
    have one each."""
    group, block, parts, meet = plan
    meetings = [sync.new()] * len(parts) if meet else sync.apart(len(parts))
    together = len(parts) if meet else 1
    threads.run(lambda u0, u1, b0, b1, s: part(u0, u1, b0, b1, s, together, group, block),
                [p + (s,) for p, s in zip(parts, meetings)])
    for s in meetings:
        sync.check(s)


def _calls():
    """The C functions the whole-sequence kernels call: NumPy's ``cblas_sgemm``
    and the wait's yield (:mod:`rnnkit.kernels.sync`)."""
    return blas.found(), sync.pause()


def _columns(d, shape, dtype):
    """A state gradient ``d`` (B, H) (or ``None``: zeros) as aligned columns (H, B)."""
    out = empty(shape, dtype)
    out[:] = 0 if d is None else np.asarray(d).T
    return out


def _live(counts):
    return np.empty(0, np.int64) if counts is None else np.asarray(counts, np.int64)


def _zero_padded(hs, counts):
    if counts is not None:
        for t in np.flatnonzero(counts < hs.shape[1]):
            hs[t, counts[t]:] = 0


def backward(cell, family, p, cache, dhs, dstate_T=None, dh_norms=None, buffers=None, need_dx=True):
    """As :func:`rnnkit.loops.reference.backward`, for a cache of :func:`forward`."""
    W_ih, W_hh, b_ih = p["W_ih"], p["W_hh"], p.get("b_ih")
    x, reverse, counts, order = cache.x, cache.reverse, cache.counts, cache.order
    T, B, D = x.shape
    G, H = W_hh.shape
    dtype = W_hh.dtype
    dhs, dstate_T = packed_grads_in(order, dhs, dstate_T)
    W_hh_T = np.ascontiguousarray(W_hh.T)                    # (H, G): the fast left operand
    dstate_T = tuple(dstate_T or (None,) * len(cache.states))
    dh, *dc = (_columns(d, (H, B), dtype) for d in dstate_T)
    if dhs is not None and (dhs.dtype != dtype or dhs.strides[-1] != dtype.itemsize):
        dhs = np.ascontiguousarray(dhs, dtype=dtype)     # rows must be contiguous; a transposed view's are
    dA = buffer(buffers, "col_dA", (T, G, B), dtype)
    from_outputs = dhs if dhs is not None else np.empty((T, 0, 0), dtype)   # a batch-first view: read as it is
    plan = _plan(H, G, G, B)
    squares = np.zeros((T, -(-H // plan[1]), B) if dh_norms is not None else (0, 0, 0))
    mem, live = cache.mem, _live(counts)
    if family == "gru":
        dHP = buffer(buffers, "col_dHP", (T, G, B), dtype)
        _run(lambda *split: gru.gru_columns_backward(*_calls(), W_hh_T, mem["act"], mem["hn"], mem["hcols"],
                                                     from_outputs, dh, dA, dHP, live, reverse, squares,
                                                     *split), plan)
    else:
        _run(lambda *split: lstm.lstm_columns_backward(*_calls(), W_hh_T, mem["act"], mem["tc"], cache.states[1],
                                                       from_outputs, dh, dc[0], dA, live, reverse, squares,
                                                       *split), plan)
    if dh_norms is not None:
        dh_norms[:] = np.sqrt(squares.sum(axis=1)).sum(axis=1) / B    # each column's norm, the batch's mean
    hb = cache.states[0]
    h_prev = (hb[1:] if reverse else hb[:T]).reshape(T * B, H)   # row block t: the h that entered step t
    sums = {k: empty((G if b_ih is not None else 0,), dtype) for k in ("b_ih", "b_hh")}
    dA2 = _steps_to_rows(dA, buffer(buffers, "col_dA2", (G, T, B), dtype), sums["b_ih"])
    if isinstance(x, TokenInput):
        dW_ih, dx = x.grads_columns(dA2, W_ih)                   # dx: the embedding's gradient (V, D)
    else:
        dW_ih = threads.matmul(dA2, x.reshape(T * B, D))
        dx = threads.matmul(dA2.T, W_ih).reshape(T, B, D) if need_dx else None
    grads = {"W_ih": dW_ih}
    if family == "gru":
        dHP2 = _steps_to_rows(dHP, buffer(buffers, "col_dHP2", (G, T, B), dtype), sums["b_hh"])
    else:
        dHP2 = dA2
        sums["b_hh"][:] = sums["b_ih"]
    grads["W_hh"] = threads.matmul(dHP2, h_prev)
    if b_ih is not None:
        grads.update(sums)
    return backward_order(order, x, dx, tuple(d.T.copy() for d in (dh, *dc))) + (grads,)


def _steps_to_rows(blocks, out, sums):
    """``blocks`` (T, G, B) laid out as one (G, T*B) matrix for the weight
    products, the rows in :func:`rnnkit.threads.row_ranges` at once; each row's
    sum into ``sums`` (G,) on the way, unless it is empty."""
    T, G, B = blocks.shape
    threads.run(lambda g0, g1: layout.steps_to_rows(blocks, out, sums, g0, g1),
                threads.row_ranges(G, T * B, threads.COPY_MIN_WORK))
    return out.reshape(G, -1)
