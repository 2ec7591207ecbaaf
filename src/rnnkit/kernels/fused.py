"""The compiled float32 step kernels, in one module so that numba's on-disk
cache (keyed on this file) never serves a kernel built from older helpers.

## tanh and sigmoid, inlined so that the loops vectorise

``tanh(x) ≈ x · p(x²) / q(x²)`` on ``|x| ≤ 7.9053``, with ``p`` of degree 6 and
``q`` of degree 3 in ``x²`` (the minimax coefficients of Eigen's float tanh),
and ``x`` clamped outside that range, where float32 ``tanh`` is within one
unit in the last place of ±1.  Measured against float64 ``tanh`` on 2,000,001
points in [-12, 12]: largest absolute error 3.2e-7 (NumPy's float32 tanh:
6.0e-8); ``tests/test_kernels.py`` checks the bound.

``sigmoid(x) = 0.5 · tanh(x / 2) + 0.5`` inherits half that absolute error and
never overflows.

## Repeatable to the last bit
The kernels allow LLVM only the fast-math liberties that cannot change a result
between the vector body of a loop and its scalar remainder (no NaN/Inf, signed
zeros, FMA contraction): no approximate reciprocal (``arcp``, which turns a
division into ``vrcpps`` plus a Newton step in vector lanes but an exact
``vdivss`` in the remainder) and no reassociation.  With ``fastmath=True`` a
resumed training run drifted from the uninterrupted one in the last bits, in one
run out of two to four (``tests/test_cli_lm.py``); without, the divisions are
IEEE ``vdivps`` and the same seed gives the same weights.

## LSTM
``lstm_forward_step`` and ``lstm_backward_step``: the arithmetic of
:meth:`rnnkit.cells.lstm.LSTMCell.step` and ``step_back`` fused, gate blocks
in PyTorch's order ``i, f, g, o``; arrays C-contiguous float32.
"""
from __future__ import annotations

import functools

import numba
import numpy as np

_CLAMP = np.float32(7.90531110763549805)
_A1 = np.float32(4.89352455891786e-03)
_A3 = np.float32(6.37261928875436e-04)
_A5 = np.float32(1.48572235717979e-05)
_A7 = np.float32(5.12229709037114e-08)
_A9 = np.float32(-8.60467152213735e-11)
_A11 = np.float32(2.00018790482477e-13)
_A13 = np.float32(-2.76076847742355e-16)
_B0 = np.float32(4.89352518554385e-03)
_B2 = np.float32(2.26843463243900e-03)
_B4 = np.float32(1.18534705686654e-04)
_B6 = np.float32(1.19825839466702e-06)
_HALF = np.float32(0.5)

JIT = dict(fastmath={"nnan", "ninf", "nsz", "contract"}, error_model="numpy", cache=True, nogil=True)


@numba.njit(inline="always", **JIT)
def tanh(x):
    x = min(max(x, -_CLAMP), _CLAMP)
    x2 = x * x
    p = _A13 * x2 + _A11
    p = p * x2 + _A9
    p = p * x2 + _A7
    p = p * x2 + _A5
    p = p * x2 + _A3
    p = p * x2 + _A1
    q = _B6 * x2 + _B4
    q = q * x2 + _B2
    q = q * x2 + _B0
    return x * p / q


@numba.njit(inline="always", **JIT)
def sigmoid(x):
    return _HALF * tanh(_HALF * x) + _HALF


@numba.njit(**JIT)
def tanh_array(a, out):
    """``out[...] = tanh(a)`` elementwise for C-contiguous float32 arrays of equal shape."""
    af, of = a.reshape(-1), out.reshape(-1)
    for k in range(af.size):
        of[k] = tanh(af[k])


@numba.njit(**JIT)
def sigmoid_array(a, out):
    """``out[...] = sigmoid(a)`` elementwise for C-contiguous float32 arrays of equal shape."""
    af, of = a.reshape(-1), out.reshape(-1)
    for k in range(af.size):
        of[k] = sigmoid(af[k])


