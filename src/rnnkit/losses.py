"""Losses, each returning ``(loss, gradient w.r.t. its input)``.

Reductions: ``"mean"`` over the counted elements (PyTorch's default), ``"sum"``.
"""
from __future__ import annotations

import numpy as np


def log_softmax(logits, axis=-1):
    """Stable ``log softmax`` (the maximum is subtracted first)."""
    z = logits - logits.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def softmax(logits, axis=-1):
    z = logits - logits.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def softmax_cross_entropy(logits, targets, mask=None, ignore_index=-100, reduction="mean"):
    """Cross-entropy of ``softmax(logits)`` against integer ``targets``.

    ``logits`` ``(..., C)``, ``targets`` ``(...)``; positions whose target is
    ``ignore_index`` or whose ``mask`` is False do not count.  ``mask`` has
    the targets' shape, or as many axes with some of length 1 (``(B, 1)``: one
    flag per sequence); fewer axes are refused, since ``(T,)`` and ``(B,)``
    cannot be told apart when ``B == T``.  The gradient is
    the fused ``(ŷ − y) / N`` (seeds 000, 003), with ``N`` the counted positions.
    """
    logits = np.asarray(logits)
    targets = np.asarray(targets)
    if logits.dtype.kind != "f":
        raise ValueError(f"logits have dtype {logits.dtype}; pass floating-point scores "
                         "(e.g. logits.astype(np.float32))")
    if targets.dtype.kind not in "iu":
        raise ValueError(f"targets have dtype {targets.dtype}; pass integer class indices "
                         "(e.g. targets.astype(np.int64))")
    if logits.shape[:-1] != targets.shape:
        raise ValueError(f"targets have shape {targets.shape} but logits {logits.shape}; "
                         "pass one class index per position")
    C = logits.shape[-1]
    keep = targets != ignore_index
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        try:
            if m.ndim != targets.ndim:
                raise ValueError
            keep = keep & np.broadcast_to(m, targets.shape)
        except ValueError:
            raise ValueError(f"mask has shape {m.shape} but the targets {targets.shape}; pass one flag per "
                             f"target, shape {targets.shape} (or length-1 axes, e.g. "
                             f"{targets.shape[:1] + (1,) * (targets.ndim - 1)} for one flag per sequence)") from None
    t = np.where(keep, targets, 0)
    if t.size and (t.min() < 0 or t.max() >= C):
        raise ValueError(f"target class out of range [0, {C}); check the labels match the model's classes")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"unknown reduction {reduction!r}; use 'mean' or 'sum'")
    n = int(keep.sum())
    scale = 1.0 / max(n, 1) if reduction == "mean" else 1.0
    # five passes over the logits: max, z = logits - max, e = exp(z), Σe, e * (scale / Σe)
    z = logits - logits.max(axis=-1, keepdims=True)
    z_t = np.take_along_axis(z, t[..., None], axis=-1)[..., 0]
    grad = np.exp(z, out=z)
    total_e = grad.sum(axis=-1, keepdims=True)
    picked = z_t - np.log(total_e[..., 0])                  # log softmax at the target
    total = -(picked * keep).sum()
    grad *= (scale / total_e).astype(grad.dtype, copy=False)   # softmax · scale
    if not keep.all():
        grad *= keep[..., None]
    np.put_along_axis(grad, t[..., None], np.take_along_axis(grad, t[..., None], -1) - (scale * keep)[..., None],
                      axis=-1)
    return float(total * scale), grad.astype(logits.dtype, copy=False)


def mse(pred, target, mask=None, reduction="mean"):
    """Mean squared error ``Σ (pred − target)² / N`` over counted elements;
    ``mask`` covers the leading axes of ``pred`` (``(B, T)`` for ``(B, T, D)``,
    ``(B,)`` for one flag per sequence)."""
    pred = np.asarray(pred)
    target = np.asarray(target, dtype=pred.dtype)
    if pred.shape != target.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from target shape {target.shape}")
    diff = pred - target
    if mask is not None:
        m = np.asarray(mask, dtype=pred.dtype)
        try:
            if m.ndim > pred.ndim:
                raise ValueError
            m = np.broadcast_to(m.reshape(m.shape + (1,) * (pred.ndim - m.ndim)), pred.shape)
        except ValueError:
            raise ValueError(f"mask has shape {m.shape} but the predictions {pred.shape}; pass a mask over "
                             "their leading axes, e.g. (B, T) for (B, T, D), or (B,) for one flag per "
                             "sequence") from None
        diff = diff * m
        n = float(m.sum())
    else:
        n = float(diff.size)
    total = float((diff * diff).sum())
    if reduction == "mean":
        n = max(n, 1.0)
        return total / n, (2.0 / n) * diff
    if reduction == "sum":
        return total, 2.0 * diff
    raise ValueError(f"unknown reduction {reduction!r}; use 'mean' or 'sum'")
