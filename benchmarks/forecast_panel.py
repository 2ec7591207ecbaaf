"""A backtest panel fixed before any result was seen: rnnkit's default forecaster
against seasonal naive, automatic ETS, SARIMA and Theta on 13 classic series.

The panel (``PANEL`` below) was written down before the first run and is not to be
changed after looking at results; a series is in for what it is, not for how a model
does on it.  It spans the three frequencies of the M3/M4 competitions, series with and
without a trend, and with and without a season:

=====================  ===========  =========  =====  ===============================
series                 source       frequency  n      why it is in
=====================  ===========  =========  =====  ===============================
airline                aeon         monthly    144    trend, multiplicative season
co2                    statsmodels  monthly    526    trend, additive season (weekly
                                                      readings averaged by month)
elnino                 statsmodels  monthly    732    season, no trend (sea surface
                                                      temperature, ENSO swings)
elec_equip             statsmodels  monthly    257    season, cycle but no trend
                                                      (euro-area equipment orders)
seatbelts              sktime       monthly    192    season, a level shift (UK drivers
                                                      killed or seriously injured)
shampoo                aeon         monthly    36     trend, no season, very short
realgdp                statsmodels  quarterly  203    trend, no season (adjusted)
unemp                  statsmodels  quarterly  203    no trend, no season (adjusted)
uschange_consumption   aeon         quarterly  187    no trend, no season (growth rates)
german_inflation       statsmodels  quarterly  107    season, no trend (quarterly
                                                      inflation, not adjusted)
nile                   statsmodels  yearly     100    no trend, a level shift
sunspots               statsmodels  yearly     309    no trend, ~11-year cycle
lynx                   aeon         yearly     114    no trend, ~10-year cycle
=====================  ===========  =========  =====  ===============================

Protocol.  Season length ``m`` = 12 monthly, 4 quarterly, 1 yearly (as M4 scales MASE;
the yearly cycles are not calendar seasons).  Horizons as M3/M4: 18 monthly, 8
quarterly, 6 yearly; shampoo (36 months) gets 6.  Three rolling origins at the end
of each series, ``step = h // 3`` apart (monthly: the last 30 months are forecast from
origins ``n−30, n−24, n−18``); every model is refitted on the history before each
origin.  Per origin: MASE = MAE / in-sample seasonal-naive MAE of that history (Hyndman
& Koehler 2006) and sMAPE = 200/h · Σ |y − f| / (|y| + |f|) (M4); a series' figure is
the mean over its origins, and the panel's the mean over series.

Models.  ``rnn``: ``rnnkit.forecast.Forecaster()`` with its defaults at run time, given
only the horizon and the season length (when its constructor takes them).
``seasonal_naive``; ``auto_ets`` (ETSModel, form by AICc); ``sarima`` (the airline
model for the series marked seasonal above, an auto-order ARIMA otherwise); ``theta``
(statsmodels ThetaModel): see ``rnnkit.forecast.baselines``.

``--jobs N`` spreads the series over N joblib workers (one BLAS thread each; the
figures do not depend on it).  ``--quick``: two short series (statsmodels' Nile and
a generated monthly one), one origin, a tiny network: a smoke run, not a result.
Results: ``benchmarks/results/forecast_panel.json``; the markdown table is printed.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

import _results  # this folder is on sys.path when run as a script
from rnnkit.forecast import Forecaster, backtest
from rnnkit.forecast.baselines import SARIMA, AutoETS, SeasonalNaive, Theta
from rnnkit.forecast.metrics import mase_scale
from rnnkit.parallel import run_tasks

# name: (loader, frequency, seasonal?, horizon) — fixed before any result was seen
PANEL = {
    "airline": ("aeon:Airline", "monthly", True, 18),
    "co2": ("statsmodels:co2", "monthly", True, 18),
    "elnino": ("statsmodels:elnino", "monthly", True, 18),
    "elec_equip": ("statsmodels:elec_equip", "monthly", True, 18),
    "seatbelts": ("sktime:seatbelts", "monthly", True, 18),
    "shampoo": ("aeon:ShampooSales", "monthly", False, 6),
    "realgdp": ("statsmodels:macrodata.realgdp", "quarterly", False, 8),
    "unemp": ("statsmodels:macrodata.unemp", "quarterly", False, 8),
    "uschange_consumption": ("aeon:Uschange.Consumption", "quarterly", False, 8),
    "german_inflation": ("statsmodels:interest_inflation.Dp", "quarterly", True, 8),
    "nile": ("statsmodels:nile", "yearly", False, 6),
    "sunspots": ("statsmodels:sunspots", "yearly", False, 6),
    "lynx": ("aeon:Lynx", "yearly", False, 6),
}
SEASON = {"monthly": 12, "quarterly": 4, "yearly": 1}
ORIGINS = 3
MODELS = ["rnn", "seasonal_naive", "auto_ets", "sarima", "theta"]


def _csv_column(path, column):
    """A numeric column of a small CSV (by name, or by position for an int)."""
    import csv

    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    j = column if isinstance(column, int) else rows[0].index(column)
    return np.array([float(r[j]) for r in rows[1:] if len(r) > j and r[j].strip()])


def load(source):
    """The series ``source`` names (``package:dataset[.column]``), as floats, in time order."""
    pkg, name = source.split(":")
    if pkg == "statsmodels":
        import importlib

        dataset, _, column = name.partition(".")
        data = importlib.import_module("statsmodels.datasets." + dataset).load_pandas().data
        if dataset == "co2":
            return data["co2"].resample("MS").mean().interpolate().to_numpy(float)
        if dataset == "elnino":                    # one row per year, one column per month
            return data.drop(columns="YEAR").to_numpy(float).reshape(-1)
        column = column or {"nile": "volume", "sunspots": "SUNACTIVITY"}.get(dataset, data.columns[0])
        return data[column].to_numpy(float)
    if pkg == "generated":                         # --quick: a monthly series with trend and season
        t = np.arange(int(name))
        return 50 + 0.3 * t + 8 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(0).normal(0, 1, t.size)
    dataset, _, column = name.partition(".")
    root = os.path.dirname(__import__(pkg).__file__)
    path = os.path.join(root, "datasets", "data", dataset, dataset + ".csv")
    return _csv_column(path, column or {"seatbelts": "KSI"}.get(dataset, 1))


def smape(y, f):
    """M4's sMAPE, in percent: ``200/h · Σ |y − f| / (|y| + |f|)`` (0/0 counted as 0)."""
    y, f = np.asarray(y, float), np.asarray(f, float)
    den = np.abs(y) + np.abs(f)
    return float(200.0 * np.mean(np.where(den > 0, np.abs(y - f) / np.where(den > 0, den, 1), 0.0)))