# ----------------------------------------------------------------------------- LSTM
_ONE = np.float32(1.0)


@functools.lru_cache(maxsize=32)
def lstm_gate_scales(H):
    """``s_in, s_out, shift`` (each ``(4H,)``, concatenated, float32, read-only)
    for :func:`lstm_forward_step`: ``s_out · tanh(s_in · a) + shift`` is
    ``σ(a) = 0.5 tanh(0.5 a) + 0.5`` on the ``i, f, o`` blocks and ``tanh(a)`` on
    the ``g`` block, so one loop (which LLVM vectorises) serves all four gates."""
    sc = np.full((3, 4 * H), 0.5, np.float32)
    sc[0, 2 * H : 3 * H], sc[1, 2 * H : 3 * H], sc[2, 2 * H : 3 * H] = 1.0, 1.0, 0.0
    sc = sc.reshape(-1)
    sc.flags.writeable = False
    return sc


@numba.njit(**JIT)
def lstm_forward_step(hp, xp_t, bx, scales, c_prev, act, c_out, tc, h_out):
    """From ``hp = hd @ W_hh.T``, ``xp_t = x_t @ W_ih.T`` (B, 4H) and the bias
    ``bx = b_ih + b_hh`` (4H,), the gates into ``act``:

        a = hp + xp_t + bx;  i, f, o = σ(a_i, a_f, a_o);  g = tanh(a_g)
        c_out = f c_prev + i g;  tc = tanh(c_out);  h_out = o tc

    ``scales`` from :func:`lstm_gate_scales` (the same arithmetic as ``sigmoid``
    and ``tanh`` above, to the bit, in one loop over the four blocks: 40% faster
    than a loop per block, measured from H 32 to 512).
    """
    B, H = c_prev.shape
    G = 4 * H
    s_in, s_out, shift = scales[:G], scales[G : 2 * G], scales[2 * G :]
    for b in range(B):
        # two loops over few arrays each, so that LLVM vectorises both
        p = hp[b]
        x = xp_t[b]
        a = act[b]
        for k in range(4 * H):
            a[k] = s_out[k] * tanh(s_in[k] * (p[k] + x[k] + bx[k])) + shift[k]
        cp = c_prev[b]
        co = c_out[b]
        t_ = tc[b]
        ho = h_out[b]
        for j in range(H):
            c = a[H + j] * cp[j] + a[j] * a[2 * H + j]
            t = tanh(c)
            co[j] = c
            t_[j] = t
            ho[j] = a[3 * H + j] * t


@numba.njit(**JIT)
def lstm_backward_step(act, tc, c_prev, dh, dc, da, dc_prev):
    """Gradients of one step from ``dh``, ``dc`` (w.r.t. the new ``h``, ``c``):

        dc' = dc + dh o (1 - tc²)
        da_i = dc' g i (1-i);  da_f = dc' c_prev f (1-f)
        da_g = dc' i (1-g²);   da_o = dh tc o (1-o);   dc_prev = dc' f

    ``da`` (B, 4H) receives the pre-activation gradient (``dh_prev = da @ W_hh``
    is left to BLAS).
    """
    B, H = tc.shape
    for b in range(B):
        a = act[b]
        d = da[b]
        for j in range(H):
            i = a[j]
            f = a[H + j]
            g = a[2 * H + j]
            o = a[3 * H + j]
            t = tc[b, j]
            dhv = dh[b, j]
            dcv = dc[b, j] + dhv * o * (_ONE - t * t)
            d[j] = dcv * g * i * (_ONE - i)
            d[H + j] = dcv * c_prev[b, j] * f * (_ONE - f)
            d[2 * H + j] = dcv * i * (_ONE - g * g)
            d[3 * H + j] = dhv * t * o * (_ONE - o)
            dc_prev[b, j] = dcv * f


