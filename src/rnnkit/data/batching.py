"""Padding and length bucketing for variable-length sequences.

A batch of ``B`` sequences of lengths ``n_i`` becomes one padded array
``(B, T, ...)`` with ``T = max n_i`` and a ``lengths`` vector ``(B,)``; the
recurrent layers take ``lengths=`` directly, so nothing is sorted.
"""
from __future__ import annotations

import numpy as np


def as_sequences(X, lengths=None, name="X"):
    """A list of per-sequence arrays from ``X``: a list (or object array) of
    arrays ``(n_i,)`` / ``(n_i, D)``, or a padded array ``(N, T[, D])`` with
    optional ``lengths`` ``(N,)`` (all ``T`` steps when omitted)."""
    if isinstance(X, np.ndarray) and X.dtype != object:
        if X.ndim not in (2, 3):
            raise ValueError(f"{name} has shape {X.shape}; pass a padded array (N, T) of token ids or "
                             "(N, T, D) of vectors, or a list of per-sequence arrays")
        if lengths is None:
            lengths = np.full(len(X), X.shape[1])
        lengths = np.asarray(lengths)
        if lengths.shape != (len(X),):
            raise ValueError(f"lengths has shape {lengths.shape}; pass one length per sequence ({len(X)},)")
        return [X[i, :int(n)] for i, n in enumerate(lengths)]
    if lengths is not None:
        raise ValueError("lengths= goes with a padded array; a list of sequences carries its own lengths")
    seqs = [np.asarray(s) for s in X]
    for i, s in enumerate(seqs):
        if s.ndim not in (1, 2) or len(s) == 0:
            raise ValueError(f"{name}[{i}] has shape {s.shape}; each sequence needs at least one step, "
                             "shaped (n,) for token ids or (n, D) for vectors")
    return seqs


def pad(seqs, value=0, dtype=None):
    """Stack ``seqs`` (arrays ``(n_i, ...)``) into ``(B, T, ...)`` padded with
    ``value``; returns ``(padded, lengths)``."""
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    T = int(lengths.max()) if len(seqs) else 0
    first = np.asarray(seqs[0])
    out = np.full((len(seqs), T) + first.shape[1:], value, dtype=dtype or first.dtype)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = s
    return out, lengths


def length_mask(lengths, T):
    """``(B, T)`` booleans, True on real steps."""
    return np.arange(T)[None, :] < np.asarray(lengths)[:, None]


def bucket_batches(lengths, batch_size, rng=None, shuffle=True):
    """Index batches of similar lengths: sequences are ordered by length (ties
    broken at random), cut into batches of ``batch_size``, and the batches
    shuffled.  Less padding than random batches, still a random order."""
    lengths = np.asarray(lengths)
    n = len(lengths)
    if not shuffle:
        return [np.arange(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    order = np.lexsort((rng.random(n), lengths))
    batches = [order[i:i + batch_size] for i in range(0, n, batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]
