"""The LSTM and GRU time loops in *column layout*, the compiled fast path for batches.

:mod:`rnnkit.sequence` keeps a step's state batch-major, ``h`` ``(B, H)``, so
the recurrent product is ``h @ W_hh.T``.  This loop keeps it feature-major,
``h`` as ``(H, B)`` columns, and computes the same product as

    gates (4H, B) = W_hh (4H, H) @ h (H, B)          forward
    dh    (H, B)  = W_hh.T (H, 4H) @ da (4H, B)      backward (W_hh.T copied once per pass)

with the weight matrix as BLAS's untransposed, C-contiguous left operand and
the batch as the short side.  OpenBLAS (NumPy's) runs these shapes much
faster: on the 2-core AVX-512 machine of ``docs/performance.md``, the step of
P2 (B 32, H 256) took 105 us instead of 160 us forward and 110 us instead of
148 us backward; at B 64, H 512, 695 instead of 815 us (interleaved medians,
``float32``).

The cache keeps one contiguous block per step, ``act`` ``(T, 4H, B)``, ``tc``
``(T, H, B)``, ``c`` ``(T+1, H, B)``, so that a step's kernel walks memory as
the batch-major one does (a ``(4H, T*B)`` layout, one product cheaper in the
backward pass, ran the kernels at a third of that speed: a step's data was
4H short pieces far apart).  ``h`` is kept batch-major, ``(T+1, B, H)``
(index ``t`` is the state before step ``t`` going forward, as in
:mod:`rnnkit.sequence`): the product takes it as ``h.T`` at the same speed, and
it is the right operand of ``dW_hh`` as it is.  The weight gradients are one
product each over all steps, after one copy of ``dA`` into ``(4H, T*B)``:

    dW_ih = dA @ X          dW_hh = dA @ H_prev          db = dA.sum(1)
    dX    = dA.T @ W_ih                                  (X, H_prev: (T*B, ·))

The elementwise work is :func:`rnnkit.kernels.fused.lstm_forward_cols` and
``lstm_backward_cols``: the arithmetic of the batch-major kernels to the bit.
Only the products' summation order differs from the batch-major fast loop.

The loop itself runs compiled, one call per sequence and direction
(:func:`rnnkit.kernels.fused.lstm_columns_forward` and
``lstm_columns_backward``), where :func:`rnnkit.kernels.blas.sgemm` finds
NumPy's own ``cblas_sgemm`` to call from numba: the step's product is then
accumulated (``beta = 1``) onto the input projection, which the kernel turns
into the gates in place, so the projection buffer *is* the cache's ``act``
and ``h`` stays in columns for the next product.  Without such a BLAS (or with
``RNNKIT_BLAS_LOOP=off``) the same kernels are driven step by step from
Python, as :func:`_python_loop`.  P5 (H 32, B 64) inference: 0.56 against
0.78 ms; training 1.6-1.7 against 2.0-2.1 ms; P2 and P3 within a few per cent
(their steps are the product's time).

The reset-after GRU (PyTorch's) has the same loop, compiled only
(:func:`rnnkit.kernels.fused.gru_columns_forward`, ``gru_columns_backward``):
one product ``W_hh @ h`` (3H, B) per step into a scratch block, since its
``n`` block enters ``r (W_hn h + b_hn)`` and not the sum; ``h`` kept in
columns as well as batch-major (the kernels read ``h_prev``); two gate
gradients, ``dA`` for ``W_ih`` and ``dHP`` for ``W_hh`` (they differ by ``r`` on
the ``n`` block), and ``dh = dh z + W_hh.T @ dHP`` accumulated onto the
direct path.  P4 (H 256, B 32): inference 8.1 against 10.5 ms, training 24.5
against 28.7 ms; P5's shape 0.59 against 1.27 ms.

Token inputs (:class:`rnnkit.tokens.TokenInput`) make the projection by a
gather from their table (:func:`rnnkit.kernels.fused.gather_columns`) and turn
``dA`` into ``dW_ih`` and the embedding's gradient by summing it per id.

Lengths work as in the packed loop of :mod:`rnnkit.sequence` (sequences
sorted by decreasing length, only the live columns computed).  Used by
:func:`rnnkit.sequence.forward` when :func:`applies` (LSTM, float32 kernels,
no mask other than from lengths, no recurrent dropout, ``B >= MIN_BATCH``);
the cache it returns has ``columns=True`` and goes back through :func:`backward`.
"""
from __future__ import annotations

