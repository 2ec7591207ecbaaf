"""Where a step of the compiled LSTM column loop goes: the product or the gate kernel.

    python benchmarks/step_breakdown.py [--repeats 15] [--out FILE.json | --no-out] [--tiny]

For the LSTM shapes of ``compare_torch.py`` (P2: H 256, B 32, T 64; P3: H 512,
B 64, T 100; P5: H 32, B 64, T 48), runs the forward and the backward loop of
the column layout (:mod:`rnnkit.loops.columns`) three ways, each as one
compiled call over all steps: as the library runs it (product, then kernel),
the step products alone (``sgemm`` through NumPy's own BLAS, as
:mod:`rnnkit.kernels.blas` finds it), and the kernels alone.  Prints
microseconds per step (medians) and the products' GFLOP/s beside the machine's
float32 matmul rate, and writes them to ``benchmarks/results/step_breakdown.json``
(``--out`` elsewhere; a ``--tiny`` run or a subset of ``--shapes`` writes only
where ``--out`` says).  The
loops here copy the library's (``lstm_columns_forward``,
``lstm_columns_backward``) with the two switches added, and the script first
checks that both switches on give the library's result to the bit;
``tests/engine/test_loops.py`` checks the library's.
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
from compare_torch import matmul_gflops  # noqa: E402
from rnnkit.kernels import activations, lstm, product, sync  # noqa: E402  (numba: this script needs it)

SHAPES = {"P2": (64, 256, 32), "P3": (100, 512, 64), "P5": (48, 32, 64)}     # T, H, B
TINY = (5, 8, 4)                                                               # --tiny: every shape this


def loops():
    """The two switched loops, compiled (numba is needed)."""
    import numba

    JIT, cell_forward, cell_backward = activations.JIT, lstm.lstm_forward_cols_acc, lstm.lstm_backward_cols
    product_gates = product.product_gates

    one, zero = np.float32(1.0), np.float32(0.0)

    @numba.njit(**JIT)
    def forward(sgemm, W_hh, bx, scales, hcols, hrows, c, act, tc, products, kernels, group, block):
        T, G, B = act.shape
        H = G // 4
        for t in range(T):
            if products:
                product_gates(sgemm, W_hh, hcols[t % 2], one, act[t], H, 0, H, 0, B, group, block)
            if kernels:
                cell_forward(act[t], bx, scales, c[t], c[t + 1], tc[t], hcols[(t + 1) % 2], hrows[t + 1], 0, H, 0, B)

    @numba.njit(**JIT)
    def backward(sgemm, W_hh_T, act, tc, c, dhs, dh, dc, dA, products, kernels, group, block):
        T, G, B = dA.shape
        H = G // 4
        for k in range(T):
            t = T - 1 - k
            if kernels:
                cell_backward(act[t], tc[t], c[t], dh, dhs[t], dc, dA[t], 0, H, 0, B)
            if products:
                product_gates(sgemm, W_hh_T, dA[t], zero, dh, H, 0, H, 0, B, group, block)

    return forward, backward, lstm.lstm_gate_scales


def _blocks(H, B):
    """The library's columns and rows per product call, forward and back (:mod:`rnnkit.kernels.product`)."""
    G = 4 * H
    return product.GROUP, (product.unit_block(H, G, H), product.unit_block(H, G, G))


def agrees(T, H, B, forward, backward, sgemm):
    """The switched loops, both switches on, against the library's
    ``lstm_columns_forward`` / ``lstm_columns_backward`` on the same arrays:
    ``(max |difference|)`` over ``h``, ``c``, the gates and the gate gradients."""
    G = 4 * H
    group, blocks = _blocks(H, B)
    rng = np.random.default_rng(1)
    W = (rng.standard_normal((G, H)) / np.sqrt(H)).astype(np.float32)
    xp = rng.standard_normal((T, G, B)).astype(np.float32)
    dhs = rng.standard_normal((T, B, H)).astype(np.float32)
    bx, scales = (rng.standard_normal(G) * 0.1).astype(np.float32), lstm.lstm_gate_scales(H)
    runs = []
    for mine in (True, False):
        act, hrows, c = xp.copy(), np.zeros((T + 1, B, H), np.float32), np.zeros((T + 1, H, B), np.float32)
        tc, hcols, dA = np.empty((T, H, B), np.float32), np.zeros((2, H, B), np.float32), np.empty((T, G, B), np.float32)
        dh, dc = np.zeros((H, B), np.float32), np.zeros((H, B), np.float32)
        W_T = np.ascontiguousarray(W.T)
        if mine:
            forward(sgemm, W, bx, scales, hcols, hrows, c, act, tc, True, True, group, blocks[0])
            backward(sgemm, W_T, act, tc, c, dhs, dh, dc, dA, True, True, group, blocks[1])
        else:
            none, f32 = np.empty(0, np.int64), np.float32      # no W_ih: act enters with the projections
            lstm.lstm_columns_forward(sgemm, sync.pause(), np.empty((0, 0), f32), np.empty((0, 0, 0), f32), W, bx,
                                      scales, hcols, hrows, c, act, tc, none, False, True, 0, H, 0, B, sync.new(), 1, group,
                                      blocks[0])
            lstm.lstm_columns_backward(sgemm, sync.pause(), W_T, act, tc, c, dhs, dh, dc, dA, none, False,
                                       np.empty((0, 0, 0)), 0, H, 0, B, sync.new(), 1, group, blocks[1])
        runs.append((hrows, c, act, dA, dh, dc))
    return max(float(np.abs(a - b).max()) for a, b in zip(*runs))


