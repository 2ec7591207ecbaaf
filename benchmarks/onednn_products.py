"""The step products through oneDNN, PyTorch's own CPU engine, instead of NumPy's OpenBLAS.

    pip install onednn-cpu-gomp==2023.2.0       # 39 MB, libgomp; not a dependency of rnnkit
    python benchmarks/onednn_products.py [--repeats 9] [--out FILE.json | --no-out] [--tiny]

torch's CPU LSTM is oneDNN's RNN primitive: a JIT-compiled product with the
weights packed once per pass, followed by the gate arithmetic on the same
threads.  This script asks how much of the gap to it (``compare_torch.py``'s
P2 and P3 inference) is that product, by calling oneDNN's matmul primitive
through its C API (:mod:`ctypes`) with the weights packed (format ``any``),
and measures three things at the LSTM shapes of ``compare_torch.py``:

1. ``products``: one step's recurrent product, microseconds, each way alone
   (blocks after 0.3 s of idle): OpenBLAS in the column layout rnnkit uses
   (``W_hh (4H, H) @ h (H, B)``), and oneDNN ``h (B, H) @ W_hh.T`` with
   ``W_hh.T`` packed.
2. ``mixed``: the two products called alternately, one of each per pair,
   against the sum of their times alone: what running OpenBLAS's thread pool
   (NumPy's) and OpenMP's (oneDNN's) in one program costs.
3. ``inference``: a whole inference pass of one LSTM layer (``D`` as in the
   benchmark), three ways interleaved: rnnkit as it is (``LSTM.forward``),
   torch (``nn.LSTM`` under ``no_grad``), and a loop with oneDNN's products:
   the input projection and every step's product by oneDNN, the gate
   arithmetic by rnnkit's own batch-major kernel
   (``rnnkit.kernels.lstm.lstm_forward_step``), the steps driven by one
   compiled (numba) call.  The outputs of the three are compared.

The results go to ``benchmarks/results/onednn_products.json`` (``--out``
elsewhere; a ``--tiny`` run or a subset of ``--shapes`` writes only where
``--out`` says).  Nothing in
rnnkit uses oneDNN; ``docs/performance.md`` says why.  Exits with a message
(status 2) when ``libdnnl.so.3`` is not found.
"""
from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import glob
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _results  # noqa: E402
from compare_torch import matmul_gflops, numpy_threads  # noqa: E402

SHAPES = {"P2": (64, 64, 256, 32), "P3": (100, 128, 512, 64), "P5": (48, 4, 32, 64)}   # T, D, H, B
TINY = (5, 3, 8, 4)
F32, CPU, IN_ORDER, FORMAT_ANY = 3, 1, 1, 1           # oneDNN enums: dnnl_f32, dnnl_cpu, stream flag, tag any
ARG_SRC, ARG_WEIGHTS, ARG_DST, QUERY_WEIGHTS_MD = 1, 33, 17, 131
Dims = ctypes.c_int64 * 12


class Arg(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_int), ("memory", ctypes.c_void_p)]


def find_library():
    """``libdnnl.so.3`` from the ``onednn-cpu-gomp`` wheel (installed into ``sys.prefix/lib``) or the system."""
    for path in sorted(glob.glob(os.path.join(sys.prefix, "lib", "libdnnl.so.3*"))) + [ctypes.util.find_library("dnnl")]:
        if path:
            try:
                return ctypes.CDLL(path)
            except OSError:
                continue
    return None