import numpy as np

from rnnkit.kernels import blas
from rnnkit.tokens import TokenInput

MIN_BATCH = 4    # below it the batch-major loop wins (B is the kernels' inner loop), see applies()
MIN_HIDDEN_INFER = 128   # inference below it: the batch-major loop measured as fast or faster


def applies(cell, kernel, mask, counts, rmask, B, T, H, keep_cache):
    """Whether the column loop serves this pass (``counts``: live sequences per
    step, from :func:`rnnkit.sequence._packing`, when ``mask`` comes from lengths).

    With the compiled loops (:func:`rnnkit.kernels.blas.sgemm` found a BLAS to
    call), every training pass and inference from ``MIN_BATCH`` sequences on:
    measured faster than the batch-major loop at every shape tried (training
    from B 1, e.g. B 1, H 128: 1.09 against 1.30 ms; inference, e.g. P5 0.56
    against 0.78 ms, H 128, B 4: 1.17 against 2.10 ms), except inference of
    one to three sequences (B 2, H 128: 0.70 against 0.54 ms).

    Driven from Python (no such BLAS): with lengths, only for training passes,
    where the faster backward kernel pays for it (P7 of
    ``benchmarks/compare_torch.py``: 103 ms against 110 ms a step), while an
    inference pass ran 8% slower than the batch-major packed loop (38.3 against
    36.4 ms), whose kernel work shrinks with the live rows where the column
    kernels' shrinks only with the live columns of each row.  Inference of
    small layers stays batch-major too (``H < MIN_HIDDEN_INFER``: P5, H 32,
    0.80 against 0.77 ms; H 64, B 32, 1.34 against 1.09 ms), and batches below
    ``MIN_BATCH``.

    Inference with lengths is batch-major either way (compiled columns, P7:
    43.6 against 36.0 ms).  The reset-after GRU (``column_kernels``) has the
    compiled loop only.
    """
    if not (kernel is not None and getattr(cell, "column_kernels", False) and rmask is None and T >= 1
            and (mask is None or (counts is not None and keep_cache))):
        return False
    if blas.sgemm() is not None:
        return keep_cache or B >= MIN_BATCH
    return (B >= MIN_BATCH and (keep_cache or H >= MIN_HIDDEN_INFER)
            and cell.gates == 4)                         # the GRU's column loop is compiled only


