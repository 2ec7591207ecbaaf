"""The language model's training step on a busy machine, rnnkit against PyTorch.

    python benchmarks/busy_machine.py [--steps 12] [--rounds 3] [--out FILE.json | --no-out]
    python benchmarks/busy_machine.py --tiny                      # CI smoke: seconds

Laptops and shared servers run other programs.  This benchmark starts 0, 1,
then 2 CPU-bound competing processes itself (``while True: pass``) and times
the training step of two models, each library in its own process (so neither
thread pool disturbs the other), the sides alternating, ``--rounds`` times:

* ``small``: the hidden-64 model (bytes, embedding 64, 2-layer LSTM 64);
* ``readme``: the README's main job (bytes, embedding 64, 2-layer LSTM 256);

both with B 32 streams of T 64 tokens, softmax cross-entropy, clip 5, Adam
(the step of ``lm_step_vs_torch.py``).  Sides:

* ``rnnkit``: as a user runs it, no thread settings (``rnnkit.threads`` times
  each training step with one thread, OpenBLAS's threads and its own split,
  and runs the fastest);
* ``rnnkit_2_threads``: ``OPENBLAS_NUM_THREADS=2``, a user's own setting,
  which rnnkit respects: it then splits nothing itself and OpenBLAS threads
  what it will;
* ``torch``: ``torch==2.13.0`` with its default threads.

Prints the median step time per side and load, and its growth over the same
side alone, and writes them to ``benchmarks/results/busy_machine.json``
(``--out`` elsewhere; ``--tiny`` writes only where ``--out`` says).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))
sys.path.insert(0, HERE)

import _results  # noqa: E402

MODELS = {"small": 64, "readme": 256}
SIDES = {"rnnkit": {}, "rnnkit_2_threads": {"OPENBLAS_NUM_THREADS": "2"}, "torch": {}}
COMPETITOR = "while True: pass"
WARMUP = 11                 # untimed steps per run: rnnkit.threads settles in 10 passes of each kind


def worker(side, H, steps):
    """Time ``steps`` training steps of one side in this process; prints the median seconds."""
    from lm_step_vs_torch import B, T, rnnkit_stepper, torch_stepper

    warmup = min(WARMUP, steps)                          # a smoke run's single step: one warm-up
    ids = np.random.default_rng(0).integers(0, 256, (B, (steps + warmup + 1) * T + 1))
    net, step = rnnkit_stepper(ids, True, H=H)
    if side == "torch":
        import torch
        step = torch_stepper(torch, net.state_dict(), ids, H=H)
    for w in range(warmup):                              # compile, allocate, wake the threads, tune them
        step(w)
    times = []
    for w in range(warmup, warmup + steps):
        t0 = time.perf_counter()
        step(w)
        times.append(time.perf_counter() - t0)
    print(json.dumps({"median_s": statistics.median(times)}))


def run_side(side, H, steps):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                              "MKL_NUM_THREADS", "RNNKIT_THREADS")}
    env.update(SIDES[side])
    cmd = [sys.executable, __file__, "--worker", side, "--hidden", str(H), "--steps", str(steps)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["median_s"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=12, help="timed steps per run (default 12)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating runs per side and load (default 3)")
    ap.add_argument("--loads", default="0,1,2", help="competing processes to run, comma-separated (default 0,1,2)")
    ap.add_argument("--tiny", action="store_true", help="CI smoke: the small model, one round, one step, loads 0, 1")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--hidden", type=int, help=argparse.SUPPRESS)
    _results.add_out_options(ap, __file__)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker, args.hidden, args.steps)
        return 0
    steps, rounds = (1, 1) if args.tiny else (args.steps, args.rounds)
    loads = [0, 1] if args.tiny else [int(n) for n in args.loads.split(",")]
    models = {"small": MODELS["small"]} if args.tiny else MODELS
    results = {}
    for model, H in models.items():
        for load in loads:
            competitors = [subprocess.Popen([sys.executable, "-c", COMPETITOR]) for _ in range(load)]
            try:
                times = {side: [] for side in SIDES}
                for _ in range(rounds):
                    for side in SIDES:
                        times[side].append(run_side(side, H, steps))
            finally:
                for p in competitors:
                    p.kill()
                    p.wait()
            for side, ts in times.items():
                results.setdefault(model, {}).setdefault(side, {})[str(load)] = {
                    "median_ms": 1e3 * statistics.median(ts), "runs_ms": [1e3 * t for t in ts]}
            print(f"{model:7s} load {load}: " + ", ".join(
                f"{side} {1e3 * statistics.median(ts):8.1f} ms" for side, ts in times.items()), flush=True)
    print("\ngrowth over the same side alone (median step time with N competitors / alone):")
    for model, sides in results.items():
        for side, by_load in sides.items():
            alone = by_load["0"]["median_ms"]
            print(f"  {model:7s} {side:17s} " + "  ".join(f"{n}: {v['median_ms'] / alone:5.2f}x"
                                                         for n, v in by_load.items()))
    info = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpus": os.cpu_count(),
            "steps": steps, "rounds": rounds, "results": results}
    _results.write(_results.out_path(args, __file__, smoke=args.tiny), info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
