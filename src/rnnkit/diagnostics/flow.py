"""Gradient flow through time.

For a loss read only at the last step, the recurrent layer's recorded
``grad_norms_["l0"][t]`` is ``‖∂L_T/∂h_t‖`` averaged over the batch.  Plain RNNs
multiply this by ``diag(φ'(a_t)) W_hh`` at each step back, so it shrinks (or
grows) exponentially in ``T − t``; gated cells add a near-identity path.
"""
from __future__ import annotations

import time

import numpy as np

from ..io.files import save_figure
from ..layers import Dense
from ..optim import Adam
from ..registry import build_layer
from ..training import Callback, Trainer, joint_grads, joint_parameters
from .adding import adding_problem, readout_loss

RECORD_EVERY = 20          # training steps per history row and loss-curve block (gradflow.json records it)


def _short(v):
    """A float rounded to 5 significant digits (keeps metric lines short)."""
    return float(f"{float(v):.5g}")


def step_metrics(net, grad_norm=None, clip_norm=None, history=None):
    """Extra metrics for one training step, for ``RunDir.log(**metrics)``.

    Call after ``net.backward`` with ``record_grad_norms`` on (``net.rnn`` or
    ``net`` itself is the recurrent layer) and after clipping:
    ``grad_norm`` is the global norm before clipping (what ``clip_grad_norm``
    returns), ``clip_norm`` the threshold (``None``: no clipping).  Returns
    ``{"grad_norm", "grad_norm_clipped", "clipped", "clip_rate" (running share,
    only when ``history`` — a dict you keep — is given), "dh_norms"}``, where
    ``dh_norms`` is ``{"l{k}[_reverse]": [‖∂L/∂h_{T-1-lag}‖ for lag 0..T-1]}``,
    one list per layer and direction, each the batch mean; keys are left out
    when their inputs are absent.
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
    norms = getattr(layer, "grad_norms_", None)
    if norms:
        out["dh_norms"] = {k: [_short(v) for v in np.asarray(n)[::-1]] for k, n in sorted(norms.items())}
    return out


def _make(cell, hidden, seed, dtype=np.float32):
    """A one-layer net of cell ``cell`` recording its gradient flow, and its read-out."""
    rng = np.random.default_rng(seed)
    layer = build_layer(cell, 2, hidden, batch_first=True, seed=rng, dtype=dtype)
    layer.record_grad_norms = True
    return layer, Dense(hidden, 1, seed=rng, dtype=dtype)


def _probe(cell, layer, head, x, y):
    """``(loss, ‖∂L_T/∂h_t‖ (T,))`` measured on a float64 copy of the trained net,
    so that flows below float32's range (1e-38) are still numbers, not 0."""
    twin, twin_head = _make(cell, layer.hidden_size, 0, dtype=np.float64)
    twin.load_state_dict({k: v.astype(np.float64) for k, v in layer.state_dict().items()})
    twin_head.load_state_dict({k: v.astype(np.float64) for k, v in head.state_dict().items()})
    loss = readout_loss(twin, twin_head, x.astype(np.float64), y.astype(np.float64))
    return float(loss), twin.grad_norms_["l0"].copy()


def _ratio(norms):
    return float(norms[0] / norms[-1]) if norms[-1] > 0 else float("nan")


class _FlowRecord(Callback):
    """What the experiment keeps of a cell's training: how many steps clipped,
    and ``‖∂L_T/∂h_t‖`` of the batch every ``record_every`` steps (a diverging
    step, a non-finite loss or gradient, ends training before its update: the
    trainer's ``divergence="stop"``)."""

    def __init__(self, layer, clip_norm, record_every):
        self.layer, self.clip_norm, self.record_every = layer, clip_norm, record_every
        self.clipped, self.history = 0, {"step": [], "dh_norms": []}

    def on_step_end(self, step, metrics):
        if self.clip_norm is not None:
            self.clipped += metrics["grad_norm"] > self.clip_norm
        if self.record_every and (step - 1) % self.record_every == 0:
            self.history["step"].append(step - 1)
            self.history["dh_norms"].append([float(v) for v in self.layer.grad_norms_["l0"][::-1]])


