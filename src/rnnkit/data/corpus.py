"""Text corpora for language models: user files, checked, and the Python
standard library's own source (a corpus every machine with Python has).

Every reader gives a clear one-line error naming the file and the fix for an
empty file, a binary file or (for character and word levels) text that is not
UTF-8.
"""
from __future__ import annotations

import hashlib
import os
import sysconfig

# folders of the standard library left out of the corpus (tests and test data)
EXCLUDED_DIRS = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"}


def read_text(path, level="char"):
    """Read ``path`` for a language model.  Byte level returns ``bytes`` (any
    encoding is fine, every byte kept); char and word levels return ``str``
    decoded as UTF-8, without a leading byte-order mark."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file; check the --data path") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"{path} is a directory; pass text files to --data") from None
    if not raw.strip():
        raise ValueError(f"{path} is empty; pass a text file with some content")
    if b"\x00" in raw[:65536]:
        utf16 = raw[:2] in (b"\xff\xfe", b"\xfe\xff")
        raise ValueError(f"{path} " + ("is UTF-16 text; convert it to UTF-8, e.g. `iconv -f utf-16 -t utf-8`"
                                       if utf16 else "looks binary (it contains NUL bytes); pass a plain text "
                                       "file (UTF-16 text: convert it to UTF-8 first)"))
    if level == "byte":
        return raw
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not UTF-8 text (bad byte at offset {exc.start}); convert it, e.g. "
                         f"`iconv -f latin1 -t utf-8`, or use --level byte") from None
    return text[1:] if text.startswith("\ufeff") else text      # a byte-order mark is not text


def read_texts(paths, level="char"):
    """Concatenate several files (a newline between them)."""
    parts = [read_text(p, level) for p in paths]
    sep = b"\n" if level == "byte" else "\n"
    return sep.join(parts)


def stdlib_files(root=None):
    """The standard library's ``.py`` files, test folders left out, sorted by relative path."""
    root = root or sysconfig.get_paths()["stdlib"]
    out = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in EXCLUDED_DIRS and not d.startswith("."))
        for name in files:
            if name.endswith(".py"):
                out.append(os.path.relpath(os.path.join(folder, name), root))
    return root, sorted(out)


def stdlib_corpus(level="byte", root=None):
    """``(text, info)``: the stdlib source joined in sorted order, and
    ``info = {"source", "root", "files", "bytes", "sha256"}`` (hash of the raw bytes)."""
    root, files = stdlib_files(root)
    chunks = []
    for rel in files:
        with open(os.path.join(root, rel), "rb") as f:
            chunks.append(f.read())
    raw = b"\n".join(chunks)
    info = {"source": "stdlib", "root": root, "files": len(files), "bytes": len(raw),
            "sha256": hashlib.sha256(raw).hexdigest()}
    if level == "byte":
        return raw, info
    return raw.decode("utf-8", errors="replace"), info


def text_sha256(text):
    raw = text if isinstance(text, bytes) else text.encode("utf-8")
    return hashlib.sha256(raw).hexdigest()
