"""Where data-parallel training over MPI stops paying: measured here, modelled for a cluster.

    python benchmarks/mpi_scaling.py [--steps 12] [--repeats 3] [--out FILE.json | --no-out]
    python benchmarks/mpi_scaling.py --tiny                 # CI smoke: seconds, writes nothing

Two models, both the language model's training step (bytes, embedding 64,
2-layer LSTM, T 64, softmax cross-entropy, clip 5, Adam): ``readme``, the
README's main job (hidden 256, 0.94 M parameters), and ``large`` (hidden 512,
3.4 M parameters: 3.7 times the weights, about 4 times the step's work).
Three measurements, then the model:

1. ``compute``: the median time of one training step on ``b`` streams
   (b = 32, 16, 8, 4, 2, 1), one process, one BLAS thread
   (``OPENBLAS_NUM_THREADS=1``): what one rank computes when ``K`` ranks
   share a batch of 32 (``b = 32 / K``), or when each keeps 32.
2. ``allreduce``: ``mpiexec -n 2``, the median time of the ``Allreduce``
   (sum, float32, in place) of each model's gradient buffer
   (:class:`rnnkit.distributed.GradientAllreduce`'s), and of 8 bytes (the
   latency), over this machine's loopback (shared memory).
3. ``throughput``: the README's model trained by ``LanguageModel.fit`` on
   random bytes (B 32): one process with two BLAS threads
   (``OPENBLAS_NUM_THREADS=2``), two ranks of one thread each (``mpiexec -n 2``,
   16 streams each), and one process with one thread; median step time over
   the last ``--steps`` steps after 8 untimed ones, sides alternating ``--repeats`` times.

The cluster model (:func:`rnnkit.distributed.step_model`): a step on ``K``
ranks takes the compute of one rank's share plus a ring all-reduce of the
gradients, ``2 (K-1) latency + 2 (K-1)/K * bytes / bandwidth``, not
overlapped (rnnkit all-reduces after the backward pass).  Evaluated at K = 2
to 64 over 10 Gbit/s (latency 30 us, TCP) and 100 Gbit/s (5 us, RDMA) links,
taking the link's nominal bandwidth (real all-reduces reach less), for

* a fixed batch of 32 streams (strong scaling, ``b = 32 / K``; K at most 32),
  compute measured at ``b``, not ``t(32) / K``: small shares run the products
  less efficiently;
* 32 streams per rank (weak scaling: the batch grows with K, which changes
  the optimisation), as the efficiency ``t(32) / (t(32) + allreduce)``.

Prints the tables and writes them to ``benchmarks/results/mpi_scaling.json``
(``--out`` elsewhere; ``--tiny`` writes only where ``--out`` says).  No result
here is a promise about another machine: the point is the method and the shape.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))
sys.path.insert(0, HERE)

import _results  # noqa: E402
from rnnkit.distributed import allreduce_model, step_model  # noqa: E402

MODELS = {"readme": 256, "large": 512}
TINY_MODELS = {"readme": 16, "large": 32}
SHARES = (32, 16, 8, 4, 2, 1)
RANKS = (2, 4, 8, 16, 32, 64)
LINKS = {"10": (10.0, 30e-6), "100": (100.0, 5e-6)}          # Gbit/s -> (bandwidth, latency s)
WARMUP = 8
T, V, E = 64, 256, 64


def _env(threads):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "RNNKIT_THREADS")
           and not k.startswith(("PMI_", "OMPI_", "MV2_"))}
    env.update(OPENBLAS_NUM_THREADS=str(threads), PYTHONPATH=os.pathsep.join([os.path.join(HERE, "..", "src"),
                                                                               env.get("PYTHONPATH", "")]))
    return env


def _worker_json(cmd, threads, timeout=900):
    """Run a worker command; its last stdout line, as JSON."""
    out = subprocess.run(cmd, env=_env(threads), capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])}... failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def n_parameters(H):
    """Parameters of the byte LM with hidden size ``H`` (embedding 64, 2 LSTM layers, dense V)."""
    from rnnkit.token_rnn import TokenRNN
    return TokenRNN(V, H, 2, "lstm", E, seed=0).num_parameters()


# -- workers ----------------------------------------------------------------------------------------
def worker_compute(H, shares, steps):
    """Median seconds of one training step on ``b`` streams, for each ``b`` in ``shares``."""
    from lm_step_vs_torch import rnnkit_stepper

    out = {}
    for b in shares:
        ids = np.random.default_rng(0).integers(0, V, (b, (steps + WARMUP + 1) * T + 1))
        _, step = rnnkit_stepper(ids, True, H=H)
        for w in range(WARMUP):
            step(w)
        times = []
        for w in range(WARMUP, WARMUP + steps):
            t0 = time.perf_counter()
            step(w)
            times.append(time.perf_counter() - t0)
        out[str(b)] = statistics.median(times)
    print(json.dumps(out))


def worker_allreduce(sizes, repeats):
    """Under mpiexec: median seconds of an in-place float32 Allreduce of each size (elements)."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    out = {}
    for n in sizes:
        buf = np.ones(n, np.float32)
        for _ in range(3):
            comm.Allreduce(MPI.IN_PLACE, buf)
        times = []
        for _ in range(repeats):
            comm.Barrier()
            t0 = time.perf_counter()
            comm.Allreduce(MPI.IN_PLACE, buf)
            times.append(time.perf_counter() - t0)
        out[str(n)] = max(comm.allgather(statistics.median(times)))      # the slower rank's
    if comm.Get_rank() == 0:
        print(json.dumps({"ranks": comm.Get_size(), "seconds": out}))