def forward(cell, kernel, p, x, state0, counts, reverse, keep_cache, buffer):
    """As :func:`rnnkit.sequence.forward`, for an LSTM or a reset-after GRU
    (``cell``) in column layout.

    ``counts`` ``(T,)`` (or ``None``: all live; only with ``keep_cache``, see
    :func:`applies`): the sequences are sorted by decreasing length, so the
    first ``counts[t]`` are live at step ``t``; the others keep their state and
    output zeros.  ``buffer(name, shape)`` returns
    a reusable array (see ``rnnkit.sequence._buffer``).  Returns ``(hs,
    final_state, cache_parts)`` where ``cache_parts`` (``None`` without
    ``keep_cache``) holds the keyword arguments of the
    :class:`rnnkit.sequence.SequenceCache` to build.
    """
    if counts is not None and not keep_cache:
        raise ValueError("the column loop takes lengths in training passes only (keep_cache=True)")
    if cell.gates == 3:
        return _gru_forward(kernel, p, x, state0, counts, reverse, keep_cache, buffer)
    W_ih, W_hh, b_ih, b_hh = p["W_ih"], p["W_hh"], p.get("b_ih"), p.get("b_hh")
    T, B, D = x.shape
    G, H = W_hh.shape
    dtype = W_hh.dtype
    sgemm = blas.sgemm()
    # the input projections (T, 4H, B); the compiled loop accumulates the step's product onto them and turns
    # them into the gates in place, so with it they are the cache's ``act``
    xp = _project(W_ih, x, buffer("col_act" if sgemm is not None and keep_cache else "col_xp", (T, G, B)))
    bx = b_ih + b_hh if b_ih is not None else np.zeros(G, dtype)
    scales = kernel.lstm_gate_scales(H)
    h_col = np.empty((H, B), dtype)                      # h in columns: the compiled loop's product operand
    hs = np.empty((T, B, H), dtype)
    if keep_cache:
        hb, c = buffer("col_h", (T + 1, B, H)), buffer("col_c", (T + 1, H, B))
        act = xp if sgemm is not None else buffer("col_act", (T, G, B))
        tc = buffer("col_tc", (T, H, B))
        start = T if reverse else 0
    else:
        hb, c = np.empty((2, B, H), dtype), np.empty((2, H, B), dtype)
        act = xp if sgemm is not None else np.empty((1, G, B), dtype)
        tc = np.empty((1, H, B), dtype)
        start = 0
    hb[start] = state0[0]
    c[start] = state0[1].T
    if sgemm is not None:                                # the whole loop in one compiled call
        h_col[:] = state0[0].T
        kernel.lstm_columns_forward(sgemm, np.ascontiguousarray(W_hh), bx, scales, h_col,
                                    hb if keep_cache else hs, c, act, tc, _live(counts), reverse, keep_cache)
        i_new = (0 if reverse else T) if keep_cache else T % 2
        h_prev = h_col.T                                 # the last h of every sequence, padded or not
    else:
        i_new, h_prev = _python_loop(kernel, W_hh, xp, bx, scales, h_col, hs, hb, c, act, tc, counts, reverse,
                                     keep_cache, start)
    final = (h_prev.copy(), c[i_new].T.copy())
    if not keep_cache:
        return hs, final, None
    hs[:] = hb[:T] if reverse else hb[1:]
    _zero_padded(hs, counts)
    return hs, final, dict(states=(hb, c), mem={"act": act, "tc": tc})


def _project(W_ih, x, out):
    """``out[t] = W_ih @ x[t].T`` (T, G, B) for vectors or a :class:`rnnkit.tokens.TokenInput`."""
    if isinstance(x, TokenInput):
        return x.project_columns(W_ih, out, _projection)
    return _projection(W_ih, x, out)


def _projection(W_ih, x, out):
    """``out[t] = W_ih @ x[t].T`` (T, G, B).  Narrow inputs are copied to (T, D, B)
    first: the batched product then runs faster, copy included (P5, D 4: 50
    against 85 us; D 16: 0.36 against 0.49 ms; but D 64: 1.89 against 1.72 ms)."""
    xT = x.transpose(0, 2, 1)
    if x.shape[2] <= 32:
        xT = np.ascontiguousarray(xT)
    return np.matmul(W_ih, xT, out=out)


