"""Rolling-origin backtests of the RNN forecaster against naive, seasonal naive and ETS
on real series shipped offline by statsmodels (sunspots, co2) and aeon (Lynx,
ShampooSales, Airline).

    PYTHONPATH=src python benchmarks/forecast_backtests.py [--seeds 0 1 2] [--series airline lynx] [--out FILE.json]

Needs statsmodels (ETS, sunspots, co2) and aeon or sktime (Lynx, Shampoo, Airline).
The RNN is fitted once on the training part; every origin in the test part is then
forecast from its history (ETS is refitted at every origin).  MASE uses the
seasonal-naive in-sample MAE with the season length given below.  All numbers go to
``benchmarks/results/forecast_backtests.json`` (``--out`` elsewhere, ``--no-out`` nowhere;
a subset of ``--series`` writes only where ``--out`` says).
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

import _results  # this folder is on sys.path when run as a script
from rnnkit.forecast import Forecaster, backtest


def _aeon_csv(name):
    import aeon

    path = os.path.join(os.path.dirname(aeon.__file__), "datasets", "data", name, name + ".csv")
    rows = [l.strip().split(",") for l in open(path)][1:]
    return np.array([float(r[1]) for r in rows if len(r) > 1 and r[1]])


def load(name):
    if name == "sunspots":
        from statsmodels.datasets import sunspots

        return sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(float)
    if name == "co2":
        from statsmodels.datasets import co2

        s = co2.load_pandas().data["co2"].resample("MS").mean().interpolate()
        return s.to_numpy(float)
    return _aeon_csv({"lynx": "Lynx", "shampoo": "ShampooSales", "airline": "Airline"}[name])


# per series: season m, test steps, and the forecaster's settings
CONFIGS = {
    "sunspots": dict(m=11, test=60, model=dict(lookback=33, horizon=5, hidden_size=16, epochs=300)),
    "co2": dict(m=12, test=60, model=dict(lookback=24, horizon=12, hidden_size=32, epochs=100,
                                          seasonal_diff=1)),
    "lynx": dict(m=10, test=20, model=dict(lookback=20, horizon=5, hidden_size=32, epochs=300, scaler="log")),
    "shampoo": dict(m=12, test=12, model=dict(lookback=6, horizon=3, hidden_size=16, epochs=300, diff=1)),
    "airline": dict(m=12, test=24, model=dict(lookback=24, horizon=12, hidden_size=32, epochs=300, scaler="log",
                                              seasonal_diff=1)),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--series", nargs="*", default=list(CONFIGS))
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    _results.add_out_options(ap, __file__, aliases=("--json",))
    args = ap.parse_args()
    out = {}
    for name in args.series:
        cfg = CONFIGS[name]
        y = load(name)
        first = len(y) - cfg["test"]
        rnn_mase, cover, t0 = [], [], time.time()
        base = None
        for seed in args.seeds:
            f = Forecaster(season=cfg["m"], random_state=seed, **cfg["model"])
            r = backtest(f, y, first, season=cfg["m"], baselines=base is None)
            rnn_mase.append(r["metrics"]["rnn"]["MASE"])
            cover.append(r["interval"]["coverage"])
            if base is None:
                base = {k: v for k, v in r["metrics"].items() if k != "rnn"}
                first_rnn = r["metrics"]["rnn"]
        out[name] = {"n": len(y), "train": first, "origins": len(r["origins"]), "m": cfg["m"],
                     "horizon": cfg["model"]["horizon"], "rnn_mase_per_seed": rnn_mase,
                     "rnn_mase_mean": float(np.mean(rnn_mase)),
                     "rnn_interval_coverage_per_seed": cover, "rnn_seed0": first_rnn, "baselines": base,
                     "seconds": time.time() - t0}
        b = base
        print(f"{name:9s} n={len(y):4d} train={first:4d} h={cfg['model']['horizon']:2d} m={cfg['m']:2d}  MASE: "
              f"rnn {np.mean(rnn_mase):.3f} (seeds {', '.join(f'{v:.3f}' for v in rnn_mase)})  "
              f"naive {b['naive']['MASE']:.3f}  snaive {b['seasonal_naive']['MASE']:.3f}  "
              f"ets {b['ets']['MASE'] if 'ets' in b else float('nan'):.3f}  "
              f"90% interval coverage {np.mean(cover):.2f}  [{time.time() - t0:.0f}s]", flush=True)
    _results.write(_results.out_path(args, __file__, smoke=set(args.series) != set(CONFIGS)), out)


if __name__ == "__main__":
    main()
