"""Elman recurrent cell (seeds 000, 003, 004).

    h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),   f = tanh or relu

Shapes: ``x_t`` (B, D), ``h`` (B, H), ``W_ih`` (H, D), ``W_hh`` (H, H).
Compiled float32 form: :mod:`rnnkit.kernels.elman`, tested against this module.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import CellBase

NONLINEARITIES = ("tanh", "relu")


@dataclass(frozen=True)
class ElmanCell(CellBase):
    """The Elman step and its BPTT step, in NumPy; nothing cached but the states."""

    nonlinearity: str = "tanh"

    gates = 1
    n_states = 1
    gate_names = ("h",)

    def __post_init__(self):
        if self.nonlinearity not in NONLINEARITIES:
            raise ValueError(f"unknown nonlinearity {self.nonlinearity!r}; use 'tanh' or 'relu'")

    def step(self, p, xp_t, state, hd, mem):
        a = hd @ p["W_hh"].T      # (B, H)
        a += xp_t
        if self.nonlinearity == "tanh":
            h = np.tanh(a, out=a)
        else:
            h = np.maximum(a, 0, out=a)
        return (h,)

    def step_back(self, p, mem, prev, hd, new, dstate, dmem):
        (dh,) = dstate
        (h_new,) = new
        # backprop through the nonlinearity, using the output h_t
        if self.nonlinearity == "tanh":
            da = dh * (1.0 - h_new * h_new)
        else:
            da = dh * (h_new > 0)
        dhd = da @ p["W_hh"]      # (B, H) @ (H, H)
        return da, da, (None,), dhd
