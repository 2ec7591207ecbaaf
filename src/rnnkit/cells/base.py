"""The interface every recurrent cell follows, and the helpers they share.

A cell is a frozen dataclass of options (no learned state, no history) whose
methods are pure functions of their arguments.  The time loop lives in
:mod:`rnnkit.sequence`; a cell only knows one step.

Conventions (PyTorch's): for a layer of hidden size ``H`` with ``G`` gate
blocks, ``W_ih`` is ``(G*H, D)``, ``W_hh`` is ``(G*H, H)``, ``b_ih`` and
``b_hh`` are ``(G*H,)``.  The driver computes the input projection of every
time step in one product before the loop::

    xp = x @ W_ih.T + b_ih + cell.folded_bias(b_hh)          # (T, B, G*H)

and hands the cell one row block ``xp[t]`` per step.

A cell provides

``gates``            number of gate blocks ``G``.
``n_states``         1 (``h``) or 2 (``h, c``); ``state[0]`` is always ``h``.
``cache_widths(H)``  ``{name: width}`` of the per-step arrays ``step`` fills.
``folded_bias(b_hh)`` the part of ``b_hh`` that can be added to ``xp``.
``step(W_hh, b_hh, xp_t, state, hd, mem) -> new_state``
    ``hd`` is the ``h`` that enters recurrent products (``state[0]`` times the
    recurrent-dropout mask); ``mem`` maps each cache name to a ``(B, width)``
    array to fill for the backward pass.
``step_back(W_hh, b_hh, mem, prev, hd, new, dstate) -> (dxp, dhp, direct, dhd)``
    ``prev`` and ``new`` are the states before and after the step; ``dstate`` is the gradient of the loss w.r.t. the new state;
    ``dxp`` ``(B, G*H)`` is the gradient w.r.t. ``xp_t``; ``dhp`` the gradient
    w.r.t. the recurrent pre-activation ``hd @ W_hh.T + b_hh`` (the same array
    as ``dxp`` unless ``distinct_dhp``); ``direct`` a tuple of gradients that
    flow to the previous state other than through ``hd`` (entries may be
    ``None``); ``dhd`` the gradient w.r.t. ``hd``.
``weight_hh_grad(dhp, hd, mem) -> dW_hh`` from all steps at once
    (``dhp`` ``(N, G*H)``, ``hd`` ``(N, H)``, ``mem`` arrays ``(N, width)``).

Optionally, for the driver's fast loop (same arithmetic, preallocated buffers):

``step_into(W_hh, b_hh, xp_t, state, hd, mem, out, ws)``
    writes the new state into ``out``; ``ws`` holds scratch arrays and
    ``ws["kernel"]``, the compiled kernels module (:mod:`rnnkit.kernels`) or
    ``None``; ``has_kernels`` says whether the cell has kernels at all and
    ``kernel_serves(kernel)`` whether ``step_into`` uses them, in which case the
    driver leaves the bias out of ``xp_t`` and hands it over as ``ws["bx"]``.
``step_back_into(W_hh, mem, prev, dstate, da, dprev, ws)``
    writes ``dxp`` into ``da`` and the gradient w.r.t. ``hd`` (and any further
    state) into ``dprev``; a cell with ``distinct_dhp`` writes ``dhp`` into
    ``ws["dhp_t"]``, one with ``direct_h`` its ``W_hh``-free gradient path to
    ``h_{t-1}`` into ``ws["direct"]`` (the driver adds it after recurrent
    dropout).  ``can_step_back_into(kernel)`` says whether it serves.
"""
from __future__ import annotations

import numpy as np


def sigmoid(a, out=None):
    """Logistic function ``1 / (1 + exp(-a))``, computed through tanh so that
    it never overflows: ``sigmoid(a) = 0.5 * tanh(a / 2) + 0.5``."""
    out = np.multiply(a, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


class CellBase:
    """Defaults shared by the cells: all of ``b_hh`` folds into the input
    projection, ``dhp`` is ``dxp``, and ``dW_hh = dhp.T @ hd``."""

    gates: int = 1
    n_states: int = 1
    distinct_dhp: bool = False
    direct_h: bool = False      # step_back_into leaves a W_hh-free path to h_{t-1} in ws["direct"]
    gate_names: tuple = ()

    def kernel_serves(self, kernel):
        """Whether ``step_into`` runs the compiled kernel (given the kernels module,
        or ``None``); the kernel then adds ``ws["bx"]``, the bias the driver
        would otherwise fold into ``xp``."""
        return kernel is not None

    def can_step_back_into(self, kernel):
        """Whether ``step_back_into`` serves (given the compiled kernels, or ``None``)."""
        return True

    def folded_bias(self, b_hh):
        return b_hh

    def cache_widths(self, H):
        return {}

    def weight_hh_grad(self, dhp, hd, mem):
        return dhp.T @ hd  # (G*H, N) @ (N, H) -> (G*H, H)
