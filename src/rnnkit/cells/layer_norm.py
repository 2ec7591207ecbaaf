"""Layer-normalised LSTM and GRU (Ba, Kiros and Hinton 2016, section 3.1).

Layer normalisation of a row ``v`` of width ``n``, with gain ``γ`` and bias ``β``:

    LN(v; γ, β) = γ ∘ v̂ + β      v̂ = (v − mean(v)) · r      r = 1 / sqrt(var(v) + 1e-5)

and its backward pass, given ``dy`` the gradient of its output:

    dγ += dy ∘ v̂      dβ += dy
    dv  = r · (dv̂ − mean(dv̂) − v̂ ∘ mean(dv̂ ∘ v̂))      dv̂ = dy ∘ γ

**LSTM**, gate blocks ``i, f, g, o``, each sequence's whole ``4H`` pre-activation
normalised at once::

    a = LN(W_ih x_t; γ_ih, β_ih) + LN(W_hh h_{t-1}; γ_hh, β_hh) + b_ih + b_hh    (B, 4H)
    i = σ(a_i)   f = σ(a_f)   g = tanh(a_g)   o = σ(a_o)
    c_t = f ∘ c_{t-1} + i ∘ g
    h_t = o ∘ tanh(LN(c_t; γ_c, β_c))

**GRU**, reset after the product (PyTorch's form), gate blocks ``r, z, n``, the
whole ``3H`` vectors normalised; ``u = LN(W_ih x_t; γ_ih, β_ih)``,
``v = LN(W_hh h_{t-1}; γ_hh, β_hh)``::

    r = σ(u_r + b_ir + v_r + b_hr)
    z = σ(u_z + b_iz + v_z + b_hz)
    n = tanh(u_n + b_in + r ∘ (v_n + b_hn))
    h_t = (1 − z) ∘ n + z ∘ h_{t-1}

The biases ``b_ih``, ``b_hh`` come after the normalisation, so nothing is
added to the input projection before the loop (``input_bias`` is ``None``):
the loop hands the cell the raw ``W_ih x_t``, and ``dxp`` / ``dhp`` are the
gradients w.r.t. the raw products ``W_ih x_t`` and ``W_hh h_{t-1}``, taken
back through the normalisation.  The gradients w.r.t. the normalised
projections are kept per step (``grad_widths``) and summed in ``param_grads``
for the biases, gains and LN biases.

Parameters (keys, ``state_dict`` names with ``_l{k}[_reverse]``): PyTorch's
``W_ih`` ``(G*H, D)``, ``W_hh`` ``(G*H, H)``, ``b_ih``, ``b_hh`` ``(G*H,)``
(absent without ``bias``; the normalisations keep their gains and biases),
and ``g_ih``/``beta_ih`` ``layernorm_ih_weight``/``layernorm_ih_bias``
``(G*H,)``, ``g_hh``/``beta_hh`` ``layernorm_hh_weight``/``layernorm_hh_bias``
``(G*H,)``, for the LSTM ``g_c``/``beta_c`` ``layernorm_c_weight``/``layernorm_c_bias``
``(H,)``.  Gains start at 1, LN biases at 0 under every ``init`` scheme (PyTorch's
``nn.LayerNorm``'s start).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import PARAM_NAMES, CellBase, sigmoid
from .lstm import gates, gates_back

EPS = 1e-5


def layer_norm(v, gain, bias, vhat, rstd):
    """``LN(v; gain, bias)`` over the last axis of ``v`` ``(B, n)``; fills the
    cache ``vhat`` ``(B, n)`` (the normalised ``v``) and ``rstd`` ``(B, 1)``
    (``1 / sqrt(var + eps)``)."""
    mu = v.mean(axis=1, keepdims=True)
    np.subtract(v, mu, out=vhat)
    var = np.einsum("bn,bn->b", vhat, vhat)[:, None] / v.shape[1]
    np.sqrt(var + EPS, out=rstd)
    np.divide(1.0, rstd, out=rstd)
    vhat *= rstd
    return vhat * gain + bias


def layer_norm_back(dy, gain, vhat, rstd):
    """The gradient w.r.t. ``v`` of :func:`layer_norm`, from ``dy`` w.r.t. its output."""
    dvhat = dy * gain
    n = vhat.shape[1]
    return rstd * (dvhat - dvhat.sum(axis=1, keepdims=True) / n
                   - vhat * (np.einsum("bn,bn->b", dvhat, vhat)[:, None] / n))


class _LayerNormCell(CellBase):
    """What the two cells share: the normalised input and recurrent products,
    their parameters, and the gradients of everything but ``W_ih`` and ``W_hh``
    from the per-step gradients w.r.t. the normalised products (``dmem``
    ``"du"``, ``"dv"``: ``(B, G*H)``; the LSTM's are one array, ``"da"``)."""

    distinct_dhp = True
    param_names = {**PARAM_NAMES, "g_ih": "layernorm_ih_weight", "beta_ih": "layernorm_ih_bias",
                   "g_hh": "layernorm_hh_weight", "beta_hh": "layernorm_hh_bias"}

    def init_params(self, rng, D, H, bias, dtype, scheme="default"):
        """The plain cell's parameters (:meth:`CellBase.init_params`) and the
        gains (ones) and biases (zeros) of the normalisations."""
        p = super().init_params(rng, D, H, bias, dtype, scheme)
        for name in self.param_names:
            if name.startswith("g_"):
                p[name] = np.ones(self._norm_width(name, H), dtype)
            elif name.startswith("beta_"):
                p[name] = np.zeros(self._norm_width(name, H), dtype)
        return p

    def _norm_width(self, name, H):
        return H if name.endswith("_c") else self.gates * H

    def input_bias(self, p):
        return None                                    # the biases come after the normalisation

    def cache_widths(self, H):
        GH = self.gates * H
        return {"act": GH, "uhat": GH, "vhat": GH, "rstd": 2}

    def normalised_products(self, p, xp_t, hd, mem):
        """``(u, v)``: ``LN(W_ih x_t)`` and ``LN(W_hh h_{t-1})`` ``(B, G*H)``, caching both."""
        rstd = mem["rstd"]
        u = layer_norm(xp_t, p["g_ih"], p["beta_ih"], mem["uhat"], rstd[:, 0:1])
        v = layer_norm(hd @ p["W_hh"].T, p["g_hh"], p["beta_hh"], mem["vhat"], rstd[:, 1:2])
        return u, v

    def products_back(self, p, mem, du, dv):
        """``(dxp, dhp, dhd)`` from the gradients w.r.t. ``u`` and ``v``."""
        rstd = mem["rstd"]
        dxp = layer_norm_back(du, p["g_ih"], mem["uhat"], rstd[:, 0:1])
        dhp = layer_norm_back(dv, p["g_hh"], mem["vhat"], rstd[:, 1:2])
        return dxp, dhp, dhp @ p["W_hh"]                # (B, G*H) @ (G*H, H)

    def norm_grads(self, p, du, dv, mem):
        """Gradients of ``b_ih``, ``b_hh`` and the two normalisations' gains and
        biases from ``du``, ``dv`` ``(N, G*H)``, all steps at once."""
        grads = {"g_ih": np.einsum("nk,nk->k", du, mem["uhat"]), "beta_ih": du.sum(axis=0),
                 "g_hh": np.einsum("nk,nk->k", dv, mem["vhat"]), "beta_hh": dv.sum(axis=0)}
        if "b_ih" in p:
            grads["b_ih"] = grads["beta_ih"].copy()
            grads["b_hh"] = grads["beta_hh"].copy()
        return grads


@dataclass(frozen=True)
class LayerNormLSTMCell(_LayerNormCell):
    """The layer-normalised LSTM step and its BPTT step (module docstring).

    Cache per step: ``act`` (B, 4H) the gates after their nonlinearities,
    ``uhat``, ``vhat`` (B, 4H) the normalised products, ``chat`` (B, H) the
    normalised ``c_t``, ``tc`` (B, H) ``tanh(LN(c_t))``, ``rstd`` (B, 3) the
    three normalisations' ``1/σ``.  Per-step gradients: ``da`` (B, 4H) w.r.t.
    ``a`` (the same for ``u`` and ``v``), ``dcn`` (B, H) w.r.t. ``LN(c_t)``."""

    gates = 4
    n_states = 2
    gate_names = ("i", "f", "g", "o")
    param_names = {**_LayerNormCell.param_names, "g_c": "layernorm_c_weight", "beta_c": "layernorm_c_bias"}

    def cache_widths(self, H):
        return {**super().cache_widths(H), "chat": H, "tc": H, "rstd": 3}

    def grad_widths(self, H):
        return {"da": 4 * H, "dcn": H}

    def step(self, p, xp_t, state, hd, mem):
        _, c = state
        u, v = self.normalised_products(p, xp_t, hd, mem)
        act = mem["act"]                                   # (B, 4H)
        np.add(u, v, out=act)
        if "b_ih" in p:
            act += p["b_ih"]
            act += p["b_hh"]
        i, f, g, o = gates(act)                            # the LSTM's (rnnkit.cells.lstm)
        c_new = f * c + i * g
        cn = layer_norm(c_new, p["g_c"], p["beta_c"], mem["chat"], mem["rstd"][:, 2:3])
        tc = np.tanh(cn, out=mem["tc"])
        return (o * tc, c_new)

    def step_back(self, p, mem, prev, hd, new, dstate, dmem):
        _, c_prev = prev
        dh, dc = dstate
        act, tc = mem["act"], mem["tc"]
        o = act[:, 3 * tc.shape[1] :]
        # backprop into LN(c_t) through h = o ∘ tanh(LN(c_t)), then into c_t
        dcn = dmem["dcn"]
        np.multiply(dh * o, 1.0 - tc * tc, out=dcn)
        dc = dc + layer_norm_back(dcn, p["g_c"], mem["chat"], mem["rstd"][:, 2:3])
        da = dmem["da"]                                    # (B, 4H)
        dc_prev = gates_back(act, c_prev, tc, dh, dc, da)  # the LSTM's gates (rnnkit.cells.lstm)
        # a = u + v + biases: u and v get da, and through their normalisations the raw products
        dxp, dhp, dhd = self.products_back(p, mem, da, da)
        return dxp, dhp, (None, dc_prev), dhd

    def param_grads(self, p, dxp, dhp, hd, mem, dmem):
        da, dcn = dmem["da"], dmem["dcn"]
        grads = {"W_hh": dhp.T @ hd}                       # (4H, N) @ (N, H)
        grads.update(self.norm_grads(p, da, da, mem))
        grads["g_c"] = np.einsum("nk,nk->k", dcn, mem["chat"])
        grads["beta_c"] = dcn.sum(axis=0)
        return grads


@dataclass(frozen=True)
class LayerNormGRUCell(_LayerNormCell):
    """The layer-normalised GRU step (reset after) and its BPTT step (module docstring).

    Cache per step: ``act`` (B, 3H) ``r, z, n`` after their nonlinearities,
    ``uhat``, ``vhat`` (B, 3H) the normalised products, ``hn`` (B, H)
    ``v_n + b_hn``, ``rstd`` (B, 2).  Per-step gradients: ``du``, ``dv``
    (B, 3H) w.r.t. ``u`` and ``v``."""

    gates = 3
    n_states = 1
    gate_names = ("r", "z", "n")

    def cache_widths(self, H):
        return {**super().cache_widths(H), "hn": H}

    def grad_widths(self, H):
        return {"du": 3 * H, "dv": 3 * H}

    def step(self, p, xp_t, state, hd, mem):
        (h,) = state
        H = h.shape[1]
        u, v = self.normalised_products(p, xp_t, hd, mem)
        if "b_ih" in p:
            u += p["b_ih"]
            v += p["b_hh"]
        act, hn = mem["act"], mem["hn"]
        np.add(u[:, : 2 * H], v[:, : 2 * H], out=act[:, : 2 * H])
        sigmoid(act[:, : 2 * H], out=act[:, : 2 * H])      # r, z
        r, z = act[:, :H], act[:, H : 2 * H]
        hn[...] = v[:, 2 * H :]                            # v_n + b_hn
        n = act[:, 2 * H :]
        np.multiply(r, hn, out=n)
        n += u[:, 2 * H :]
        np.tanh(n, out=n)
        return (n + z * (h - n),)                          # (1 − z) ∘ n + z ∘ h

    def step_back(self, p, mem, prev, hd, new, dstate, dmem):
        (h,) = prev
        (dh,) = dstate
        act, hn = mem["act"], mem["hn"]
        H = h.shape[1]
        r, z, n = act[:, :H], act[:, H : 2 * H], act[:, 2 * H :]
        du, dv = dmem["du"], dmem["dv"]                    # (B, 3H) each
        dan = du[:, 2 * H :]
        np.multiply(dh * (1.0 - z), 1.0 - n * n, out=dan)   # d(pre-tanh n)
        du[:, H : 2 * H] = dh * (h - n) * z * (1.0 - z)    # z
        du[:, :H] = dan * hn * r * (1.0 - r)               # r
        dv[...] = du
        dv[:, 2 * H :] *= r                                # n saw r ∘ (v_n + b_hn)
        dxp, dhp, dhd = self.products_back(p, mem, du, dv)
        return dxp, dhp, (dh * z,), dhd

    def param_grads(self, p, dxp, dhp, hd, mem, dmem):
        grads = {"W_hh": dhp.T @ hd}                       # (3H, N) @ (N, H)
        grads.update(self.norm_grads(p, dmem["du"], dmem["dv"], mem))
        return grads
