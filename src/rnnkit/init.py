"""Weight initialisation (SPEC): Glorot-uniform input weights, orthogonal
recurrent weights, zero biases, per gate block; ``"torch"`` reproduces
PyTorch's ``U(-1/sqrt(H), 1/sqrt(H))`` for every tensor."""
from __future__ import annotations

import numpy as np

INITS = ("default", "torch")


def glorot_uniform(rng, fan_out, fan_in, dtype):
    """``U(±sqrt(6 / (fan_in + fan_out)))`` of shape ``(fan_out, fan_in)``."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_out, fan_in)).astype(dtype)


def orthogonal(rng, n, dtype):
    """A random ``(n, n)`` orthogonal matrix (QR of a Gaussian, signs fixed)."""
    a = rng.standard_normal((n, n))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))
    return q.astype(dtype)


def layer_weights(rng, gates, input_size, hidden_size, dtype, scheme="default"):
    """Return ``(W_ih (G*H, D), W_hh (G*H, H))`` for one direction of one layer."""
    G, H, D = gates, hidden_size, input_size
    if scheme == "torch":
        k = 1.0 / np.sqrt(H)
        return (rng.uniform(-k, k, (G * H, D)).astype(dtype),
                rng.uniform(-k, k, (G * H, H)).astype(dtype))
    W_ih = np.concatenate([glorot_uniform(rng, H, D, dtype) for _ in range(G)])
    W_hh = np.concatenate([orthogonal(rng, H, dtype) for _ in range(G)])
    return W_ih, W_hh


def layer_biases(rng, gates, hidden_size, dtype, scheme="default"):
    """Return ``(b_ih, b_hh)`` of shape ``(G*H,)``: zeros, or PyTorch's uniform."""
    n = gates * hidden_size
    if scheme == "torch":
        k = 1.0 / np.sqrt(hidden_size)
        return rng.uniform(-k, k, n).astype(dtype), rng.uniform(-k, k, n).astype(dtype)
    return np.zeros(n, dtype), np.zeros(n, dtype)
