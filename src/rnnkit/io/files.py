"""The rnnkit file: NumPy ``.npz`` arrays plus a JSON header, read with
``allow_pickle=False`` so loading never executes code.

Layout (a zip archive, as ``numpy.savez`` writes it):

``__rnnkit__``   the JSON header as UTF-8 bytes (a ``uint8`` array):
                 ``{"format": "rnnkit", "format_version": 2, "kind": ...,
                 "config": {...}, "meta": {...}, "sha256": {array name: hex},
                 "header_sha256": hex}``
every other entry  one array, under its dotted name.

Integrity: ``sha256`` holds each array's digest and ``header_sha256`` the
digest of the header itself (its canonical JSON without that entry), so an
edited config (a hyperparameter changed by hand) is refused like a flipped
bit in the weights.  Version 1 files (no header digest) still load.  Arrays
must be numeric and finite: a NaN or infinity (a diverged model) is refused on
writing and on reading, and an object array (a pickle, which could run code)
is never loaded.

Writes are atomic: the file is written beside its target, flushed to disk and
renamed over it, so a reader (or a run killed mid-write) sees either the old
file or the new one, never half of one.  :func:`atomic_write` serves every file
rnnkit writes: it refuses a symbolic link (it would replace the link, and a
plain write would change the file it points to), names the file and the fix
when the disk is full (the earlier file stays as it was), and removes
``.tmp-PID-*`` files that killed writers left in the folder.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import tempfile
import zipfile

import numpy as np

FORMAT_VERSION = 2          # 2: the header carries its own digest (header_sha256)
_HEADER = "__rnnkit__"
_TMP = ".tmp-"              # temporary files: .tmp-PID-XXXXXXXX[suffix]


class ModelFileError(ValueError):
    """A file that cannot be read as an rnnkit model or checkpoint."""


def _digest(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _header_digest(header):
    """The digest of ``header`` (a dict) without its ``header_sha256`` entry, over canonical JSON."""
    rest = {k: v for k, v in header.items() if k != "header_sha256"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def _non_finite(arrays):
    """The name of the first float array holding NaN or an infinity, or ``None``."""
    return next((k for k, v in arrays.items() if v.dtype.kind in "fc" and not np.isfinite(v).all()), None)


def write_file(path, kind, config, arrays, meta=None):
    """Write ``arrays`` (``{name: ndarray}``) with ``config`` and ``meta`` (JSON-able
    dicts) to ``path`` atomically.  ``kind`` names what the file holds."""
    path = os.fspath(path)
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    for k, v in arrays.items():
        if v.dtype == object:
            raise TypeError(f"array {k!r} has dtype object; only numeric arrays can be saved")
    bad = _non_finite(arrays)
    if bad is not None:
        raise ValueError(f"refusing to write {path}: {bad!r} holds NaN or infinite values (a diverged model); "
                         "nothing was written, the earlier file is kept; retrain with a lower learning rate "
                         "or gradient clipping")
    header = {"format": "rnnkit", "format_version": FORMAT_VERSION, "kind": kind,
              "config": config, "meta": meta or {}, "sha256": {k: _digest(v) for k, v in arrays.items()}}
    header["header_sha256"] = _header_digest(json.loads(json.dumps(header)))    # as a reader will see it
    blob = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    return atomic_write(path, lambda f: np.savez(f, **{_HEADER: blob}, **arrays), suffix=".npz")


def atomic_write(path, write, suffix=""):
    """Call ``write(f)`` on a binary file beside ``path``, flush it to disk and
    rename it over ``path``: readers (and a run killed mid-write) see the old
    file or the new one, never half of one.  The file gets the permissions a
    plain ``open`` would give it (``0o666`` less the umask), not ``mkstemp``'s
    ``0o600``.  A symbolic link at ``path`` is refused (:func:`refuse_link`);
    an ``OSError`` (a full disk) names the file and the fix, the old file intact;
    stale temporary files of killed writers in the folder are removed first."""
    path = os.fspath(path)
    refuse_link(path)
    folder = os.path.dirname(os.path.abspath(path))
    remove_stale_temps(folder)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{_TMP}{os.getpid()}-", suffix=suffix, dir=folder)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise write_error(path, exc) from None
        raise
    return path


def write_error(path, exc):
    """An ``OSError`` for a failed write of ``path`` (from ``exc``) that names the
    file and the fix in one line; ``errno`` kept."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        msg = (f"cannot write {path}: no space left on the device; free some space (or write elsewhere) and "
               "run again (the earlier file, if any, is unchanged)")
    elif str(path) in str(exc):
        return exc                                          # already says which file
    else:
        msg = (f"cannot write {path} ({exc.strerror or exc}); check that its folder is writable, or choose "
               "another path")
    err = OSError(msg)
    err.errno = exc.errno
    return err


def refuse_link(path, what=None):
    """Refuse ``path`` when it is a symbolic link: rnnkit writes a new file in its
    place, never through it (which would change the file it points to)."""
    if os.path.islink(path):
        name = f"{what} {path}" if what else str(path)
        raise ValueError(f"{name} is a symbolic link (to {os.readlink(path)}); rnnkit does not write through "
                         "links: remove the link, or choose another path")
    return path


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True                                         # someone else's process, or no way to tell
    return True


