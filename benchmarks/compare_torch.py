"""rnnkit against PyTorch (torch==2.13.0, CPU), each in a process of its own.

Usage::

    PYTHONPATH=src python benchmarks/compare_torch.py --repeats 7 --sample-seconds 0.3   # P1..P7
    PYTHONPATH=src python benchmarks/compare_torch.py --configs P1,P3 --repeats 15 --out bench.json
    PYTHONPATH=src python benchmarks/compare_torch.py --tiny            # CI smoke: tiny shapes, seconds

For every configuration both libraries get the same shapes, the same data and
the same initial weights (copied from the rnnkit model into the torch one), and
are timed in *alternating blocks*: each repeat times a block of rnnkit calls,
then a block of torch calls (then, for P1, the seeds' own loop), so load from
other processes hits all sides alike; every block starts with a short sleep and
untimed warm-up calls (see :func:`median_time`: without them the side that ran
second paid for the other library's still-spinning thread pool).  The figure
reported is the median over ``--repeats``.

Each library runs in a process of its own (:class:`SideProcess`, spawned per
configuration; rnnkit's never imports torch), which waits on a pipe while the
other times its block: two thread pools never share a process, and the one not
timed is idle.  The parent process builds both models once to check their
agreement and count memory, then only sends commands.  ``--in-process`` times
both in the parent instead (the protocol of earlier results).

Measured per configuration (float32):

* ``train``: one training step = forward + loss + BPTT + optimizer update.
* ``infer``: one inference pass (rnnkit ``keep_cache=False``; torch under
  ``torch.no_grad()``); for P6, one streaming step (``layer.step`` / one
  ``nn.LSTM`` call with ``T=1``).
* ``ratio`` = torch time / rnnkit time (> 1: rnnkit is faster).
* ``GFLOP/s``: multiply-add count of the recurrent and dense products (2 flops
  each; the training step counted as 3x the forward products) divided by the
  median time, and as a share of the machine's float32 matmul rate, measured
  at the start of the run with NumPy (1024x1024 @ 1024x1024).
* Memory: rnnkit: peak bytes allocated by NumPy during one training step
  (``tracemalloc``; NumPy reports its allocations to it).  torch: the bytes of
  tensors autograd saves for backward (``saved_tensors_hooks``, each storage
  counted once) -- torch has no CPU peak-memory counter, so this is the
  activation memory, a lower bound of its peak.  Both are also given per
  ``T*B*H`` (bytes per hidden unit per step per sequence, layers summed).
* ``agree``: largest difference, relative to the largest magnitude, between the
  two libraries' inference outputs and (after one training step from equal
  weights) gradients.  Should be below 1e-5 in float32.
* Spread: each side's ``(max - min) / median`` over its repeats is stored
  (``train_spread``, ``infer_spread``); a side whose samples spread over 25%
  of their median gets a warning on stderr (the machine too noisy to read it).

P2's rnnkit side passes the token ids and the embedding to the LSTM,
``lstm(ids, embedding=embed)``, which folds the lookup into the layer's input
projection (:mod:`rnnkit.tokens`; the same model, parameters and gradients);
a third side, timed in the same blocks, runs ``lstm(embed(ids))``.  torch:
``nn.Embedding`` then ``nn.LSTM``.

``torch.set_num_threads`` is set to NumPy's BLAS thread count (threadpoolctl);
both are printed.  The table goes to stdout; the JSON goes to
``benchmarks/results/compare_torch.json`` (``--out`` elsewhere, ``--no-out``
nowhere; a ``--tiny`` run or a subset of ``--configs`` writes only where
``--out`` says).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import gc
import os
import platform
import statistics
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _results  # noqa: E402
import rnnkit  # noqa: E402
from rnnkit.layers import Dense, Embedding  # noqa: E402
from rnnkit.losses import softmax_cross_entropy  # noqa: E402
from rnnkit.optim import Adagrad, Adam  # noqa: E402

# id: (description, kind, options); "tiny" holds the smoke-test shapes.
CONFIGS = {
    "P1": dict(what="seeds' case study: RNN tanh, one-hot 65, H 100, T 25, B 1, CE, Adagrad",
               cell="rnn", V=65, E=0, D=65, H=100, T=25, B=1, loss="ce", opt="adagrad",
               tiny=dict(V=11, D=11, H=8, T=5, B=1)),
    "P2": dict(what="char LM: embedding 96->64, LSTM 256, T 64, B 32, dense 96, CE, Adam",
               cell="lstm", V=96, E=64, D=64, H=256, T=64, B=32, loss="ce", opt="adam",
               tiny=dict(V=12, E=6, D=6, H=8, T=5, B=3)),
    "P3": dict(what="large LSTM: D 128, H 512, T 100, B 64, MSE, Adam",
               cell="lstm", D=128, H=512, T=100, B=64, loss="mse", opt="adam",
               tiny=dict(D=5, H=8, T=6, B=3)),
    "P4": dict(what="GRU (reset_after): D 64, H 256, T 64, B 32, MSE, Adam",
               cell="gru", D=64, H=256, T=64, B=32, loss="mse", opt="adam",
               tiny=dict(D=5, H=8, T=6, B=3)),
    "P5": dict(what="small time-series LSTM: D 4, H 32, T 48, B 64, MSE, Adam",
               cell="lstm", D=4, H=32, T=48, B=64, loss="mse", opt="adam",
               tiny=dict(D=3, H=6, T=5, B=4)),
    "P6": dict(what="streaming LSTM: D 16, H 128, B 1, one step per call",
               cell="lstm", D=16, H=128, T=1, B=1, loss=None, opt=None, stream=True,
               tiny=dict(D=4, H=8)),
    "P7": dict(what="tagger: 2-layer bidirectional LSTM, D 64, H 128, B 32, lengths 20..100 (torch: packed)",
               cell="lstm", D=64, H=128, T=100, B=32, layers=2, bidirectional=True, lengths=(20, 100),
               loss="mse", opt="adam", tiny=dict(D=4, H=6, T=7, B=3, lengths=(3, 7))),
}

LAYER = {"rnn": rnnkit.RNN, "lstm": rnnkit.LSTM, "gru": rnnkit.GRU}
GATES = {"rnn": 1, "lstm": 4, "gru": 3}


# ----------------------------------------------------------------------------- machine
def numpy_threads():
    try:
        from threadpoolctl import threadpool_info
        n = [i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"]
        if n:
            return int(n[0])
    except ImportError:  # pragma: no cover
        pass
    return os.cpu_count() or 1


def matmul_gflops(n=1024, repeats=5):
    """The machine's float32 matmul rate in GFLOP/s (NumPy, best of ``repeats``)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2.0 * n ** 3 / best / 1e9


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# ----------------------------------------------------------------------------- models
class Bench:
    """One configuration: the rnnkit model, the torch model with the same weights, the data."""

    def __init__(self, cid, cfg, torch):
        """``torch`` ``None``: the rnnkit side alone (its own process, no torch loaded)."""
        self.cid, self.cfg, self.torch = cid, cfg, torch
        self.fold = True      # P2: the layer takes the ids and the embedding (rnnkit.tokens) rather than embed(ids)
        c = cfg
        self.stream = c.get("stream", False)
        rng = np.random.default_rng(1234)
        T, B, D, H = c["T"], c["B"], c["D"], c["H"]
        L, bi = c.get("layers", 1), c.get("bidirectional", False)
        self.T, self.B, self.H, self.L, self.nd = T, B, H, L, 2 if bi else 1
        kw = dict(num_layers=L, bidirectional=bi, dtype=np.float32, seed=1)
        if c["cell"] == "gru":
            kw["reset_after"] = True
        self.rnn = LAYER[c["cell"]](D, H, **kw)
        self.embed = Embedding(c["V"], c["E"], seed=2) if c.get("E") else None
        self.head = Dense(self.rnn.output_size, c["V"], seed=3) if c.get("loss") == "ce" else None
        # data (time-major)
        if c.get("loss") == "ce":
            self.ids = rng.integers(0, c["V"], (T, B))
            self.targets = rng.integers(0, c["V"], (T, B))
            self.x = None if self.embed else np.eye(c["V"], dtype=np.float32)[self.ids]
        else:
            self.x = rng.standard_normal((T, B, D)).astype(np.float32)
            self.target = rng.standard_normal((T, B, self.rnn.output_size)).astype(np.float32)
        if c.get("lengths"):
            lo, hi = c["lengths"]
            lens = rng.integers(lo, hi + 1, B)
            lens[0] = hi
            self.lengths = lens
            self.m = (np.arange(T)[:, None] < lens[None, :]).astype(np.float32)[:, :, None]
        else:
            self.lengths, self.m = None, None
        self.named = {}
        for prefix, mod in (("rnn.", self.rnn), ("embed.", self.embed), ("head.", self.head)):
            if mod is not None:
                self.named.update(mod.named_parameters(prefix))
        self.opt = None
        if c.get("opt") == "adagrad":
            self.opt = Adagrad(self.named, lr=0.1)
        elif c.get("opt") == "adam":
            self.opt = Adam(self.named, lr=1e-3)
        if torch is not None:
            self._build_torch()

    def _build_torch(self):
        torch, nn, c = self.torch, self.torch.nn, self.cfg
        kinds = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
        self.t_rnn = kinds[c["cell"]](c["D"], c["H"], num_layers=self.L, bidirectional=self.nd == 2)
        self.t_embed = nn.Embedding(c["V"], c["E"]) if self.embed else None
        self.t_head = nn.Linear(self.rnn.output_size, c["V"]) if self.head else None
        with torch.no_grad():
            for prefix, tmod, mod in (("", self.t_rnn, self.rnn), ("", self.t_embed, self.embed),
                                      ("", self.t_head, self.head)):
                if tmod is None:
                    continue
                for k, v in tmod.named_parameters():
                    v.copy_(torch.from_numpy(mod.params[k].copy()))
        self.t_params = [p for m in (self.t_rnn, self.t_embed, self.t_head) if m is not None
                         for p in m.parameters()]
        self.t_opt = None
        if c.get("opt") == "adagrad":
            self.t_opt = torch.optim.Adagrad(self.t_params, lr=0.1)
        elif c.get("opt") == "adam":
            self.t_opt = torch.optim.Adam(self.t_params, lr=1e-3)
        if self.x is not None:
            self.t_x = torch.from_numpy(self.x)
        else:
            self.t_ids = torch.from_numpy(self.ids)
        if c.get("loss") == "ce":
            self.t_targets = torch.from_numpy(self.targets).reshape(-1)
        elif c.get("loss") == "mse":
            self.t_target = torch.from_numpy(self.target)
            self.t_m = torch.from_numpy(self.m) if self.m is not None else None
        if self.lengths is not None:
            self.t_lengths = torch.from_numpy(self.lengths)

    # -- rnnkit ---------------------------------------------------------------------
    def r_forward(self, keep_cache):
        if self.embed and self.fold:
            y, _ = self.rnn.forward(self.ids, lengths=self.lengths, keep_cache=keep_cache, embedding=self.embed)
        else:
            x = self.embed(self.ids) if self.embed else self.x
            y, _ = self.rnn.forward(x, lengths=self.lengths, keep_cache=keep_cache)
        return self.head(y) if self.head else y

    def r_loss(self, y):
        if self.cfg["loss"] == "ce":
            return softmax_cross_entropy(y, self.targets)
        d = y - self.target
        if self.m is not None:
            d *= self.m
        n = np.float32(d.size)
        return float(0.5 * (d * d).sum() / n), d / n       # 0.5 * mean of squares (pairwise sum)

    def r_grads(self):
        y = self.r_forward(True)
        loss, dy = self.r_loss(y)
        if self.head:
            dy = self.head.backward(dy)
        unfolded = self.embed is not None and not self.fold
        dx, _ = self.rnn.backward(dy, input_grad=unfolded)   # data inputs need no gradient (torch: no requires_grad)
        if unfolded:                                 # folded: the layer's backward filled embed.grads
            self.embed.backward(dx)
        g = {}
        for prefix, mod in (("rnn.", self.rnn), ("embed.", self.embed), ("head.", self.head)):
            if mod is not None:
                g.update(mod.named_grads(prefix))
        return loss, g

    def r_train(self):
        loss, g = self.r_grads()
        self.opt.step(g)
        return loss

    def r_infer(self):
        return self.r_forward(False)

    def unfolded(self, fn):
        """``fn`` run with the embedding looked up first, ``layer(embed(ids))`` (P2's third side)."""
        def run():
            self.fold = False
            try:
                return fn()
            finally:
                self.fold = True
        return run

    # -- torch ----------------------------------------------------------------------
    def t_forward(self):
        nn = self.torch.nn
        x = self.t_embed(self.t_ids) if self.t_embed else self.t_x
        if self.lengths is not None:
            packed = nn.utils.rnn.pack_padded_sequence(x, self.t_lengths, enforce_sorted=False)
            y, _ = self.t_rnn(packed)
            y, _ = nn.utils.rnn.pad_packed_sequence(y, total_length=self.T)
        else:
            y, _ = self.t_rnn(x)
        return self.t_head(y) if self.t_head else y

    def t_loss(self, y):
        torch = self.torch
        if self.cfg["loss"] == "ce":
            return torch.nn.functional.cross_entropy(y.reshape(-1, y.shape[-1]), self.t_targets)
        d = y - self.t_target
        if self.t_m is not None:
            d = d * self.t_m
        return 0.5 * (d * d).sum() / d.numel()

    def t_train(self):
        self.t_opt.zero_grad(set_to_none=True)
        loss = self.t_loss(self.t_forward())
        loss.backward()
        self.t_opt.step()
        return loss.item()

    def t_infer(self):
        with self.torch.no_grad():
            return self.t_forward()

    # -- streaming (P6) ---------------------------------------------------------------
    def stream_setup(self, n_steps):
        rng = np.random.default_rng(5)
        self.xs = rng.standard_normal((n_steps, 1, self.cfg["D"])).astype(np.float32)
        if self.torch is not None:
            self.t_xs = self.torch.from_numpy(self.xs)

    def r_stream(self):
        self.rnn.eval()
        state, outs = None, []
        for x_t in self.xs:
            y, state = self.rnn.step(x_t, state)
            outs.append(y)
        return np.stack(outs)

    def t_stream(self):
        self.t_rnn.eval()
        state, outs = None, []
        with self.torch.no_grad():
            for x_t in self.t_xs:
                y, state = self.t_rnn(x_t[None], state)
                outs.append(y[0])
        return self.torch.stack(outs).numpy()

    # -- checks ---------------------------------------------------------------------
    def agreement(self):
        """Max |difference| / max |value| of outputs and of gradients (one step, equal weights)."""
        if self.stream:
            a, b = self.r_stream(), self.t_stream()
            return {"output": float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))}
        y_r = self.r_infer()
        y_t = self.t_infer().numpy()
        out = {"output": float(np.abs(y_r - y_t).max() / max(np.abs(y_t).max(), 1e-30))}
        loss_r, g_r = self.r_grads()
        for p in self.t_params:
            p.grad = None
        loss_t = self.t_loss(self.t_forward())
        loss_t.backward()
        worst = 0.0
        tmods = {"rnn.": self.t_rnn, "embed.": self.t_embed, "head.": self.t_head}
        for prefix, tmod in tmods.items():
            if tmod is None:
                continue
            for k, v in tmod.named_parameters():
                gt = v.grad.numpy()
                gr = g_r[prefix + k]
                worst = max(worst, float(np.abs(gr - gt).max() / max(np.abs(gt).max(), 1e-30)))
        out["grad"] = worst
        lt = float(loss_t.detach())
        out["loss"] = abs(loss_r - lt) / max(abs(lt), 1e-30)
        return out

    def flops(self):
        """(forward flops, training flops) of the matrix products."""
        c, T, B, H = self.cfg, self.T, self.B, self.H
        G = GATES[c["cell"]]
        f = 0
        for layer in range(self.L):
            D = c["D"] if layer == 0 else H * self.nd
            f += self.nd * 2 * T * B * G * H * (D + H)
        if self.head:
            f += 2 * T * B * self.rnn.output_size * c["V"]
        if self.embed is None and c.get("E") == 0 and c.get("loss") == "ce":
            pass  # one-hot input: counted as a dense product, as both libraries do it
        return f, 3 * f

    def memory(self):
        """(rnnkit peak bytes in a training step, torch saved-for-backward bytes)."""
        self.rnn._buffers.clear()          # so the arrays a layer keeps between passes are counted
        self.rnn._cache = None
        gc.collect()
        tracemalloc.start()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        self.r_train()
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        torch = self.torch
        seen = {}

        def pack(t):
            try:
                key = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
                seen[key] = t.untyped_storage().nbytes()
            except Exception:  # pragma: no cover
                pass
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            self.t_opt.zero_grad(set_to_none=True)
            loss = self.t_loss(self.t_forward())
        loss.backward()
        return peak, sum(seen.values())


