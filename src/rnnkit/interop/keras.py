"""Keras weight arrays to rnnkit layers (Keras itself is not needed).

Keras stores, per layer, ``layer.get_weights()``:

``SimpleRNN``  ``kernel (D, H)``, ``recurrent_kernel (H, H)``, ``bias (H,)``
``LSTM``       ``kernel (D, 4H)``, ``recurrent_kernel (H, 4H)``, ``bias (4H,)``;
               column blocks ``i, f, c, o`` (the same order as PyTorch's ``i, f, g, o``)
``GRU``        ``kernel (D, 3H)``, ``recurrent_kernel (H, 3H)``; column blocks
               ``z, r, h`` (PyTorch and rnnkit: ``r, z, n``);
               ``reset_after=True`` (default since Keras 2.3/TF2): ``bias (2, 3H)``,
               row 0 the input bias, row 1 the recurrent bias -- the
               PyTorch/rnnkit GRU;
               ``reset_after=False``: one ``bias (3H,)`` added to the input
               projection, ``hh = tanh(x W_h + (r * h) U_h + b_h)`` -- rnnkit's
               ``GRU(reset_after=False)`` with ``bias_hh = 0``.

Kernels are ``(in, out)`` (Keras computes ``x @ kernel``); rnnkit stores
``(out, in)`` like PyTorch, so each block is transposed.  Keras'
``h_t = z * h_{t-1} + (1 - z) * hh`` is rnnkit's update too.  Keras
``Bidirectional`` wrappers: convert each direction's weights and copy them into
``weight_*_l0`` / ``weight_*_l0_reverse`` of a bidirectional layer.
"""
from __future__ import annotations

import numpy as np

from ..recurrent import GRU, LSTM, RNN

_GATES = {"simplernn": 1, "lstm": 4, "gru": 3}


def from_keras(kind, weights, *, activation="tanh", reset_after=True, batch_first=True, dtype=np.float32):
    """An rnnkit layer (one layer, one direction) from Keras weights.

    ``kind``: ``"simplernn"``, ``"lstm"`` or ``"gru"``; ``weights``: the list
    ``[kernel, recurrent_kernel]`` or ``[kernel, recurrent_kernel, bias]`` (as
    ``layer.get_weights()`` returns it).  ``batch_first`` defaults to True, Keras'
    ``(batch, time, features)`` layout.  Only Keras' default activations are
    supported (``tanh`` / ``sigmoid``; ``relu`` for SimpleRNN).
    """
    kind = kind.lower()
    if kind not in _GATES:
        raise ValueError(f"unknown Keras layer kind {kind!r}; use simplernn, lstm or gru")
    if len(weights) not in (2, 3):
        raise ValueError(f"expected [kernel, recurrent_kernel(, bias)], got {len(weights)} arrays")
    kernel, rec = (np.asarray(w, dtype=dtype) for w in weights[:2])
    bias = np.asarray(weights[2], dtype=dtype) if len(weights) == 3 else None
    G = _GATES[kind]
    D, GH = kernel.shape
    H = rec.shape[0]
    if GH != G * H or rec.shape != (H, G * H):
        raise ValueError(f"Keras {kind} kernel {kernel.shape} / recurrent_kernel {rec.shape} do not fit "
                         f"{G} gate blocks of {H} units")
    opts = dict(bias=bias is not None, batch_first=batch_first, dtype=dtype)
    if kind == "simplernn":
        layer = RNN(D, H, nonlinearity=activation, **opts)
    elif kind == "lstm":
        if activation != "tanh":
            raise NotImplementedError("only Keras' default LSTM activations (tanh, sigmoid) are supported")
        layer = LSTM(D, H, **opts)
    else:
        if activation != "tanh":
            raise NotImplementedError("only Keras' default GRU activations (tanh, sigmoid) are supported")
        layer = GRU(D, H, reset_after=reset_after, **opts)
    order = [1, 0, 2] if kind == "gru" else list(range(G))

    def reorder(a):  # (..., G*H) column blocks -> rows in rnnkit's order
        blocks = np.split(a, G, axis=-1)
        return np.concatenate([blocks[i] for i in order], axis=-1)

    p = {"weight_ih_l0": reorder(kernel).T, "weight_hh_l0": reorder(rec).T}
    if bias is not None:
        if kind == "gru" and reset_after:
            if bias.shape != (2, 3 * H):
                raise ValueError(f"a reset_after GRU has a bias of shape (2, {3 * H}), got {bias.shape}; "
                                 "pass reset_after=False for a single bias")
            p["bias_ih_l0"], p["bias_hh_l0"] = reorder(bias[0]), reorder(bias[1])
        else:
            if bias.shape != (G * H,):
                raise ValueError(f"expected a bias of shape ({G * H},), got {bias.shape}"
                                 + ("; a (2, 3H) bias means reset_after=True" if bias.ndim == 2 else ""))
            p["bias_ih_l0"], p["bias_hh_l0"] = reorder(bias), np.zeros(G * H, dtype)
    layer.load_state_dict(p)
    return layer.eval()
