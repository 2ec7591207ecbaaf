"""Gradient flow through time.

For a loss read only at the last step, the recurrent layer's recorded
``grad_norms_["l0"][t]`` is ``‖∂L_T/∂h_t‖`` averaged over the batch.  Plain RNNs
multiply this by ``diag(φ'(a_t)) W_hh`` at each step back, so it shrinks (or
grows) exponentially in ``T − t``; gated cells add a near-identity path.
"""
from __future__ import annotations

import time

import numpy as np


def step_metrics(net, grad_norm=None, clip_norm=None, history=None):
    """Extra metrics for one training step, for ``RunDir.log(**metrics)``.

    Call after ``net.backward`` with ``record_grad_norms`` on (``net.rnn`` or
    ``net`` itself is the recurrent layer) and after clipping:
    ``grad_norm`` is the global norm before clipping (what ``clip_grad_norm``
    returns).  Returns ``{"grad_norm", "grad_norm_clipped", "clipped",
    "clip_rate" (running share, when ``history`` — a dict you keep — is given),
    "dh_norms" (list over lags 0..T-1, layer l0, ‖∂L/∂h_{T-1-lag}‖)}``; keys are
    left out when their inputs are absent.
    """
    out = {}
    if grad_norm is not None:
        g = float(grad_norm)
        out["grad_norm"] = g
        clipped = clip_norm is not None and g > clip_norm
        out["grad_norm_clipped"] = float(min(g, clip_norm)) if clip_norm is not None else g
        out["clipped"] = bool(clipped)
        if history is not None:
            history["n"] = history.get("n", 0) + 1
            history["clipped"] = history.get("clipped", 0) + int(clipped)
            out["clip_rate"] = history["clipped"] / history["n"]
    layer = getattr(net, "rnn", net)
    norms = getattr(layer, "grad_norms_", {}).get("l0")
    if norms is not None:
        out["dh_norms"] = [float(v) for v in np.asarray(norms)[::-1]]
    return out


def adding_problem(n, T, rng):
    """The adding problem (Hochreiter & Schmidhuber 1997): ``x (n, T, 2)`` with
    channel 0 uniform in [0, 1) and channel 1 marking two positions (one in each
    half); target ``(n, 1, 1)`` the sum of the two marked values."""
    x = np.zeros((n, T, 2), np.float32)
    x[:, :, 0] = rng.random((n, T))
    a = rng.integers(0, T // 2, n)
    b = rng.integers(T // 2, T, n)
    x[np.arange(n), a, 1] = 1.0
    x[np.arange(n), b, 1] = 1.0
    y = (x[np.arange(n), a, 0] + x[np.arange(n), b, 0]).reshape(n, 1, 1)
    return x, y


def _make(cell, hidden, seed, forget_bias=1.0):
    from ..layers import Dense
    from ..recurrent import GRU, LSTM, RNN

    rng = np.random.default_rng(seed)
    if cell in ("rnn_tanh", "rnn_relu"):
        layer = RNN(2, hidden, nonlinearity=cell[4:], batch_first=True, seed=rng)
    elif cell == "lstm":
        layer = LSTM(2, hidden, batch_first=True, forget_bias=forget_bias, seed=rng)
    elif cell == "gru":
        layer = GRU(2, hidden, batch_first=True, seed=rng)
    else:
        raise ValueError(f"unknown cell {cell!r}; use rnn_tanh, rnn_relu, lstm or gru")
    layer.record_grad_norms = True
    return layer, Dense(hidden, 1, seed=rng)


def _pass(layer, head, x, y):
    from ..losses import mse

    h, _ = layer.forward(x)
    pred = head(h[:, -1:])
    loss, dpred = mse(pred, y)
    dh = np.zeros_like(h)
    dh[:, -1:] = head.backward(dpred)
    layer.backward(dh)
    return float(loss), layer.grad_norms_["l0"].copy()


def gradflow_experiment(cells=("rnn_tanh", "rnn_relu", "lstm", "gru"), T=100, hidden=32, batch=32,
                        steps=150, lr=3e-3, clip_norm=1.0, seed=0, forget_bias=1.0, log=None):
    """Measure ``‖∂L_T/∂h_t‖`` at initialisation and after ``steps`` Adam steps
    on the adding problem at length ``T``.

    Returns ``{cell: {"init": (T,), "trained": (T,), "ratio_init", "ratio_trained",
    "loss_first", "loss_last", "clip_rate", "seconds"}}``, where ratio is
    ``‖∂L/∂h_1‖ / ‖∂L/∂h_T‖``.  ``clip_norm=None`` trains without clipping.
    """
    from ..optim import Adam, clip_grad_norm

    data_rng = np.random.default_rng(seed + 1000)
    xe, ye = adding_problem(batch, T, np.random.default_rng(seed + 999))
    out = {}
    for cell in cells:
        t0 = time.perf_counter()
        layer, head = _make(cell, hidden, seed, forget_bias)
        _, init = _pass(layer, head, xe, ye)
        params = {**{"rnn." + k: v for k, v in layer.params.items()},
                  **{"head." + k: v for k, v in head.params.items()}}
        opt = Adam(params, lr=lr)
        losses, clipped = [], 0
        for _ in range(steps):
            x, y = adding_problem(batch, T, data_rng)
            loss, _ = _pass(layer, head, x, y)
            grads = {**{"rnn." + k: v for k, v in layer.grads.items()},
                     **{"head." + k: v for k, v in head.grads.items()}}
            if clip_norm is not None:
                clipped += clip_grad_norm(grads, clip_norm) > clip_norm
            opt.step(grads)
            losses.append(loss)
        _, trained = _pass(layer, head, xe, ye)
        r = {"init": init, "trained": trained,
             "ratio_init": float(init[0] / init[-1]), "ratio_trained": float(trained[0] / trained[-1]),
             "loss_first": float(np.mean(losses[:10])) if losses else float("nan"),
             "loss_last": float(np.mean(losses[-10:])) if losses else float("nan"),
             "clip_rate": clipped / max(steps, 1), "seconds": time.perf_counter() - t0}
        out[cell] = r
        if log:
            log(f"{cell:9s} ratio |dL/dh_1|/|dL/dh_T| init {r['ratio_init']:.3e}  trained "
                f"{r['ratio_trained']:.3e}  loss {r['loss_first']:.4f} -> {r['loss_last']:.4f}  "
                f"clip rate {r['clip_rate']:.2f}  ({r['seconds']:.1f}s)")
    return out


def plot_gradflow(results, path, title="‖∂L_T/∂h_t‖ vs T − t"):
    """Two panels (init, trained): norm against lag ``T − t`` on a log scale; PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, key in zip(axes, ("init", "trained")):
        for name, r in results.items():
            v = np.asarray(r[key])[::-1]
            ax.semilogy(np.arange(len(v)), np.maximum(v, 1e-30), label=name)
        ax.set_xlabel("T − t (steps back)")
        ax.set_title(f"{title} — {'at initialisation' if key == 'init' else 'after training'}", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("batch-mean ‖∂L_T/∂h_t‖")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
