"""Reading and checking time series from CSV files.

``read_csv(path, time_col=None, columns=None)`` returns ``(times, values, names)``:
``times`` a list of the time column's strings (or row numbers when there is
none), ``values`` a float64 ``(T, C)`` array, ``names`` the column names.

Bad input is handled at this edge, never deeper:

- a missing or unreadable file, duplicated or empty column names, a data row
  with more fields than the header: ``ValueError`` naming the file (and line);
- a non-numeric cell: ``ValueError`` naming the file, row and column;
- timestamps are parsed, not compared as text: all numbers, or all dates (and
  date-times) as ``YYYY-MM-DD`` / ``YYYY/MM/DD`` (zero padding optional, an
  optional time ``HH:MM[:SS[.f]]`` after ``T`` or a space, an optional ``Z``,
  `` UTC``, ``±HH:MM``, ``±HHMM`` or hour-only ``±HH`` offset, as PostgreSQL
  writes ``2024-01-01 00:00:00+01``), ``YYYY-MM``, or ``DD/MM/YYYY`` /
  ``MM/DD/YYYY`` (either reading that makes the column increase is taken);
- a time column that is neither all numbers nor all dates (quarters ``2000Q1``,
  ISO weeks ``2024-W01``, times of day ``00:00``, labels) is not refused: its
  rows are taken in file order, with a warning on the ``rnnkit`` logger naming
  the column and an example value; the same text twice is still refused;
- unsorted or duplicated (parsed) timestamps: ``ValueError`` naming the first
  offending row;
- missing cells (empty, ``NA``, ``NaN``): filled by linear interpolation (the
  nearest value at the ends) with a logged warning, see :func:`fill_missing`
  (``fill=False`` leaves them NaN, for callers that must refuse them);
- ``inf`` / ``-inf`` cells: ``ValueError`` naming the row and column (a reading,
  not a gap).
"""
from __future__ import annotations

import csv
import datetime
import io
import logging
import math
import os
import re

import numpy as np

log = logging.getLogger("rnnkit")

MISSING = {"", "na", "nan", "null", "none", "n/a", "?"}

_TIME = r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6})\d*)?)?)?\s*(Z|UTC|[+-]\d{2}(?::?\d{2})?)?"
_YMD = re.compile(r"(\d{4})[-/](\d{1,2})(?:[-/](\d{1,2}))?" + _TIME + r"$")
_XXY = re.compile(r"(\d{1,2})[/.](\d{1,2})[/.](\d{4})" + _TIME + r"$")


