"""Panels of series as the time-series ecosystem holds them, in rnnkit's layout.

rnnkit's sequence estimators read ``(N, T, C)`` arrays (``"NTC"``: batch, time,
channels; PyTorch's ``batch_first``) or lists of ``(T_i, C)`` arrays.  aeon and
sktime hold panels channels first:

* ``(N, C, T)`` NumPy arrays (``"NCT"``), and lists of ``(C, T_i)`` arrays when the
  series have unequal lengths (aeon's ``np-list``);
* sktime's nested DataFrames: one row per instance, one column per channel, each
  cell a ``pandas.Series`` of that channel's values;
* sktime's ``pd-multiindex`` DataFrames: a two-level row index
  ``(instance, time)``, one column per channel.

:func:`to_sequences` turns any of these into a list of ``(T_i, C)`` float arrays,
with the array layout given explicitly (``layout="NTC"`` or ``"NCT"``; the two
DataFrame forms carry their layout and need none).

An ``(N, A, B)`` array read as ``"NTC"`` while it holds ``(N, C, T)`` trains on ``A``
"steps" of ``B`` "features" and fails silently.  :func:`looks_channels_first`
spots the usual case: a time axis varies smoothly from one step to the next, a
channel axis need not.  Per instance and per position on the other axis, the
*roughness* of an axis is ``mean(Δ²) / (2·var)`` along it (about 1 for white
noise, near 0 for a smooth signal, up to 2 for an alternating one); the median
over instances is taken.  The array looks channels first when ``A < B``, the last
axis is smooth (roughness < 0.5) and at most half as rough as the middle one.
Word vectors ``(N, T, 300)`` (no order along either axis) and channels-last series
(the middle axis the smooth one) pass.  A list of 2-D arrays whose first axes are
all equal and whose second axes differ is ``(C, T_i)`` (it is the time axis that
varies between series); a list with equal shapes is judged like an array.
It is a heuristic: it warns, it never
changes the data, and an explicit ``layout`` (or a list made by
:func:`to_sequences`) silences it.
"""
from __future__ import annotations

import sys
import warnings

import numpy as np

LAYOUTS = ("NTC", "NCT")


class Sequences(list):
    """The list :func:`to_sequences` returns: ``(T_i, C)`` arrays whose layout was
    given explicitly, so no channels-first warning is raised about it."""


def check_layout(layout):
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be 'NTC' (batch, time, channels: rnnkit's) or 'NCT' (batch, channels, "
                         f"time: aeon's and sktime's), got {layout!r}")
    return layout


def is_nested_frame(X):
    """True for a DataFrame whose cells hold series (sktime's nested layout)."""
    if not (hasattr(X, "columns") and hasattr(X, "iloc")) or len(X) == 0 or len(X.columns) == 0:
        return False
    cell = X.iloc[0, 0]
    return hasattr(cell, "__len__") and not isinstance(cell, (str, bytes))


def is_multiindex_frame(X):
    """True for a DataFrame indexed by ``(instance, time)`` (sktime's ``pd-multiindex``)."""
    return hasattr(X, "columns") and getattr(getattr(X, "index", None), "nlevels", 1) == 2


