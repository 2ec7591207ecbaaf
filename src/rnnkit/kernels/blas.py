"""NumPy's own ``cblas_sgemm``, as a function the compiled time loops can call.

The column loop (:mod:`rnnkit.loops.columns`) makes one matrix product and
one kernel call per step.  Driven from Python, each step would also pay for
NumPy's ``matmul`` dispatch, the kernel's dispatch and the loop's own
bookkeeping (about a third of the step at H 32, B 64).  The whole-sequence
kernels (:mod:`rnnkit.kernels.lstm`, :mod:`rnnkit.kernels.gru`) run the
sequence in one call and make the products through this function pointer: the very BLAS NumPy loaded
(its OpenBLAS, same threads, same results), found in the folder of shared
libraries NumPy's wheels bundle and called through :mod:`ctypes`, which numba
calls directly.

:func:`sgemm` returns ``None`` where no such library is found (NumPy built
against Accelerate or MKL, say, or a layout this module does not know); the
engine then runs the batch-major loop (:mod:`rnnkit.loops.rows`).
``RNNKIT_BLAS_LOOP=off`` turns the column loop off the same way.  The function found is checked once against ``np.matmul``
on a small product before it is used.
"""
from __future__ import annotations

import ctypes
import functools
import glob
import os

import numpy as np

ROW_MAJOR, NO_TRANS = 101, 111          # CBLAS enums

# (symbol, integer width): the ILP64 names NumPy >= 2 (scipy-openblas) and 1.x wheels export first
_SYMBOLS = (("scipy_cblas_sgemm64_", ctypes.c_int64), ("cblas_sgemm64_", ctypes.c_int64),
            ("scipy_cblas_sgemm", ctypes.c_int), ("cblas_sgemm", ctypes.c_int))


def _candidates():
    """Shared libraries bundled with the NumPy in use that look like OpenBLAS."""
    here = os.path.dirname(np.__file__)
    found = []
    for folder in (os.path.join(here, os.pardir, "numpy.libs"), os.path.join(here, ".dylibs"),
                   os.path.join(here, os.pardir, "numpy", ".libs")):
        for pattern in ("*openblas*.so*", "*openblas*.dylib", "*openblas*.dll"):
            found.extend(sorted(glob.glob(os.path.join(folder, pattern))))
    return found


def _bind(path):
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        return None
    for name, integer in _SYMBOLS:
        fn = getattr(lib, name, None)
        if fn is None:
            continue
        fn.restype = None
        fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, integer, integer, integer, ctypes.c_float,
                       ctypes.c_void_p, integer, ctypes.c_void_p, integer, ctypes.c_float, ctypes.c_void_p,
                       integer]
        return fn
    return None


def _works(fn) -> bool:
    """``fn`` computes ``C = A @ B`` for row-major float32 operands, with leading dimensions honoured."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((7, 5)).astype(np.float32)
    b = rng.standard_normal((5, 6)).astype(np.float32)
    c = np.full((7, 8), 9.0, np.float32)                 # ldc 8 > n 6: columns 6, 7 stay 9
    fn(ROW_MAJOR, NO_TRANS, NO_TRANS, 7, 6, 5, 1.0, a.ctypes.data, 5, b.ctypes.data, 6, 0.0, c.ctypes.data, 8)
    return bool(np.allclose(c[:, :6], a @ b, rtol=1e-5, atol=1e-5) and (c[:, 6:] == 9.0).all())


def sgemm():
    """The ``cblas_sgemm`` of NumPy's bundled OpenBLAS as a :mod:`ctypes`
    function (row-major calls: ``order, transa, transb, m, n, k, alpha, a, lda,
    b, ldb, beta, c, ldc``), or ``None`` (see the module's docstring)."""
    if os.environ.get("RNNKIT_BLAS_LOOP", "auto").lower() in ("off", "0", "no", "false"):
        return None
    return found()


@functools.lru_cache(maxsize=1)
def found():
    """:func:`sgemm` whatever ``RNNKIT_BLAS_LOOP`` says (the column loop's own
    calls: a pass whose forward half ran there finishes there)."""
    for path in _candidates():
        fn = _bind(path)
        if fn is not None and _works(fn):
            return fn
    return None
