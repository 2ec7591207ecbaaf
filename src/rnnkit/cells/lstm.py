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
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import CellBase, sigmoid


@dataclass(frozen=True)
class LSTMCell(CellBase):
    gates = 4
    n_states = 2
    gate_names = ("i", "f", "g", "o")
    has_kernels = True                                # rnnkit.kernels.fused.lstm_* (float32, numba)
    column_kernels = True                             # and lstm_*_cols for rnnkit.sequence_columns

    def cache_widths(self, H):
        return {"act": 4 * H, "tc": H}

    def step(self, W_hh, b_hh, xp_t, state, hd, mem):
        _, c = state
        H = c.shape[1]
        act = mem["act"]                              # (B, 4H)
        np.matmul(hd, W_hh.T, out=act)
        act += xp_t
        sigmoid(act[:, : 2 * H], out=act[:, : 2 * H])  # i, f
        np.tanh(act[:, 2 * H : 3 * H], out=act[:, 2 * H : 3 * H])  # g
        sigmoid(act[:, 3 * H :], out=act[:, 3 * H :])  # o
        i, f, g, o = act[:, :H], act[:, H : 2 * H], act[:, 2 * H : 3 * H], act[:, 3 * H :]
        c_new = f * c
        c_new += i * g
        tc = np.tanh(c_new, out=mem["tc"])
        h_new = o * tc
        return (h_new, c_new)

    def step_back(self, W_hh, b_hh, mem, prev, hd, new, dstate):
        _, c_prev = prev
        dh, dc = dstate
        act, tc = mem["act"], mem["tc"]
        H = tc.shape[1]
        i, f, g, o = act[:, :H], act[:, H : 2 * H], act[:, 2 * H : 3 * H], act[:, 3 * H :]
        # backprop into c through h = o * tanh(c)
        dc = dc + dh * o * (1.0 - tc * tc)
        da = np.empty_like(act)                        # (B, 4H)
        da[:, :H] = dc * g * i * (1.0 - i)
        da[:, H : 2 * H] = dc * c_prev * f * (1.0 - f)
        da[:, 2 * H : 3 * H] = dc * i * (1.0 - g * g)
        da[:, 3 * H :] = dh * tc * o * (1.0 - o)
        dc_prev = dc * f
        dhd = da @ W_hh                                # (B, 4H) @ (4H, H)
        return da, da, (None, dc_prev), dhd

    # -- fast path: the same arithmetic, written into preallocated buffers -------------
    def step_into(self, W_hh, b_hh, xp_t, state, hd, mem, out, ws):
        """:meth:`step` without temporaries: the new ``(h, c)`` go into ``out``."""
        _, c = state
        h_out, c_out = out
        H = c.shape[1]
        act = mem["act"]
        kernel = ws.get("kernel")
        if self.kernel_serves(kernel):               # the same arithmetic, fused and compiled
            hp = ws["hp"]
            np.matmul(hd, W_hh.T, out=hp)
            kernel.lstm_forward_step(hp, xp_t, ws["bx"], kernel.lstm_gate_scales(H), c, act, c_out, mem["tc"],
                                     h_out)
            return
        np.matmul(hd, W_hh.T, out=act)
        act += xp_t
        sigmoid(act[:, : 2 * H], out=act[:, : 2 * H])
        np.tanh(act[:, 2 * H : 3 * H], out=act[:, 2 * H : 3 * H])
        sigmoid(act[:, 3 * H :], out=act[:, 3 * H :])
        i, f, g, o = act[:, :H], act[:, H : 2 * H], act[:, 2 * H : 3 * H], act[:, 3 * H :]
        np.multiply(f, c, out=c_out)
        tmp = np.multiply(i, g, out=ws["t1"])
        c_out += tmp
        np.tanh(c_out, out=mem["tc"])
        np.multiply(o, mem["tc"], out=h_out)

    def step_back_into(self, W_hh, mem, prev, dstate, da, dprev, ws):
        """:meth:`step_back` without temporaries (no recurrent dropout term).

        ``dstate`` ``(dh, dc)`` is consumed (``dc`` is updated in place); ``da``
        ``(B, 4H)`` receives ``dxp``; ``dprev`` ``(dh_prev, dc_prev)`` receives
        the gradient w.r.t. the previous state (``dh_prev`` is w.r.t. ``hd``)."""
        _, c_prev = prev
        dh, dc = dstate
        act, tc = mem["act"], mem["tc"]
        kernel = ws.get("kernel")
        if kernel is not None:                       # the same arithmetic, fused and compiled
            kernel.lstm_backward_step(act, tc, c_prev, dh, dc, da, dprev[1])
            np.matmul(da, W_hh, out=dprev[0])
            return
        H = tc.shape[1]
        i, f, g, o = act[:, :H], act[:, H : 2 * H], act[:, 2 * H : 3 * H], act[:, 3 * H :]
        t1 = ws["t1"]
        np.multiply(tc, tc, out=t1)                  # dc += dh o (1 - tc²)
        np.subtract(1.0, t1, out=t1)
        t1 *= o
        t1 *= dh
        dc += t1
        d = da[:, 3 * H :]                           # da_o = dh tc o (1 - o)
        np.subtract(1.0, o, out=d)
        d *= o
        d *= tc
        d *= dh
        d = da[:, :H]                                # da_i = dc g i (1 - i)
        np.subtract(1.0, i, out=d)
        d *= i
        d *= g
        d *= dc
        d = da[:, H : 2 * H]                         # da_f = dc c_prev f (1 - f)
        np.subtract(1.0, f, out=d)
        d *= f
        d *= c_prev
        d *= dc
        d = da[:, 2 * H : 3 * H]                     # da_g = dc i (1 - g²)
        np.multiply(g, g, out=d)
        np.subtract(1.0, d, out=d)
        d *= i
        d *= dc
        np.multiply(dc, f, out=dprev[1])
        np.matmul(da, W_hh, out=dprev[0])

