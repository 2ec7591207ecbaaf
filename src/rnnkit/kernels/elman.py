"""The Elman RNN's step kernels, batch-major; the equations are those of
:mod:`rnnkit.cells.rnn` (``f`` = tanh, or relu when ``relu`` is true).  Arrays
C-contiguous float32."""
from __future__ import annotations

import numba
import numpy as np

from .activations import JIT, tanh

_ONE = np.float32(1.0)


@numba.njit(**JIT)
def rnn_forward_step(hp, xp_t, bx, relu, h_out):
    """The step's new ``h`` into ``h_out`` (B, H) from ``hp = h_prev @ W_hh.T``
    and ``xp_t = x_t @ W_ih.T`` (B, H) and ``bx = b_ih + b_hh`` (H,)."""
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
    """The pre-activation gradient into ``da`` (B, H) from the step's output ``h``
    and ``dh`` (B, H), the gradient w.r.t. it (``f'`` read from ``h``)."""
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