WARMUP = 3             # untimed calls before a timed block, and at least
WARMUP_S = 0.05        # this many seconds of them


def median_time(fn, inner, warmup=None, settle=0.0):
    """Mean seconds per call over ``inner`` calls, after ``settle`` seconds of
    sleep and ``warmup`` untimed calls (by default ``WARMUP`` calls and at least
    ``WARMUP_S`` seconds of them).

    The warm-up matters: right after the other library ran, its thread pool
    (OpenBLAS's or torch's OpenMP workers) is still spinning on the two cores and
    the caches hold its data.  Timing the first call after a switch penalised
    whichever side came second: with one call per switch, torch's P2 training step
    measured 124 ms against 37-44 ms when torch ran in a block of its own.  The
    sleep lets the other side's workers stop spinning before the block starts
    (OpenBLAS's spin for about 0.1 s after a call), so that every block starts
    from an idle machine whichever side ran before it.
    """
    if settle:
        time.sleep(settle)
    n = WARMUP if warmup is None else warmup
    t_end = time.perf_counter() + (WARMUP_S if warmup is None else 0.0)
    k = 0
    while k < n or time.perf_counter() < t_end:
        fn()
        k += 1
    t0 = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - t0) / inner


NOISY = 0.25     # a side whose samples spread wider than this share of their median is flagged