# ----------------------------------------------------------------------------- GRU
@numba.njit(**JIT)
def gru_forward_step(hp, xp_t, bx, b_hn, h_prev, act, hn, h_out):
    """GRU with the reset applied after the product (``reset_after=True``), gate
    blocks ``r, z, n``; from ``hp = hd @ W_hh.T`` (B, 3H), ``xp_t = x_t @ W_ih.T``
    and the bias ``bx = b_ih + (b_hr, b_hz, 0)`` (3H,):

        r, z = σ(xp_r + hp_r + bx_r), σ(xp_z + hp_z + bx_z);   hn = hp_n + b_hn
        n = tanh(xp_n + bx_n + r hn);                          h_out = n + z (h_prev − n)

    ``act`` (B, 3H) receives ``r, z, n`` and ``hn`` (B, H) the reset input, as the
    cell's ``step`` stores them for the backward pass.
    """
    B, H = h_prev.shape
    for b in range(B):
        p = hp[b]
        x = xp_t[b]
        a = act[b]
        for k in range(2 * H):
            a[k] = sigmoid(p[k] + x[k] + bx[k])
        hb = hn[b]
        for j in range(H):
            hb[j] = p[2 * H + j] + b_hn[j]
        for j in range(H):
            a[2 * H + j] = tanh(x[2 * H + j] + bx[2 * H + j] + a[j] * hb[j])
        hpv = h_prev[b]
        ho = h_out[b]
        for j in range(H):
            n = a[2 * H + j]
            ho[j] = n + a[H + j] * (hpv[j] - n)


@numba.njit(**JIT)
def gru_backward_step(act, hn, h_prev, dh, da, dhp, direct):
    """Gradients of one reset-after GRU step from ``dh`` (w.r.t. the new ``h``):

        dn = dh (1 − z)(1 − n²);   da_z = dh (h_prev − n) z (1 − z);   da_r = dn hn r (1 − r)
        da = (da_r, da_z, dn)  w.r.t. ``xp_t``;   dhp = (da_r, da_z, dn r)  w.r.t. ``hp``
        direct = dh z          (the path to ``h_prev`` that bypasses ``W_hh``)
    """
    B, H = h_prev.shape
    for b in range(B):
        a = act[b]
        d = da[b]
        q = dhp[b]
        g = dh[b]
        hb = hn[b]
        hp_ = h_prev[b]
        dr = direct[b]
        for j in range(H):
            z = a[H + j]
            n = a[2 * H + j]
            dn = g[j] * (_ONE - z) * (_ONE - n * n)
            d[2 * H + j] = dn
            q[2 * H + j] = dn * a[j]
            dz = g[j] * (hp_[j] - n) * z * (_ONE - z)
            d[H + j] = dz
            q[H + j] = dz
            dr[j] = g[j] * z
        for j in range(H):
            r = a[j]
            v = d[2 * H + j] * hb[j] * r * (_ONE - r)
            d[j] = v
            q[j] = v


# ----------------------------------------------------------------------------- Elman RNN
@numba.njit(**JIT)
def rnn_forward_step(hp, xp_t, bx, relu, h_out):
    """``h_out = f(hp + xp_t + bx)``, ``f`` = tanh, or relu when ``relu`` is true;
    (B, H), ``bx = b_ih + b_hh`` (H,)."""
    B, H = h_out.shape
    for b in range(B):
        p = hp[b]
        x = xp_t[b]
        o = h_out[b]
        if relu:
            for j in range(H):
                o[j] = max(p[j] + x[j] + bx[j], np.float32(0.0))
        else:
            for j in range(H):
                o[j] = tanh(p[j] + x[j] + bx[j])


@numba.njit(**JIT)
def rnn_backward_step(h, dh, relu, da):
    """``da = dh · f'(a)`` from the step's output ``h``: ``1 − h²`` for tanh, ``h > 0`` for relu."""
    B, H = h.shape
    for b in range(B):
        hb = h[b]
        g = dh[b]
        d = da[b]
        if relu:
            for j in range(H):
                d[j] = g[j] if hb[j] > 0 else np.float32(0.0)
        else:
            for j in range(H):
                d[j] = g[j] * (_ONE - hb[j] * hb[j])


