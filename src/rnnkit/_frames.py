"""pandas in, pandas out, without importing pandas.

The Python API takes a pandas Series/DataFrame wherever it takes an array: it is
recognised by duck typing (``hasattr(x, "to_numpy")``), read as floats, and the
result is wrapped back with the input's index.  pandas is imported only here and
only when the caller already passed a pandas object, so it stays optional.
"""
from __future__ import annotations

import warnings

import numpy as np


def is_frame(x):
    """True for a pandas Series or DataFrame (anything with ``to_numpy`` and an ``index``)."""
    return hasattr(x, "to_numpy") and hasattr(x, "index")


def as_array(x, dtype=np.float64):
    """``x`` as a NumPy array; a pandas object through ``to_numpy`` (missing values as NaN)."""
    if hasattr(x, "to_numpy"):
        try:
            return x.to_numpy(dtype=dtype, na_value=np.nan)
        except (TypeError, ValueError):
            return np.asarray(x.to_numpy(), dtype=dtype)
    return x


def future_index(index, steps):
    """The ``steps`` index labels after ``index``: a DatetimeIndex continues its
    frequency (its ``freq``, else ``pd.infer_freq``, else the last spacing), a
    RangeIndex or an integer index continues the integers (its step), anything
    else gives ``len(index) … len(index) + steps − 1``."""
    import pandas as pd

    if isinstance(index, pd.DatetimeIndex) and len(index):
        freq = index.freq
        if freq is None and len(index) >= 3:
            try:
                with warnings.catch_warnings():           # pandas 3 warns that it will return an offset
                    warnings.simplefilter("ignore")
                    freq = pd.infer_freq(index)
            except (TypeError, ValueError):
                freq = None
        if freq is None:
            if len(index) < 2:
                raise ValueError("cannot continue a DatetimeIndex of one timestamp without a freq; "
                                 "set the index's freq (e.g. series.asfreq('D'))")
            freq = index[-1] - index[-2]
        future = pd.date_range(index[-1], periods=steps + 1, freq=freq, tz=index.tz)[1:]
        return future.rename(index.name)
    if isinstance(index, pd.RangeIndex):
        step = index.step
        start = index.stop if len(index) else index.start
        return pd.RangeIndex(start, start + steps * step, step, name=index.name)
    if len(index) and pd.api.types.is_integer_dtype(getattr(index, "dtype", None)):
        step = int(index[-1] - index[-2]) if len(index) >= 2 else 1
        return pd.Index([int(index[-1]) + step * (k + 1) for k in range(steps)], name=index.name)
    return pd.RangeIndex(len(index), len(index) + steps, name=getattr(index, "name", None))


def like(values, template, index=None):
    """``values`` ``(T,)`` or ``(T, C)`` as a Series/DataFrame shaped like ``template``
    (its name or columns), on ``index`` (default: the template's index)."""
    import pandas as pd

    index = template.index if index is None else index
    values = np.asarray(values)
    if hasattr(template, "columns"):
        values = values[:, None] if values.ndim == 1 else values
        return pd.DataFrame(values, index=index, columns=template.columns)
    if values.ndim == 2:
        values = values[:, 0]
    return pd.Series(values, index=index, name=getattr(template, "name", None))