def _gru_forward(kernel, p, x, state0, counts, reverse, keep_cache, buffer):
    """:func:`forward` for a reset-after GRU (compiled loop only, see :func:`applies`):
    ``r, z`` from ``W_ih x + W_hh h + b``; ``n = tanh(W_in x + b_in + r (W_hn h + b_hn))``.
    The cache holds ``act`` (T, 3H, B), ``hn`` (T, H, B) and ``h`` both ways:
    ``hcols`` (T+1, H, B) for the kernels, batch-major (T+1, B, H) for ``dW_hh``."""
    W_ih, W_hh, b_ih, b_hh = p["W_ih"], p["W_hh"], p.get("b_ih"), p.get("b_hh")
    T, B, D = x.shape
    G, H = W_hh.shape
    dtype = W_hh.dtype
    act = _project(W_ih, x, buffer("col_act", (T, G, B)) if keep_cache else np.empty((T, G, B), dtype))
    if b_ih is not None:
        bx = b_ih + b_hh
        bx[2 * H:] = b_ih[2 * H:]                        # b_hn stays inside r (W_hn h + b_hn)
        b_hn = np.ascontiguousarray(b_hh[2 * H:])
    else:
        bx, b_hn = np.zeros(G, dtype), np.zeros(H, dtype)
    hs = np.empty((T, B, H), dtype)
    if keep_cache:
        hb, hcols, hn = buffer("col_h", (T + 1, B, H)), buffer("col_hc", (T + 1, H, B)), buffer("col_hn", (T, H, B))
        start = T if reverse else 0
        hb[start] = state0[0]
    else:
        hb, hcols, hn = hs, np.empty((2, H, B), dtype), np.empty((1, H, B), dtype)
        start = 0
    hcols[start] = state0[0].T
    kernel.gru_columns_forward(blas.sgemm(), np.ascontiguousarray(W_hh), bx, b_hn, hcols, np.empty((G, B), dtype),
                               hb, act, hn, _live(counts), reverse, keep_cache)
    i_new = (0 if reverse else T) if keep_cache else T % 2
    final = (hcols[i_new].T.copy(),)
    if not keep_cache:
        return hs, final, None
    hs[:] = hb[:T] if reverse else hb[1:]
    _zero_padded(hs, counts)
    return hs, final, dict(states=(hb,), mem={"act": act, "hn": hn, "hcols": hcols})


def _live(counts):
    return np.empty(0, np.int64) if counts is None else np.asarray(counts, np.int64)


def _zero_padded(hs, counts):
    if counts is not None:
        for t in np.flatnonzero(counts < hs.shape[1]):
            hs[t, counts[t]:] = 0


def _python_loop(kernel, W_hh, xp, bx, scales, h_col, hs, hb, c, act, tc, counts, reverse, keep_cache, start):
    """The forward steps driven from Python (where :func:`rnnkit.kernels.blas.sgemm`
    finds no BLAS to call from compiled code); returns the index of the last
    state in ``c`` and the last ``h`` (batch-major).  ``h_col`` is scratch here."""
    T, G, B = xp.shape
    hp = np.empty((G, B), xp.dtype)
    steps = range(T - 1, -1, -1) if reverse else range(T)
    i_new = start
    h_prev = hb[start]
    for k, t in enumerate(steps):
        if keep_cache:
            i_prev, i_new = (t + 1, t) if reverse else (t, t + 1)
            a = t
        else:
            i_prev, i_new = k % 2, (k + 1) % 2
            a = 0
        n = B if counts is None else int(counts[t])
        h_out = hb[i_new] if keep_cache else hs[t]       # without a cache, h is read back from the output
        if n < B:                                        # padded sequences: state carried, gates zero
            h_out[n:] = h_prev[n:]
            c[i_new][:, n:] = c[i_prev][:, n:]
            act[a][:, n:] = 0
            tc[a][:, n:] = 0
        if n:
            np.matmul(W_hh, h_prev[:n].T, out=hp[:, :n])
            kernel.lstm_forward_cols(hp, xp[t], bx, scales, c[i_prev], act[a], c[i_new], tc[a], h_col, h_out, n)
        h_prev = h_out
    return i_new, h_prev


