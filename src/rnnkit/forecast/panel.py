"""One forecaster per series of a panel, fitted through joblib.

``fit_panel(data, n_jobs=...)`` fits an independent :class:`~rnnkit.forecast.Forecaster`
on every series of ``data`` and returns a :class:`ForecasterPanel`, a read-only mapping
``{series id: fitted Forecaster}``.  ``data`` is

* a **wide** table: a pandas DataFrame whose columns are the series (leading missing
  values, a series that starts later, are dropped), a 2-D array ``(T, k)`` (series
  ``0 … k−1``), or a dict ``{id: 1-D series}`` (lengths may differ);
* a **long** table: a DataFrame with one row per (series, time), given with ``id_col``
  (the series id), ``time_col`` (optional; rows are sorted by it within each series)
  and ``target`` (the value column; optional when only one column is left).

The fits are independent tasks for :func:`rnnkit.parallel.run_tasks`: ``n_jobs``
workers, or whatever ``joblib.parallel_config`` says (``backend="dask"`` for a Dask
cluster); each with one BLAS thread, each with its own seed from
:func:`rnnkit.parallel.task_seeds` (``random_state``, position of the series), so the
models do not depend on the number of workers or the backend.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping

import numpy as np

from .. import _frames
from ..parallel import run_tasks, task_seeds
from .model import Forecaster

PANEL_FILE = "panel.json"


def _plain_id(i):
    """A series id as JSON keeps it: ints and strings as they are, anything else as text."""
    if isinstance(i, np.generic):
        i = i.item()
    return i if isinstance(i, (int, str)) and not isinstance(i, bool) else str(i)


def _numbers(values, what):
    try:
        a = np.asarray(_frames.as_array(values), dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{what} holds values that are not numbers; convert it to floats first") from None
    if a.ndim != 1:
        raise ValueError(f"{what} must be one series (1-D), got shape {a.shape}; give each series its own "
                         "column or id")
    return a


def _strip_leading_missing(a):
    """A series without the missing values before its first reading (a later start in a wide table)."""
    ok = np.flatnonzero(~np.isnan(a))
    return a[ok[0]:] if len(ok) else a


def split_series(data, id_col=None, time_col=None, target=None):
    """``(ids, series, times)``: the series of ``data`` (see the module docstring) as
    1-D float arrays, and for a long table with ``time_col`` each series' times
    (else ``None``)."""
    if id_col is not None:
        return _split_long(data, id_col, time_col, target)
    if isinstance(data, Mapping):
        ids = list(data)
        return ids, [_numbers(data[i], f"series {i!r}") for i in ids], None
    if hasattr(data, "columns"):
        cols = [c for c in data.columns if c != time_col]
        if target is not None:
            cols = [target] if isinstance(target, str) else list(target)
            missing = [c for c in cols if c not in data.columns]
            if missing:
                raise ValueError(f"no column {missing[0]!r} in the table; its columns are {list(data.columns)}")
        return cols, [_strip_leading_missing(_numbers(data[c], f"column {c!r}")) for c in cols], None
    a = np.asarray(data, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"a panel is a 2-D table (T, series), a DataFrame or a dict of series, got shape {a.shape}")
    return list(range(a.shape[1])), [_strip_leading_missing(a[:, j]) for j in range(a.shape[1])], None


def _split_long(data, id_col, time_col, target):
    if not hasattr(data, "columns"):
        raise ValueError(f"id_col={id_col!r} needs a table with named columns (a DataFrame); a wide array's "
                         "columns are the series: leave id_col out")
    cols = list(data.columns)
    for role, c in (("id_col", id_col), ("time_col", time_col), ("target", target)):
        if c is not None and c not in cols:
            raise ValueError(f"{role}={c!r} is not a column of the table; its columns are {cols}")
    target = _long_target(cols, id_col, time_col, target)
    ids, series, times = [], [], [] if time_col is not None else None
    for key, part in data.groupby(id_col, sort=False):
        key = key[0] if isinstance(key, tuple) and len(key) == 1 else key
        if time_col is not None:
            part = part.sort_values(time_col, kind="stable")
            t = part[time_col]
            if t.duplicated().any():
                raise ValueError(f"series {key!r} has time {t[t.duplicated()].iloc[0]!r} twice; keep one row per "
                                 "series and time")
            times.append(t.to_numpy())
        ids.append(key)
        series.append(_numbers(part[target], f"series {key!r}"))
    if not ids:
        raise ValueError("the table has no rows; pass at least one series")
    return ids, series, times


def _long_target(cols, id_col, time_col, target):
    """The value column of a long table: ``target``, or the one column left."""
    if target is None:
        rest = [c for c in cols if c not in (id_col, time_col)]
        if len(rest) != 1:
            raise ValueError(f"a long table needs one value column, found {rest}; name it with target=")
        target = rest[0]
    return target


def _fit_one(params, seed, sid, y):
    """A :class:`Forecaster` of ``params`` and seed ``seed`` fitted on the series ``y`` (id ``sid``)."""
    try:
        return Forecaster(**params, random_state=seed).fit(y)
    except ValueError as exc:
        raise ValueError(f"series {sid!r}: {exc}") from None


def fit_panel(data, n_jobs=None, id_col=None, time_col=None, target=None, random_state=0, **forecaster_params):
    """Fit one :class:`Forecaster` (``forecaster_params``) per series of ``data``.

    Arguments:
        data: a wide or long table (module docstring).
        n_jobs: joblib workers (``None``: the enclosing ``joblib.parallel_config``'s, else one).
        id_col, time_col, target: the long table's columns (``id_col`` given: long).
        random_state: an int; series ``k`` gets ``task_seeds(random_state, n)[k]``.

    Returns a :class:`ForecasterPanel` ``{series id: fitted Forecaster}``.  A series
    that cannot be fitted raises its error with the series' id in front."""
    if "random_state" in forecaster_params:
        raise TypeError("pass random_state to fit_panel itself; each series gets its own seed from it")
    Forecaster(**forecaster_params)._check_params()         # a bad setting fails once, before any fit
    ids, series, times = split_series(data, id_col, time_col, target)
    seeds = task_seeds(random_state, len(ids))
    models = run_tasks(_fit_one, [(forecaster_params, s, i, y) for i, s, y in zip(ids, seeds, series)], n_jobs)
    if id_col is not None:
        target = _long_target(list(data.columns), id_col, time_col, target)
    return ForecasterPanel(dict(zip(ids, models)), id_col=id_col, time_col=time_col, target=target)


class ForecasterPanel(Mapping):
    """Fitted forecasters by series id (a read-only mapping), with the table layout
    they were fitted on (``id_col``, ``time_col``, ``target``)."""

    def __init__(self, models, id_col=None, time_col=None, target=None):
        self.models_ = dict(models)
        self.id_col, self.time_col, self.target = id_col, time_col, target
        self.meta = {}                                      # what save() keeps beside the ids (load sets it)

    def __getitem__(self, key):
        try:
            return self.models_[key]
        except KeyError:
            raise KeyError(f"no series {key!r} in the panel; it has {list(self.models_)[:10]}") from None

    def __iter__(self):
        return iter(self.models_)

    def __len__(self):
        return len(self.models_)

    def __repr__(self):
        return f"ForecasterPanel({len(self)} series)"

    @property
    def horizon(self):
        return next(iter(self.models_.values())).horizon

    def predict(self, data, return_interval=False):
        """Forecast the ``horizon`` steps after each series' history in ``data`` (laid out
        as at fit time; every series of the panel must be there).

        Returns, like the input: a DataFrame ``(h, series)`` on the continued index for a
        wide DataFrame, an array ``(h, k)`` for an array, a dict of 1-D forecasts for a
        dict, and for a long table a long DataFrame (``id_col``, ``time_col`` continued
        when given, else ``step``, and the target).  With ``return_interval=True`` also
        ``(lower, upper)`` in the same form."""
        ids, series, times = split_series(data, self.id_col, self.time_col, self.target)
        missing = [i for i in self.models_ if i not in ids]
        if missing:
            raise ValueError(f"the data lacks series {missing[:5]} of the panel; pass the history of every series")
        at = {i: k for k, i in enumerate(ids)}
        runs = {i: self.models_[i].predict(series[at[i]], return_interval=True) for i in self.models_}
        parts = [{i: f for i, (f, _) in runs.items()}, {i: lo for i, (_, (lo, _)) in runs.items()},
                 {i: hi for i, (_, (_, hi)) in runs.items()}]
        shaped = [self._shaped(p, data, times, ids) for p in parts]
        return (shaped[0], (shaped[1], shaped[2])) if return_interval else shaped[0]

    def _shaped(self, fc, data, times, ids):
        if self.id_col is not None:                         # long in, long out
            import pandas as pd

            rows = {self.id_col: [], self.time_col or "step": [], self.target or "forecast": []}
            for i, f in fc.items():
                h = len(f)
                when = (list(_frames.future_index(pd.Index(times[ids.index(i)]), h)) if times is not None
                        else list(range(1, h + 1)))
                rows[self.id_col] += [i] * h
                rows[self.time_col or "step"] += when
                rows[self.target or "forecast"] += list(f)
            return pd.DataFrame(rows)
        if isinstance(data, Mapping):
            return dict(fc)
        if hasattr(data, "columns"):
            import pandas as pd

            return pd.DataFrame(fc, index=_frames.future_index(data.index, self.horizon))
        return np.stack([fc[i] for i in self.models_], axis=1)

    # -- files -------------------------------------------------------------------------
    def save(self, folder, meta=None):
        """Write the panel to the directory ``folder``: ``panel.json`` (ids, layout,
        ``meta``) and one rnnkit model file per series under ``series/``."""
        os.makedirs(os.path.join(folder, "series"), exist_ok=True)
        files = []
        for k, (i, m) in enumerate(self.models_.items()):
            name = os.path.join("series", f"{k:05d}.rnnkit")
            m.save(os.path.join(folder, name), {"series_id": _plain_id(i)})
            files.append(name)
        from ..io.files import atomic_write_text

        index = {"ids": [_plain_id(i) for i in self.models_], "files": files, "id_col": self.id_col,
                 "time_col": self.time_col, "target": self.target, "meta": meta or {}}
        atomic_write_text(os.path.join(folder, PANEL_FILE), json.dumps(index, indent=1), suffix=".json")
        return folder

    @classmethod
    def load(cls, folder):
        """The panel :meth:`save` wrote to ``folder``."""
        path = os.path.join(folder, PANEL_FILE)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{folder}: no {PANEL_FILE}; pass a directory written by ForecasterPanel.save "
                                    "or 'rnnkit forecast train --per-series/--id-col'")
        with open(path) as f:
            index = json.load(f)
        models = {i: Forecaster.load(os.path.join(folder, name)) for i, name in zip(index["ids"], index["files"])}
        panel = cls(models, index.get("id_col"), index.get("time_col"), index.get("target"))
        panel.meta = index.get("meta", {})
        return panel


