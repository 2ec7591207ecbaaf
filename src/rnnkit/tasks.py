"""Synthetic long-dependency tasks used to show what gates buy (seed 000)."""
from __future__ import annotations

import numpy as np


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


def train_adding(cell="lstm", T=100, hidden_size=32, steps=400, batch_size=64, lr=1e-2, clip=1.0,
                 seed=0, n_test=512, log=None):
    """Train ``cell`` (a layer class name: ``"rnn"``, ``"lstm"``, ``"gru"``) on the
    adding problem with Adam; return ``(test MSE, loss curve)``.  The last
    hidden state feeds a linear read-out."""
    from .layers import Dense
    from .losses import mse
    from .models.token_rnn import CELL_LAYERS
    from .optim import Adam, clip_grad_norm

    rng = np.random.default_rng(seed)
    rnn = CELL_LAYERS[cell](2, hidden_size, batch_first=True, seed=rng)
    head = Dense(hidden_size, 1, seed=rng)
    params = {**{f"rnn.{k}": v for k, v in rnn.params.items()}, **{f"head.{k}": v for k, v in head.params.items()}}
    opt = Adam(params, lr=lr)
    curve = []
    for step in range(steps):
        x, y = adding_problem(batch_size, T, rng)
        hs, _ = rnn(x)
        pred = head(hs[:, -1])
        loss, dpred = mse(pred, y)
        dh = np.zeros_like(hs)
        dh[:, -1] = head.backward(dpred)
        rnn.backward(dh, input_grad=False)
        grads = {**{f"rnn.{k}": v for k, v in rnn.grads.items()}, **{f"head.{k}": v for k, v in head.grads.items()}}
        clip_grad_norm(grads, clip)
        opt.step(grads)
        curve.append(loss)
        if log is not None and step % 50 == 0:
            log(step, loss)
    x, y = adding_problem(n_test, T, np.random.default_rng(seed + 1))
    rnn.eval()
    hs, _ = rnn(x, keep_cache=False)
    test_mse, _ = mse(head(hs[:, -1]), y)
    return test_mse, curve
