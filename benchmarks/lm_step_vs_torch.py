"""The language model's training step, rnnkit against PyTorch, interleaved in one process.

    python benchmarks/lm_step_vs_torch.py [--repeats 15] [--out FILE.json | --no-out]

The network and step of ``benchmarks/lm_vs_torch.py`` (bytes, embedding 64,
2-layer LSTM 256, dense 256; B 32 stateful streams, T 64; softmax
cross-entropy, global-norm clip 5, Adam 2e-3), on the same batches from the
same initial weights, timed as three sides in alternating blocks (each side:
0.1 s of sleep, one untimed step, then 3 timed steps):

* ``rnnkit``: ``TokenRNN`` as ``LanguageModel`` trains it (the layer takes the
  ids and the embedding, folded into its input projection: ``rnnkit.tokens``);
* ``rnnkit_unfolded``: the same network with the vectors looked up first,
  ``rnn(embed(ids))``, and ``dx`` handed to ``embed.backward``;
* ``torch``: ``nn.Embedding`` + ``nn.LSTM`` + ``nn.Linear`` (``torch==2.13.0``).

``lm_vs_torch.py`` runs the two libraries one after the other for minutes, so
a shared machine's drift lands on one side; here it lands on all three alike.
Prints the median milliseconds per step and the ratios torch / rnnkit, and
writes them to ``benchmarks/results/lm_step_vs_torch.json`` (``--out``
elsewhere).  rnnkit's step runs through :class:`rnnkit.training.Trainer`, the
loop ``LanguageModel.fit`` runs (clipping, Adam, the carried state, the BLAS
thread choice per step); its callbacks (metrics, logging) are not timed.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _results  # noqa: E402
from rnnkit.losses import softmax_cross_entropy  # noqa: E402
from rnnkit.models import TokenRNN  # noqa: E402
from rnnkit.optim import Adam  # noqa: E402
from rnnkit.training import Trainer  # noqa: E402
from lm_vs_torch import torch_twin  # noqa: E402

V, E, H, L, B, T, LR, CLIP = 256, 64, 256, 2, 32, 64, 2e-3, 5.0


def rnnkit_stepper(ids, fold, H=H, V=V, E=E, L=L):
    """rnnkit's training step on window ``w`` of ``ids`` (B, ·), run by the one
    training loop (:class:`rnnkit.training.Trainer`, as ``LanguageModel.fit`` runs
    it: clipping, Adam, the carried state, the per-step thread choice): returns
    ``(net, step)``."""
    net = TokenRNN(V, H, L, "lstm", E, seed=0)
    opt = Adam(net.named_parameters(), lr=LR)

    def train_step(w, state):
        x, y = ids[:, w * T:(w + 1) * T], ids[:, w * T + 1:(w + 1) * T + 1]
        if fold:
            logits, s = net.forward(x, state)
        else:
            h, s = net.rnn.forward(net.embed(x), state)
            logits = net.head(h)
        loss, d = softmax_cross_entropy(logits, y)
        if fold:
            net.backward(d)
        else:
            dx, _ = net.rnn.backward(net.head.backward(d))
            net.embed.backward(dx)
        return loss, s

    trainer = Trainer(train_step, net.named_grads, opt, clip_norm=CLIP, batch_size=lambda w: B * T)

    def step(w):
        return trainer.update(w)["loss"]
    return net, step


def torch_stepper(torch, weights, ids, H=H, V=V, E=E, L=L):
    """The PyTorch twin's training step from ``weights`` (rnnkit's state dict)."""
    from torch import nn

    net = torch_twin(torch, weights, V, E, H, L)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    X = torch.from_numpy(ids)
    state = [None]

    def step(w):
        logits, s = net(X[:, w * T:(w + 1) * T], state[0])
        loss = nn.functional.cross_entropy(logits.reshape(-1, V), X[:, w * T + 1:(w + 1) * T + 1].reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), CLIP)
        opt.step()
        state[0] = tuple(t.detach() for t in s)
        return loss.item()
    return step


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15, help="alternating blocks per side (default 15)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    _results.add_out_options(ap, __file__)
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    windows = 4 * args.repeats + 1
    ids = np.random.default_rng(0).integers(0, V, (B, windows * T + 1))
    net, folded = rnnkit_stepper(ids, True)
    sides = {"rnnkit": folded, "rnnkit_unfolded": rnnkit_stepper(ids, False)[1],
             "torch": torch_stepper(torch, net.state_dict(), ids)}
    first = {k: step(0) for k, step in sides.items()}           # warm-up; equal weights: equal first losses
    times = {k: [] for k in sides}
    w = 1
    for _ in range(args.repeats):
        for k, step in sides.items():
            time.sleep(0.1)
            step(w)                                              # warm-up: threads awake, caches filled
            t0 = time.perf_counter()
            for i in range(1, 4):
                step(w + i)
            times[k].append((time.perf_counter() - t0) / 3)
        w += 4
    ms = {k: 1e3 * statistics.median(v) for k, v in times.items()}
    print(f"LM training step (median ms): rnnkit {ms['rnnkit']:.1f}, rnnkit without the fold "
          f"{ms['rnnkit_unfolded']:.1f}, torch {ms['torch']:.1f}; torch / rnnkit {ms['torch'] / ms['rnnkit']:.3f} "
          f"(without the fold {ms['torch'] / ms['rnnkit_unfolded']:.3f}); first-step losses "
          + ", ".join(f"{k} {float(v):.5f}" for k, v in first.items()))
    _results.write(_results.out_path(args, __file__),
                   {"ms_per_step": ms, "first_loss": {k: float(v) for k, v in first.items()},
                    "repeats": args.repeats, "torch_threads": torch.get_num_threads(),
                    "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())})
    return 0


if __name__ == "__main__":
    sys.exit(main())
