"""The interface every recurrent cell follows, and the defaults the cells share.

A cell is a frozen dataclass of options (no learned state, no history) whose
methods are pure functions of their arguments.  It knows one time step and
nothing of loops, layouts or compiled kernels: the time loops live in
:mod:`rnnkit.loops` and :func:`rnnkit.engine.choose_loop` picks one.

Parameters arrive as a dict ``p`` for one direction of one layer, in
PyTorch's layout: ``W_ih`` ``(G*H, D)``, ``W_hh`` ``(G*H, S)`` (``S``: the
width of ``h``, ``H`` unless the cell projects it), ``b_ih``, ``b_hh``
``(G*H,)`` or absent, and whatever else the cell declares in
:meth:`CellBase.init_params`.  The loop computes the input projection of every
step in one product before the loop::

    xp = x @ W_ih.T + cell.input_bias(p)              # (T, B, G*H)

and hands the cell one row block ``xp[t]`` per step.

A cell provides

``gates``, ``gate_names``  the number of gate blocks ``G`` and their names, in order.
``n_states``        1 (``h``) or 2 (``h, c``); ``state[0]`` is always ``h``.
``state_sizes(H)``  the width of each state (``(H,)`` or ``(H, H)`` by default).
``cache_widths(H)`` ``{name: width}`` of the per-step arrays ``step`` fills.
``grad_widths(H)``  ``{name: width}`` of per-step arrays ``step_back`` fills
                    for :meth:`param_grads` (default none).
``init_params(rng, D, H, bias, dtype, scheme)`` the parameter dict, and
``param_names`` the ``state_dict`` prefix of each key (``W_ih`` ->
``weight_ih``, ...).
``input_bias(p)``   the bias added to ``xp`` before the loop, or ``None``.
``step(p, xp_t, state, hd, mem) -> new_state``
    ``hd`` is the ``h`` that enters recurrent products (``state[0]`` times the
    recurrent-dropout mask); ``mem`` maps each cache name to a ``(B, width)``
    array to fill for the backward pass.
``step_back(p, mem, prev, hd, new, dstate, dmem) -> (dxp, dhp, direct, dhd)``
    ``prev`` and ``new`` are the states before and after the step; ``dstate``
    the gradient of the loss w.r.t. the new state; ``dxp`` ``(B, G*H)`` the
    gradient w.r.t. ``xp_t``; ``dhp`` the gradient w.r.t. the recurrent
    product ``hd @ W_hh.T`` (the same array as ``dxp`` unless
    ``distinct_dhp``); ``direct`` a tuple, per state, of gradients that flow
    to the previous state other than through ``hd`` (entries may be
    ``None``); ``dhd`` the gradient w.r.t. ``hd``.  ``dmem`` maps each name of
    ``grad_widths`` to a ``(B, width)`` array to fill.
``param_grads(p, dxp, dhp, hd, mem, dmem) -> grads``
    every gradient but ``W_ih``'s, from all steps at once: arrays ``(N, ·)``
    with ``N = T*B`` rows (padded steps hold zeros in ``dxp``, ``dhp`` and
    ``dmem``).
"""
from __future__ import annotations

import numpy as np

from ..init import layer_biases, layer_weights

PARAM_NAMES = {"W_ih": "weight_ih", "W_hh": "weight_hh", "b_ih": "bias_ih", "b_hh": "bias_hh"}


def sigmoid(a, out=None):
    """Logistic function ``1 / (1 + exp(-a))``, computed through tanh so that
    it never overflows: ``sigmoid(a) = 0.5 * tanh(a / 2) + 0.5``."""
    out = np.multiply(a, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


class CellBase:
    """Defaults shared by the cells: PyTorch's four parameters, all of ``b_hh``
    folded into the input projection, ``dhp`` is ``dxp``, ``dW_hh = dhp.T @ hd``."""

    gates: int = 1
    n_states: int = 1
    distinct_dhp: bool = False
    gate_names: tuple = ()
    param_names = PARAM_NAMES

    def state_sizes(self, H):
        return (H,) * self.n_states

    def cache_widths(self, H):
        return {}

    def grad_widths(self, H):
        return {}

    def init_params(self, rng, D, H, bias, dtype, scheme="default"):
        """``{"W_ih" (G*H, D), "W_hh" (G*H, H)[, "b_ih", "b_hh" (G*H,)]}`` (:mod:`rnnkit.init`)."""
        W_ih, W_hh = layer_weights(rng, self.gates, D, H, dtype, scheme)
        p = {"W_ih": W_ih, "W_hh": W_hh}
        if bias:
            p["b_ih"], p["b_hh"] = layer_biases(rng, self.gates, H, dtype, scheme)
        return p

    def folded_bias(self, b_hh):
        """The part of ``b_hh`` that can be added to ``xp``."""
        return b_hh

    def input_bias(self, p):
        b_ih = p.get("b_ih")
        return None if b_ih is None else b_ih + self.folded_bias(p["b_hh"])

    def param_grads(self, p, dxp, dhp, hd, mem, dmem):
        grads = {"W_hh": dhp.T @ hd}                     # (G*H, N) @ (N, H)
        if "b_ih" in p:
            grads["b_ih"] = dxp.sum(axis=0)
            grads["b_hh"] = dhp.sum(axis=0) if self.distinct_dhp else grads["b_ih"].copy()
        return grads
