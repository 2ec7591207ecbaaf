"""Reading and checking time series from CSV files.

``read_csv(path, time_col=None, columns=None)`` returns ``(times, values, names)``:
``times`` a list of the time column's strings (or row numbers when there is
none), ``values`` a float64 ``(T, C)`` array, ``names`` the column names.

Bad input is handled at this edge, never deeper:

- a non-numeric cell: ``ValueError`` naming the file, row and column;
- unsorted or duplicated timestamps: ``ValueError`` naming the first offending row
  (timestamps are compared as numbers when they all parse as numbers, else as
  ISO-style strings, which sort like dates);
- missing cells (empty, ``NA``, ``NaN``): filled by linear interpolation (the
  nearest value at the ends) with a logged warning, see :func:`fill_missing`.
"""
from __future__ import annotations

import csv
import logging

import numpy as np

log = logging.getLogger("rnnkit")

MISSING = {"", "na", "nan", "null", "none", "n/a", "?"}


def fill_missing(values, names=None, source="series"):
    """Linear interpolation over NaNs per column, nearest value at the ends.

    Logs one warning per column that had gaps; raises when a column is all missing."""
    values = np.array(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    idx = np.arange(len(values))
    for j in range(values.shape[1]):
        col = values[:, j]
        bad = ~np.isfinite(col)
        if not bad.any():
            continue
        name = names[j] if names else f"column {j}"
        if bad.all():
            raise ValueError(f"{source}: column {name!r} has no values; remove it or fill it in")
        col[bad] = np.interp(idx[bad], idx[~bad], col[~bad])
        log.warning("%s: column %r had %d missing value(s); filled by linear interpolation",
                    source, name, int(bad.sum()))
    return values


def _parse_float(cell, path, row, col):
    s = cell.strip()
    if s.lower() in MISSING:
        return np.nan
    try:
        return float(s)
    except ValueError:
        raise ValueError(f"{path}: row {row}, column {col!r}: {s[:30]!r} is not a number; "
                         "fix the cell or leave it empty to have it interpolated") from None


def check_times(times, source):
    """Raise if ``times`` are not strictly increasing (duplicates or disorder)."""
    try:
        keys = [float(t) for t in times]
    except ValueError:
        keys = list(times)
    for i in range(1, len(keys)):
        if keys[i] == keys[i - 1]:
            raise ValueError(f"{source}: duplicated timestamp {times[i]!r} at data row {i + 1}; "
                             "keep one row per time step")
        if keys[i] < keys[i - 1]:
            raise ValueError(f"{source}: timestamps not increasing at data row {i + 1} "
                             f"({times[i - 1]!r} then {times[i]!r}); sort the file by time")


def read_csv(path, time_col=None, columns=None):
    """Read a CSV with a header row.

    ``time_col``: name of the time column; ``None`` picks a column named
    ``time``/``date``/``timestamp``/``datetime`` or an unnamed first column (a
    pandas index), else uses row numbers.  ``columns``: the value columns to keep
    (default: all but the time column)."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text CSV file") from None
    rows = [r for r in rows if any(c.strip() for c in r)]
    if len(rows) < 2:
        raise ValueError(f"{path}: needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    if time_col is None:
        for cand in header:
            if cand.lower() in ("time", "date", "timestamp", "datetime", ""):
                time_col = cand
                break
    if time_col is not None and time_col not in header:
        raise ValueError(f"{path}: no time column {time_col!r}; columns are {header}")
    tcol = header.index(time_col) if time_col is not None else None
    if columns is None:
        columns = [h for i, h in enumerate(header) if i != tcol]
    for c in columns:
        if c not in header:
            raise ValueError(f"{path}: no column {c!r}; columns are {header}")
    if not columns:
        raise ValueError(f"{path}: no value columns")
    cidx = [header.index(c) for c in columns]
    times, vals = [], []
    for r, row in enumerate(rows[1:], start=2):
        if len(row) < len(header):
            row = row + [""] * (len(header) - len(row))
        times.append(row[tcol].strip() if tcol is not None else str(r - 2))
        vals.append([_parse_float(row[i], path, r, header[i]) for i in cidx])
    if tcol is not None:
        check_times(times, path)
    values = fill_missing(np.array(vals, dtype=np.float64), columns, source=path)
    return times, values, list(columns)


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path