def gradflow_experiment(cells=("rnn_tanh", "rnn_relu", "lstm", "gru", "lstm_fb0"), T=100, hidden=32, batch=64,
                        steps=1500, lr=1e-2, clip_norm=1.0, seed=0, n_test=512, record_every=RECORD_EVERY, log=None):
    """Gradient flow through time before and after training on the adding problem.

    Each cell (a :mod:`rnnkit.registry` name; ``lstm_fb0`` is the LSTM with
    forget bias 0) gets a one-layer recurrent net of ``hidden`` units and a
    linear read-out of the last state, trained for ``steps`` Adam steps (``lr``;
    global-norm clipping at ``clip_norm``, or none when ``None``) on fresh batches
    of ``batch`` sequences (float32).  ``‖∂L_T/∂h_t‖`` is the batch mean over a
    fixed probe set of ``n_test`` held-out sequences, at initialisation and
    after training, measured in float64 on a copy of the net (so that tiny
    flows do not underflow to 0); the ratio is ``‖∂L_T/∂h_1‖ / ‖∂L_T/∂h_T‖``.

    Returns ``{cell: {"init" (T,), "trained" (T,), "ratio_init", "ratio_trained",
    "test_mse_init", "test_mse" (held-out MSE after training; the constant answer
    scores 1/6 ≈ 0.167), "loss_first", "loss_last" (mean train MSE of the first
    and last 10 steps), "clip_rate", "steps_run" (fewer than ``steps`` if training
    diverged: :mod:`rnnkit.training`), "history" ({"step": [...], "dh_norms": [[lag 0..T-1], ...]}
    every ``record_every`` steps, from the training batches), "loss_curve" (mean
    train MSE of each block of ``record_every`` steps), "solved_step" (end of the
    first block whose mean train MSE is below 0.05, or ``None``), "seconds"}}``.
    """
    xe, ye = adding_problem(n_test, T, np.random.default_rng(seed + 999))
    out = {}
    for cell in cells:
        t0 = time.perf_counter()
        data_rng = np.random.default_rng(seed + 1000)           # same training batches for every cell
        layer, head = _make(cell, hidden, seed)
        mse_init, init = _probe(cell, layer, head, xe, ye)
        record = _FlowRecord(layer, clip_norm, record_every)
        trainer = Trainer(lambda batch, state: (float(readout_loss(layer, head, *batch)), None),
                          lambda: joint_grads(rnn=layer, head=head),
                          Adam(joint_parameters(rnn=layer, head=head), lr=lr), clip_norm=clip_norm, callbacks=[record],
                          divergence="stop", explode=None)      # an experiment: only NaN/inf stop it
        losses = trainer.fit(lambda epoch: (adding_problem(batch, T, data_rng) for _ in range(steps))).losses
        test_mse, trained = _probe(cell, layer, head, xe, ye)
        n = len(losses)
        w = max(record_every, 1)
        curve = [float(np.mean(losses[i:i + w])) for i in range(0, n, w)]
        solved = next((min(i * w + w, n) for i, v in enumerate(curve) if v < 0.05), None)   # a last block may be short
        r = {"init": init, "trained": trained, "ratio_init": _ratio(init), "ratio_trained": _ratio(trained),
             "test_mse_init": mse_init, "test_mse": test_mse,
             "loss_first": float(np.mean(losses[:10])) if losses else float("nan"),
             "loss_last": float(np.mean(losses[-10:])) if losses else float("nan"),
             "clip_rate": record.clipped / max(n, 1), "steps_run": n, "history": record.history,
             "loss_curve": curve, "solved_step": solved,
             "seconds": time.perf_counter() - t0}
        out[cell] = r
        if log:
            log(f"{cell:9s} ratio |dL/dh_1|/|dL/dh_T| init {r['ratio_init']:.3e}  trained "
                f"{r['ratio_trained']:.3e}  test MSE {mse_init:.4f} -> {test_mse:.4f}  "
                f"clip rate {r['clip_rate']:.2f}  {n} steps, train MSE < 0.05 by step {solved} "
                f"({r['seconds']:.1f}s)")
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
    try:
        save_figure(fig, path, dpi=100)         # atomic, never through a link
    finally:
        plt.close(fig)
    return path