def _floats(a, name):
    try:
        return np.asarray(a, np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must hold numbers ({exc}); convert it to floats first") from None


def to_sequences(X, layout="NTC", name="X"):
    """A list of ``(T_i, C)`` float arrays from a panel ``X`` (see the module docstring).

    Arguments:
        X: ``(N, T, C)`` / ``(N, C, T)`` array, list of 2-D arrays (or of 1-D arrays:
            one channel), sktime nested DataFrame, or ``(instance, time)``-indexed DataFrame.
        layout: ``"NTC"`` or ``"NCT"``, how the axes of an array (or of each array
            in a list) are ordered; the DataFrame forms ignore it.
    Returns:
        a list (:class:`Sequences`) of ``N`` arrays ``(T_i, C)``, the same ``C`` for all.
    """
    check_layout(layout)
    if is_nested_frame(X):
        seqs = []
        for i in range(len(X)):
            cells = [_floats(X.iloc[i, j], f"{name} row {i}, column {X.columns[j]!r}").reshape(-1)
                     for j in range(len(X.columns))]
            lengths = {len(c) for c in cells}
            if len(lengths) != 1:
                raise ValueError(f"{name} row {i}: its channels have different lengths {sorted(lengths)}; every "
                                 "channel of one instance needs one value per time step")
            seqs.append(np.stack(cells, axis=1))                        # (T_i, C)
    elif is_multiindex_frame(X):
        keys = X.index.get_level_values(0)
        order = list(dict.fromkeys(keys))                               # instances in order of appearance
        values = _floats(X.to_numpy(), name)
        seqs = [values[np.asarray(keys == k)] for k in order]
    elif isinstance(X, np.ndarray) and X.dtype != object:
        if X.ndim != 3:
            raise ValueError(f"{name} has shape {X.shape}; a panel array is 3-D, (N, T, C) or (N, C, T)")
        X = _floats(X, name)
        seqs = list(X if layout == "NTC" else X.transpose(0, 2, 1))
    else:
        seqs = []
        for i, s in enumerate(X):
            s = _floats(s, f"{name}[{i}]")
            if s.ndim == 1:
                s = s[:, None]
            elif s.ndim != 2:
                raise ValueError(f"{name}[{i}] has shape {s.shape}; each series is 2-D ({layout[1:]}) or 1-D")
            elif layout == "NCT":
                s = s.T
            seqs.append(s)
    if not seqs:
        raise ValueError(f"{name} holds no series; pass at least one")
    widths = {s.shape[1] for s in seqs}
    if len(widths) != 1:
        raise ValueError(f"{name}: the series have different numbers of channels {sorted(widths)}; check the "
                         f"layout ({layout!r} read each array as {'(T, C)' if layout == 'NTC' else '(C, T)'})")
    for i, s in enumerate(seqs):
        if len(s) == 0:
            raise ValueError(f"{name}[{i}] has no time steps; each series needs at least one")
    return Sequences(seqs)


def _roughness(a, axis):
    """Median over ``a``'s other axes of ``mean(Δ²)/(2·var)`` along ``axis`` (``a`` ``(n, A, B)``)."""
    d = np.diff(a, axis=axis)
    num = (d * d).mean(axis=axis)
    var = a.var(axis=axis)
    ok = var > 1e-12 * (1 + np.abs(a).mean())
    return float(np.median(num[ok] / (2 * var[ok]))) if ok.any() else np.nan


def looks_channels_first(X, sample=64):
    """Whether an ``(N, A, B)`` float array (or a list of ``(A, B_i)`` arrays) looks like
    ``(N, C, T)``: ``A < B``, the last axis smooth and the middle one at least twice as
    rough (see the module docstring).  Reads at most ``sample`` instances."""
    if isinstance(X, Sequences):
        return False                                                     # laid out explicitly
    if isinstance(X, np.ndarray) and X.dtype != object and X.ndim == 3 and X.dtype.kind == "f":
        a = X[:sample]
    elif isinstance(X, (list, tuple)) and X and all(isinstance(s, np.ndarray) and s.ndim == 2 for s in X[:sample]):
        first = X[:sample]
        if len({s.shape[0] for s in first}) != 1 or any(s.dtype.kind != "f" for s in first):
            return False                                                 # unequal first axes: those are times
        if len({s.shape[1] for s in first}) != 1:
            return True                                                  # one first axis, unequal second: (C, T_i)
        a = np.stack(first)
    else:
        return False
    A, B = a.shape[1], a.shape[2]
    if A < 2 or B < 3 or A >= B or not np.isfinite(a).all():
        return False
    last, mid = _roughness(a, 2), _roughness(a, 1)
    return bool(last < 0.5 and (np.isnan(mid) or last <= 0.5 * mid))


def _outside_rnnkit():
    """The ``stacklevel`` of the first caller outside rnnkit (where a warning should point)."""
    frame, level = sys._getframe(2), 2
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] == "rnnkit":
        frame, level = frame.f_back, level + 1
    return level


def warn_if_channels_first(X, name="X", stacklevel=None):
    """Warn, naming the fix, when ``X`` read as ``(N, T, C)`` looks like ``(N, C, T)``
    (``stacklevel``: default, the first caller outside rnnkit)."""
    if not looks_channels_first(X):
        return
    stacklevel = stacklevel or _outside_rnnkit()
    if isinstance(X, np.ndarray):
        shape, why = X.shape, "its last axis varies smoothly like time, its middle one does not"
    else:
        shape = (len(X), *X[0].shape)
        why = ("every series has the same first axis and a different second one, as (C, T_i) series do"
               if len({s.shape[1] for s in X}) > 1 else
               "the last axis of each series varies smoothly like time, the first one does not")
    warnings.warn(f"{name} of shape {shape} looks channels-first (aeon/sktime's (N, C, T)): {why}; yet it is "
                  f"read as {shape[1]} steps of {shape[2]} features. If it holds {shape[1]} channels, pass "
                  "rnnkit.data.panels.to_sequences(X, layout='NCT') instead of X (or layout='NCT' where the method "
                  "takes it); if the reading is right, pass to_sequences(X, layout='NTC') to silence this",
                  UserWarning, stacklevel=stacklevel)
