"""THE SEEDS' BASELINE (not rnnkit): seed 003's min-char-rnn loop, ported to Python 3.

Seed 003 (Rivera, Hernández, Pérez 2020, after Karpathy's min-char-rnn) trains
a tanh RNN on one-hot characters with column vectors, one time step at a time,
Adagrad, and gradients clipped to [-5, 5].  This file keeps that code as it was
(``xrange`` -> ``range``, ``print`` as a function, the seed's names ``wkh``,
``whh``, ``why``; one fix: the article prints the tanh derivative as
``(1 - hs[t]) * hs[t]``, Karpathy's original and the maths have ``1 - hs[t]**2``), wrapped in a class so the benchmark can time one training
step (``loss_fun`` + the Adagrad update) on the same data as rnnkit and torch.
It is the reference point the issue asks for, not code rnnkit uses.
"""
from __future__ import annotations

import numpy as np


class SeedMinCharRNN:
    """Seed 003's model: ``h_t = tanh(wkh x_t + whh h_{t-1} + bh)``, ``y_t = why h_t + by``."""

    def __init__(self, vocab_size, hidden_size=100, learning_rate=1e-1, seed=0, dtype=np.float64):
        rng = np.random.default_rng(seed)
        self.vocab_size, self.hidden_size, self.learning_rate = vocab_size, hidden_size, learning_rate
        self.wkh = (rng.standard_normal((hidden_size, vocab_size)) * 0.01).astype(dtype)  # input to hidden
        self.whh = (rng.standard_normal((hidden_size, hidden_size)) * 0.01).astype(dtype)  # hidden to hidden
        self.why = (rng.standard_normal((vocab_size, hidden_size)) * 0.01).astype(dtype)  # hidden to output
        self.bh = np.zeros((hidden_size, 1), dtype)  # hidden bias
        self.by = np.zeros((vocab_size, 1), dtype)  # output bias
        self.mem = [np.zeros_like(p) for p in self.params()]  # Adagrad memory

    def params(self):
        return [self.wkh, self.whh, self.why, self.bh, self.by]

    def loss_fun(self, inputs, targets, hprev):
        """Seed 003, figures 6 and 7: forward, loss, BPTT, clipping."""
        vocab_size = self.vocab_size
        wkh, whh, why, bh, by = self.params()
        xs, hs, ys, ps = {}, {}, {}, {}
        hs[-1] = np.copy(hprev)
        loss = 0
        # forward pass
        for t in range(len(inputs)):
            xs[t] = np.zeros((vocab_size, 1), wkh.dtype)  # encode in 1-of-k representation
            xs[t][inputs[t]] = 1
            hs[t] = np.tanh(np.dot(wkh, xs[t]) + np.dot(whh, hs[t - 1]) + bh)  # hidden state
            ys[t] = np.dot(why, hs[t]) + by  # unnormalized log probabilities for next chars
            ps[t] = np.exp(ys[t]) / np.sum(np.exp(ys[t]))  # probabilities for next chars
            loss += -np.log(ps[t][targets[t], 0])  # softmax (cross-entropy loss)
        # backward pass: compute gradients going backwards
        dixh, dihh, dihy = np.zeros_like(wkh), np.zeros_like(whh), np.zeros_like(why)
        dbh, dby = np.zeros_like(bh), np.zeros_like(by)
        dhnext = np.zeros_like(hs[0])
        for t in reversed(range(len(inputs))):
            dy = np.copy(ps[t])
            dy[targets[t]] -= 1  # backprop
            dihy += np.dot(dy, hs[t].T)
            dby += dy
            dh = np.dot(why.T, dy) + dhnext  # backprop into h
            dhraw = (1 - hs[t] * hs[t]) * dh  # backprop through tanh nonlinearity
            dbh += dhraw
            dixh += np.dot(dhraw, xs[t].T)
            dihh += np.dot(dhraw, hs[t - 1].T)
            dhnext = np.dot(whh.T, dhraw)
        for dparam in [dixh, dihh, dihy, dbh, dby]:
            np.clip(dparam, -5, 5, out=dparam)  # clip to mitigate exploding gradients
        return loss, dixh, dihh, dihy, dbh, dby, hs[len(inputs) - 1]

    def train_step(self, inputs, targets, hprev):
        """One ``loss_fun`` and the seed's Adagrad update; returns ``(loss, h)``."""
        loss, *grads, h = self.loss_fun(inputs, targets, hprev)
        for param, dparam, mem in zip(self.params(), grads, self.mem):
            mem += dparam * dparam
            param += -self.learning_rate * dparam / np.sqrt(mem + 1e-8)  # adagrad update
        return loss, h

    def sample(self, h, seed_ix, n, rng):
        """Seed 003, figure 8: sample ``n`` ids."""
        x = np.zeros((self.vocab_size, 1))
        x[seed_ix] = 1
        ixes = []
        for _ in range(n):
            h = np.tanh(np.dot(self.wkh, x) + np.dot(self.whh, h) + self.bh)
            y = np.dot(self.why, h) + self.by
            p = np.exp(y) / np.sum(np.exp(y))
            ix = rng.choice(range(self.vocab_size), p=p.ravel())
            x = np.zeros((self.vocab_size, 1))
            x[ix] = 1
            ixes.append(ix)
        return ixes