# ----------------------------------------------------------------------------- LSTM, column layout
# The same arithmetic as lstm_forward_step / lstm_backward_step, to the bit, on
# a step's arrays in *column layout* (feature-major): the gates are a (4H, B)
# block, row k holding gate k of every sequence, so that the recurrent product
# is ``W_hh @ h`` with ``W_hh`` as BLAS's untransposed left operand (see
# rnnkit.sequence_columns for why).  Every array is a C-contiguous block.
@numba.njit(inline="always", **JIT)
def _lstm_cell_cols(act, c_prev, c_out, tc, h_out, hs_t, H, B):
    """``c_out = f c_prev + i g``, ``tc = tanh(c_out)``, ``h_out = o tc`` (H, B) from the
    gates ``act`` (4H, B), and ``h`` batch-major into ``hs_t`` (B, H); first ``B`` columns."""
    for j in range(H):
        ai = act[j]
        af = act[H + j]
        ag = act[2 * H + j]
        ag_o = act[3 * H + j]
        cp = c_prev[j]
        cn = c_out[j]
        tr = tc[j]
        hn = h_out[j]
        for b in range(B):
            c = af[b] * cp[b] + ai[b] * ag[b]
            t = tanh(c)
            cn[b] = c
            tr[b] = t
            hn[b] = ag_o[b] * t
    for b in range(B):
        for j in range(H):
            hs_t[b, j] = h_out[j, b]


@numba.njit(**JIT)
def lstm_forward_cols(hp, xp_t, bx, scales, c_prev, act, c_out, tc, h_out, hs_t, n):
    """One step from ``hp = W_hh @ h_prev`` and ``xp_t = W_ih @ x_t`` (4H, B),
    the bias ``bx`` (4H,) and ``c_prev`` (H, B): the gates into ``act`` (4H, B),
    the new ``c`` and ``tanh(c)`` into ``c_out``, ``tc`` (H, B), the new ``h``
    into ``h_out`` (H, B) and, batch-major, into ``hs_t`` (B, H); for the first
    ``n`` columns (sequences) only, the others left as they are.  (The
    Python-driven loop's kernel: the sum into ``act``, then
    :func:`lstm_forward_cols_acc`.)"""
    for k in range(hp.shape[0]):                         # (hp + xp) + bx, as the in-place kernel adds
        p = hp[k]
        x = xp_t[k]
        a = act[k]
        for b in range(n):
            a[b] = p[b] + x[b]
    lstm_forward_cols_acc(act, bx, scales, c_prev, c_out, tc, h_out, hs_t, n)


@numba.njit(**JIT)
def lstm_backward_cols(act, tc, c_prev, dh, dhs_t, dc, da, n):
    """One step back in column layout.  ``dh`` (H, B) holds the gradient w.r.t.
    the step's ``h`` from the steps after it and receives ``dhs_t`` (B, H, the
    gradient from the outputs; skipped when empty), so that it leaves with the
    total; ``dc`` (H, B) enters w.r.t. the new ``c`` and leaves w.r.t. the one
    before; ``da`` (4H, B) receives the pre-activation gradient (the equations
    of :func:`lstm_backward_step`).  The first ``n`` columns only."""
    G = act.shape[0]
    B = n
    H = G // 4
    if dhs_t.shape[0] > 0:
        for b in range(B):
            for j in range(H):
                dh[j, b] += dhs_t[b, j]
    for j in range(H):
        ai = act[j]
        af = act[H + j]
        ag = act[2 * H + j]
        ag_o = act[3 * H + j]
        tr = tc[j]
        cp = c_prev[j]
        dhr = dh[j]
        dcr = dc[j]
        d_i = da[j]
        d_f = da[H + j]
        d_g = da[2 * H + j]
        d_o = da[3 * H + j]
        for b in range(B):
            i = ai[b]
            f = af[b]
            g = ag[b]
            o = ag_o[b]
            t = tr[b]
            dhv = dhr[b]
            dcv = dcr[b] + dhv * o * (_ONE - t * t)
            d_i[b] = dcv * g * i * (_ONE - i)
            d_f[b] = dcv * cp[b] * f * (_ONE - f)
            d_g[b] = dcv * i * (_ONE - g * g)
            d_o[b] = dhv * t * o * (_ONE - o)
            dcr[b] = dcv * f


