"""The language model's training step with and without the embedding folded into
the first LSTM layer's input projection (rnnkit.tokens), interleaved in one process.

    python benchmarks/lm_step_fold.py [--repeats 15]

The network of ``benchmarks/lm_vs_torch.py`` (bytes, embedding 64, 2-layer LSTM
256, dense 256; B 32, T 64; Adam): ``TokenRNN.forward`` passes the ids and the
embedding to the layer (folded); the other side looks the vectors up first,
``rnn(embed(ids))``, and hands ``dx`` to ``embed.backward``.  Both sides update
the same network (the step's cost does not depend on the weights).  Prints the
median milliseconds per step of each side.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from rnnkit.losses import softmax_cross_entropy  # noqa: E402
from rnnkit.models import TokenRNN  # noqa: E402
from rnnkit.optim import Adam  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15, help="alternating blocks of 3 steps per side")
    args = ap.parse_args(argv)
    net = TokenRNN(256, 256, 2, "lstm", 64, seed=0)
    ids = np.random.default_rng(0).integers(0, 256, (32, 65))
    x, y = ids[:, :-1], ids[:, 1:]
    opt = Adam(net.named_parameters(), lr=2e-3)

    def step(fold):
        if fold:
            logits, _ = net.forward(x)
        else:
            h, _ = net.rnn.forward(net.embed(x))
            logits = net.head(h)
        _, d = softmax_cross_entropy(logits, y)
        if fold:
            net.backward(d)
        else:
            dx, _ = net.rnn.backward(net.head.backward(d))
            net.embed.backward(dx)
        opt.step(net.named_grads())

    for fold in (True, False):
        step(fold)
    times = {True: [], False: []}
    for _ in range(args.repeats):
        for fold in (True, False):
            t0 = time.perf_counter()
            for _ in range(3):
                step(fold)
            times[fold].append((time.perf_counter() - t0) / 3 * 1e3)
    folded, plain = statistics.median(times[True]), statistics.median(times[False])
    print(f"LM training step: folded {folded:.1f} ms, lookup then layer {plain:.1f} ms "
          f"({100 * (1 - folded / plain):.1f}% less)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
