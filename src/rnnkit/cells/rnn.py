"""Elman recurrent cell (seeds 000, 003, 004).

    h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),   f = tanh or relu

Shapes: ``x_t`` (B, D), ``h`` (B, H), ``W_ih`` (H, D), ``W_hh`` (H, H).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import CellBase

NONLINEARITIES = ("tanh", "relu")


@dataclass(frozen=True)
class ElmanCell(CellBase):
    nonlinearity: str = "tanh"

    gates = 1
    n_states = 1
    gate_names = ("h",)
    has_kernels = True                                # rnnkit.kernels.fused.rnn_* (float32, numba)

    def __post_init__(self):
        if self.nonlinearity not in NONLINEARITIES:
            raise ValueError(f"unknown nonlinearity {self.nonlinearity!r}; use 'tanh' or 'relu'")

    def step(self, W_hh, b_hh, xp_t, state, hd, mem):
        a = hd @ W_hh.T           # (B, H)
        a += xp_t
        if self.nonlinearity == "tanh":
            h = np.tanh(a, out=a)
        else:
            h = np.maximum(a, 0, out=a)
        return (h,)

    def step_back(self, W_hh, b_hh, mem, prev, hd, new, dstate):
        (dh,) = dstate
        (h_new,) = new
        # backprop through the nonlinearity, using the output h_t
        if self.nonlinearity == "tanh":
            da = dh * (1.0 - h_new * h_new)
        else:
            da = dh * (h_new > 0)
        dhd = da @ W_hh           # (B, G*H) @ (G*H, H)
        return da, da, (None,), dhd

    # -- fast path: the same arithmetic, written into preallocated buffers -------------
    def step_into(self, W_hh, b_hh, xp_t, state, hd, mem, out, ws):
        """:meth:`step` writing the new ``h`` into ``out[0]``."""
        kernel = ws.get("kernel")
        if self.kernel_serves(kernel):               # the same arithmetic, fused and compiled
            hp = ws["hp"]
            np.matmul(hd, W_hh.T, out=hp)
            kernel.rnn_forward_step(hp, xp_t, ws["bx"], self.nonlinearity == "relu", out[0])
            return
        a = np.matmul(hd, W_hh.T, out=out[0])
        a += xp_t
        if self.nonlinearity == "tanh":
            np.tanh(a, out=a)
        else:
            np.maximum(a, 0, out=a)

    def step_back_into(self, W_hh, mem, prev, dstate, da, dprev, ws):
        """:meth:`step_back` into ``da`` (dxp) and ``dprev[0]``; needs the new ``h``
        in ``mem["h"]`` (the driver passes it)."""
        (dh,) = dstate
        h_new = mem["h"]
        kernel = ws.get("kernel")
        if kernel is not None:
            kernel.rnn_backward_step(h_new, dh, self.nonlinearity == "relu", da)
        elif self.nonlinearity == "tanh":
            np.multiply(h_new, h_new, out=da)
            np.subtract(1.0, da, out=da)
            da *= dh
        else:
            np.greater(h_new, 0, out=da)
            da *= dh
        np.matmul(da, W_hh, out=dprev[0])