def spread(ts):
    """``(max - min) / median`` of one side's timed samples: how far the machine moved them."""
    return (max(ts) - min(ts)) / statistics.median(ts)


def noise_warnings(results):
    """One line per (configuration, side, pass) whose samples spread over :data:`NOISY`."""
    lines = []
    for r in results:
        for side, d in r["sides"].items():
            for what in ("train", "infer"):
                v = d.get(what + "_spread")
                if v is not None and v > NOISY:
                    lines.append(f"warning: {r['id']} {side} {what} samples spread {v:.0%} of their median; "
                                 "the machine is too noisy to read this one: rerun when it is quiet")
    return lines


def calibrate(fn, target_s):
    """How many calls make one sample of about ``target_s`` seconds."""
    t = _timed(fn)
    return max(1, min(1000, int(target_s / max(t, 1e-6))))


# ----------------------------------------------------------------------------- sides
def side_functions(b, cid, cfg, library):
    """``{(side, pass): fn}`` of one library (``"rnnkit"``, with the seeds' loop
    and the unfolded P2 side, or ``"torch"``) for the built :class:`Bench` ``b``."""
    if library == "torch":
        if b.stream:
            return {("torch", "infer"): b.t_stream}
        return {("torch", "train"): b.t_train, ("torch", "infer"): b.t_infer}
    if b.stream:
        return {("rnnkit", "infer"): b.r_stream}
    fns = {("rnnkit", "train"): b.r_train, ("rnnkit", "infer"): b.r_infer}
    if cid == "P1":
        from seed_minchar import SeedMinCharRNN
        seed = SeedMinCharRNN(cfg["V"], cfg["H"])
        ids, tg = list(b.ids[:, 0]), list(b.targets[:, 0])
        h0 = np.zeros((cfg["H"], 1))
        fns[("seed003", "train")] = lambda: seed.train_step(ids, tg, h0)
    if b.embed is not None:                    # rnnkit without the embedding folded in, timed alike
        fns[("rnnkit_unfolded", "train")] = b.unfolded(b.r_train)
        fns[("rnnkit_unfolded", "infer")] = b.unfolded(b.r_infer)
    return fns


