"""Lead time and false alerts: predictive alerts (:class:`rnnkit.anomaly.EarlyWarning`)
against residual alarms (:class:`rnnkit.anomaly.AnomalyDetector`) and a plain
band check.

    PYTHONPATH=src python benchmarks/early_alerts.py [--epochs 15] [--horizon 25] [--out FILE.json | --no-out]
    PYTHONPATH=src python benchmarks/early_alerts.py --tiny     # a seconds-long smoke run; writes nothing

Series:

* generated (:func:`rnnkit.anomaly.degradation_series`, seed 0, 4 000 steps, the
  first 1 500 clean for training): ``drift`` (the level ramps until the reading
  leaves ``±1.6``, then is repaired) and ``degradation`` (the cycle's amplitude
  grows exponentially until it does); 4 faults each, labelled from the first
  reading outside ``±1.6`` to the repair.  The operating limits ``±1.6`` are given.
* labelled series shipped offline with sktime (``mitdb`` ECG, ``yahoo``) and aeon
  (UCR ``KDD-TSAD_135`` InternalBleeding16; ``Daphnet_S06R02E0``, 9 accelerometer
  channels with no labelled event: false alerts only); the band is learned from
  the training part (quantiles 0.005/0.995 widened by 10 %).

Every method is fitted on the leading part and run over the whole series, and
scored only after it.  A labelled event ``[a, b]`` counts as detected when a flag
falls in ``[a − horizon, b]``; lead = ``a −`` first such flag (positive: before
the onset; capped at the horizon).  An alert is a flagged run (runs at most 20
steps apart merged); a false alert overlaps no ``[a − horizon, b]``; "flag%" is
the share of scored steps flagged (a method that flags long stretches "detects"
events without predicting them).  Methods:

* ``residual robust`` / ``residual telemanom``: the forecast-error detector (LSTM
  H=32, window 32) with the robust and the dynamic (telemanom) thresholds;
* ``band now``: a flag whenever the current reading is outside the band;
* ``predictive point`` / ``predictive interval``: :class:`EarlyWarning` (``lookback``
  50, ``horizon`` steps, LSTM H=32, ``diff=1``, 90 % intervals) raising an alert
  when the forecast path / its interval leaves the band within the horizon (or
  the reading is outside already), forecast origins at every step.
"""
from __future__ import annotations

import argparse
import os

import numpy as np

import _results  # this folder is on sys.path when run as a script
import anomaly_eval
from rnnkit.anomaly import AnomalyDetector, EarlyWarning, degradation_series, event_scores, false_alerts_per_1000

LIMIT = 1.6


def real_series():
    """``{name: (x, labels, n_train)}`` of the labelled series sktime and aeon ship:
    ``anomaly_eval.py``'s three, and aeon's Daphnet (9 channels)."""
    out = anomaly_eval.real_series()
    try:
        import aeon

        d = os.path.join(os.path.dirname(aeon.__file__), "datasets", "data")
        a = np.genfromtxt(os.path.join(d, "Daphnet_S06R02E0", "S06R02E0.csv"), delimiter=",", skip_header=1)
        out["aeon Daphnet (9 ch)"] = (a[:, 1:10], a[:, 10] > 0.5, 2500)
    except ImportError:
        print("aeon not installed: Daphnet skipped")
    return out


def score(flags, lab, n, horizon):
    f, y = flags[n:], lab[n:]
    ev = event_scores(f, y, early=horizon, gap=20)
    got = [v for v in ev["lead_times"] if v is not None]
    return {"events": ev["events"], "detected": ev["detected"], "alerts": ev["alerts"],
            "flagged_share": float(np.mean(f)),
            "false_per_1000": false_alerts_per_1000(f, y, early=horizon, gap=20),
            "lead_times": ev["lead_times"], "median_lead": float(np.median(got)) if got else None}


def run(name, x, lab, n, limits, args):
    rows = {}
    d = AnomalyDetector(kind="forecast", hidden_size=32, window=32, epochs=args.epochs, random_state=0).fit(x[:n])
    for thr in ("robust", "dynamic"):
        d.set_params(threshold=thr)
        rows[f"residual {'telemanom' if thr == 'dynamic' else thr}"] = score(d.detect(x)["flags"], lab, n,
                                                                              args.horizon)
    w = EarlyWarning(horizon=args.horizon, lookback=50, hidden_size=32, epochs=args.epochs, limits=limits,
                     random_state=0).fit(x[:n])
    xx = x[:, None] if x.ndim == 1 else x
    rows["band now"] = score(((xx > w.upper_) | (xx < w.lower_)).any(axis=1), lab, n, args.horizon)
    for trig in ("point", "interval"):
        w.set_params(trigger=trig)
        rows[f"predictive {trig}"] = score(w.warn(x, start=n)["flags"], lab, n, args.horizon)
    for m, r in rows.items():
        med = "–" if r["median_lead"] is None else f"{r['median_lead']:g}"
        leads = ", ".join("–" if v is None else str(v) for v in r["lead_times"])
        print(f"{name:20s} {m:20s} {r['detected']}/{r['events']:<3d} {r['alerts']:4d} {r['false_per_1000']:7.2f} "
              f"{100 * r['flagged_share']:6.1f} {med:>6s}  [{leads}]", flush=True)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--horizon", type=int, default=25)
    ap.add_argument("--only", choices=["generated", "real"], help="run one group (a partial run writes no JSON)")
    ap.add_argument("--tiny", action="store_true",
                    help="smoke run: generated series of 1 200 steps, 2 faults, 1 epoch (writes no JSON without --out)")
    _results.add_out_options(ap, __file__)
    args = ap.parse_args(argv)
    size = dict(n=1200, train=500, events=2) if args.tiny else {}
    if args.tiny:
        args.epochs, args.only = 1, "generated"
    print(f"{'series':20s} {'method':20s} det  alerts false/1k flag% median lead  [lead per event]")
    results = {}
    if args.only != "real":
        for kind in ("drift", "degradation"):
            x, lab, n = degradation_series(kind, seed=0, limit=LIMIT, **size)
            results[f"generated {kind}"] = run(f"generated {kind}", x, lab, n, (-LIMIT, LIMIT), args)
    if args.only != "generated":
        for name, (x, lab, n) in real_series().items():
            results[name] = run(name, x, lab, n, None, args)
    _results.write(_results.out_path(args, __file__, smoke=args.only is not None), results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