def measure(T, H, B, repeats, forward, backward, gate_scales, sgemm):
    """Microseconds per step: ``{"forward": {"whole", "products", "kernels"}, "backward": {...}}``."""
    G = 4 * H
    group, blocks = _blocks(H, B)
    rng = np.random.default_rng(0)
    W = (rng.standard_normal((G, H)) / np.sqrt(H)).astype(np.float32)
    W_T = np.ascontiguousarray(W.T)
    xp = (rng.standard_normal((T, G, B)) * 0.5).astype(np.float32)
    bx, scales = np.zeros(G, np.float32), gate_scales(H)
    act, tc, dA = np.empty_like(xp), np.empty((T, H, B), np.float32), np.empty((T, G, B), np.float32)
    hrows, c = np.zeros((T + 1, B, H), np.float32), np.zeros((T + 1, H, B), np.float32)
    hcols = np.zeros((2, H, B), np.float32)
    dhs = (rng.standard_normal((T, B, H)) * 0.1).astype(np.float32)

    def fwd(products, kernels):
        act[:] = xp                                      # the projection the loop starts from
        hcols[:] = 0
        t0 = time.perf_counter()
        forward(sgemm, W, bx, scales, hcols, hrows, c, act, tc, products, kernels, group, blocks[0])
        return time.perf_counter() - t0

    def bwd(products, kernels):
        dh, dc = np.zeros((H, B), np.float32), np.zeros((H, B), np.float32)
        t0 = time.perf_counter()
        backward(sgemm, W_T, act, tc, c, dhs, dh, dc, dA, products, kernels, group, blocks[1])
        return time.perf_counter() - t0

    out = {}
    for name, run in (("forward", fwd), ("backward", bwd)):
        fwd(True, True)                                  # a real cache for the backward loops
        samples = {"whole": [], "products": [], "kernels": []}
        for _ in range(repeats):                         # the three ways interleaved
            for key, flags in (("whole", (True, True)), ("products", (True, False)), ("kernels", (False, True))):
                run(*flags)
                samples[key].append(run(*flags))
        out[name] = {k: 1e6 * statistics.median(v) / T for k, v in samples.items()}
        out[name]["product_gflops"] = 2.0 * G * H * B / (out[name]["products"] * 1e-6) / 1e9
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15, help="interleaved samples of each way (default 15)")
    ap.add_argument("--shapes", default=",".join(SHAPES), help=f"comma-separated, from {', '.join(SHAPES)}")
    _results.add_out_options(ap, __file__)
    ap.add_argument("--tiny", action="store_true", help=f"(T, H, B) = {TINY} for every shape (smoke test)")
    args = ap.parse_args(argv)
    from rnnkit.kernels import blas
    sgemm = blas.sgemm()
    if sgemm is None:
        print("no BLAS callable from compiled code here (see rnnkit.kernels.blas); nothing to measure")
        return 1
    forward, backward, gate_scales = loops()
    diff = agrees(*TINY, forward, backward, sgemm)
    print(f"these loops against the library's, largest difference: {diff:.1e}")
    if diff != 0.0:
        print("the loops here no longer compute what the library's do; update them")
        return 1
    rate = matmul_gflops()
    print(f"float32 matmul {rate:.0f} GFLOP/s; microseconds per step (median of {args.repeats})")
    print(f"{'':4} {'':9} {'whole':>8} {'product':>8} {'kernel':>8} {'product GF/s':>13}")
    results = {}
    for sid in args.shapes.split(","):
        T, H, B = TINY if args.tiny else SHAPES[sid]
        r = measure(T, H, B, args.repeats, forward, backward, gate_scales, sgemm)
        results[sid] = dict(T=T, H=H, B=B, **r)
        for name in ("forward", "backward"):
            d = r[name]
            print(f"{sid:4} {name:9} {d['whole']:8.1f} {d['products']:8.1f} {d['kernels']:8.1f} "
                  f"{d['product_gflops']:13.0f}")
    partial = args.tiny or list(results) != list(SHAPES)
    _results.write(_results.out_path(args, __file__, smoke=partial),
                   {"matmul_gflops": rate, "us_per_step": results, "tiny": args.tiny,
                    "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())})
    return 0


if __name__ == "__main__":
    sys.exit(main())