def remove_stale_temps(folder, unnamed=False):
    """Remove ``.tmp-PID-*`` files in ``folder`` left by writers that were killed
    (their process no longer runs).  ``unnamed``: also ``.tmp-*`` files without a
    pid (older rnnkit versions'); only safe while holding the folder's run lock.
    Returns the names removed."""
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(_TMP):
            continue
        pid, dash, _ = name[len(_TMP):].partition("-")
        named = pid.isdigit() and dash == "-"                    # .tmp-PID-XXXXXXXX[suffix]
        if (named and not _pid_alive(int(pid))) or (unnamed and not named):
            try:
                os.unlink(os.path.join(folder, name))
                removed.append(name)
            except OSError:
                pass
    return removed


def save_figure(fig, path, **kw):
    """``fig.savefig`` through :func:`atomic_write` (the format from the extension, PNG without one)."""
    fmt = os.path.splitext(os.fspath(path))[1].lstrip(".").lower() or "png"
    return atomic_write(path, lambda f: fig.savefig(f, format=fmt, **kw), suffix="." + fmt)


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
    refuse_link(path, what)
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
    file and what is wrong: not an rnnkit file, truncated or corrupted, a
    malformed header, written by a newer format version, another kind than
    ``kind``, a checksum (of an array or of the header) that does not match, a
    pickled object, or weights that are not finite.
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
            header = json.loads(_entry(z, _HEADER, path).tobytes().decode("utf-8"))
            arrays = {k: _entry(z, k, path) for k in z.files if k != _HEADER}
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path}: not a readable rnnkit file, truncated or corrupted ({type(exc).__name__}); "
                             "use an intact copy or re-save the model") from None
    return check_contents(path, header, arrays, kind)


def check_contents(path, header, arrays, kind=None):
    """``(header, arrays)`` read from ``path`` (an rnnkit or safetensors file),
    checked as :func:`read_file` describes; a :class:`ModelFileError` when not."""
    _check_header(path, header, kind)
    sums = header.get("sha256", {})
    for k, a in arrays.items():
        if sums.get(k) != _digest(a):
            raise ModelFileError(f"{path}: checksum mismatch for {k!r}, the file is corrupted; "
                                 "use an intact copy or re-save the model")
    missing = set(sums) - set(arrays)
    if missing:
        raise ModelFileError(f"{path}: arrays {sorted(missing)} are missing, the file is corrupted")
    bad = _non_finite(arrays)
    if bad is not None:
        raise ModelFileError(f"{path}: {bad!r} holds NaN or infinite values (saved from a diverged model); "
                             "use an earlier checkpoint, or retrain with a lower learning rate or gradient clipping")
    return header, arrays


def _entry(z, name, path):
    """Array ``name`` of the open ``.npz`` ``z``; an object array (a pickle) is refused by name."""
    try:
        return z[name]
    except ValueError as exc:
        if "allow_pickle" not in str(exc):
            raise
        raise ModelFileError(f"{path}: {name!r} is a pickled Python object, which rnnkit never loads (unpickling "
                             "can run any code); use a file saved by rnnkit") from None


def _check_header(path, header, kind):
    """Refuse a header of the wrong shape, version, kind or digest (one line each)."""
    if not isinstance(header, dict):
        raise ModelFileError(f"{path}: malformed rnnkit header (a JSON {type(header).__name__}, not an object); "
                             "the file is corrupted: use an intact copy or re-save the model")
    if header.get("format") != "rnnkit":
        raise ModelFileError(f"{path}: not an rnnkit model file; pass a file saved by rnnkit")
    version = header.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(f"{path}: written with file format version {version}, newer than this rnnkit "
                             f"reads ({FORMAT_VERSION}); upgrade rnnkit")
    for key, types, what in (("sha256", dict, "an object"), ("config", dict, "an object"),
                             ("meta", dict, "an object"), ("kind", str, "a string")):
        if key in header and not isinstance(header[key], types):
            raise ModelFileError(f"{path}: malformed rnnkit header ({key!r} is a JSON "
                                 f"{type(header[key]).__name__}, not {what}); the file is corrupted: use an "
                                 "intact copy or re-save the model")
    if not all(isinstance(v, str) for v in header.get("sha256", {}).values()):
        raise ModelFileError(f"{path}: malformed rnnkit header (a checksum in 'sha256' is not a string); the "
                             "file is corrupted: use an intact copy or re-save the model")
    if version >= 2 and header.get("header_sha256") != _header_digest(header):
        raise ModelFileError(f"{path}: checksum mismatch for the header (config or metadata changed after "
                             "saving), the file is corrupted or was edited; use an intact copy or re-save the model")
    if kind is not None and header.get("kind") != kind:
        raise ModelFileError(f"{path}: holds a {header.get('kind')!r}, not a {kind!r}; pass the right file")
