"""Compiled elementwise kernels for the float32 fast path (optional: numba).

The time loop spends its time in two kinds of work per step: one matrix
product (BLAS, already as fast as it gets) and a dozen elementwise passes over
the gates (sigmoid, tanh, products, the cell update).  NumPy runs each pass as
a separate loop over memory, and its float32 ``tanh``/``exp`` are scalar on
this kind of CPU (about 2.6 and 1.3 ns per element).  The kernels fuse all of
a step's elementwise work into one loop that LLVM vectorises, so a step is one
product plus one call.  One module per concept:

* :mod:`~rnnkit.kernels.activations`: the inlined ``tanh`` and ``sigmoid``
  approximations (absolute error below 4e-7), the numba settings every kernel
  shares (why they are repeatable to the last bit), ``tanh_array``,
  ``sigmoid_array``;
* :mod:`~rnnkit.kernels.lstm`, :mod:`~rnnkit.kernels.gru` (reset-after),
  :mod:`~rnnkit.kernels.elman`: each cell's step kernels, batch-major, and for
  the LSTM and GRU the column-layout kernels and whole-sequence loops of
  :mod:`rnnkit.loops.columns`, each cell's arithmetic written once;
* :mod:`~rnnkit.kernels.layout`: ``steps_to_rows`` and the bookkeeping the
  whole-sequence loops share;
* :mod:`~rnnkit.kernels.product`: the step products in fixed blocks, and
  :mod:`~rnnkit.kernels.sync`: the barrier where the threads of a split pass
  meet once a step;
* :mod:`~rnnkit.kernels.tokens`: the gather and per-id sums of token inputs
  (:mod:`rnnkit.tokens`);
* :mod:`~rnnkit.kernels.adam`: the float32 Adam update in one pass
  (:class:`rnnkit.optim.Adam`);
* :mod:`~rnnkit.kernels.blas`: NumPy's own ``cblas_sgemm`` through
  :mod:`ctypes`, which the whole-sequence loops call (no numba needed).

They serve (:func:`available`) when all of these hold, and the NumPy fast loop
otherwise:

* numba is installed (``pip install rnnkit[fast]``);
* the arrays are float32 (float64 keeps NumPy's correctly rounded functions,
  so the float64 gradient checks and PyTorch twin test exact arithmetic);
* the environment variable ``RNNKIT_KERNELS`` is not ``numpy``.

Callers import the module they need where they use it (``from rnnkit.kernels
import lstm``), after :func:`available` said yes: ``import rnnkit`` and
``import rnnkit.kernels`` never import numba; the first kernel module imported
does (and each kernel compiles once per machine into numba's cache).
"""
from __future__ import annotations

import importlib.util
import os

import numpy as np

_NUMBA = importlib.util.find_spec("numba") is not None


def available(dtype) -> bool:
    """Whether compiled kernels serve arrays of ``dtype`` right now."""
    return _NUMBA and dtype == np.float32 and os.environ.get("RNNKIT_KERNELS", "auto") != "numpy"