def is_panel_dir(path):
    """True for a directory holding a saved :class:`ForecasterPanel`."""
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, PANEL_FILE))


def read_long_csv(path, id_col, time_col=None, target=None):
    """A long CSV (one row per series and time) as ``{id: (times, values)}``, ids in
    the order they first appear, each series' rows in time order.

    ``time_col``: as :func:`rnnkit.forecast.read_csv` picks it (``None``: a column named
    time/date/timestamp/datetime, else the file's row order); ``target``: the value
    column (``None``: the one column left).  Times are parsed as ``read_csv`` parses
    them and checked per series (a duplicate is refused); missing values are
    interpolated within each series, with a logged warning."""
    from .data import _parse_float, _read_rows, _time_column, check_header, fill_missing, time_keys

    rows = _read_rows(path)
    if len(rows) < 2:
        raise ValueError(f"{path}: needs a header row and at least one data row")
    header = [h.strip() for h in rows[0][1]]
    check_header(header, path)
    if id_col not in header:
        raise ValueError(f"{path}: no id column {id_col!r}; columns are {header}: pass --id-col one of them")
    time_col = _time_column(header, time_col, path)
    index = 0 if header[0] == "" and time_col != "" else None
    target = _long_target([h for i, h in enumerate(header) if i != index], id_col, time_col, target)
    if target not in header:
        raise ValueError(f"{path}: no column {target!r}; columns are {header}")
    ci, vi = header.index(id_col), header.index(target)
    ti = header.index(time_col) if time_col is not None else None
    groups = {}
    for r, (line, row) in enumerate(rows[1:], start=2):
        row = row + [""] * (len(header) - len(row))
        key = row[ci].strip()
        if not key:
            raise ValueError(f"{path}: line {line} has no {id_col!r}; give every row its series id")
        t = row[ti].strip() if ti is not None else str(r - 2)
        groups.setdefault(key, ([], []))
        groups[key][0].append(t)
        groups[key][1].append(_parse_float(row[vi], path, r, target))
    out = {}
    for key, (times, vals) in groups.items():
        keys = time_keys(times, f"{path} (series {key!r})", time_col or "row")
        order = sorted(range(len(times)), key=lambda k: keys[k])
        for a, b in zip(order, order[1:]):
            if keys[a] == keys[b]:
                raise ValueError(f"{path}: series {key!r} has time {times[b]!r} twice; keep one row per series "
                                 "and time")
        values = fill_missing(np.array([vals[k] for k in order]), [target], source=f"{path} (series {key!r})")
        out[key] = ([times[k] for k in order], values[:, 0])
    return out
