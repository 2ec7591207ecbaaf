"""The rnnkit file: NumPy ``.npz`` arrays plus a JSON header, read with
``allow_pickle=False`` so loading never executes code.

Layout (a zip archive, as ``numpy.savez`` writes it):

``__rnnkit__``   the JSON header as UTF-8 bytes (a ``uint8`` array):
                 ``{"format": "rnnkit", "format_version": 1, "kind": ...,
                 "config": {...}, "meta": {...}, "sha256": {array name: hex}}``
every other entry  one array, under its dotted name.

Writes are atomic: the file is written beside its target, flushed to disk and
renamed over it, so a reader (or a run killed mid-write) sees either the old
file or the new one, never half of one.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile

import numpy as np

FORMAT_VERSION = 1
_HEADER = "__rnnkit__"


class ModelFileError(ValueError):
    """A file that cannot be read as an rnnkit model or checkpoint."""


def _digest(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def write_file(path, kind, config, arrays, meta=None):
    """Write ``arrays`` (``{name: ndarray}``) with ``config`` and ``meta`` (JSON-able
    dicts) to ``path`` atomically.  ``kind`` names what the file holds."""
    path = os.fspath(path)
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    for k, v in arrays.items():
        if v.dtype == object:
            raise TypeError(f"array {k!r} has dtype object; only numeric arrays can be saved")
    header = {"format": "rnnkit", "format_version": FORMAT_VERSION, "kind": kind,
              "config": config, "meta": meta or {}, "sha256": {k: _digest(v) for k, v in arrays.items()}}
    blob = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    return atomic_write(path, lambda f: np.savez(f, **{_HEADER: blob}, **arrays), suffix=".npz")


def atomic_write(path, write, suffix=""):
    """Call ``write(f)`` on a binary file beside ``path``, flush it to disk and
    rename it over ``path``: readers (and a run killed mid-write) see the old
    file or the new one, never half of one.  The file gets the permissions a
    plain ``open`` would give it (``0o666`` less the umask), not ``mkstemp``'s
    ``0o600``."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def check_output(path, what, protect=()):
    """Refuse an output path that cannot be written, before anything is written:
    a directory, or a file whose folder is missing or not writable.  ``what``
    names it in the message (``"--plot"``).  ``protect``: files the output must
    not overwrite (the model file, the input CSV, the other outputs of the same
    call), each a path or a ``(path, description)`` pair; ``path`` is refused when
    it is the same file as one of them (same real path, or the same file by
    ``os.path.samefile``, so links are seen through).  ``None`` entries are skipped."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise ValueError(f"{what} {path} is a directory; pass a file name")
    for item in protect:
        other, desc = item if isinstance(item, tuple) else (item, None)
        if other is None:
            continue
        other = os.fspath(other)
        same = os.path.normcase(os.path.realpath(path)) == os.path.normcase(os.path.realpath(other))
        if not same and os.path.exists(path) and os.path.exists(other):
            try:
                same = os.path.samefile(path, other)
            except OSError:
                pass
        if same:
            desc = desc or "a file this command reads or writes"
            raise ValueError(f"{what} {path} is {desc} ({other}), which must not be overwritten; "
                             "choose another path")
    if not os.path.isdir(folder):
        raise ValueError(f"{what} {path}: folder {folder} does not exist (or is a file); create it or "
                         "choose another path")
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"{what} {path}: folder {folder} is not writable; choose another path")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise PermissionError(f"{what} {path} is not writable; choose another path")
    return path


def check_plot(path, what, protect=()):
    """:func:`~rnnkit.io.files.check_output` for a plot, and refuse an extension
    matplotlib cannot write (``x.csv``) before anything is written."""
    check_output(path, what, protect)
    ext = os.path.splitext(path)[1].lstrip(".").lower()
    if ext:
        try:
            from matplotlib.figure import Figure
        except ImportError:
            return path                      # the plot itself says matplotlib is missing
        formats = Figure().canvas.get_supported_filetypes()
        if ext not in formats:
            raise ValueError(f"{what} {path}: matplotlib cannot write {ext!r} files; use one of "
                             f"{', '.join('.' + f for f in sorted(formats))} (e.g. .png)")
    return path


def atomic_write_text(path, text, suffix=""):
    """:func:`atomic_write` of ``text`` as UTF-8."""
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")), suffix=suffix)


def _umask():
    mask = os.umask(0o022)          # the only portable way to read it is to set it
    os.umask(mask)
    return mask


def read_file(path, kind=None):
    """Read a file written by :func:`write_file`.

    Returns ``(header, arrays)``.  Raises :class:`ModelFileError` naming the
    file and what is wrong: not an rnnkit file, truncated or corrupted, written
    by a newer format version, another kind than ``kind``, or a checksum that
    does not match.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ModelFileError(f"{path} is a directory, not a model file; pass the file's path")
    if not os.path.isfile(path):
        raise ModelFileError(f"{path}: no such file; check the path")
    try:
        with np.load(path, allow_pickle=False) as z:
            if _HEADER not in z.files:
                raise ModelFileError(f"{path}: not an rnnkit model file (no rnnkit header); "
                                     "pass a file saved by rnnkit")
            header = json.loads(z[_HEADER].tobytes().decode("utf-8"))
            arrays = {k: z[k] for k in z.files if k != _HEADER}
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path}: not a readable rnnkit file, truncated or corrupted ({type(exc).__name__}); "
                             "use an intact copy or re-save the model") from None
    if header.get("format") != "rnnkit":
        raise ModelFileError(f"{path}: not an rnnkit model file; pass a file saved by rnnkit")
    version = header.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(f"{path}: written with file format version {version}, newer than this rnnkit "
                             f"reads ({FORMAT_VERSION}); upgrade rnnkit")
    if kind is not None and header.get("kind") != kind:
        raise ModelFileError(f"{path}: holds a {header.get('kind')!r}, not a {kind!r}; pass the right file")
    sums = header.get("sha256", {})
    for k, a in arrays.items():
        if sums.get(k) != _digest(a):
            raise ModelFileError(f"{path}: checksum mismatch for {k!r}, the file is corrupted; "
                                 "use an intact copy or re-save the model")
    missing = set(sums) - set(arrays)
    if missing:
        raise ModelFileError(f"{path}: arrays {sorted(missing)} are missing, the file is corrupted")
    return header, arrays