def backward(kernel, p, cache, dhs, dstate_T, dh_norms, buffer, need_dx=True):
    """As :func:`rnnkit.sequence.backward`, for a cache of :func:`forward`
    (``dhs`` and ``dstate_T`` in the cache's batch order)."""
    W_ih, W_hh, b_ih = p["W_ih"], p["W_hh"], p.get("b_ih")
    x, reverse, counts = cache.x, cache.reverse, cache.counts
    gru = "hn" in cache.mem
    T, B, D = x.shape
    G, H = W_hh.shape
    dtype = W_hh.dtype
    W_hh_T = np.ascontiguousarray(W_hh.T)                    # (H, G): the fast left operand
    dstate_T = tuple(dstate_T or (None,) * len(cache.states))
    dh, *dc = (np.zeros((H, B), dtype) if d is None else np.array(np.asarray(d).T, dtype=dtype, order="C")
               for d in dstate_T)
    if dhs is not None and (dhs.dtype != dtype or dhs.strides[-1] != dtype.itemsize):
        dhs = np.ascontiguousarray(dhs, dtype=dtype)     # rows must be contiguous; a transposed view's are
    dA = buffer("col_dA", (T, G, B))
    sgemm = blas.sgemm()
    from_outputs = dhs if dhs is not None else np.empty((T, 0, 0), dtype)   # a batch-first view: read as it is
    norms = np.empty(T, np.float32) if dh_norms is not None else np.empty(0, np.float32)
    if gru:
        dHP = buffer("col_dHP", (T, G, B))
        kernel.gru_columns_backward(sgemm or blas.found(),           # the cache needs it, switch or not
                                    W_hh_T, cache.mem["act"], cache.mem["hn"], cache.mem["hcols"],
                                    from_outputs, dh, dA, dHP, _live(counts), reverse, norms)
    elif sgemm is not None:
        kernel.lstm_columns_backward(sgemm, W_hh_T, cache.mem["act"], cache.mem["tc"], cache.states[1],
                                     from_outputs, dh, dc[0], dA, _live(counts), reverse, norms)
    else:
        _python_backward(kernel, W_hh_T, cache, dhs, dh, dc[0], dA, norms)
    if dh_norms is not None:
        dh_norms[:] = norms
    hb = cache.states[0]
    h_prev = (hb[1:] if reverse else hb[:T]).reshape(T * B, H)   # row block t: the h that entered step t
    dA2 = _rows(kernel, dA, buffer("col_dA2", (G, T, B)))
    if isinstance(x, TokenInput):
        dW_ih, dx = x.grads_columns(dA2, W_ih)                   # dx: the embedding's gradient (V, D)
    else:
        dW_ih, dx = dA2 @ x.reshape(T * B, D), None
    grads = {"W_ih": dW_ih}
    dHP2 = _rows(kernel, dHP, buffer("col_dHP2", (G, T, B))) if gru else dA2   # the GRU's W_hh saw r (W_hn h)
    grads["W_hh"] = dHP2 @ h_prev
    if b_ih is not None:
        grads["b_ih"] = dA2.sum(axis=1)
        grads["b_hh"] = dHP2.sum(axis=1) if gru else grads["b_ih"].copy()
    if dx is None and need_dx and not isinstance(x, TokenInput):      # one-hot tokens: no gradient
        dx = (dA2.T @ W_ih).reshape(T, B, D)
    return dx, tuple(d.T.copy() for d in (dh, *dc)), grads


def _rows(kernel, blocks, out):
    """``blocks`` (T, G, B) laid out as one (G, T*B) matrix for the weight products."""
    kernel.steps_to_rows(blocks, out)
    return out.reshape(out.shape[0], -1)


def _python_backward(kernel, W_hh_T, cache, dhs, dh, dc, dA, norms):
    """The LSTM's backward steps driven from Python (see :func:`_python_loop`)."""
    act, tc, c = cache.mem["act"], cache.mem["tc"], cache.states[1]
    T, G, B = dA.shape
    none = np.empty((0, 0), dA.dtype)
    steps = range(T) if cache.reverse else range(T - 1, -1, -1)
    for t in steps:
        i_prev = t + 1 if cache.reverse else t
        n = B if cache.counts is None else int(cache.counts[t])
        if n < B:                                        # padded: no gradient; dh, dc pass through
            dA[t][:, n:] = 0
        if n:
            kernel.lstm_backward_cols(act[t], tc[t], c[i_prev], dh, dhs[t] if dhs is not None else none, dc, dA[t], n)
        if norms.shape[0]:
            norms[t] = np.sqrt(np.einsum("hb,hb->b", dh, dh)).mean()
        if n:
            np.matmul(W_hh_T, dA[t][:, :n], out=dh[:, :n])
