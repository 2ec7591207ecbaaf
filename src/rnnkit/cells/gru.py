"""Gated recurrent unit, both forms, gate blocks in PyTorch's order ``r, z, n``.

``reset_after=True`` (PyTorch, cuDNN, Keras default; ONNX linear_before_reset=1):

    r = σ(W_ir x + b_ir + W_hr h + b_hr)
    z = σ(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r ∘ (W_hn h + b_hn))
    h_t = (1 − z) ∘ n + z ∘ h_{t-1}

``reset_after=False`` (the seeds and Cho et al. 2014; ONNX default):

    n = tanh(W_in x + b_in + W_hn (r ∘ h) + b_hn)

Seed 004 writes the last line with ``Γu = 1 − z``; it is the same model.
Shapes: ``W_ih`` (3H, D), ``W_hh`` (3H, H).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import CellBase, sigmoid


@dataclass(frozen=True)
class GRUCell(CellBase):
    reset_after: bool = True

    gates = 3
    n_states = 1
    gate_names = ("r", "z", "n")
    has_kernels = True                                # rnnkit.kernels.fused.gru_* (float32, numba)
    direct_h = True                                   # h_t = ... + z ∘ h_{t-1}

    @property
    def column_kernels(self):
        """Reset-after GRUs have kernels for :mod:`rnnkit.sequence_columns` (``gru_*_cols``)."""
        return self.reset_after

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
        # act: r, z, n after their nonlinearities; hn: W_hn h + b_hn (reset_after)
        # or r ∘ h (reset_before), the two things the backward pass needs
        return {"act": 3 * H, "hn": H}

    def step(self, W_hh, b_hh, xp_t, state, hd, mem):
        (h,) = state
        H = h.shape[1]
        act, hn = mem["act"], mem["hn"]
        if self.reset_after:
            np.matmul(hd, W_hh.T, out=act)                     # (B, 3H)
            hn[...] = act[:, 2 * H :]
            hn += b_hh[2 * H :]
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

    def step_into(self, W_hh, b_hh, xp_t, state, hd, mem, out, ws):
        """:meth:`step` writing the new ``h`` into ``out[0]``: fused and compiled
        for float32 reset-after GRUs when kernels serve, :meth:`step` otherwise."""
        kernel = ws.get("kernel")
        if self.kernel_serves(kernel):
            H = state[0].shape[1]
            hp = ws["hp"]
            np.matmul(hd, W_hh.T, out=hp)
            kernel.gru_forward_step(hp, xp_t, ws["bx"], b_hh[2 * H :], state[0], mem["act"], mem["hn"],
                                    out[0])
            return
        out[0][...] = self.step(W_hh, b_hh, xp_t, state, hd, mem)[0]

    def kernel_serves(self, kernel):
        return kernel is not None and self.reset_after

    def can_step_back_into(self, kernel):
        return self.kernel_serves(kernel)

    def step_back_into(self, W_hh, mem, prev, dstate, da, dprev, ws):
        """:meth:`step_back` with the compiled kernel (float32, reset after): ``da``
        receives ``dxp``, ``ws["dhp_t"]`` the gradient w.r.t. ``hd @ W_hh.T + b_hh``,
        ``dprev[0]`` the gradient w.r.t. ``hd`` and ``ws["direct"]`` the one
        through ``z ∘ h_{t-1}`` (the driver adds it after recurrent dropout)."""
        dhp = ws["dhp_t"]
        ws["kernel"].gru_backward_step(mem["act"], mem["hn"], prev[0], dstate[0], da, dhp, ws["direct"])
        np.matmul(dhp, W_hh, out=dprev[0])

    def step_back(self, W_hh, b_hh, mem, prev, hd, new, dstate):
        (h,) = prev
        (dh,) = dstate
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

    def weight_hh_grad(self, dhp, hd, mem):
        if self.reset_after:
            return dhp.T @ hd
        H = hd.shape[1]
        dW = np.empty((3 * H, H), dtype=hd.dtype)
        dW[: 2 * H] = dhp[:, : 2 * H].T @ hd
        dW[2 * H :] = dhp[:, 2 * H :].T @ mem["hn"]            # n block saw r ∘ h
        return dW