def rnn_params(h, m, extra=None):
    """The default forecaster's parameters, with the horizon and season set where it takes them."""
    names = Forecaster().get_params()
    given = {k: v for k, v in (("horizon", h), ("season", m)) if k in names}
    return {**given, **{k: v for k, v in (extra or {}).items() if k in names}}


def run_series(name, y, freq, seasonal, h, n_origins, rnn_extra):
    """Backtest every model on one series; per-origin and mean MASE and sMAPE."""
    m = SEASON[freq]
    step = max(1, h // 3)
    first = len(y) - h - (n_origins - 1) * step
    t0 = time.time()
    params = rnn_params(h, m, rnn_extra)
    base = [SeasonalNaive(m), AutoETS(m), SARIMA(m if seasonal else 1), Theta(m)]
    out = {"n": len(y), "frequency": freq, "m": m, "seasonal": seasonal, "horizon": h, "first_origin": first,
           "step": step, "rnn_params": params, "errors": {},
           "rnn_all_params": {k: v for k, v in Forecaster(**params).get_params().items()
                              if v is None or isinstance(v, (bool, int, float, str))}}
    r = backtest(_NoModel(h), y, first, step=step, season=m, baselines=base, fit=False, n_jobs=1)
    fc, actual, orig = {k: v for k, v in r["forecasts"].items() if k != "rnn"}, r["actuals"], r["origins"]
    try:
        r = backtest(Forecaster(**params), y, first, step=step, season=m, baselines=False, refit=True, n_jobs=1)
        fc = {"rnn": r["forecasts"]["rnn"], **fc}
    except ValueError as exc:                     # the default network may not fit a short series
        out["errors"]["rnn"] = str(exc)
    out["origins"] = orig
    out["metrics"] = {}
    for k, f in fc.items():
        mase = [float(np.mean(np.abs(actual[i] - f[i]))) / mase_scale(y[:o], m) for i, o in enumerate(orig)]
        sm = [smape(actual[i], f[i]) for i in range(len(orig))]
        out["metrics"][k] = {"MASE": float(np.mean(mase)), "sMAPE": float(np.mean(sm)),
                             "MASE_per_origin": mase, "sMAPE_per_origin": sm}
    out["seconds"] = time.time() - t0
    return name, out


class _NoModel:
    """A stand-in for a forecaster that could not be fitted: backtest scores only the baselines."""
    alpha = 0.5

    def __init__(self, horizon):
        self.horizon = horizon

    def predict(self, y, past=None, fut=None, return_interval=False):
        f = np.full((self.horizon, np.shape(y)[1]), np.nan)
        return f, (f, f)


def markdown(results):
    """The tables for docs/forecasting.md: MASE, then sMAPE, per series and model, and their means."""
    return "\n\n".join(_table(results, what) for what in ("MASE", "sMAPE"))


def _table(results, what):
    lines = [f"| {what} | freq | n | h | " + " | ".join(MODELS) + " |", "|" + "---|" * (4 + len(MODELS))]
    cell = lambda r, k: f"{r['metrics'][k][what]:.3f}" if k in r["metrics"] else "n/a"  # noqa: E731
    for name, r in results.items():
        lines.append(f"| {name} | {r['frequency']} | {r['n']} | {r['horizon']} | "
                     + " | ".join(cell(r, k) for k in MODELS) + " |")
    means = summary(results)
    lines.append(f"| **mean** ({len(results)} series) | | | | "
                 + " | ".join(_mean_cell(means[k][what], means[k]["series"], len(results)) for k in MODELS) + " |")
    common = {n: r for n, r in results.items() if all(k in r["metrics"] for k in MODELS)}
    if len(common) < len(results):                 # the same series for every model
        cm = summary(common)
        lines.append(f"| **mean of the {len(common)} series all models were scored on** | | | | "
                     + " | ".join(f"**{cm[k][what]:.3f}**" for k in MODELS) + " |")
    return "\n".join(lines)


def _mean_cell(v, n, total):
    return f"**{v:.3f}**" + ("" if n == total else f" ({n} series)")


def summary(results):
    """Per model: the mean MASE and sMAPE over the series it could be scored on."""
    out = {}
    for k in MODELS:
        rs = [r["metrics"][k] for r in results.values() if k in r["metrics"]]
        out[k] = {"MASE": float(np.mean([x["MASE"] for x in rs])) if rs else float("nan"),
                  "sMAPE": float(np.mean([x["sMAPE"] for x in rs])) if rs else float("nan"), "series": len(rs)}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", nargs="*", default=None, help="a subset of the panel (a partial run)")
    ap.add_argument("--jobs", type=int, default=1, help="joblib workers over the series (default 1)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run, not a result")
    ap.add_argument("--table", metavar="FILE.json", help="print the markdown table of an earlier run's results "
                    "file and stop (runs nothing)")
    _results.add_out_options(ap, __file__)
    args = ap.parse_args(argv)
    if args.table:
        with open(args.table) as f:
            print(markdown(json.load(f)["series"]))
        return 0
    if args.quick:
        panel = {"nile": ("statsmodels:nile", "yearly", False, 3),
                 "generated_monthly": ("generated:60", "monthly", True, 6)}
        n_origins, rnn_extra = 1, {"epochs": 2, "hidden_size": 4, "lookback": 12}
    else:
        unknown = sorted(set(args.series or []) - set(PANEL))
        if unknown:
            ap.error(f"unknown series {unknown}; the panel has {sorted(PANEL)}")
        panel = {k: PANEL[k] for k in (args.series or PANEL)}
        n_origins, rnn_extra = ORIGINS, None
    t0 = time.time()
    tasks = [(name, load(src), freq, seasonal, h, n_origins, rnn_extra) for name, (src, freq, seasonal, h)
             in panel.items()]
    results = dict(run_tasks(run_series, tasks, args.jobs))
    wall = time.time() - t0
    for name, r in results.items():
        for k, e in r["errors"].items():
            print(f"{name}: {k} not scored: {e}", file=sys.stderr)
    print(markdown(results))
    print(f"\n{len(results)} series, {n_origins} origin(s) each, wall time {wall:.0f} s with --jobs {args.jobs}")
    import statsmodels

    info = {"python": platform.python_version(), "numpy": np.__version__, "statsmodels": statsmodels.__version__,
            "jobs": args.jobs, "wall_seconds": wall, "origins_per_series": n_origins,
            "command": "python benchmarks/forecast_panel.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    smoke = args.quick or set(panel) != set(PANEL)
    _results.write(_results.out_path(args, __file__, smoke=smoke),
                   {"info": info, "summary": summary(results), "series": results, "markdown": markdown(results)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
