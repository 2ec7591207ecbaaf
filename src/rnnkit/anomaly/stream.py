"""A lean one-step LSTM for streaming inference.

The generic :meth:`rnnkit.Recurrent.step` goes through the full layer machinery
(shape handling, dropout masks, the engine) for every point, which costs tens
of microseconds.  :class:`LeanLSTM` keeps, per layer, the parameters as the
cell reads them and the summed input bias, and per point makes the input
projection and calls the LSTM cell's own step (:meth:`rnnkit.cells.LSTMCell.step`,
the equations written once), nothing else.  It is tested equal to
``LSTM.step`` (unidirectional layers, any depth).
"""
from __future__ import annotations

import numpy as np


class LeanLSTM:
    def __init__(self, lstm):
        if lstm.bidirectional:
            raise ValueError("streaming needs a unidirectional LSTM (a bidirectional one needs the whole sequence)")
        self.cell = lstm.cell
        self.H = lstm.hidden_size
        self.sizes = lstm.state_sizes
        self.dtype = lstm.dtype
        self.layers = []
        for l in range(lstm.num_layers):
            p = {k: v.copy() for k, v in lstm._p(l, 0).items()}
            bias = self.cell.input_bias(p)
            self.layers.append((p, np.zeros(p["W_ih"].shape[0], self.dtype) if bias is None else bias))
        self._mem = {k: np.empty((1, w), self.dtype) for k, w in self.cell.cache_widths(self.H).items()}

    def zero_state(self):
        return [tuple(np.zeros(S, self.dtype) for S in self.sizes) for _ in self.layers]

    def step(self, x, state):
        """``x`` ``(D,)``; ``state`` a list of ``(h, c)`` per layer (from :meth:`zero_state`).
        Returns ``(h_top, new_state)``."""
        new = []
        for (p, bias), (h, c) in zip(self.layers, state):
            xp = p["W_ih"] @ x
            xp += bias
            h2 = h[None]
            h, c = self.cell.step(p, xp[None], (h2, c[None]), h2, self._mem)
            h, c = h[0], c[0]
            new.append((h, c))
            x = h
        return x, new