def fill_missing(values, names=None, source="series"):
    """Linear interpolation over NaNs per column, nearest value at the ends.

    Logs one warning per column that had gaps; raises when a column is all
    missing, or holds an infinite value (a reading, not a gap: an overflowed
    sensor is what a detector should see, so it is refused, not smoothed over)."""
    values = np.array(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    idx = np.arange(len(values))
    for j in range(values.shape[1]):
        col = values[:, j]
        name = names[j] if names else f"column {j}"
        if np.isinf(col).any():
            t = int(np.flatnonzero(np.isinf(col))[0])
            raise ValueError(f"{source}: column {name!r} holds {col[t]} at step {t}; replace infinite values with "
                             "numbers (missing ones may be left empty or NaN, they are interpolated)")
        bad = np.isnan(col)
        if not bad.any():
            continue
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
        v = float(s)
    except ValueError:
        raise ValueError(f"{path}: row {row}, column {col!r}: {s[:30]!r} is not a number; "
                         "fix the cell or leave it empty to have it interpolated") from None
    if math.isinf(v):                                    # a reading, not a gap: never interpolated
        raise ValueError(f"{path}: row {row}, column {col!r}: {s[:30]!r} is not a finite number; replace it "
                         "(leave the cell empty to have it interpolated)")
    return v


def _clock(m, k):
    """Seconds since the epoch (UTC when an offset is given) from the date
    ``(year, month, day)`` and the time groups of ``m`` from group ``k`` on."""
    hh, mm, ss, frac, tz = m.group(k), m.group(k + 1), m.group(k + 2), m.group(k + 3), m.group(k + 4)
    sec = int(hh or 0) * 3600 + int(mm or 0) * 60 + int(ss or 0) + (int(frac.ljust(6, "0")) / 1e6 if frac else 0)
    if hh is not None and not (int(hh) < 24 and int(mm) < 60 and int(ss or 0) < 61):
        raise ValueError("bad time of day")
    if tz and tz not in ("Z", "UTC"):
        off = tz.replace(":", "")
        sec -= (1 if off[0] == "+" else -1) * (int(off[1:3]) * 3600 + int(off[3:5] or 0) * 60)
    return sec


def _date_key(text, day_first):
    """Seconds since 1970-01-01 for one timestamp, or ``None`` when it is no date of that form."""
    s = text.strip()
    m = _YMD.match(s)
    if m:
        y, mo, d, k = int(m.group(1)), int(m.group(2)), int(m.group(3) or 1), 4
    else:
        m = _XXY.match(s)
        if not m:
            return None
        a, b, y, k = int(m.group(1)), int(m.group(2)), int(m.group(3)), 4
        d, mo = (a, b) if day_first else (b, a)
    try:
        days = (datetime.date(y, mo, d) - datetime.date(1970, 1, 1)).days
        return days * 86400.0 + _clock(m, k)
    except ValueError:
        return None


def _first_disorder(keys):
    """Index of the first key not above the one before it, or ``None``."""
    return next((i for i in range(1, len(keys)) if not keys[i] > keys[i - 1]), None)


def _duplicate_error(source, times, i):
    return ValueError(f"{source}: duplicated timestamp {times[i]!r} at data row {i + 1}; "
                      "keep one row per time step")


def time_keys(times, source, column="time"):
    """Sortable numbers for ``times`` (see the module docstring).  A column that is
    neither all numbers nor all dates gives the row order ``0, 1, ...`` with a
    logged warning naming ``column`` and a value; the same text twice is refused."""
    try:
        return [float(t) for t in times]
    except ValueError:
        pass
    readings = []
    for day_first in (True, False):
        keys = [_date_key(t, day_first) for t in times]
        bad = next((t for t, k in zip(times, keys) if k is None), None)
        readings.append((keys, bad))
    parsed = [keys for keys, bad in readings if bad is None]
    if not parsed:
        seen = {}
        for i, t in enumerate(times):
            if t in seen:
                raise _duplicate_error(source, times, i)
            seen[t] = i
        bad = readings[0][1]
        log.warning("%s: time column %r is neither numbers nor dates (e.g. %r); taking the rows in file "
                    "order", source, column, bad[:40])
        return [float(i) for i in range(len(times))]
    return next((keys for keys in parsed if _first_disorder(keys) is None), parsed[0])


def parse_times(times):
    """``(kind, keys)`` of a time column read by :func:`read_csv`: ``("number", floats)``,
    ``("date", seconds since 1970-01-01 UTC)``, or ``(None, None)`` for a column that
    is neither (taken in file order)."""
    try:
        return "number", [float(t) for t in times]
    except ValueError:
        pass
    parsed = []
    for day_first in (True, False):
        keys = [_date_key(t, day_first) for t in times]
        if all(k is not None for k in keys):
            parsed.append(keys)
    if not parsed:
        return None, None
    return "date", next((k for k in parsed if _first_disorder(k) is None), parsed[0])


def time_axis(times):
    """The time column as plot coordinates: ``datetime64[us]`` for dates, floats for
    numbers, ``None`` for a column that is neither (row numbers are used)."""
    kind, keys = parse_times(times)
    if kind == "date":
        return np.array([int(round(k * 1e6)) for k in keys], dtype="datetime64[us]")
    return None if kind is None else np.asarray(keys, dtype=np.float64)


def _add_months(d, months):
    y, m = divmod(d.month - 1 + months, 12)
    return d.replace(year=d.year + y, month=m + 1)


def _last_day(d):
    """``d`` moved to the last day of its month (same time of day)."""
    return _add_months(d.replace(day=1), 1) - datetime.timedelta(days=1)


def future_times(times, steps):
    """The ``steps`` timestamps after ``times`` (strings from :func:`read_csv`), continuing
    the column's spacing: numbers by their (constant) step, dates by a constant number
    of months (monthly, quarterly, yearly data on a fixed day of the month) or a constant
    duration (daily, hourly, weekly …).  Written as the input writes them: numbers as
    integers when they all are, ``YYYY-MM`` for ``YYYY-MM`` input, else ISO dates
    (``YYYY-MM-DD``, with ``HH:MM:SS`` when the input has a time of day; UTC with ``Z``
    when it has an offset).  ``None`` when the spacing is irregular, there are fewer
    than two timestamps or the column is neither numbers nor dates."""
    if len(times) < 2:
        return None
    kind, keys = parse_times(times)
    if kind is None:
        return None
    diffs = np.diff(keys)
    if kind == "number":
        step = diffs[-1]
        if step <= 0 or not np.allclose(diffs, step, rtol=1e-9, atol=0):
            return None
        ints = all(re.fullmatch(r"[+-]?\d+", t.strip()) for t in times)
        return [str(int(round(keys[-1] + step * k))) if ints else repr(float(keys[-1] + step * k))
                for k in range(1, steps + 1)]
    epoch = datetime.datetime(1970, 1, 1)
    dts = [epoch + datetime.timedelta(seconds=k) for k in keys]
    last = times[-1].strip()
    clock = any(re.search(r"\d[T ]\d{1,2}:\d{2}", t) for t in times)
    zone = bool(re.search(r"(Z|UTC|[+-]\d{2}(:?\d{2})?)$", last)) and clock
    month_idx = [d.year * 12 + d.month - 1 for d in dts]
    mdiff = np.diff(month_idx)
    same_day = len({(d.day, d.time()) for d in dts}) == 1
    if same_day and mdiff[-1] > 0 and np.all(mdiff == mdiff[-1]) and dts[-1].day <= 28:
        future = [_add_months(dts[-1], int(mdiff[-1]) * k) for k in range(1, steps + 1)]
    elif mdiff[-1] > 0 and np.all(mdiff == mdiff[-1]) and all(d.day == _last_day(d).day for d in dts) \
            and len({d.time() for d in dts}) == 1:
        future = [_last_day(_add_months(dts[-1].replace(day=1), int(mdiff[-1]) * k)) for k in range(1, steps + 1)]
    elif diffs[-1] > 0 and np.allclose(diffs, diffs[-1], rtol=0, atol=1e-6):
        future = [dts[-1] + datetime.timedelta(seconds=float(diffs[-1]) * k) for k in range(1, steps + 1)]
    else:
        return None
    if all(re.fullmatch(r"\d{4}[-/]\d{1,2}", t.strip()) for t in times):
        return [f"{d.year:04d}-{d.month:02d}" for d in future]
    if not clock:
        return [d.strftime("%Y-%m-%d") for d in future]
    sep = "T" if "T" in last else " "
    frac = any(re.search(r":\d{2}\.\d", t) for t in times)
    return [d.strftime(f"%Y-%m-%d{sep}%H:%M:%S" + (".%f" if frac else "")) + ("Z" if zone else "")
            for d in future]


def check_times(times, source, column="time"):
    """Raise if the parsed ``times`` are not strictly increasing (duplicates or disorder)."""
    keys = time_keys(times, source, column)
    i = _first_disorder(keys)
    if i is None:
        return
    if keys[i] == keys[i - 1]:
        raise _duplicate_error(source, times, i)
    raise ValueError(f"{source}: timestamps not increasing at data row {i + 1} "
                     f"({times[i - 1]!r} then {times[i]!r}); sort the file by time")


def _read_rows(path):
    """``[(line number, fields)]`` of the non-blank rows; one-line errors for a missing or unreadable file."""
    if os.path.isdir(path):
        raise ValueError(f"{path} is a directory, not a CSV file; pass the CSV file's path")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            rows = []
            for row in reader:
                if any(c.strip() for c in row):
                    rows.append((reader.line_num, row))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file; check the CSV path") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text CSV file (not UTF-8); pass a UTF-8 CSV file") from None
    except csv.Error as exc:
        raise ValueError(f"{path}: not a readable CSV file ({exc}); fix the file") from None
    except OSError as exc:
        raise OSError(f"{path}: cannot read the file ({exc.strerror or exc}); check the path and its "
                      "permissions") from None
    return rows