def worker_fit(H, B, steps):
    """``LanguageModel.fit`` on random bytes; rank 0 (or the one process) prints the median step time."""
    from rnnkit.distributed import world
    from rnnkit.models import LanguageModel
    from rnnkit.training import Callback

    total = WARMUP + steps
    text = np.random.default_rng(0).integers(32, 127, B * T * (total + 1) + 1, dtype=np.uint8).tobytes()
    ends = []
    lm = LanguageModel(level="byte", hidden_size=H, num_layers=2, embedding_dim=E, seq_len=T, batch_size=B,
                       steps=total, eval_every=0, validation_fraction=0.0, random_state=0)
    lm.fit(text, callbacks=[Callback(on_step_end=lambda step, m: ends.append(time.perf_counter()))])
    gaps = np.diff(ends[WARMUP - 1:])
    w = world()
    if w is None or w.root:
        print(json.dumps({"step_s": float(np.median(gaps)), "ranks": 1 if w is None else w.size,
                          "allreduce_s": getattr(lm, "allreduce_seconds_", 0.0) / total,
                          "loss": lm.history_[-1]["loss"]}))


# -- the parts -------------------------------------------------------------------------------------------
def measure_compute(models, shares, steps):
    out = {}
    for name, H in models.items():
        cmd = [sys.executable, __file__, "--worker", "compute", "--hidden", str(H), "--steps", str(steps),
               "--shares", ",".join(map(str, shares))]
        out[name] = {"hidden": H, "parameters": n_parameters(H), "step_s": _worker_json(cmd, 1)}
        print(f"compute {name:6s} (H {H}): " + ", ".join(f"b={b} {1e3 * s:.1f} ms"
                                                          for b, s in out[name]["step_s"].items()), flush=True)
    return out


def measure_allreduce(mpiexec, compute, repeats):
    sizes = sorted({2} | {m["parameters"] + 2 for m in compute.values()})
    cmd = [mpiexec, "-n", "2", sys.executable, __file__, "--worker", "allreduce", "--sizes",
           ",".join(map(str, sizes)), "--repeats", str(repeats)]
    res = _worker_json(cmd, 1)
    lat = res["seconds"]["2"]
    out = {"ranks": 2, "latency_s": lat, "by_bytes": {}}
    for n, s in res["seconds"].items():
        nbytes = 4 * int(n)
        out["by_bytes"][str(nbytes)] = {"seconds": s}
        if int(n) > 2:                  # a 2-rank ring moves 2 (K-1)/K = 1 times the bytes each way
            out["by_bytes"][str(nbytes)]["gbit_s"] = nbytes * 8 / max(s - 2 * lat, 1e-12) / 1e9
        print(f"allreduce 2 ranks, {nbytes / 1e6:8.3f} MB: {1e3 * s:8.3f} ms", flush=True)
    return out


def measure_throughput(mpiexec, H, B, steps, repeats):
    sides = {"one_process_2_threads": (None, 2), "two_ranks_1_thread": (mpiexec, 1),
             "one_process_1_thread": (None, 1)}
    runs = {k: [] for k in sides}
    for _ in range(repeats):
        for side, (launcher, threads) in sides.items():
            if side == "two_ranks_1_thread" and launcher is None:
                continue
            cmd = [sys.executable, __file__, "--worker", "fit", "--hidden", str(H), "--batch", str(B),
                   "--steps", str(steps)]
            runs[side].append(_worker_json(([launcher, "-n", "2"] if launcher else []) + cmd, threads))
    out = {}
    for side, rs in runs.items():
        if not rs:
            continue
        step = statistics.median(r["step_s"] for r in rs)
        out[side] = {"step_s": step, "tokens_per_s": B * T / step, "runs_step_s": [r["step_s"] for r in rs],
                     "allreduce_s": statistics.median(r["allreduce_s"] for r in rs)}
        print(f"throughput {side:22s}: {1e3 * step:7.1f} ms/step, {B * T / step:8.0f} tokens/s", flush=True)
    return out


