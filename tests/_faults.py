"""What the reliability tests share: tiny data files of every kind the
commands read, tiny trained runs, and a runner that drives ``rnnkit`` in
process and sorts the outcome (a clean one-line error, a traceback, a silent
success) while checking that no file that existed before was changed."""
from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import random
import sys
import traceback

import numpy as np

TEXT = ('def f(x):\n    if x:\n        return "yes (x)"\n    return [x, "no"]\n' * 30)
LM_TINY = ["--level", "char", "--hidden", "8", "--layers", "1", "--embedding-dim", "4", "--seq-len", "8",
           "--batch-size", "2", "--quiet"]
EST_TINY = ["--hidden", "4", "--quiet"]
FORECAST = ["forecast", "train", "--quiet"]              # no progress lines: stderr holds only an error
ANOMALY = ["anomaly", "fit", "--quiet"]


# -- data -------------------------------------------------------------------------------------------
def write_text(path):
    path.write_text(TEXT, encoding="utf-8")
    return path


def write_classify_csv(path, n=40):
    """``text,label``: short strings of a-d, labelled ``yes`` when they start with ``a``."""
    words = ["".join("abcd"[(7 * i + 3 * j) % 4] for j in range(2 + i % 7)) for i in range(n)]
    path.write_text("text,label\n" + "".join(f"{w},{'yes' if w[0] == 'a' else 'no'}\n" for w in words))
    return path


def write_tags(path, n=30, seed=0):
    rnd = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(n):
            toks = [rnd.choice(["the", "smith", "went", "to", "rome"]) for _ in range(rnd.randint(2, 5))]
            tags = ["B-PER" if t == "smith" else "B-LOC" if t == "rome" else "O" for t in toks]
            f.write(json.dumps({"tokens": toks, "tags": tags}) + "\n")
    return path


def write_series(path, n=120, label_at=None, label=1):
    """``time,y,label``: a noisy sine; ``label`` at row ``label_at`` (else 0)."""
    t = np.arange(n)
    y = np.sin(t / 5) + 0.1 * np.random.default_rng(0).normal(size=n)
    with open(path, "w", encoding="utf-8") as f:
        f.write("time,y,label\n")
        for i, v in enumerate(y):
            f.write(f"{i},{float(v)!r},{label if i == label_at else 0}\n")
    return path


def write_ts(path, dims=(1, 1)):
    """A ``.ts`` file whose cases have the given numbers of dimensions."""
    lines = ["@problemName tiny", "@classLabel true up down", "@data"]
    for i, d in enumerate(dims):
        lines.append(":".join(",".join(str(v) for v in range(4)) for _ in range(d)) + (":up" if i % 2 else ":down"))
    path.write_text("\n".join(lines) + "\n")
    return path


# -- outcomes ---------------------------------------------------------------------------------------
def snapshot(*roots):
    """``{path: sha256}`` of every file under ``roots`` (symbolic links: of what they point to),
    but a run's lock file, which each writer that starts fills with its pid (it holds no data)."""
    out = {}
    for root in roots:
        for folder, _, files in os.walk(root):
            for name in files:
                if name == ".rnnkit-lock":
                    continue
                p = os.path.join(folder, name)
                try:
                    with open(p, "rb") as f:
                        out[p] = hashlib.sha256(f.read()).hexdigest()
                except OSError:
                    out[p] = None                           # a dangling link: it stays dangling
    return out


def changed(before, after):
    """Files of ``before`` that are gone or different in ``after``."""
    return sorted(p for p, h in before.items() if after.get(p, "missing") != h)


def run_rnnkit(argv):
    """``rnnkit`` in process: ``(exit code, stdout, stderr, traceback or None)``."""
    from rnnkit.cli import main

    out, err = io.StringIO(), io.StringIO()
    tb = None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else 2
        except BaseException:                               # escaped main: what a user sees as a traceback
            rc, tb = None, traceback.format_exc()
    return rc, out.getvalue(), err.getvalue(), tb


def one_error(argv):
    """Run ``rnnkit`` expecting a clean refusal: exit 2, one ``rnnkit: error:`` line, no
    traceback.  Returns that line."""
    rc, out, err, tb = run_rnnkit(argv)
    assert tb is None and "Traceback" not in err, err or tb
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("rnnkit: error:"), err
    return lines[0]


def ok(argv):
    """Run ``rnnkit`` expecting success."""
    rc, out, err, tb = run_rnnkit(argv)
    assert rc == 0, err or tb
    return out


def outcome(rc, err, tb):
    """``"clean"`` (exit 2, one ``rnnkit: error:`` line, no traceback), ``"traceback"``,
    ``"silent"`` (exit 0: a wrong result given as a right one) or ``"messy"``."""
    if tb is not None or "Traceback" in err:
        return "traceback"
    if rc == 0:
        return "silent"
    lines = err.strip().splitlines()
    if rc == 2 and len(lines) == 1 and lines[0].startswith("rnnkit: error:"):
        return "clean"
    return "messy"


@contextlib.contextmanager
def disk_full():
    """Every flush to disk fails as on a full disk (``ENOSPC``), as ``os.fsync`` reports it."""
    real = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    os.fsync = full
    try:
        yield
    finally:
        os.fsync = real


def rewrite_header(path, change, digest=False):
    """Rewrite the JSON header of the rnnkit file ``path`` through ``change(header)``
    (which returns the new header); ``digest``: recompute its header checksum, as a
    careful forger would."""
    from rnnkit.io import files

    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(arrays["__rnnkit__"].tobytes())
    header = change(header)
    if digest and isinstance(header, dict):
        header["header_sha256"] = files._header_digest(header)
    arrays["__rnnkit__"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def add_array(path, name, value, checksum=True):
    """Add array ``name`` to the rnnkit file ``path``, its checksum in the header
    (and the header's own recomputed) unless ``checksum`` is False."""
    from rnnkit.io import files

    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(arrays["__rnnkit__"].tobytes())
    if checksum:
        header["sha256"][name] = files._digest(value)
        header["header_sha256"] = files._header_digest(header)
    arrays["__rnnkit__"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    arrays[name] = value
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def poison(path, name_part="weight"):
    """Set one element of the first array whose name holds ``name_part`` to NaN,
    with valid checksums: the file of a diverged run saved before rnnkit refused them."""
    from rnnkit.io import files

    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(arrays["__rnnkit__"].tobytes())
    key = next(k for k in arrays if name_part in k and arrays[k].dtype.kind == "f")
    arrays[key] = arrays[key].copy()
    arrays[key].flat[0] = np.nan
    header["sha256"][key] = files._digest(arrays[key])
    header["header_sha256"] = files._header_digest(header)
    arrays["__rnnkit__"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return key


def python():
    return sys.executable