# ----------------------------------------------------------------------------- Adam
@numba.njit(error_model="numpy", cache=True, nogil=True)
def adam_update(p, g, m, v, b1, c1, b2, c2, rc2, eps, lr_t):
    """One Adam step in place, one pass over ``p, g, m, v`` (float32, C-contiguous,
    equal shapes) instead of NumPy's dozen; the arithmetic of
    :meth:`rnnkit.optim.Adam._update` operation by operation, to the bit (no
    fast-math, so no fused multiply-adds):

        m = m b1 + g c1;   v = v b2 + (g c2) g;   p -= (m lr_t) / (√v / rc2 + eps)

    with ``c1 = 1 − b1``, ``c2 = 1 − b2``, ``rc2 = √(1 − b2^t)``, ``lr_t = lr / (1 − b1^t)``.
    """
    pf, gf, mf, vf = p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1)
    for k in range(pf.size):
        gk = gf[k]
        mk = mf[k] * b1 + gk * c1
        vk = vf[k] * b2 + (gk * c2) * gk
        mf[k] = mk
        vf[k] = vk
        pf[k] = pf[k] - (mk * lr_t) / (np.sqrt(vk) / rc2 + eps)


# ----------------------------------------------------------------------------- layout
@numba.njit(**JIT)
def steps_to_rows(src, dst):
    """``dst[g, t, :] = src[t, g, :]`` for ``src`` (T, G, B), ``dst`` (G, T, B):
    the per-step blocks of the column loop laid out as one (G, T*B) matrix for
    the weight-gradient products; 2-2.3x faster than NumPy's strided copy (P2:
    0.45 against 1.0-1.25 ms; P3: 5.1 against 8.0 ms)."""
    T, G, B = src.shape
    for t in range(T):
        for g in range(G):
            s = src[t, g]
            d = dst[g, t]
            for b in range(B):
                d[b] = s[b]


# ----------------------------------------------------------------------------- token inputs
@numba.njit(**JIT)
def gather_columns(table, ids, out):
    """``out[t][:, b] = table[:, ids[t, b]]``: ``table`` (G, V), ``ids`` (T, B)
    int64 in ``[0, V)`` (not checked here), ``out`` (T, G, B).  The input
    projection of token ids in column layout (:mod:`rnnkit.tokens`)."""
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


# ----------------------------------------------------------------------------- whole sequences
_ONE = np.float32(1.0)
_ZERO = np.float32(0.0)


@numba.njit(inline="always", **JIT)
def _step_indices(k, T, reverse, keep_cache):
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
def _back_step(k, T, reverse, counts, B):
    """Step ``k`` of a backward pass (the last step first): ``(t, i_prev, n)`` --
    the time step, the index of the state that entered it, and its live
    sequences (``counts`` as in :func:`lstm_columns_forward`)."""
    t = k if reverse else T - 1 - k
    return t, t + 1 if reverse else t, B if counts.shape[0] == 0 else counts[t]


@numba.njit(inline="always", **JIT)
def _zero_columns(x, n):
    """``x[:, n:] = 0`` for ``x`` (R, B)."""
    for r in range(x.shape[0]):
        for b in range(n, x.shape[1]):
            x[r, b] = 0


@numba.njit(inline="always", **JIT)
def _copy_columns(src, dst, n):
    """``dst[:, n:] = src[:, n:]`` for (R, B) arrays."""
    for r in range(src.shape[0]):
        for b in range(n, src.shape[1]):
            dst[r, b] = src[r, b]