def cluster_model(compute, batch=32):
    """The modelled step time, speed-up and efficiency at ``RANKS`` for each model and link."""
    out = {}
    for name, m in compute.items():
        nbytes = 4 * (m["parameters"] + 2)
        t = {int(b): s for b, s in m["step_s"].items()}
        full = t[max(t)]
        rows = []
        for K in RANKS:
            row = {"ranks": K}
            for link, (bw, lat) in LINKS.items():
                ar = allreduce_model(nbytes, K, bw, lat)
                row[f"allreduce_{link}_s"] = ar
                row[f"ideal_{link}_speedup"] = full / step_model(full, nbytes, K, bw, lat)    # compute / K
                if batch // K >= 1 and batch % K == 0 and batch // K in t:       # strong: a batch of 32 split
                    step = t[batch // K] + ar
                    row[f"strong_{link}_step_s"], row[f"strong_{link}_speedup"] = step, t[batch] / step
                row[f"weak_{link}_efficiency"] = full / (full + ar)              # 32 streams per rank
            row["compute_s"] = t.get(batch // K) if batch % K == 0 else None
            rows.append(row)
        # where it stops paying: the first K at which compute / K no longer beats the all-reduce
        # (efficiency speed-up / K below one half)
        half = {link: next((K for K in range(2, 1 << 16)
                            if full / step_model(full, nbytes, K, bw, lat) / K < 0.5), None)
                for link, (bw, lat) in LINKS.items()}
        out[name] = {"gradient_bytes": nbytes, "one_process_step_s": full, "rows": rows,
                     "half_efficiency_ranks": half}
    return out


def print_model(model):
    for name, m in model.items():
        print(f"\n{name}: gradients {m['gradient_bytes'] / 1e6:.2f} MB, one process, 32 streams: "
              f"{1e3 * m['one_process_step_s']:.0f} ms/step; efficiency below 1/2 from "
              + " / ".join(f"{m['half_efficiency_ranks'][k]} ranks" for k in LINKS) + " (10 / 100 Gbit/s)")
        print("| ranks | all-reduce ms, 10 / 100 Gbit/s | speed-up, compute/K | speed-up, batch of 32 split "
              "(measured share) | efficiency, 32 streams a rank |")
        print("|---|---|---|---|---|")
        for r in m["rows"]:
            comp = f" ({1e3 * r['compute_s']:.0f} ms)" if r.get("compute_s") else ""
            sp = " / ".join(f"{r[f'strong_{k}_speedup']:.1f}" if f"strong_{k}_speedup" in r else "-" for k in LINKS)
            print(f"| {r['ranks']} | {1e3 * r['allreduce_10_s']:.1f} / {1e3 * r['allreduce_100_s']:.2f} | "
                  f"{r['ideal_10_speedup']:.1f} / {r['ideal_100_speedup']:.1f} | {sp}{comp} | "
                  f"{r['weak_10_efficiency']:.3f} / {r['weak_100_efficiency']:.3f} |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=12, help="timed steps per measurement (default 12)")
    ap.add_argument("--repeats", type=int, default=3, help="alternating throughput runs per side (default 3)")
    ap.add_argument("--tiny", action="store_true", help="CI smoke: tiny models, 2 steps, one round")
    ap.add_argument("--tables", metavar="FILE.json", help="print the tables of an earlier run's results and stop")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--hidden", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=32, help=argparse.SUPPRESS)
    ap.add_argument("--shares", help=argparse.SUPPRESS)
    ap.add_argument("--sizes", help=argparse.SUPPRESS)
    _results.add_out_options(ap, __file__)
    args = ap.parse_args(argv)
    if args.worker == "compute":
        worker_compute(args.hidden, [int(b) for b in args.shares.split(",")], args.steps)
        return 0
    if args.worker == "allreduce":
        worker_allreduce([int(n) for n in args.sizes.split(",")], args.repeats)
        return 0
    if args.worker == "fit":
        worker_fit(args.hidden, args.batch, args.steps)
        return 0
    if args.tables:
        with open(args.tables) as f:
            print_model(json.load(f)["model"])
        return 0
    steps, repeats = (2, 1) if args.tiny else (args.steps, args.repeats)
    models = TINY_MODELS if args.tiny else MODELS
    shares = (4, 2, 1) if args.tiny else SHARES
    mpiexec = shutil.which("mpiexec") or shutil.which("mpirun")
    if importlib.util.find_spec("mpi4py") is None:
        mpiexec = None
    info = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpus": os.cpu_count(),
            "load_average": os.getloadavg(), "steps": steps, "repeats": repeats, "links": LINKS}
    info["compute"] = measure_compute(models, shares, steps)
    info["allreduce"] = measure_allreduce(mpiexec, info["compute"], 5 if args.tiny else 30) if mpiexec else \
        "skipped: mpiexec or mpi4py is not installed (pip install 'rnnkit[mpi]')"
    info["throughput"] = measure_throughput(mpiexec, models["readme"], 4 if args.tiny else 32, steps, repeats)
    info["model"] = cluster_model(info["compute"], batch=max(shares))
    if not args.tiny:
        print_model(info["model"])
    info["load_average_after"] = os.getloadavg()
    _results.write(_results.out_path(args, __file__, smoke=args.tiny), info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
