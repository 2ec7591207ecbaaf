"""Readers for time series: the UCR/UEA ``.ts`` format and NumPy files.

``.ts`` (sktime/aeon's text format): ``#`` comments, ``@key value`` header
lines, then after ``@data`` one case per line, dimensions separated by ``:``,
values by ``,``, the class label last when ``@classLabel true``::

    @problemName BasicMotions
    @dimensions 6
    @classLabel true Standing Running Walking Badminton
    @data
    0.07,0.07,...:0.30,...:...:Standing

NumPy: ``.npz`` with ``X`` ``(N, T, D)`` (or ``(N, T)``), optional ``y`` ``(N,)``
and ``lengths`` ``(N,)``; ``.npy`` holds ``X`` alone.

Each reader returns ``(series, labels)``: a list of ``(n_i, D)`` float arrays
and an array of labels (``None`` when the file has none).
"""
from __future__ import annotations

import os

import numpy as np

from .tables import lines, read_text


def read_ts(path, encoding="utf-8"):
    """Read a ``.ts`` file; errors name the file, the line and the fix."""
    text = read_text(path, encoding)
    header, has_labels, label_set, dims = {}, False, None, None
    first = None                                                    # (line, dimensions) of the first case
    series, labels = [], []
    in_data = False
    for no, raw in enumerate(lines(text), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            if not line.startswith("@"):
                raise ValueError(f"{path} line {no}: expected an @header line before @data; "
                                 "is this a .ts file (UCR/UEA format)?")
            key, _, value = line[1:].partition(" ")
            key = key.lower()
            if key == "data":
                in_data = True
            elif key == "classlabel":
                parts = value.split()
                has_labels = bool(parts) and parts[0].lower() == "true"
                label_set = parts[1:] if has_labels else None
            elif key == "timestamps" and value.strip().lower() == "true":
                raise ValueError(f"{path}: time-stamped .ts files are not supported; export the series "
                                 "without time stamps")
            elif key == "dimensions":
                dims = _header_count(path, no, value)
            header[key] = value.strip()
            continue
        fields = line.split(":")
        if has_labels:
            labels.append(fields[-1].strip())
            fields = fields[:-1]
        try:
            chans = [np.array([np.nan if v.strip() == "?" else float(v) for v in f.split(",")]) for f in fields]
        except ValueError:
            raise ValueError(f"{path} line {no}: a value is not a number; each dimension is a "
                             "comma-separated list of numbers (or ?)") from None
        if dims is not None and len(chans) != dims:
            raise ValueError(f"{path} line {no}: {len(chans)} dimensions, the header says {dims}")
        if first is None:
            first = (no, len(chans))
        elif len(chans) != first[1]:
            raise ValueError(f"{path} line {no}: {len(chans)} dimensions, but the case on line {first[0]} has "
                             f"{first[1]}; give every case the same dimensions (or an @dimensions header)")
        if len({len(c) for c in chans}) != 1:
            raise ValueError(f"{path} line {no}: dimensions of one case differ in length; "
                             "rnnkit reads cases whose dimensions have equal length")
        x = np.stack(chans, axis=1)                                 # (n, D)
        if np.isnan(x).any():
            raise ValueError(f"{path} line {no}: missing values (?) or NaN are not supported; impute them first")
        if np.isinf(x).any():
            raise ValueError(f"{path} line {no}: value {x[np.isinf(x)][0]} is not finite; replace infinite "
                             "values with numbers")
        series.append(x)
    if not in_data:
        raise ValueError(f"{path}: no @data line; is this a .ts file (UCR/UEA format)?")
    if not series:
        raise ValueError(f"{path}: no cases after @data; the file is empty")
    labels = np.asarray(labels) if has_labels else None
    if label_set and labels is not None:
        unknown = sorted(set(labels) - set(label_set))
        if unknown:
            raise ValueError(f"{path}: label {str(unknown[0])!r} is not in the @classLabel list; fix the header or "
                             "the case")
    return series, labels


def _header_count(path, no, value):
    """The positive integer of an ``@dimensions`` header line."""
    try:
        n = int(value.strip())
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"{path} line {no}: @dimensions {value.strip()!r} is not a positive whole number; "
                         "write the number of dimensions, e.g. @dimensions 3")
    return n


def read_numpy(path):
    """Read ``.npz`` (``X``, optional ``y``, ``lengths``) or ``.npy`` (``X``)."""
    try:
        z = np.load(path, allow_pickle=False)
        if isinstance(z, np.ndarray):
            X, y, lengths = z, None, None
        else:
            with z:
                if "X" not in z.files:
                    raise ValueError(f"{path} has arrays {z.files} but no 'X'; save the series as X=(N, T, D)")
                X = z["X"]
                y = z["y"] if "y" in z.files else None
                lengths = z["lengths"] if "lengths" in z.files else None
    except ValueError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise ValueError(f"{path} is not a readable NumPy file ({exc}); save it with numpy.save/savez "
                         "without object arrays") from None
    except (OSError, EOFError) as exc:
        raise ValueError(f"{path} is not a readable NumPy file ({type(exc).__name__}); save it with "
                         "numpy.save or numpy.savez") from None
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{path}: X has dtype {X.dtype}; series must be numbers")
    if X.ndim == 2:
        X = X[:, :, None]
    if X.ndim != 3 or len(X) == 0:
        raise ValueError(f"{path}: X has shape {X.shape}; pass (N, T, D) or (N, T) with N >= 1")
    n = np.full(len(X), X.shape[1]) if lengths is None else np.asarray(lengths).astype(int)
    if n.shape != (len(X),) or n.min() < 1 or n.max() > X.shape[1]:
        raise ValueError(f"{path}: lengths must hold one value in [1, {X.shape[1]}] per series")
    series = [X[i, :n[i]].astype(np.float64) for i in range(len(X))]
    if not all(np.isfinite(s).all() for s in series):
        raise ValueError(f"{path}: X contains NaN or Inf; impute or drop those values")
    if y is not None and y.ndim != 1:
        raise ValueError(f"{path}: y has shape {y.shape}; give one label per sequence, y of shape ({len(X)},)")
    if y is not None and len(y) != len(X):
        raise ValueError(f"{path}: y has {len(y)} labels for {len(X)} series")
    return series, (None if y is None else np.asarray(y))


def read_series(path, encoding="utf-8"):
    """Dispatch on the extension: ``.ts`` (text in ``encoding``), ``.npz`` or ``.npy``."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext == ".ts":
        return read_ts(path, encoding)
    if ext in (".npz", ".npy"):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: no such file; check the path")
        if os.path.getsize(path) == 0:
            raise ValueError(f"{path} is empty; pass a file with data")
        return read_numpy(path)
    raise ValueError(f"{path}: unknown series format {ext!r}; use .ts, .npz or .npy")
