"""``rnnkit.kernels.blas``: NumPy's own sgemm found, checked before use, and
switched off on request (the compiled loops then fall back to Python)."""
import ctypes
import ctypes.util

import numpy as np
import pytest

from rnnkit.kernels import blas


def test_switched_off_by_the_environment(monkeypatch):
    monkeypatch.setenv("RNNKIT_BLAS_LOOP", "off")
    assert blas.sgemm() is None


def test_found_function_multiplies_honouring_leading_dimensions_and_beta():
    fn = blas.sgemm()
    if fn is None:
        pytest.skip("NumPy here bundles no OpenBLAS (Accelerate, MKL): the loops stay in Python")
    rng = np.random.default_rng(3)
    a = rng.standard_normal((9, 7)).astype(np.float32)
    b = rng.standard_normal((7, 10)).astype(np.float32)          # use its first 4 columns: ldb 10
    c = rng.standard_normal((9, 10)).astype(np.float32)          # accumulate onto its first 4: ldc 10
    want = c.copy()
    want[:, :4] += a @ b[:, :4]
    fn(blas.ROW_MAJOR, blas.NO_TRANS, blas.NO_TRANS, 9, 4, 7, 1.0, a.ctypes.data, 7, b.ctypes.data, 10, 1.0,
       c.ctypes.data, 10)
    np.testing.assert_allclose(c, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(c[:, 4:], want[:, 4:])


def test_a_function_that_computes_wrong_is_refused():
    assert not blas._works(lambda *args: None)


def test_a_library_without_the_symbol_binds_to_nothing():
    libc = ctypes.util.find_library("c")
    if libc is None:
        pytest.skip("no C library to load by name here")
    assert blas._bind(libc) is None
    assert blas._bind("/nonexistent/libopenblas.so") is None