def _side_process(conn, library, cid, cfg, threads, n_steps):
    """One library's timing process: builds its side of ``cid`` (rnnkit's
    process never imports torch) and answers ``("calibrate", key, seconds)``,
    ``("time", key, inner, settle)``, ``("choices",)`` (rnnkit's thread
    settings, :func:`thread_choices`) and ``("stop",)`` on ``conn``."""
    torch = None
    if library == "torch":
        import torch
        torch.set_num_threads(threads)
        torch.manual_seed(0)
    try:
        b = Bench(cid, cfg, torch)
        if b.stream:
            b.stream_setup(n_steps)
        fns = side_functions(b, cid, cfg, library)
        conn.send(("ready", sorted(fns)))
        while True:
            msg = conn.recv()
            if msg[0] == "stop":
                break
            if msg[0] == "calibrate":
                conn.send(("ok", calibrate(fns[msg[1]], msg[2])))
            elif msg[0] == "choices":
                conn.send(("ok", thread_choices(b) if library == "rnnkit" else {}))
            else:
                _, key, inner, settle = msg
                conn.send(("ok", median_time(fns[key], inner, settle=settle)))
    except Exception as e:                     # the parent prints it and stops
        conn.send(("error", f"{library} side of {cid}: {type(e).__name__}: {e}"))
    finally:
        conn.close()


