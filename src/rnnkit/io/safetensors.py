"""The safetensors format, written and read by hand (NumPy only; no ``safetensors``
or ``torch`` import).

Layout of a ``.safetensors`` file::

    8 bytes      N, the header's length, unsigned little-endian
    N bytes      the header: UTF-8 JSON, padded with spaces to a multiple of 8
                 {"__metadata__": {str: str},
                  name: {"dtype": "F32", "shape": [4, 3], "data_offsets": [begin, end]}, ...}
    the rest     the tensors' bytes, little-endian, C order, back to back;
                 offsets count from the end of the header

Tensors are stored under their PyTorch ``state_dict`` names (rnnkit's own:
``weight_ih_l0``, ``rnn.weight_hh_l0_reverse``, ``head.bias``), so a layer's file
loads with ``torch.nn.LSTM(...).load_state_dict(safetensors.torch.load_file(path))``.
An rnnkit file in this format keeps in ``__metadata__`` what its ``.npz`` form keeps
in its header (:mod:`rnnkit.io.files`): ``"rnnkit"`` holds that header as JSON
(kind, config, meta, a sha256 of every tensor and of the header itself), and
``"format": "pt"`` tells Hugging Face's loaders the names are PyTorch's.
Checkpoints stay ``.npz`` (they hold optimizer state and RNG state too).
"""
from __future__ import annotations

import json
import os
import struct

import numpy as np

from .files import (FORMAT_VERSION, ModelFileError, _digest, _header_digest, _non_finite, atomic_write,
                    check_contents)

SUFFIX = ".safetensors"
MAX_HEADER = 100 * 1024 * 1024          # the safetensors library's limit
_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
           "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}
_NAMES = {(np.dtype(v).kind, np.dtype(v).itemsize): k for k, v in _DTYPES.items()}


def _dtype_name(a, name):
    key = (a.dtype.kind, a.dtype.itemsize)
    if key not in _NAMES:
        raise TypeError(f"tensor {name!r} has dtype {a.dtype}, which safetensors cannot hold; use a float, "
                        "integer or bool array")
    return _NAMES[key]


def save_file(path, tensors, metadata=None):
    """Write ``tensors`` (``{name: ndarray}``) and ``metadata`` (``{str: str}``) to
    ``path`` atomically; returns the path."""
    path = os.fspath(path)
    if metadata is not None and not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise TypeError("safetensors metadata maps strings to strings; json.dumps other values first")
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = dict(metadata)
    for name in sorted(tensors):
        a = np.asarray(tensors[name])
        kind = _dtype_name(a, name)
        data = np.ascontiguousarray(a, dtype=_DTYPES[kind])            # little-endian, C order
        raw = data.tobytes()
        header[name] = {"dtype": kind, "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)                       # the tensors start 8-byte aligned

    def write(f):
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)
    return atomic_write(path, write, suffix=SUFFIX)


def load_file(path):
    """``(tensors, metadata)`` of a safetensors file (any writer's); a
    :class:`~rnnkit.io.ModelFileError` naming the file when it is not one."""
    path = os.fspath(path)
    bad = f"{path}: not a readable safetensors file"
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise ModelFileError(f"cannot read {path} ({exc.strerror or exc}); check the path") from None
    if len(data) < 8:
        raise ModelFileError(f"{bad} (shorter than its 8-byte header length); use an intact copy")
    n = struct.unpack("<Q", data[:8])[0]
    if n > min(MAX_HEADER, len(data) - 8):
        raise ModelFileError(f"{bad} (a header of {n} bytes in a file of {len(data)}); use an intact copy")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelFileError(f"{bad} (its header is not UTF-8 JSON); use an intact copy") from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{bad} (its header is not a JSON object)")
    metadata = header.pop("__metadata__", None) or {}
    body, tensors, end = memoryview(data)[8 + n:], {}, 0
    for name, info in sorted(header.items(), key=lambda kv: _offsets(kv[1], bad, kv[0])[0]):
        begin, stop = _offsets(info, bad, name)
        dtype = _DTYPES.get(info.get("dtype"))
        shape = info.get("shape")
        if dtype is None or not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise ModelFileError(f"{bad} (tensor {name!r}: dtype {info.get('dtype')!r}, shape {shape!r})")
        if (begin != end or stop > len(body)
                or stop - begin != int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize):
            raise ModelFileError(f"{bad} (tensor {name!r} at bytes {begin}..{stop} of {len(body)} leaves a gap, "
                                 "overlaps, runs past the end or does not match its shape); use an intact copy")
        end = stop
        tensors[name] = np.frombuffer(body[begin:stop], dtype=dtype).reshape(shape).astype(
            np.dtype(dtype).newbyteorder("="))
    if end != len(body):
        raise ModelFileError(f"{bad} ({len(body) - end} bytes after the last tensor); use an intact copy")
    return tensors, metadata


def _offsets(info, bad, name):
    off = info.get("data_offsets") if isinstance(info, dict) else None
    if not (isinstance(off, list) and len(off) == 2 and all(isinstance(o, int) for o in off) and 0 <= off[0] <= off[1]):
        raise ModelFileError(f"{bad} (tensor {name!r} has no valid data_offsets)")
    return off


# -- rnnkit's contents in a safetensors file ---------------------------------------------------------
def write(path, kind, config, arrays, meta=None):
    """As :func:`rnnkit.io.files.write_file`, in the safetensors format: the same
    header (with its checksums) as JSON under ``__metadata__["rnnkit"]``."""
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    bad = _non_finite(arrays)
    if bad is not None:
        raise ValueError(f"refusing to write {path}: {bad!r} holds NaN or infinite values (a diverged model); "
                         "retrain with a lower learning rate or gradient clipping")
    header = {"format": "rnnkit", "format_version": FORMAT_VERSION, "kind": kind, "config": config,
              "meta": meta or {}, "sha256": {k: _digest(v) for k, v in arrays.items()}}
    header["header_sha256"] = _header_digest(json.loads(json.dumps(header)))
    return save_file(path, arrays, {"format": "pt", "rnnkit": json.dumps(header, sort_keys=True)})


def read(path, kind=None):
    """``(header, arrays)`` of a file :func:`write` wrote, checked as
    :func:`rnnkit.io.files.read_file` checks an ``.npz`` one."""
    tensors, metadata = load_file(path)
    if "rnnkit" not in metadata:
        raise ModelFileError(f"{path}: a safetensors file without rnnkit's config (no 'rnnkit' entry in its "
                             "__metadata__); read its tensors with rnnkit.io.safetensors.load_file")
    try:
        header = json.loads(metadata["rnnkit"])
    except json.JSONDecodeError:
        raise ModelFileError(f"{path}: the rnnkit entry of its __metadata__ is not JSON; the file is "
                             "corrupted: use an intact copy or re-save the model") from None
    return check_contents(path, header, tensors, kind)


def is_safetensors(path):
    """Whether ``path`` names a safetensors file: by its suffix, or (for a file that
    exists) by its first bytes (a header length, then ``{``)."""
    path = os.fspath(path)
    if path.lower().endswith(SUFFIX):
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(9)
    except OSError:
        return False
    return len(head) == 9 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] < MAX_HEADER


def resolve_format(path, format):
    """``"rnnkit"`` or ``"safetensors"``: ``format`` checked, or (``None``) from ``path``'s suffix."""
    if format is None:
        return "safetensors" if os.fspath(path).lower().endswith(SUFFIX) else "rnnkit"
    if format not in ("rnnkit", "safetensors"):
        raise ValueError(f"format must be 'rnnkit' or 'safetensors', got {format!r}")
    return format
