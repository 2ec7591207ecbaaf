"""The seeds' simplified GRU (seed 004): the update gate alone, no reset gate.
Gate blocks ``z, n``:

    z = σ(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + W_hn h + b_hn)
    h_t = (1 − z) ∘ n + z ∘ h_{t-1}

Seed 004 writes ``c_t = Γu ∘ c̃ + (1 − Γu) ∘ c_{t-1}``, i.e. ``Γu = 1 − z``.
Shapes: ``W_ih`` (2H, D), ``W_hh`` (2H, H).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import CellBase, sigmoid


@dataclass(frozen=True)
class SimpleGRUCell(CellBase):
    gates = 2
    n_states = 1
    gate_names = ("z", "n")

    def cache_widths(self, H):
        return {"act": 2 * H}

    def step(self, p, xp_t, state, hd, mem):
        (h,) = state
        H = h.shape[1]
        act = mem["act"]                                       # (B, 2H)
        np.matmul(hd, p["W_hh"].T, out=act)
        act += xp_t
        z = sigmoid(act[:, :H], out=act[:, :H])
        n = np.tanh(act[:, H:], out=act[:, H:])
        h_new = h - n
        h_new *= z
        h_new += n
        return (h_new,)

    def step_back(self, p, mem, prev, hd, new, dstate, dmem):
        (h,) = prev
        (dh,) = dstate
        act = mem["act"]
        H = h.shape[1]
        z, n = act[:, :H], act[:, H:]
        da = np.empty_like(act)
        da[:, :H] = dh * (h - n) * z * (1.0 - z)
        da[:, H:] = dh * (1.0 - z) * (1.0 - n * n)
        dhd = da @ p["W_hh"]
        return da, da, (dh * z,), dhd