def thread_choices(b):
    """``{kind of pass: "blas B, width W"}``: the settings rnnkit's thread
    tuner (:class:`rnnkit.threads.ThreadTuner`) runs each kind of pass of
    ``b``'s layer with at the end of the timing: where a side ran slower than
    expected, whether the tuner chose one thread or the split says why."""
    tuner = getattr(b.rnn, "_threads", None)
    if tuner is None:
        return {}
    out, timings = {}, tuner.timings()
    for key, s in tuner.choices().items():
        times = timings[key]
        out[" ".join(str(part) for part in key[:-1])] = f"blas {s.blas}, width {s.width} (" + ", ".join(
            f"{w.blas}/{w.width}: " + " ".join(f"{1e3 * t:.3g}" for t in ts) for w, ts in times.items()) + " ms)"
    return out


class SideProcess:
    """The parent's handle on one :func:`_side_process` (multiprocessing, spawn)."""

    def __init__(self, library, cid, cfg, threads, n_steps):
        import multiprocessing as mp
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_side_process, args=(child, library, cid, cfg, threads, n_steps),
                                daemon=True)
        self.proc.start()
        child.close()
        self.keys = self._answer()

    def _answer(self):
        kind, value = self.conn.recv()
        if kind == "error":
            raise RuntimeError(value)
        return value

    def ask(self, *msg):
        self.conn.send(msg)
        return self._answer()

    def close(self):
        try:
            self.conn.send(("stop",))
        except (BrokenPipeError, OSError):
            pass
        self.proc.join(10)


