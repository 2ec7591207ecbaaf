"""Long short-term memory cell (seeds 000, 002), gate blocks in PyTorch's order
``i, f, g, o``:

    a = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh            (B, 4H)
    i = σ(a_i)   f = σ(a_f)   g = tanh(a_g)   o = σ(a_o)
    c_t = f ∘ c_{t-1} + i ∘ g
    h_t = o ∘ tanh(c_t)

Backward (``dh``, ``dc`` arrive from the future and the output):

    dc  += dh ∘ o ∘ (1 − tanh²(c_t))
    da_i = dc ∘ g ∘ i(1−i)        da_f = dc ∘ c_{t-1} ∘ f(1−f)
    da_g = dc ∘ i ∘ (1−g²)        da_o = dh ∘ tanh(c_t) ∘ o(1−o)
    dc_{t-1} = dc ∘ f             dh_{t-1} = da @ W_hh

Shapes: ``x_t`` (B, D), ``h``, ``c`` (B, H), ``W_ih`` (4H, D), ``W_hh`` (4H, H).
These equations run as written here in :mod:`rnnkit.loops.reference`; their
one compiled float32 form is :mod:`rnnkit.kernels.lstm`, tested against this
module (``tests/engine/``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import CellBase, sigmoid


@dataclass(frozen=True)
class LSTMCell(CellBase):
    """The LSTM step and its BPTT step, in NumPy (see the module docstring).

    Cache per step: ``act`` (B, 4H), the gates after their nonlinearities, and
    ``tc`` (B, H), ``tanh(c_t)``."""

    gates = 4
    n_states = 2
    gate_names = ("i", "f", "g", "o")

    def cache_widths(self, H):
        return {"act": 4 * H, "tc": H}

    def step(self, p, xp_t, state, hd, mem):
        _, c = state
        act = mem["act"]                              # (B, 4H)
        np.matmul(hd, p["W_hh"].T, out=act)
        act += xp_t
        i, f, g, o = gates(act)
        c_new = f * c
        c_new += i * g
        tc = np.tanh(c_new, out=mem["tc"])
        h_new = o * tc
        return (h_new, c_new)

    def step_back(self, p, mem, prev, hd, new, dstate, dmem):
        _, c_prev = prev
        dh, dc = dstate
        act, tc = mem["act"], mem["tc"]
        o = act[:, 3 * tc.shape[1] :]
        # backprop into c through h = o * tanh(c)
        dc = dc + dh * o * (1.0 - tc * tc)
        da = np.empty_like(act)                        # (B, 4H)
        dc_prev = gates_back(act, c_prev, tc, dh, dc, da)
        dhd = da @ p["W_hh"]                           # (B, 4H) @ (4H, H)
        return da, da, (None, dc_prev), dhd


def gates(act):
    """The pre-activations ``act`` (B, 4H) turned into the gates in place:
    ``i, f, o = σ(a_i, a_f, a_o)``, ``g = tanh(a_g)``; returns the four views."""
    H = act.shape[1] // 4
    sigmoid(act[:, : 2 * H], out=act[:, : 2 * H])  # i, f
    np.tanh(act[:, 2 * H : 3 * H], out=act[:, 2 * H : 3 * H])  # g
    sigmoid(act[:, 3 * H :], out=act[:, 3 * H :])  # o
    return act[:, :H], act[:, H : 2 * H], act[:, 2 * H : 3 * H], act[:, 3 * H :]


def gates_back(act, c_prev, tc, dh, dc, da):
    """Into ``da`` (B, 4H) the gradient w.r.t. the pre-activations, from the
    gates ``act``, ``c_{t-1}``, ``tc`` (the tanh the output gate multiplies),
    ``dh`` and ``dc`` (w.r.t. ``c_t``, everything that reaches it); returns
    ``dc_{t-1} = dc ∘ f``."""
    H = tc.shape[1]
    i, f, g, o = act[:, :H], act[:, H : 2 * H], act[:, 2 * H : 3 * H], act[:, 3 * H :]
    da[:, :H] = dc * g * i * (1.0 - i)
    da[:, H : 2 * H] = dc * c_prev * f * (1.0 - f)
    da[:, 2 * H : 3 * H] = dc * i * (1.0 - g * g)
    da[:, 3 * H :] = dh * tc * o * (1.0 - o)
    return dc * f
