"""Argument checks shared by layers: each raises one clear sentence that names
the problem and the fix."""
from __future__ import annotations

import math

import numpy as np

from ._params import plain

DTYPES = (np.float32, np.float64)


def as_dtype(dtype):
    try:
        dt = np.dtype(dtype)
    except TypeError:                                    # torch.float64, a class of some other library
        raise ValueError(f"dtype {dtype!r} is not a NumPy dtype; use numpy.float32 (default) or "
                         "numpy.float64") from None
    if dt.type not in DTYPES:
        raise ValueError(f"dtype {dt} is not supported; use numpy.float32 (default) or numpy.float64")
    return dt


def positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {plain(value)!r}")
    return int(value)


def count(name, value, minimum=0):
    """An integer ``>= minimum`` (``bool`` refused), or a one-line ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {plain(value)!r}")
    return int(value)


def finite_number(name, value, strict=True):
    """A finite real number above 0 (``strict``) or ``>= 0``, or a one-line ``ValueError``."""
    ok = (not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
          and math.isfinite(value) and (value > 0 if strict else value >= 0))
    if not ok:
        raise ValueError(f"{name} must be a finite number {'> 0' if strict else '>= 0'}, got {plain(value)!r}")
    return float(value)


def probability(name, value):
    if not (isinstance(value, (int, float, np.floating)) and 0.0 <= float(value) < 1.0):
        raise ValueError(f"{name} must be a probability in [0, 1), got {plain(value)!r}")
    return float(value)


def choice(name, value, options):
    if value not in options:
        raise ValueError(f"unknown {name} {plain(value)!r}; use one of {', '.join(map(repr, options))}")
    return value


def finite_array(name, x, dtype):
    """``x`` as an array of ``dtype``, rejecting non-numeric data, NaN and Inf."""
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} could not be read as an array ({exc}); pass a numeric numpy array") from None
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} has dtype {arr.dtype}; pass a numeric array (floats)")
    arr = arr.astype(dtype, copy=False)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or Inf; clean or impute the data before calling the layer")
    return arr


def lengths_mask(lengths, T, B):
    """Validate ``lengths`` ``(B,)`` in ``[1, T]``; return a ``(T, B)`` mask, or
    ``None`` when every sequence fills all ``T`` steps."""
    if lengths is None:
        return None
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or lengths.shape[0] != B:
        raise ValueError(f"lengths has shape {lengths.shape} but the batch holds {B} sequences; "
                         f"pass one length per sequence, shape ({B},)")
    if lengths.dtype.kind not in "iu":
        if lengths.dtype.kind == "f" and np.all(lengths == np.round(lengths)):
            lengths = lengths.astype(np.int64)
        else:
            raise ValueError(f"lengths must be integers, got dtype {lengths.dtype}")
    if lengths.min() < 1 or lengths.max() > T:
        raise ValueError(f"lengths must lie in [1, {T}] (the padded length); got min {lengths.min()}, "
                         f"max {lengths.max()}")
    if lengths.min() == T:
        return None
    return np.arange(T)[:, None] < lengths[None, :]


class _NotFittedError(ValueError, AttributeError):
    """Raised by a model used before ``fit`` where scikit-learn is not installed."""


def not_fitted(estimator):
    """The error for a model used before ``fit``: scikit-learn's ``NotFittedError``
    when scikit-learn is importable (a ``ValueError`` and an ``AttributeError``,
    as its tools expect), else an error with the same two bases."""
    try:
        from sklearn.exceptions import NotFittedError
    except ImportError:
        NotFittedError = _NotFittedError
    return NotFittedError(f"this {type(estimator).__name__} is not fitted yet; call fit() first")
