"""tanh and sigmoid for the compiled float32 kernels, and the numba settings they all share.

## tanh and sigmoid, inlined so that the loops vectorise

``tanh(x) ≈ x · p(x²) / q(x²)`` on ``|x| ≤ 7.9053``, with ``p`` of degree 6 and
``q`` of degree 3 in ``x²`` (the minimax coefficients of Eigen's float tanh),
and ``x`` clamped outside that range, where float32 ``tanh`` is within one
unit in the last place of ±1.  Measured against float64 ``tanh`` on 2,000,001
points in [-12, 12]: largest absolute error 3.2e-7 (NumPy's float32 tanh:
6.0e-8); ``tests/engine/test_kernels.py`` checks the bound.

``sigmoid(x) = 0.5 · tanh(x / 2) + 0.5`` inherits half that absolute error and
never overflows.

## Repeatable to the last bit

The kernels (every module that compiles with :data:`JIT`) allow LLVM only the
fast-math liberties that cannot change a result between the vector body of a
loop and its scalar remainder (no NaN/Inf, signed zeros, FMA contraction): no
approximate reciprocal (``arcp``, which turns a division into ``vrcpps`` plus a
Newton step in vector lanes but an exact ``vdivss`` in the remainder) and no
reassociation.  With ``fastmath=True`` a resumed training run drifted from the
uninterrupted one in the last bits, in one run out of two to four
(``tests/cli/test_cli_lm.py``); without, the divisions are IEEE ``vdivps`` and the
same seed gives the same weights.

## numba's cache

``cache=True`` keys a compiled kernel on its own module's file (its time stamp
and size) and its own bytecode, not on the ``inline="always"`` helpers it takes
from other modules (:func:`tanh`, :func:`sigmoid` here, the loop helpers of
:mod:`rnnkit.kernels.layout`).  After changing one of those, touch the modules
that use them (or remove their ``__pycache__/*.nbi``, ``*.nbc``), or a kernel
compiled from the old helper is served.
"""
from __future__ import annotations

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
