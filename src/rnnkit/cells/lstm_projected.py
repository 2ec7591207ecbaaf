"""LSTM with a projected hidden state (Sak, Senior and Beaufays 2014; PyTorch's
``nn.LSTM(proj_size=P)``), gate blocks in PyTorch's order ``i, f, g, o``:

    a = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh            (B, 4H)
    i = σ(a_i)   f = σ(a_f)   g = tanh(a_g)   o = σ(a_o)
    c_t = f ∘ c_{t-1} + i ∘ g                             (B, H)
    m_t = o ∘ tanh(c_t)                                   (B, H)
    h_t = m_t W_hr^T                                      (B, P)

Everything up to ``m_t`` is the plain LSTM (:class:`rnnkit.cells.LSTMCell`,
whose ``h_t`` is ``m_t``); the projection only narrows what is output and fed
back.  Backward (``dh`` (B, P) and ``dc`` (B, H) arrive from the future and
the output):

    dm = dh W_hr                                          (B, H)
    dW_hr += dh^T m_t                                     (P, H)

then the LSTM's step back with ``dm`` in place of ``dh``.

Shapes: ``x_t`` (B, D), ``h`` (B, P), ``c`` (B, H), ``W_ih`` (4H, D),
``W_hh`` (4H, P), ``W_hr`` (P, H); ``state_dict`` name of ``W_hr``:
``weight_hr_l{k}[_reverse]``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..init import glorot_uniform, layer_biases
from .base import PARAM_NAMES
from .lstm import LSTMCell


def semi_orthogonal(rng, rows, cols, dtype):
    """A random ``(rows, cols)`` matrix with orthonormal columns (``rows >= cols``):
    the first ``cols`` columns of an orthogonal matrix (QR of a Gaussian, signs fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((rows, cols)))
    q *= np.sign(np.diag(r))
    return q.astype(dtype)


@dataclass(frozen=True)
class ProjectedLSTMCell(LSTMCell):
    """The LSTM step with the projection ``h_t = W_hr m_t`` (see the module docstring).

    Cache per step: the LSTM's ``act`` (B, 4H) and ``tc`` (B, H); per-step
    gradient kept for ``dW_hr``: ``dh`` (B, P)."""

    proj_size: int = 1

    param_names = {**PARAM_NAMES, "W_hr": "weight_hr"}

    def state_sizes(self, H):
        return (self.proj_size, H)

    def grad_widths(self, H):
        return {"dh": self.proj_size}

    def init_params(self, rng, D, H, bias, dtype, scheme="default"):
        """``{"W_ih" (4H, D), "W_hh" (4H, P)[, "b_ih", "b_hh" (4H,)], "W_hr" (P, H)}``.

        ``"torch"``: every tensor ``U(±1/sqrt(H))``, as PyTorch.  ``"default"``:
        ``W_ih`` Glorot-uniform per gate block, ``W_hh`` per gate block an
        ``(H, P)`` matrix with orthonormal columns (the recurrent weights are
        not square here), biases zero, and ``W_hr`` Glorot-uniform
        ``U(±sqrt(6 / (H + P)))``."""
        P, G = self.proj_size, self.gates
        if scheme == "torch":
            k = 1.0 / np.sqrt(H)
            p = {"W_ih": rng.uniform(-k, k, (G * H, D)).astype(dtype),
                 "W_hh": rng.uniform(-k, k, (G * H, P)).astype(dtype)}
        else:
            p = {"W_ih": np.concatenate([glorot_uniform(rng, H, D, dtype) for _ in range(G)]),
                 "W_hh": np.concatenate([semi_orthogonal(rng, H, P, dtype) for _ in range(G)])}
        if bias:
            p["b_ih"], p["b_hh"] = layer_biases(rng, G, H, dtype, scheme)
        if scheme == "torch":
            p["W_hr"] = rng.uniform(-k, k, (P, H)).astype(dtype)
        else:
            p["W_hr"] = glorot_uniform(rng, P, H, dtype)
        return p

    def step(self, p, xp_t, state, hd, mem):
        m, c_new = super().step(p, xp_t, state, hd, mem)   # m = o ∘ tanh(c_t)  (B, H)
        h_new = m @ p["W_hr"].T                            # (B, H) @ (H, P)
        return (h_new, c_new)

    def step_back(self, p, mem, prev, hd, new, dstate, dmem):
        dh, dc = dstate
        dmem["dh"][...] = dh                               # kept for dW_hr
        # backprop into m through h = W_hr m
        dm = dh @ p["W_hr"]                                # (B, P) @ (P, H)
        return super().step_back(p, mem, prev, hd, new, (dm, dc), dmem)

    def param_grads(self, p, dxp, dhp, hd, mem, dmem):
        grads = super().param_grads(p, dxp, dhp, hd, mem, dmem)   # W_hh (4H, P), biases
        H = mem["tc"].shape[1]
        m = mem["act"][:, 3 * H :] * mem["tc"]             # (N, H): o ∘ tanh(c_t)
        grads["W_hr"] = dmem["dh"].T @ m                   # (P, N) @ (N, H)
        return grads