def check_header(header, path):
    """Refuse duplicated column names and empty ones (an empty first name, a pandas index, is allowed)."""
    empty = [i + 1 for i, h in enumerate(header) if not h and i > 0]
    if empty:
        raise ValueError(f"{path}: column {empty[0]} of the header has no name; name every column")
    seen = set()
    for h in header:
        if h in seen:
            raise ValueError(f"{path}: column name {h!r} appears twice in the header; give each column "
                             "its own name")
        seen.add(h)


def _time_column(header, time_col, path):
    """The time column's name (``""`` for an unnamed first column), ``None`` when there is none."""
    if time_col is None:
        time_col = next((h for h in header if h.lower() in ("time", "date", "timestamp", "datetime")),
                        "" if header[0] == "" else None)
    if time_col is not None and time_col not in header:
        raise ValueError(f"{path}: no time column {time_col!r}; columns are {header}")
    return time_col


def time_column(path, time_col=None):
    """The name of the column :func:`read_csv` takes as the time (``""`` for an unnamed
    first column), or ``None`` when it numbers the rows."""
    rows = _read_rows(path)
    if not rows:
        return None
    header = [h.strip() for h in rows[0][1]]
    return _time_column(header, time_col, path)


def read_csv(path, time_col=None, columns=None, fill=True):
    """Read a CSV with a header row.

    ``time_col``: name of the time column; ``None`` picks a column named
    ``time``/``date``/``timestamp``/``datetime``, else an unnamed first column (a
    pandas index), else uses row numbers.  ``columns``: the value columns to keep
    (default: all but the time column and an unnamed first column, which is never
    a value: a pandas index is dropped when another column is the time).
    ``fill=False`` leaves missing cells NaN."""
    rows = _read_rows(path)
    if len(rows) < 2:
        raise ValueError(f"{path}: needs a header row and at least one data row")
    header = [h.strip() for h in rows[0][1]]
    check_header(header, path)
    index = 0 if header[0] == "" else None          # an unnamed first column: a pandas index
    time_col = _time_column(header, time_col, path)
    tcol = header.index(time_col) if time_col is not None else None
    if columns is None:
        columns = [h for i, h in enumerate(header) if i != tcol and i != index]
    for c in columns:
        if c not in header:
            raise ValueError(f"{path}: no column {c!r}; columns are {header}")
    if not columns:
        raise ValueError(f"{path}: no value columns")
    cidx = [header.index(c) for c in columns]
    times, vals = [], []
    for r, (line, row) in enumerate(rows[1:], start=2):
        if len(row) > len(header) and any(c.strip() for c in row[len(header):]):
            raise ValueError(f"{path}: line {line} has {len(row)} fields but the header has {len(header)}; "
                             "fix the row (a stray comma?) or add the missing column names")
        if len(row) < len(header):
            row = row + [""] * (len(header) - len(row))
        times.append(row[tcol].strip() if tcol is not None else str(r - 2))
        vals.append([_parse_float(row[i], path, r, header[i]) for i in cidx])
    if tcol is not None:
        check_times(times, path, time_col)
    values = np.array(vals, dtype=np.float64)
    if fill:
        values = fill_missing(values, columns, source=path)
    return times, values, list(columns)


def number(v):
    """A float as text with every digit kept (round-trips exactly)."""
    return repr(float(v))


def new_run_dir(path, kind="a trained model"):
    """The run directory ``path`` for a new model, as a context
    (:func:`rnnkit.runs.started_run`: a failed fit leaves no empty directory it
    made); refuses a file, or a directory that already holds ``model.rnnkit``
    (nothing is replaced)."""
    from ..runs import RunDir, started_run

    path = os.fspath(path)
    if os.path.isfile(path):                           # as RunDir says it, before the model check below
        RunDir(path)
    model = os.path.join(path, "model.rnnkit")
    if os.path.exists(model):
        raise ValueError(f"--out {path} already holds {kind} ({model}); choose a new --out, or remove "
                         "the old run first")
    return started_run(path)


def write_csv(path, header, rows):
    """Write ``header`` and ``rows`` to ``path`` atomically (a failure leaves the old file)."""
    from ..io.files import atomic_write_text

    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue(), suffix=".csv")
    return path
