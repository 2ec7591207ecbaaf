"""A lean one-step LSTM for streaming inference, pure NumPy.

The generic :meth:`rnnkit.Recurrent.step` goes through the full layer machinery
(shape handling, dropout masks, the sequence driver) for every point, which costs
tens of microseconds.  :class:`LeanLSTM` holds, per layer, the transposed fused
weights and one summed bias, and does only::

    a = x W_ihᵀ + h W_hhᵀ + (b_ih + b_hh)          (4H,)
    i, f, o = σ(a_i), σ(a_f), σ(a_o);  g = tanh(a_g)
    c = f∘c + i∘g;  h = o∘tanh(c)

with ``σ(a) = ½ tanh(a/2) + ½`` as in :mod:`rnnkit.cells.base`.  It is tested
equal to ``LSTM.step`` (unidirectional layers, any depth).
"""
from __future__ import annotations

import numpy as np


class LeanLSTM:
    def __init__(self, lstm):
        if lstm.bidirectional:
            raise ValueError("streaming needs a unidirectional LSTM (a bidirectional one needs the whole sequence)")
        self.H = lstm.hidden_size
        self.layers = []
        for l in range(lstm.num_layers):
            P = lstm.params
            b = (P[f"bias_ih_l{l}"] + P[f"bias_hh_l{l}"]) if lstm.bias else np.zeros(4 * self.H, lstm.dtype)
            self.layers.append((np.ascontiguousarray(P[f"weight_ih_l{l}"].T),
                                np.ascontiguousarray(P[f"weight_hh_l{l}"].T), b.copy()))
        self.dtype = lstm.dtype

    def zero_state(self):
        return [(np.zeros(self.H, self.dtype), np.zeros(self.H, self.dtype)) for _ in self.layers]

    def step(self, x, state):
        """``x`` ``(D,)``; ``state`` a list of ``(h, c)`` per layer (from :meth:`zero_state`).
        Returns ``(h_top, new_state)``."""
        H = self.H
        new = []
        for (Wx, Wh, b), (h, c) in zip(self.layers, state):
            a = x @ Wx
            a += h @ Wh
            a += b
            a[: 2 * H] *= 0.5
            np.tanh(a[: 2 * H], out=a[: 2 * H])
            a[: 2 * H] *= 0.5
            a[: 2 * H] += 0.5
            a[3 * H:] *= 0.5
            np.tanh(a[3 * H:], out=a[3 * H:])
            a[3 * H:] *= 0.5
            a[3 * H:] += 0.5
            g = np.tanh(a[2 * H: 3 * H])
            c = a[H: 2 * H] * c
            c += a[:H] * g
            h = a[3 * H:] * np.tanh(c)
            new.append((h, c))
            x = h
        return x, new