def _time_sides(callers, repeats, sample_s, settle):
    """``{key: [seconds per call]}``: every side timed in every repeat, in
    alternating blocks. ``callers``: ``{key: (calibrate(s), time(inner, settle))}``."""
    inner = {k: cal(sample_s) for k, (cal, _) in callers.items()}
    times = {k: [] for k in callers}
    for _ in range(repeats):
        for k, (_, timed) in callers.items():        # interleaved: every side in every repeat
            times[k].append(timed(inner[k], settle))
    return times


# ----------------------------------------------------------------------------- main
def run_config(cid, cfg, torch, repeats, tiny, machine_gflops, sample_s, settle=0.0, processes=True):
    """Time one configuration.  ``processes``: each library in a process of its
    own (spawned; the parent only checks agreement and memory, then waits), so
    that neither library's thread pool shares a process with the other's;
    otherwise both sides in this process (the earlier protocol)."""
    if tiny:
        cfg = {**cfg, **cfg["tiny"]}
    b = Bench(cid, cfg, torch)
    res = dict(id=cid, what=CONFIGS[cid]["what"], shapes={k: cfg[k] for k in ("D", "H", "T", "B") if k in cfg},
               timing="one process per library" if processes else "both libraries in one process")
    n_steps = 20 if tiny else 200
    if b.stream:
        b.stream_setup(n_steps)
    res["agree"] = b.agreement()
    if not b.stream:
        r_peak, t_saved = b.memory()
    if processes:
        threads = torch.get_num_threads()
        del b
        gc.collect()
        workers = {lib: SideProcess(lib, cid, cfg, threads, n_steps) for lib in ("rnnkit", "torch")}
        try:
            callers = {}
            for w in workers.values():
                for key in w.keys:
                    key = tuple(key)
                    callers[key] = (lambda s, w=w, key=key: w.ask("calibrate", key, s),
                                    lambda n, st, w=w, key=key: w.ask("time", key, n, st))
            order = sorted(callers, key=lambda k: (k[1], k[0] != "rnnkit", k[0]))
            times = _time_sides({k: callers[k] for k in order}, repeats, sample_s, settle)
            res["rnnkit_threads"] = workers["rnnkit"].ask("choices")
        finally:
            for w in workers.values():
                w.close()
        b = Bench(cid, cfg, None)                    # for the flop counts
    else:
        fns = {**side_functions(b, cid, cfg, "rnnkit"), **side_functions(b, cid, cfg, "torch")}
        times = _time_sides({k: (lambda s, f=f: calibrate(f, s), lambda n, st, f=f: median_time(f, n, settle=st))
                             for k, f in fns.items()}, repeats, sample_s, settle)
    sides = {}
    per_step = n_steps if b.stream else 1
    for (side, what), ts in times.items():
        ts = [t / per_step for t in ts]
        sides.setdefault(side, {})[what + "_s"] = statistics.median(ts)
        sides[side][what + "_spread"] = spread(ts)
    res["sides"] = sides
    res["infer_ratio"] = sides["torch"]["infer_s"] / sides["rnnkit"]["infer_s"]
    if b.stream:
        return res
    f_inf, f_train = b.flops()
    for side, d in sides.items():
        if "train_s" in d:
            d["train_gflops"] = f_train / d["train_s"] / 1e9
            d["train_share"] = d["train_gflops"] / machine_gflops
        if "infer_s" in d:
            d["infer_gflops"] = f_inf / d["infer_s"] / 1e9
            d["infer_share"] = d["infer_gflops"] / machine_gflops
    tbh = b.T * b.B * b.H * b.L * b.nd
    sides["rnnkit"]["train_peak_bytes"] = r_peak
    sides["rnnkit"]["bytes_per_TBH"] = r_peak / tbh
    sides["torch"]["saved_bytes"] = t_saved
    sides["torch"]["bytes_per_TBH"] = t_saved / tbh
    res["train_ratio"] = sides["torch"]["train_s"] / sides["rnnkit"]["train_s"]
    if "seed003" in sides:
        res["seed_train_ratio"] = sides["seed003"]["train_s"] / sides["rnnkit"]["train_s"]
    if "rnnkit_unfolded" in sides:
        u = sides["rnnkit_unfolded"]
        res["unfolded_ratios"] = {k: sides["torch"][k + "_s"] / u[k + "_s"] for k in ("train", "infer")}
    return res


