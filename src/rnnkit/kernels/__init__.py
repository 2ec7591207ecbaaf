"""Compiled elementwise kernels for the float32 fast path (optional: numba).

The time loop spends its time in two kinds of work per step: one matrix
product (BLAS, already as fast as it gets) and a dozen elementwise passes over
the gates (sigmoid, tanh, products, the cell update).  NumPy runs each pass as
a separate loop over memory, and its float32 ``tanh``/``exp`` are scalar on
this kind of CPU (about 2.6 and 1.3 ns per element).  The kernels here fuse all
of a step's elementwise work into one loop that LLVM vectorises, with ``tanh``
from a rational minimax approximation (absolute error below 4e-7, see
:mod:`rnnkit.kernels.fused`), so a step is one product plus one call.  The
same module holds the LSTM kernels of the column loop
(:mod:`rnnkit.sequence_columns`), the float32 Adam update in one pass
(:class:`rnnkit.optim.Adam`), the copy that lays the column loop's
gate gradients out for its weight products, the gather and per-id sums of token
inputs (:mod:`rnnkit.tokens`), and that loop's whole-sequence
form, which makes its products through NumPy's own ``cblas_sgemm``
(:mod:`rnnkit.kernels.blas`, found with :mod:`ctypes`; ``RNNKIT_BLAS_LOOP=off``
keeps the loop in Python).

They are used when all of these hold, and the NumPy fast loop otherwise:

* numba is installed (``pip install rnnkit[fast]``);
* the arrays are float32 (float64 keeps NumPy's correctly rounded functions,
  so the float64 gradient checks and PyTorch twin test exact arithmetic);
* the environment variable ``RNNKIT_KERNELS`` is not ``numpy``.

``import rnnkit`` never imports numba; the first step that can use a kernel
does (and compiles it once per machine into numba's cache).
"""
from __future__ import annotations

import importlib
import importlib.util
import os

import numpy as np

_NUMBA = importlib.util.find_spec("numba") is not None


def enabled(dtype) -> bool:
    """Whether compiled kernels serve arrays of ``dtype`` right now."""
    return _NUMBA and dtype == np.float32 and os.environ.get("RNNKIT_KERNELS", "auto") != "numpy"


def load():
    """The module of compiled kernels, :mod:`rnnkit.kernels.fused` (imports numba)."""
    return importlib.import_module(f"{__name__}.fused")