@numba.njit(**JIT)
def lstm_forward_cols_acc(a_t, bx, scales, c_prev, c_out, tc, h_out, hs_t, n):
    """:func:`lstm_forward_cols` for ``a_t`` (4H, B) that already holds
    ``W_ih x_t + W_hh h_prev`` (the product accumulated onto the projection),
    turned into the gates in place: one array read per gate value instead of
    two, and no separate product buffer.  The same arithmetic to the bit
    (``(hp + xp) + bx``)."""
    G = a_t.shape[0]
    B = n
    H = G // 4
    s_in, s_out, shift = scales[:G], scales[G : 2 * G], scales[2 * G :]
    for k in range(G):
        si = s_in[k]
        so = s_out[k]
        sh = shift[k]
        bk = bx[k]
        a = a_t[k]
        for b in range(B):
            a[b] = so * tanh(si * (a[b] + bk)) + sh
    _lstm_cell_cols(a_t, c_prev, c_out, tc, h_out, hs_t, H, B)


@numba.njit(**JIT)
def lstm_columns_forward(sgemm, W_hh, bx, scales, hcol, hrows, c, act, tc, counts, reverse, keep_cache):
    """The column loop of :func:`rnnkit.sequence_columns.forward` in one call:
    per step ``act[t][:, :n] += W_hh @ hcol[:, :n]`` through ``sgemm`` (NumPy's
    ``cblas_sgemm``, :mod:`rnnkit.kernels.blas`, with ``beta = 1``), then
    :func:`lstm_forward_cols_acc` in place.

    ``W_hh`` (4H, H); ``act`` (T, 4H, B) enters with the input projections
    ``W_ih x_t`` and leaves with the gates; ``hcol`` (H, B) enters with the
    initial ``h`` in columns and leaves with the last.  With ``keep_cache``:
    ``hrows`` (T+1, B, H), ``c`` (T+1, H, B), index ``t`` the state before
    step ``t`` going forward (both enter with the initial state at index 0, or
    ``T`` when ``reverse``), ``tc`` (T, H, B).  Without: ``hrows`` is the
    output ``(T, B, H)``, ``c`` ``(2, H, B)`` ping-pongs from index 0, ``tc``
    holds one step.  ``counts`` (T,) int64, the live sequences per step
    (sorted first), or empty for all; only with a cache.
    """
    T, G, B = act.shape
    H = G // 4
    for k in range(T):
        t, i_prev, i_new, a, row = _step_indices(k, T, reverse, keep_cache)
        h_out = hrows[row]
        n = B if counts.shape[0] == 0 else counts[t]
        if n < B:                                        # padded sequences: state carried, gates zero
            h_out[n:] = hrows[i_prev][n:]
            _copy_columns(c[i_prev], c[i_new], n)
            _zero_columns(tc[a], n)
            _zero_columns(act[t], n)
        if n > 0:
            sgemm(101, 111, 111, G, n, H, _ONE, W_hh.ctypes.data, H, hcol.ctypes.data, B, _ONE, act[t].ctypes.data,
                  B)
            lstm_forward_cols_acc(act[t], bx, scales, c[i_prev], c[i_new], tc[a], hcol, h_out, n)


@numba.njit(inline="always", **JIT)
def _mean_column_norm(dh):
    """The batch mean of ``‖dh[:, b]‖₂`` (float64 sums) for ``dh`` (H, B)."""
    H, B = dh.shape
    total = 0.0
    for b in range(B):
        s = 0.0
        for j in range(H):
            v = np.float64(dh[j, b])
            s += v * v
        total += np.sqrt(s)
    return total / B