def fmt_ms(s):
    return f"{s * 1e3:9.3f}"


def kernel_backend():
    """What runs rnnkit's float32 elementwise step work: compiled kernels or NumPy."""
    from rnnkit import kernels
    if kernels.available(np.float32):
        import numba
        return f"numba {numba.__version__}"
    return "numpy (numba not installed or RNNKIT_KERNELS=numpy)"


def print_table(results, info):
    print(f"# {info['date']}  {info['machine']}  numpy threads {info['numpy_threads']}, "
          f"torch threads {info['torch_threads']}, float32 matmul {info['matmul_gflops']:.1f} GFLOP/s, "
          f"rnnkit kernels: {info['kernels']}")
    print(f"{'id':3} {'rnnkit train ms':>15} {'torch train ms':>14} {'ratio':>6} "
          f"{'rnnkit infer ms':>15} {'torch infer ms':>14} {'ratio':>6} {'rk GF/s(%)':>11} {'th GF/s(%)':>11} "
          f"{'rk B/TBH':>9} {'th B/TBH':>9} {'agree':>8}")
    for r in results:
        s = r["sides"]
        rk, th = s["rnnkit"], s["torch"]
        agree = max(r["agree"].values())
        if "train_s" not in rk:
            print(f"{r['id']:3} {'-':>15} {'-':>14} {'-':>6} {fmt_ms(rk['infer_s']):>15} "
                  f"{fmt_ms(th['infer_s']):>14} {r['infer_ratio']:6.2f} {'-':>11} {'-':>11} {'-':>9} {'-':>9} "
                  f"{agree:8.1e}"
                  "   (per streaming step)")
            continue
        gf = f"{rk['train_gflops']:.1f}({100 * rk['train_share']:.0f})"
        tgf = f"{th['train_gflops']:.1f}({100 * th['train_share']:.0f})"
        print(f"{r['id']:3} {fmt_ms(rk['train_s']):>15} {fmt_ms(th['train_s']):>14} {r['train_ratio']:6.2f} "
              f"{fmt_ms(rk['infer_s']):>15} {fmt_ms(th['infer_s']):>14} {r['infer_ratio']:6.2f} {gf:>11} {tgf:>11} "
              f"{rk['bytes_per_TBH']:9.1f} {th['bytes_per_TBH']:9.1f} {agree:8.1e}")
        if "seed003" in s:
            print(f"    seeds' own loop (seed 003, float64, baseline): train {fmt_ms(s['seed003']['train_s'])} ms"
                  f"  -> rnnkit is {r['seed_train_ratio']:.2f}x faster")
        if "rnnkit_unfolded" in s:
            u, q = s["rnnkit_unfolded"], r["unfolded_ratios"]
            print(f"    rnnkit without the fold, layer(embed(ids)): train {fmt_ms(u['train_s'])} ms (ratio "
                  f"{q['train']:.2f}), infer {fmt_ms(u['infer_s'])} ms (ratio {q['infer']:.2f})")
        if r.get("rnnkit_threads"):
            print("    rnnkit's thread settings at the end: " + "; ".join(
                f"{k}: {v}" for k, v in sorted(r["rnnkit_threads"].items())))
    print("ratio = torch time / rnnkit time (>1: rnnkit faster). rk/th GF/s(%): rnnkit's and torch's training "
          "GFLOP/s and share of the matmul rate. B/TBH: rnnkit peak bytes (tracemalloc), torch saved-for-backward "
          "bytes, per T*B*H.")
    print("inference, share of the matmul rate: " + ", ".join(
        f"{r['id']} rnnkit {100 * r['sides']['rnnkit']['infer_share']:.0f}% torch "
        f"{100 * r['sides']['torch']['infer_share']:.0f}%" for r in results if "infer_share" in r["sides"]["rnnkit"]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 epilog="Configurations: " + "; ".join(f"{k}: {v['what']}" for k, v in CONFIGS.items()),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated ids (default: all, P1..P7)")
    ap.add_argument("--repeats", type=int, default=11, help="timed samples per side (median reported; default 11)")
    ap.add_argument("--sample-seconds", type=float, default=0.05,
                    help="aim of each timed sample; short calls are repeated inside it (default 0.05)")
    ap.add_argument("--settle", type=float, default=0.3,
                    help="seconds of sleep before every timed block, so that no thread pool still spins "
                         "from the other side (default 0.3; without it both sides measured slower, e.g. "
                         "P2 rnnkit training 39.1 against 33.6 ms, torch inference 16.5 against 8.2 ms)")
    ap.add_argument("--tiny", action="store_true", help="tiny shapes (CI smoke test; seconds)")
    ap.add_argument("--in-process", action="store_true",
                    help="time both libraries in this one process (the earlier protocol; by default each "
                         "library runs in a process of its own, so their thread pools never share one)")
    _results.add_out_options(ap, __file__)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: NumPy's BLAS threads)")
    args = ap.parse_args(argv)
    ids = [c.strip().upper() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in ids if c not in CONFIGS]
    if unknown:
        ap.error(f"unknown configuration(s) {unknown}; choose from {', '.join(CONFIGS)}")
    import torch
    nthreads = args.threads or numpy_threads()
    torch.set_num_threads(nthreads)
    torch.manual_seed(0)
    info = dict(date=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                machine=f"{platform.machine()} {os.cpu_count()} cpus, {platform.platform()}",
                numpy=np.__version__, torch=torch.__version__, numpy_threads=numpy_threads(),
                torch_threads=torch.get_num_threads(), tiny=args.tiny, repeats=args.repeats,
                settle_s=0.0 if args.tiny else args.settle,
                matmul_gflops=matmul_gflops(256 if args.tiny else 1024),
                kernels=kernel_backend(),
                timing="both libraries in one process" if args.in_process else "one process per library",
                command=" ".join(["benchmarks/compare_torch.py", *(sys.argv[1:] if argv is None else argv)]))
    results = []
    for cid in ids:
        r = run_config(cid, CONFIGS[cid], torch, args.repeats, args.tiny, info["matmul_gflops"],
                       0.001 if args.tiny else args.sample_seconds, 0.0 if args.tiny else args.settle,
                       processes=not args.in_process)
        results.append(r)
        print(f"{cid} done", file=sys.stderr, flush=True)
    print_table(results, info)
    for line in noise_warnings(results):
        print(line, file=sys.stderr)
    partial = args.tiny or ids != list(CONFIGS)
    _results.write(_results.out_path(args, __file__, smoke=partial), dict(info=info, results=results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
