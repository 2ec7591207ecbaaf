"""Gated recurrent unit, both forms, gate blocks in PyTorch's order ``r, z, n``.

``reset_after=True`` (PyTorch, cuDNN, Keras default; ONNX linear_before_reset=1):

    r = σ(W_ir x + b_ir + W_hr h + b_hr)
    z = σ(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r ∘ (W_hn h + b_hn))
    h_t = (1 − z) ∘ n + z ∘ h_{t-1}

``reset_after=False`` (the seeds and Cho et al. 2014; ONNX default):

    n = tanh(W_in x + b_in + W_hn (r ∘ h) + b_hn)

Seed 004 writes the last line with ``Γu = 1 − z``; it is the same model.
Shapes: ``W_ih`` (3H, D), ``W_hh`` (3H, H).  These equations run as written
here in :mod:`rnnkit.loops.reference`; the compiled float32 form of the
reset-after GRU is :mod:`rnnkit.kernels.gru`, tested against this module.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import CellBase, sigmoid


@dataclass(frozen=True)
class GRUCell(CellBase):
    """The GRU step and its BPTT step, in NumPy (see the module docstring).

    Cache per step: ``act`` (B, 3H), ``r, z, n`` after their nonlinearities,
    and ``hn`` (B, H): ``W_hn h + b_hn`` (reset after) or ``r ∘ h`` (reset
    before), the two things the backward pass needs."""

    reset_after: bool = True

    gates = 3
    n_states = 1
    gate_names = ("r", "z", "n")

    @property
    def distinct_dhp(self):
        return self.reset_after

    def folded_bias(self, b_hh):
        if not self.reset_after:
            return b_hh
        H = b_hh.shape[0] // 3
        folded = b_hh.copy()
        folded[2 * H :] = 0  # b_hn stays inside r ∘ (W_hn h + b_hn)
        return folded

    def cache_widths(self, H):
        return {"act": 3 * H, "hn": H}

    def step(self, p, xp_t, state, hd, mem):
        (h,) = state
        H = h.shape[1]
        W_hh = p["W_hh"]
        act, hn = mem["act"], mem["hn"]
        if self.reset_after:
            np.matmul(hd, W_hh.T, out=act)                     # (B, 3H)
            hn[...] = act[:, 2 * H :]
            if "b_hh" in p:
                hn += p["b_hh"][2 * H :]
            act[:, : 2 * H] += xp_t[:, : 2 * H]
            sigmoid(act[:, : 2 * H], out=act[:, : 2 * H])
            r = act[:, :H]
            n = act[:, 2 * H :]
            np.multiply(r, hn, out=n)
            n += xp_t[:, 2 * H :]
        else:
            np.matmul(hd, W_hh[: 2 * H].T, out=act[:, : 2 * H])
            act[:, : 2 * H] += xp_t[:, : 2 * H]
            sigmoid(act[:, : 2 * H], out=act[:, : 2 * H])
            r = act[:, :H]
            np.multiply(r, hd, out=hn)                         # r ∘ h
            n = act[:, 2 * H :]
            np.matmul(hn, W_hh[2 * H :].T, out=n)
            n += xp_t[:, 2 * H :]
        np.tanh(n, out=n)
        z = act[:, H : 2 * H]
        # h_t = (1 - z) n + z h = n + z (h - n)
        h_new = h - n
        h_new *= z
        h_new += n
        return (h_new,)

    def step_back(self, p, mem, prev, hd, new, dstate, dmem):
        (h,) = prev
        (dh,) = dstate
        W_hh = p["W_hh"]
        act, hn = mem["act"], mem["hn"]
        H = h.shape[1]
        r, z, n = act[:, :H], act[:, H : 2 * H], act[:, 2 * H :]
        da = np.empty_like(act)                                # (B, 3H) = dxp
        dan = da[:, 2 * H :]
        np.multiply(dh, 1.0 - z, out=dan)                      # dn
        dan *= 1.0 - n * n
        da[:, H : 2 * H] = dh * (h - n) * z * (1.0 - z)
        direct = dh * z                                        # through z ∘ h
        if self.reset_after:
            da[:, :H] = dan * hn * r * (1.0 - r)
            dhp = da.copy()
            dhp[:, 2 * H :] *= r                               # d(W_hn h + b_hn)
            dhd = dhp @ W_hh
            return da, dhp, (direct,), dhd
        drh = dan @ W_hh[2 * H :]                              # d(r ∘ h)
        da[:, :H] = drh * hd * r * (1.0 - r)
        dhd = da[:, : 2 * H] @ W_hh[: 2 * H]
        dhd += drh * r
        return da, da, (direct,), dhd

    def param_grads(self, p, dxp, dhp, hd, mem, dmem):
        grads = super().param_grads(p, dxp, dhp, hd, mem, dmem)
        if not self.reset_after:
            H = hd.shape[1]
            grads["W_hh"][2 * H :] = dhp[:, 2 * H :].T @ mem["hn"]   # the n block saw r ∘ h
        return grads