@numba.njit(**JIT)
def lstm_columns_backward(sgemm, W_hh_T, act, tc, c, dhs, dh, dc, dA, counts, reverse, norms):
    """The backward loop of :func:`rnnkit.sequence_columns.backward` in one
    call: per step (last first) :func:`lstm_backward_cols` into ``dA[t]``
    (4H, B), then ``dh[:, :n] = W_hh_T @ dA[t][:, :n]`` through ``sgemm``.

    ``W_hh_T`` (H, 4H) contiguous; ``act``, ``tc``, ``c`` the forward cache;
    ``dhs`` (T, B, H) the gradients from the outputs, or ``(T, 0, 0)`` for
    none; ``dh``, ``dc`` (H, B) enter with the gradients w.r.t. the final state
    and leave w.r.t. the initial one; ``counts`` as in :func:`lstm_columns_forward`
    (padded columns of ``dA`` are zeroed, their ``dh``, ``dc`` pass through);
    ``norms`` (T,) receives at ``t`` the batch mean of ``‖dL/dh_t‖₂`` (float32
    from float64 sums), or is empty.
    """
    T, G, B = dA.shape
    H = G // 4
    for k in range(T):
        t, i_prev, n = _back_step(k, T, reverse, counts, B)
        if n < B:
            _zero_columns(dA[t], n)
        if n > 0:
            lstm_backward_cols(act[t], tc[t], c[i_prev], dh, dhs[t], dc, dA[t], n)
        if norms.shape[0] > 0:
            norms[t] = _mean_column_norm(dh)
        if n > 0:
            sgemm(101, 111, 111, H, n, G, _ONE, W_hh_T.ctypes.data, G, dA[t].ctypes.data, B, _ZERO,
                  dh.ctypes.data, B)


# ----------------------------------------------------------------------------- GRU, column layout
@numba.njit(**JIT)
def gru_forward_cols(hp, a_t, bx, b_hn, h_prev, h_new, hn, hs_t, n):
    """One reset-after GRU step in column layout, the arithmetic of
    :func:`gru_forward_step` to the bit: ``hp = W_hh @ h_prev`` (3H, B);
    ``a_t`` (3H, B) enters with ``W_ih x_t`` and leaves with ``r, z, n``;
    ``bx`` (3H,) ``= b_ih + (b_hr, b_hz, 0)``, ``b_hn`` (H,); ``h_prev``,
    ``h_new`` (H, B); ``hn`` (H, B) receives ``hp_n + b_hn``; ``hs_t`` (B, H) the
    new ``h`` batch-major.  The first ``n`` columns only."""
    G = a_t.shape[0]
    H = G // 3
    B = n
    for k in range(2 * H):
        bk = bx[k]
        p = hp[k]
        a = a_t[k]
        for b in range(B):
            a[b] = sigmoid(p[b] + a[b] + bk)
    for j in range(H):
        bn = b_hn[j]
        p = hp[2 * H + j]
        hb = hn[j]
        for b in range(B):
            hb[b] = p[b] + bn
    for j in range(H):
        bk = bx[2 * H + j]
        r = a_t[j]
        z = a_t[H + j]
        a = a_t[2 * H + j]
        hb = hn[j]
        hp_ = h_prev[j]
        ho = h_new[j]
        for b in range(B):
            nv = tanh(a[b] + bk + r[b] * hb[b])
            a[b] = nv
            ho[b] = nv + z[b] * (hp_[b] - nv)
    for b in range(B):
        for j in range(H):
            hs_t[b, j] = h_new[j, b]


@numba.njit(**JIT)
def gru_backward_cols(act, hn, h_prev, dh, da, dhp, n):
    """One reset-after GRU step back in column layout (the equations of
    :func:`gru_backward_step`).  ``dh`` (H, B) enters with the whole gradient
    w.r.t. the step's ``h`` (the caller adds the outputs' part first) and leaves
    with the direct path ``dh z`` to ``h_prev`` (the caller adds
    ``W_hh.T @ dhp``); ``da`` (3H, B) w.r.t. the input projection, ``dhp``
    (3H, B) w.r.t. ``W_hh @ h_prev + b_hh``.  The first ``n`` columns."""
    G = act.shape[0]
    H = G // 3
    B = n
    for j in range(H):
        zr = act[H + j]
        nr = act[2 * H + j]
        rr = act[j]
        hpr = h_prev[j]
        g = dh[j]
        dz_ = da[H + j]
        dn_ = da[2 * H + j]
        qz = dhp[H + j]
        qn = dhp[2 * H + j]
        for b in range(B):
            z = zr[b]
            nv = nr[b]
            gv = g[b]
            dn = gv * (_ONE - z) * (_ONE - nv * nv)
            dn_[b] = dn
            qn[b] = dn * rr[b]
            dz = gv * (hpr[b] - nv) * z * (_ONE - z)
            dz_[b] = dz
            qz[b] = dz
            g[b] = gv * z
    for j in range(H):
        rr = act[j]
        hb = hn[j]
        dn_ = da[2 * H + j]
        dr_ = da[j]
        qr = dhp[j]
        for b in range(B):
            r = rr[b]
            v = dn_[b] * hb[b] * r * (_ONE - r)
            dr_[b] = v
            qr[b] = v


