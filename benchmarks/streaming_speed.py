"""Streaming throughput of a 1-layer LSTM (H=64) anomaly detector on one core.

    PYTHONPATH=src python benchmarks/streaming_speed.py [--points 20000] [--hidden 64]

Pins the process to one CPU and BLAS to one thread, then times, per point:
``LSTM.step`` (the generic layer step), ``LeanLSTM.step`` (the lean inference step),
and ``AnomalyDetector.stream`` end to end (lean step + head + EWMA + dynamic
threshold + flag), for both thresholds; batch ``detect`` is given for reference.
"""
import os

for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[v] = "1"

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from rnnkit.anomaly import AnomalyDetector, LeanLSTM  # noqa: E402


def rate(n, fn):
    t0 = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=20000)
    ap.add_argument("--hidden", type=int, default=64)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    rng = np.random.default_rng(0)
    n = args.points
    x = np.sin(2 * np.pi * np.arange(n + 2000) / 50) + 0.1 * rng.normal(size=n + 2000)
    d = AnomalyDetector(hidden_size=args.hidden, window=32, epochs=1, random_state=0).fit(x[:2000])
    xs = x[2000:]
    s = ((xs - d.scaler_.shift_[0]) / d.scaler_.scale_[0])[:, None]
    lstm, lean = d.rnn_, LeanLSTM(d.rnn_)

    def generic():
        st = None
        for v in s[: n // 10]:
            _, st = lstm.step(v, st)

    def leanrun():
        st = lean.zero_state()
        for v in s:
            _, st = lean.step(v, st)

    print(f"1-layer LSTM H={args.hidden}, float64, one core, {n} points")
    print(f"  LSTM.step (generic layer step)      {rate(n // 10, generic):10.0f} points/s")
    print(f"  LeanLSTM.step                        {rate(n, leanrun):10.0f} points/s")
    for thr in ("dynamic", "static"):
        d.threshold = thr
        print(f"  AnomalyDetector.stream ({thr:7s})     {rate(n, lambda: list(d.stream(xs))):10.0f} points/s")
    print(f"  AnomalyDetector.detect (batch)       {rate(n, lambda: d.detect(xs)):10.0f} points/s")


if __name__ == "__main__":
    main()