class OneDNN:
    """An engine and a stream, and packed matmul primitives ``y (M, N) [+]= x (M, K) @ w (K, N)``."""

    def __init__(self, lib):
        self.lib = lib
        lib.dnnl_primitive_desc_query_md.restype = ctypes.c_void_p
        lib.dnnl_memory_desc_get_size.restype = ctypes.c_size_t
        lib.dnnl_memory_set_data_handle.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        lib.dnnl_primitive_execute.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
        self.engine, self.stream = ctypes.c_void_p(), ctypes.c_void_p()
        self._ok(lib.dnnl_engine_create(ctypes.byref(self.engine), CPU, ctypes.c_size_t(0)), "engine")
        self._ok(lib.dnnl_stream_create(ctypes.byref(self.stream), self.engine, IN_ORDER), "stream")
        i64 = ctypes.c_int64          # the two calls a compiled loop makes, with handles as integers
        self.set_handle = ctypes.CFUNCTYPE(ctypes.c_int, i64, i64)(
            ctypes.cast(lib.dnnl_memory_set_data_handle, ctypes.c_void_p).value)
        self.execute = ctypes.CFUNCTYPE(ctypes.c_int, i64, i64, ctypes.c_int, i64)(
            ctypes.cast(lib.dnnl_primitive_execute, ctypes.c_void_p).value)

    @staticmethod
    def _ok(status, what):
        if status != 0:
            raise RuntimeError(f"oneDNN {what}: status {status}")

    def _desc(self, shape, strides=None):
        md = ctypes.c_void_p()
        if strides is None:
            self._ok(self.lib.dnnl_memory_desc_create_with_tag(ctypes.byref(md), len(shape), Dims(*shape), F32,
                                                               FORMAT_ANY), "memory desc")
        else:
            self._ok(self.lib.dnnl_memory_desc_create_with_strides(ctypes.byref(md), len(shape), Dims(*shape), F32,
                                                                   Dims(*strides)), "memory desc")
        return md

    def _memory(self, md, ptr=None):
        m = ctypes.c_void_p()
        self._ok(self.lib.dnnl_memory_create(ctypes.byref(m), md, self.engine, ctypes.c_void_p(ptr)), "memory")
        return m

    def _run(self, prim, args):
        arr = (Arg * len(args))(*[Arg(a, m) for a, m in args])
        self._ok(self.lib.dnnl_primitive_execute(prim, self.stream, len(args), arr), "execute")
        self.lib.dnnl_stream_wait(self.stream)

    def packed(self, w, M, accumulate=False):
        """A primitive for ``y (M, N) [+]= x (M, K) @ w`` with ``w`` (K, N) (any strides) packed
        now; call it as ``p(x_ptr, y_ptr)`` (C-contiguous float32 operands)."""
        lib, (K, N) = self.lib, w.shape
        src, dst = self._desc((M, K), (K, 1)), self._desc((M, N), (N, 1))
        attr = ctypes.c_void_p()
        self._ok(lib.dnnl_primitive_attr_create(ctypes.byref(attr)), "attr")
        if accumulate:
            post = ctypes.c_void_p()
            self._ok(lib.dnnl_post_ops_create(ctypes.byref(post)), "post-ops")
            self._ok(lib.dnnl_post_ops_append_sum(post, ctypes.c_float(1.0), ctypes.c_int32(0), 0), "sum")
            self._ok(lib.dnnl_primitive_attr_set_post_ops(attr, post), "set post-ops")
        pd, prim = ctypes.c_void_p(), ctypes.c_void_p()
        self._ok(lib.dnnl_matmul_primitive_desc_create(ctypes.byref(pd), self.engine, src, self._desc((K, N)),
                                                       None, dst, attr), "matmul")
        self._ok(lib.dnnl_primitive_create(ctypes.byref(prim), pd), "primitive")
        w_md = ctypes.c_void_p(lib.dnnl_primitive_desc_query_md(pd, QUERY_WEIGHTS_MD, 0))
        buf = np.empty(lib.dnnl_memory_desc_get_size(w_md) // 4 + 16, np.float32)
        w_packed = self._memory(w_md, buf.ctypes.data)
        w_plain_md = self._desc((K, N), tuple(s // w.itemsize for s in w.strides))
        rpd, reorder = ctypes.c_void_p(), ctypes.c_void_p()
        self._ok(lib.dnnl_reorder_primitive_desc_create(ctypes.byref(rpd), w_plain_md, self.engine, w_md,
                                                        self.engine, None), "reorder")
        self._ok(lib.dnnl_primitive_create(ctypes.byref(reorder), rpd), "reorder primitive")
        self._run(reorder, [(ARG_SRC, self._memory(w_plain_md, w.ctypes.data)), (ARG_DST, w_packed)])
        return Packed(self, prim, self._memory(src), self._memory(dst), w_packed, buf)


class Packed:
    def __init__(self, dnn, prim, m_src, m_dst, w_packed, buf):
        self.dnn, self.prim, self.m_src, self.m_dst, self._keep = dnn, prim, m_src, m_dst, (w_packed, buf)
        self.args = (Arg * 3)(Arg(ARG_SRC, m_src), Arg(ARG_WEIGHTS, w_packed), Arg(ARG_DST, m_dst))
        self.handles = (m_src.value, m_dst.value, prim.value, dnn.stream.value, ctypes.addressof(self.args))

    def __call__(self, x_ptr, y_ptr):
        lib = self.dnn.lib
        lib.dnnl_memory_set_data_handle(self.m_src, x_ptr)
        lib.dnnl_memory_set_data_handle(self.m_dst, y_ptr)
        lib.dnnl_primitive_execute(self.prim, self.dnn.stream, 3, self.args)


def compiled_loop():
    """The inference steps with oneDNN's products and rnnkit's batch-major gate kernel, compiled."""
    import numba

    from rnnkit.kernels import activations, lstm

    gate_kernel = lstm.lstm_forward_step

    @numba.njit(**activations.JIT)
    def loop(set_handle, execute, m_src, m_dst, prim, stream, args, xp, hp, bx, scales, h0, c, act, tc, hs):
        hprev = h0
        for t in range(xp.shape[0]):
            set_handle(m_src, hprev.ctypes.data)
            set_handle(m_dst, hp.ctypes.data)
            execute(prim, stream, 3, args)
            gate_kernel(hp, xp[t], bx, scales, c[t % 2], act, c[(t + 1) % 2], tc, hs[t])
            hprev = hs[t]
    return loop


def timed(fn, n, settle):
    """Seconds per call over ``n`` calls, after ``settle`` s of idle and 0.05 s of warm-up calls."""
    time.sleep(settle)
    end = time.perf_counter() + 0.05
    while time.perf_counter() < end:
        fn()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def interleaved(fns, n, repeats, settle):
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            times[k].append(timed(f, n[k] if isinstance(n, dict) else n, settle))
    return {k: statistics.median(v) for k, v in times.items()}


def calls_for(fn, seconds):
    t0 = time.perf_counter()
    fn()
    return max(1, min(2000, int(seconds / max(time.perf_counter() - t0, 1e-7))))


def products(dnn, T, D, H, B, repeats, settle, sample):
    rng = np.random.default_rng(0)
    W_hh = (rng.standard_normal((4 * H, H)) / np.sqrt(H)).astype(np.float32)
    h_col, h_rows = rng.standard_normal((H, B)).astype(np.float32), rng.standard_normal((B, H)).astype(np.float32)
    y_col, y_rows = np.empty((4 * H, B), np.float32), np.empty((B, 4 * H), np.float32)
    step = dnn.packed(W_hh.T, B)
    step(h_rows.ctypes.data, y_rows.ctypes.data)
    agree = float(np.abs(y_rows - h_rows @ W_hh.T).max())
    fns = {"openblas_columns": lambda: np.matmul(W_hh, h_col, out=y_col),
           "onednn_packed_rows": lambda: step(h_rows.ctypes.data, y_rows.ctypes.data)}
    alone = interleaved(fns, {k: calls_for(f, sample) for k, f in fns.items()}, repeats, settle)

    def pair():
        np.matmul(W_hh, h_col, out=y_col)
        step(h_rows.ctypes.data, y_rows.ctypes.data)
    mixed = interleaved({"pair": pair}, calls_for(pair, sample), repeats, settle)["pair"]
    flops = 2 * 4 * H * H * B
    return {"us": {k: v * 1e6 for k, v in alone.items()},
            "gflops": {k: flops / v / 1e9 for k, v in alone.items()},
            "mixed_pair_us": mixed * 1e6, "alone_sum_us": sum(alone.values()) * 1e6,
            "mixed_slowdown": mixed / sum(alone.values()), "agree": agree}


def inference(dnn, torch, loop, T, D, H, B, repeats, settle, sample):
    from rnnkit.kernels import lstm
    from rnnkit.recurrent import LSTM

    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, B, D)).astype(np.float32)
    layer = LSTM(D, H, dtype=np.float32, seed=1)
    p = layer.params
    W_ih, W_hh = p["weight_ih_l0"], p["weight_hh_l0"]
    bx = p["bias_ih_l0"] + p["bias_hh_l0"]
    t_layer = torch.nn.LSTM(D, H)
    with torch.no_grad():
        for k, v in t_layer.named_parameters():
            v.copy_(torch.from_numpy(p[k].copy()))
    tx = torch.from_numpy(x)
    proj, step = dnn.packed(W_ih.T, T * B), dnn.packed(W_hh.T, B)
    xp, hp, act = np.empty((T, B, 4 * H), np.float32), np.empty((B, 4 * H), np.float32), np.empty((B, 4 * H), np.float32)
    c, tc, hs, h0 = np.zeros((2, B, H), np.float32), np.empty((B, H), np.float32), np.empty((T, B, H), np.float32), \
        np.zeros((B, H), np.float32)
    scales = lstm.lstm_gate_scales(H)

    def onednn_loop():
        proj(x.ctypes.data, xp.ctypes.data)
        c[0] = 0
        loop(dnn.set_handle, dnn.execute, *step.handles, xp, hp, bx, scales, h0, c, act, tc, hs)
        return hs

    def rnnkit():
        return layer.forward(x, keep_cache=False)[0]

    def torch_():
        with torch.no_grad():
            return t_layer(tx)[0]

    ref = torch_().numpy()
    agree = {"rnnkit": float(np.abs(rnnkit() - ref).max()), "onednn_loop": float(np.abs(onednn_loop() - ref).max())}
    fns = {"rnnkit": rnnkit, "torch": torch_, "onednn_loop": onednn_loop}
    med = interleaved(fns, {k: calls_for(f, sample) for k, f in fns.items()}, repeats, settle)
    return {"ms": {k: v * 1e3 for k, v in med.items()},
            "ratio_torch_over": {k: med["torch"] / med[k] for k in ("rnnkit", "onednn_loop")},
            "agree_with_torch": agree}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=9, help="interleaved samples of each way (default 9)")
    ap.add_argument("--shapes", default="P2,P3,P5", help="comma-separated, from P2, P3, P5")
    ap.add_argument("--settle", type=float, default=0.3, help="seconds of idle before each timed block")
    ap.add_argument("--sample-seconds", type=float, default=0.2, help="about this long per timed block")
    _results.add_out_options(ap, __file__)
    ap.add_argument("--tiny", action="store_true", help="(T, D, H, B) = (5, 3, 8, 4) for every shape (smoke test)")
    args = ap.parse_args(argv)
    shapes = [s.strip() for s in args.shapes.split(",")]
    unknown = [s for s in shapes if s not in SHAPES]
    if unknown:
        print(f"unknown shape {unknown[0]!r}: choose from {', '.join(SHAPES)}", file=sys.stderr)
        return 2
    import torch                  # first: its libgomp is then the one oneDNN and numba share
    lib = find_library()
    if lib is None:
        print("libdnnl.so.3 not found: pip install onednn-cpu-gomp==2023.2.0 (39 MB), then run this again",
              file=sys.stderr)
        return 2
    threads = numpy_threads()
    torch.set_num_threads(threads)
    dnn, loop = OneDNN(lib), compiled_loop()
    settle = 0.0 if args.tiny else args.settle
    sample = 0.002 if args.tiny else args.sample_seconds
    rate = matmul_gflops(256 if args.tiny else 1024)
    info = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "threads": threads,
            "matmul_gflops": rate, "onednn": "onednn-cpu-gomp 2023.2.0 (oneDNN 3.2)", "tiny": args.tiny, "results": {}}
    print(f"float32 matmul {rate:.0f} GFLOP/s; {threads} threads; median of {args.repeats}")
    for sid in shapes:
        T, D, H, B = TINY if args.tiny else SHAPES[sid]
        pr = products(dnn, T, D, H, B, args.repeats, settle, sample)
        inf = inference(dnn, torch, loop, T, D, H, B, args.repeats, settle, sample)
        info["results"][sid] = {"T": T, "D": D, "H": H, "B": B, "products": pr, "inference": inf}
        us, ms = pr["us"], inf["ms"]
        print(f"{sid} step product: OpenBLAS columns {us['openblas_columns']:.1f} us, oneDNN packed "
              f"{us['onednn_packed_rows']:.1f} us; alternating {pr['mixed_pair_us']:.1f} us a pair against "
              f"{pr['alone_sum_us']:.1f} alone (x{pr['mixed_slowdown']:.2f})")
        print(f"{sid} inference: rnnkit {ms['rnnkit']:.3f} ms, torch {ms['torch']:.3f}, oneDNN-product loop "
              f"{ms['onednn_loop']:.3f}; torch/rnnkit {inf['ratio_torch_over']['rnnkit']:.2f}, torch/loop "
              f"{inf['ratio_torch_over']['onednn_loop']:.2f}; largest |diff| from torch "
              f"{max(inf['agree_with_torch'].values()):.1e}")
    partial = args.tiny or shapes != list(SHAPES)
    _results.write(_results.out_path(args, __file__, smoke=partial), info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
