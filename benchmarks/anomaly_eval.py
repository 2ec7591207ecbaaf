"""Event-level precision, recall, F1 and lead time of the anomaly detector on
labelled series shipped offline and on synthetic series with injected anomalies.

    PYTHONPATH=src python benchmarks/anomaly_eval.py [--epochs 15] [--early 10] [--out FILE.json | --no-out]

Real series: sktime's ``datasets/data/mitdb/mitdb.csv`` (ECG, 7 500 steps) and
``datasets/data/yahoo/yahoo.csv`` (1 000 steps), aeon's UCR
``KDD-TSAD_135`` (InternalBleeding16, train 1 200 / test 7 501).  Synthetic: a noisy
sine (period 50) with 4 injected events each of spikes, level shifts, a frequency
change and a variance change.  The detector is fitted on the leading part (once per
score kind; the thresholds, robust, dynamic (telemanom; "dynamic-exclude": leaving
flagged scores out of its window) and static, are applied to its scores), run
over the whole series, and scored on the part after it.  A labelled event counts as
detected when a flag falls within ``early`` steps before its onset or inside it;
lead time = onset − first flag (positive: before the labelled onset).  Flagged
runs at most ``merge_gap`` (20) steps apart count as one alert.  The scores go to
``benchmarks/results/anomaly_eval.json`` (``--out`` elsewhere).
"""
from __future__ import annotations

import argparse
import os

import numpy as np

import _results  # this folder is on sys.path when run as a script
from rnnkit.anomaly import AnomalyDetector, event_scores, point_scores


def _csv(path, cols):
    a = np.genfromtxt(path, delimiter=",", skip_header=1)
    return [a[:, c] for c in cols]


def real_series():
    out = {}
    try:
        import sktime

        d = os.path.join(os.path.dirname(sktime.__file__), "datasets", "data")
        x, y = _csv(os.path.join(d, "mitdb", "mitdb.csv"), [0, 1])
        out["sktime mitdb"] = (x, y > 0.5, 3000)
        x, y = _csv(os.path.join(d, "yahoo", "yahoo.csv"), [0, 1])
        out["sktime yahoo"] = (x, y > 0.5, 400)
    except ImportError:
        print("sktime not installed: mitdb and yahoo skipped")
    try:
        import aeon

        p = os.path.join(os.path.dirname(aeon.__file__), "datasets", "data", "KDD-TSAD_135",
                         "135_UCR_Anomaly_InternalBleeding16_TEST.csv")
        x, y = _csv(p, [1, 2])
        out["aeon UCR-135"] = (x, y > 0.5, 1200)
    except ImportError:
        print("aeon not installed: UCR-135 skipped")
    return out


def synthetic(kind, n=4000, train=1500, seed=0):
    rng = np.random.default_rng(seed)
    period = np.full(n, 50.0)
    noise = np.full(n, 0.1)
    level = np.zeros(n)
    spikes = np.zeros(n)
    lab = np.zeros(n, bool)
    starts = train + 200 + np.arange(4) * (n - train - 400) // 4 + rng.integers(0, 100, 4)
    for s in starts:
        if kind == "spikes":
            spikes[s] = rng.choice([-1, 1]) * 2.5
            lab[s] = True
        elif kind == "level shift":
            level[s: s + 80] = 1.0
            lab[s: s + 80] = True
        elif kind == "frequency":
            period[s: s + 150] = 20.0
            lab[s: s + 150] = True
        elif kind == "variance":
            noise[s: s + 150] = 0.5
            lab[s: s + 150] = True
    phase = np.cumsum(2 * np.pi / period)
    x = np.sin(phase) + noise * rng.normal(size=n) + level + spikes
    return x, lab, train


SETUPS = [("forecast", "robust"), ("forecast", "dynamic"), ("forecast", "dynamic-exclude"), ("forecast", "static"),
          ("reconstruction", "robust"), ("reconstruction", "dynamic")]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--early", type=int, default=10)
    _results.add_out_options(ap, __file__, aliases=("--json",))
    args = ap.parse_args()
    data = dict(real_series())
    for k in ("spikes", "level shift", "frequency", "variance"):
        data["synthetic " + k] = synthetic(k)
    results = {}
    print(f"{'series':22s} {'score':15s} {'thresh':15s} {'events':>6s} {'det':>4s} {'alerts':>6s} "
          f"{'evP':>5s} {'evR':>5s} {'evF1':>5s} {'ptF1':>5s} {'lead (per event)':s}")
    for name, (x, lab, n_train) in data.items():
        fitted = {}
        for kind, thr in SETUPS:
            if kind not in fitted:                     # the threshold is applied after fitting: one fit per kind
                fitted[kind] = AnomalyDetector(kind=kind, hidden_size=args.hidden, window=32, epochs=args.epochs,
                                               random_state=0).fit(x[:n_train])
            d = fitted[kind].set_params(threshold=thr.split("-")[0], exclude_flagged=thr.endswith("-exclude"))
            r = d.detect(x)
            f, y = r["flags"][n_train:], lab[n_train:]
            ev, pt = event_scores(f, y, early=args.early, gap=d.merge_gap), point_scores(f, y)
            results[f"{name} | {kind} | {thr}"] = {"event": ev, "point": pt}
            print(f"{name:22s} {kind:15s} {thr:15s} {ev['events']:6d} {ev['detected']:4d} {ev['alerts']:6d} "
                  f"{ev['precision']:5.2f} {ev['recall']:5.2f} {ev['f1']:5.2f} {pt['f1']:5.2f} "
                  f"{ev['lead_times']}", flush=True)
    _results.write(_results.out_path(args, __file__), results)


if __name__ == "__main__":
    main()