@numba.njit(**JIT)
def gru_columns_forward(sgemm, W_hh, bx, b_hn, hcols, hp, hrows, act, hn, counts, reverse, keep_cache):
    """The reset-after GRU's column loop in one call: per step
    ``hp[:, :n] = W_hh @ h_prev[:, :n]`` through ``sgemm``, then
    :func:`gru_forward_cols`.  ``act`` (T, 3H, B) enters with the input
    projections and leaves with ``r, z, n``; ``hcols`` the states in columns,
    ``(T+1, H, B)`` with a cache (as ``hrows`` (T+1, B, H), index ``t`` the
    state before step ``t`` going forward, initial state at 0 or ``T`` when
    ``reverse``) or ``(2, H, B)`` ping-ponging from 0 without (``hrows`` is then
    the output ``(T, B, H)``); ``hn`` ``(T, H, B)`` or one step.  ``counts`` as in
    :func:`lstm_columns_forward` (only with a cache)."""
    T, G, B = act.shape
    H = G // 3
    for k in range(T):
        t, i_prev, i_new, a, row = _step_indices(k, T, reverse, keep_cache)
        h_out = hrows[row]
        n = B if counts.shape[0] == 0 else counts[t]
        hc_prev = hcols[i_prev]
        hc_new = hcols[i_new]
        if n < B:                                        # padded sequences: state carried, gates zero
            h_out[n:] = hrows[i_prev][n:]
            _copy_columns(hc_prev, hc_new, n)
            _zero_columns(hn[a], n)
            _zero_columns(act[t], n)
        if n > 0:
            sgemm(101, 111, 111, G, n, H, _ONE, W_hh.ctypes.data, H, hc_prev.ctypes.data, B, _ZERO, hp.ctypes.data,
                  B)
            gru_forward_cols(hp, act[t], bx, b_hn, hc_prev, hc_new, hn[a], h_out, n)


@numba.njit(**JIT)
def gru_columns_backward(sgemm, W_hh_T, act, hn, hcols, dhs, dh, dA, dHP, counts, reverse, norms):
    """The reset-after GRU's backward column loop in one call: per step (last
    first) :func:`gru_backward_cols`, then ``dh[:, :n] += W_hh_T @ dHP[t][:, :n]``
    through ``sgemm`` (``beta = 1``, onto the direct path).  ``dhs`` (T, B, H) or
    ``(T, 0, 0)``; ``dh`` (H, B) enters w.r.t. the final ``h`` and leaves
    w.r.t. the initial one; padded columns of ``dA``, ``dHP`` are zeroed and
    their ``dh`` passes through; ``norms`` as in :func:`lstm_columns_backward`."""
    T, G, B = dA.shape
    H = G // 3
    for k in range(T):
        t, i_prev, n = _back_step(k, T, reverse, counts, B)
        if n < B:
            _zero_columns(dA[t], n)
            _zero_columns(dHP[t], n)
        if dhs.shape[1] > 0:
            d = dhs[t]
            for b in range(n):
                for j in range(H):
                    dh[j, b] += d[b, j]
        if norms.shape[0] > 0:
            norms[t] = _mean_column_norm(dh)
        if n > 0:
            gru_backward_cols(act[t], hn[t], hcols[i_prev], dh, dA[t], dHP[t], n)
            sgemm(101, 111, 111, H, n, G, _ONE, W_hh_T.ctypes.data, G, dHP[t].ctypes.data, B, _ONE,
                  dh.ctypes.data, B)
