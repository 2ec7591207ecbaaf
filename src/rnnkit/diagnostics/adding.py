"""The adding problem (seed 000): a long-dependency task that shows what gates
buy.  Its data, the last-step read-out every experiment on it trains, and one
training run (:func:`train_adding`); :mod:`.flow` measures the gradient flow
through time on it."""
from __future__ import annotations

import numpy as np

from ..layers import Dense
from ..losses import mse
from ..optim import Adam
from ..registry import build_layer
from ..training import Callback, Trainer, joint_grads, joint_parameters


def adding_problem(n, T, rng=None, dtype=np.float32):
    """The adding problem (Hochreiter & Schmidhuber 1997): each step carries a
    value ``U(0, 1)`` and a marker; exactly two steps are marked, one in each
    half of the sequence; the target is the sum of the two marked values.

    Returns ``x`` ``(n, T, 2)`` and ``y`` ``(n, 1)``.  Always answering 1 gives
    an MSE of ``Var(u1 + u2) = 1/6 ≈ 0.167``.
    """
    if T < 2:
        raise ValueError(f"the adding problem marks one step in each half of the sequence; T must be >= 2, got {T}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    x = np.zeros((n, T, 2), dtype)
    x[:, :, 0] = rng.random((n, T))
    half = T // 2
    first = rng.integers(0, half, n)
    second = rng.integers(half, T, n)
    rows = np.arange(n)
    x[rows, first, 1] = 1
    x[rows, second, 1] = 1
    y = (x[rows, first, 0] + x[rows, second, 0])[:, None].astype(dtype)
    return x, y


def readout_loss(layer, head, x, y, backward=True):
    """MSE of the last state's read-out ``head(h_T)`` ``(n, 1)`` against ``y``;
    with ``backward``, BPTT fills ``layer.grads`` and ``head.grads``."""
    h, _ = layer.forward(x, keep_cache=backward)              # (n, T, H)
    loss, dpred = mse(head(h[:, -1]), y)                      # pred (n, 1)
    if backward:
        dh = np.zeros_like(h)
        dh[:, -1] = head.backward(dpred)                      # only h_T reaches the loss
        layer.backward(dh, input_grad=False)
    return loss


def train_adding(cell="lstm", T=100, hidden_size=32, steps=400, batch_size=64, lr=1e-2, clip=1.0,
                 seed=0, n_test=512, log=None):
    """Train ``cell`` (a :mod:`rnnkit.registry` name: ``"rnn"``, ``"lstm"``, ``"gru"``, ...)
    on the adding problem with Adam, a fresh batch each step, the global
    gradient norm clipped to ``clip``; return ``(test MSE, loss curve)``.  The
    last hidden state feeds a linear read-out; ``log(step, loss)`` every 50 steps."""
    rng = np.random.default_rng(seed)
    rnn = build_layer(cell, 2, hidden_size, batch_first=True, seed=rng)
    head = Dense(hidden_size, 1, seed=rng)
    every_50 = Callback(on_step_end=lambda step, m: log(step - 1, m["loss"]) if (step - 1) % 50 == 0 else None)
    trainer = Trainer(lambda batch, state: (readout_loss(rnn, head, *batch), None),
                      lambda: joint_grads(rnn=rnn, head=head), Adam(joint_parameters(rnn=rnn, head=head), lr=lr),
                      clip_norm=clip, callbacks=[every_50] if log is not None else [])
    trainer.fit(lambda epoch: (adding_problem(batch_size, T, rng) for _ in range(steps)))
    x, y = adding_problem(n_test, T, np.random.default_rng(seed + 1))
    rnn.eval()
    return readout_loss(rnn, head, x, y, backward=False), trainer.losses
