"""``rnnkit anomaly fit|score|detect|warn``: the recurrent anomaly detector, and predictive
alerts, from the command line.

``fit`` writes ``RUN/model.rnnkit`` (config JSON + arrays, no pickle); ``score``
writes a CSV of per-step scores; ``detect`` prints flagged intervals (or, with
``--stream``, an ``ALERT`` line the moment a point crosses the threshold),
precision/recall/F1 and lead times when a label column is given, and a PNG.
``warn`` fits an early warning and prints its alerts (``--save FILE`` keeps the
fitted warning; ``--model FILE`` warns with a saved one instead of fitting).
"""
from __future__ import annotations

import json
import math
import os
import sys

from ._args import count, positive_float, positive_int
from ._controls import add_control_args, controls, settings
from ._dialect import data_argument, data_path, renamed
from .forecast import _cols, add_network_args, check_roles


def register(sub):
    p = sub.add_parser("anomaly", help="fit, score and detect anomalies with a recurrent detector",
                       description="Anomaly detection on CSV time series with early alerts.")
    s = p.add_subparsers(dest="action", metavar="ACTION")
    s.required = True
    f = s.add_parser("fit", help="fit a detector on (mostly normal) data and save it")
    data_argument(f)
    f.add_argument("--time-col", help="time column (default: one named time/date/timestamp, or an unnamed index)")
    f.add_argument("--columns", help="value columns, comma-separated (default: all but time and label)")
    f.add_argument("--label-col", help="a 0/1 label column to leave out of the features")
    f.add_argument("--train-size", type=positive_float, default=None,
                   help="leading part used for training: a fraction (<=1) or a number of rows (default: all, or "
                        "the rows before --test-start)")
    f.add_argument("--test-start", metavar="TIME",
                   help="first row of the test part, as written in the time column (without one: a 0-based data "
                        "row number); the detector is fitted on the rows before it")
    f.add_argument("--kind", choices=["forecast", "reconstruction"], default="forecast",
                   help="score by next-step forecast error, or by window reconstruction error")
    f.add_argument("--window", type=positive_int, default=32,
                   help="truncated-BPTT chunk (forecast) or autoencoder window (reconstruction), in steps")
    add_network_args(f, "LSTM", epochs=20, over="the training rows")
    f.add_argument("--span", type=positive_int, default=5, help="EWMA span for smoothing scores (>= 1; 1: none)")
    f.add_argument("--threshold", choices=["robust", "dynamic", "static"], default="robust",
                   help="robust (median + z scaled MADs of recent scores; one spike cannot blind it), dynamic "
                        "(telemanom) or static (a quantile of the training scores); all causal")
    f.add_argument("--quantile", type=positive_float, default=0.995, help="static threshold quantile")
    f.add_argument("--merge-gap", type=count, default=20,
                   help="flagged runs at most this many steps apart are one interval / one alert")
    f.add_argument("--seed", type=count, default=0, help="random seed: weights, data order and sampling")
    f.add_argument("--per-sensor", action="store_true",
                   help="one detector per value column (each with its own threshold and seed), saved as RUN/sensor-K "
                        "runs; score and detect then report each sensor")
    f.add_argument("--jobs", type=_jobs, default=1,
                   help="with --per-sensor: detectors fitted at once (joblib workers, one BLAS thread each; "
                        "-1: every core); results do not depend on it")
    f.add_argument("--out", required=True, help="run directory to create")
    f.add_argument("--quiet", action="store_true", help="no progress bar or progress lines")
    add_control_args(f, validation="the last part of the training rows")
    f.set_defaults(func=fit)
    w = s.add_parser("warn", help="predictive alerts: warn before a series leaves its operating band",
                     description="Fit a multi-step forecaster on the training rows and warn, from the test start "
                                 "on, when the forecast leaves the band within the horizon.")
    data_argument(w)
    w.add_argument("--time-col", help="time column (default: one named time/date/timestamp, or an unnamed index)")
    w.add_argument("--columns", help="value columns, comma-separated (default: all but time and label)")
    w.add_argument("--label-col", help="a 0/1 label column (failures) to report lead times against")
    w.add_argument("--train-size", type=positive_float, default=None,
                   help="leading part to fit on: a fraction (<=1) or a number of rows (default: the rows before "
                        "--test-start)")
    w.add_argument("--test-start", metavar="TIME",
                   help="first row to warn on, as written in the time column (without one: a 0-based row number)")
    w.add_argument("--horizon", type=positive_int, help="steps looked ahead (default: 25)")
    w.add_argument("--lookback", type=positive_int, help="steps the forecaster reads (default: 50)")
    w.add_argument("--limits", metavar="LOWER,UPPER",
                   help="operating limits, e.g. --limits=-1.6,1.6 or --limits=,80 (one side open); default: learned "
                        "from the training rows (0.005/0.995 quantiles widened by 10%%)")
    w.add_argument("--trigger", choices=["point", "interval"],
                   help="warn when the forecast path (point, the default) or its 90%% interval leaves the band")
    w.add_argument("--every", type=positive_int,
                   help="steps between forecasts (the decision holds between; default: 1)")
    w.add_argument("--epochs", type=positive_int, help="training epochs of the forecaster (default: 30)")
    w.add_argument("--hidden", type=positive_int, help="LSTM hidden size of the forecaster (default: 32)")
    w.add_argument("--seed", type=count, help="random seed (default: 0)")
    w.add_argument("--save", metavar="FILE",
                   help="write the fitted early warning to FILE (an rnnkit file, no pickle), for --model or "
                        "rnnkit.anomaly.EarlyWarning.load")
    w.add_argument("--model", metavar="FILE",
                   help="warn with an early warning saved by --save instead of fitting one (its columns, band and "
                        "settings); warnings start at --test-start, or after the rows it was fitted on when the "
                        "file starts with them")
    w.add_argument("--report", help="write alerts, lead times and false alerts as JSON here (default: none)")
    w.set_defaults(func=warn)
    for name, fn, hlp in (("score", score, "write per-step scores to CSV"),
                          ("detect", detect, "flag anomalies, print alerts and metrics")):
        q = s.add_parser(name, help=hlp)
        q.add_argument("run", help="run directory (or model.rnnkit) from 'anomaly fit'")
        data_argument(q, "CSV file with the columns the detector was fitted on")
        q.add_argument("--time-col", help="time column (default: the one the detector was fitted with)")
        q.add_argument("--label-col", help="0/1 label column to evaluate against")
        q.add_argument("--test-start", metavar="TIME",
                       help="score only from this row on (a time as written in the time column; without one, a "
                            "0-based data row number); default: after the rows the detector was fitted on, when "
                            "the file starts with them, else the first row. Rows it was fitted on are never scored "
                            "unless --in-sample is given")
        q.add_argument("--in-sample", action="store_true",
                       help="score every row, the training rows too (their scores and metrics are optimistic)")
        renamed(q, "--output", "--out", help="output CSV of per-step scores (default RUN/scores.csv)")
        if name == "detect":
            q.add_argument("--stream", action="store_true",
                           help="score one point at a time and print an ALERT line as each crossing happens")
            q.add_argument("--early", type=count, default=0,
                           help="flags up to this many steps before a labelled onset count as early detections")
            q.add_argument("--plot", help="PNG (default RUN/detect.png)")
            q.add_argument("--report", help="JSON report (default RUN/detect.json)")
        q.add_argument("--jobs", type=_jobs, default=1,
                       help="for a --per-sensor run: sensors scored at once (joblib workers; -1: every core)")
        q.set_defaults(func=fn)


def _read(args, columns=None, time_col=None, fill=True):
    from ..forecast.data import read_csv

    times, values, names = read_csv(args.csv, args.time_col or time_col, fill=fill)
    label = None
    if args.label_col:
        if args.label_col not in names:
            raise ValueError(f"{args.csv}: no label column {args.label_col!r}; columns are {names}")
        label = _labels(args.csv, args.label_col, values[:, names.index(args.label_col)])
    if columns is None:
        columns = [n for n in names if n != args.label_col]
    for c in columns:
        if c not in names:
            raise ValueError(f"{args.csv}: no column {c!r}; columns are {names}")
    return times, values[:, [names.index(c) for c in columns]], columns, label


def _labels(path, col, values):
    """A 0/1 label column as booleans; any other value (a 7, a 0.5 from a filled gap) is refused."""
    import numpy as np

    bad = np.flatnonzero((values != 0) & (values != 1))
    if len(bad):
        raise ValueError(f"{path}: label column {col!r} holds {values[bad[0]]:g} at data row {bad[0] + 1}; labels "
                         "must be 0 (normal) or 1 (anomaly), with no empty cells")
    return values == 1


def _train_rows(train_size, n_rows, path):
    """Rows that ``--train-size`` selects: a fraction (<= 1) or a whole number of rows, at most ``n_rows``."""
    if train_size <= 1:
        n = int(round(train_size * n_rows))
        if n < 1:
            raise ValueError(f"--train-size {train_size} selects no rows of the {n_rows} in {path}; pass a "
                             "larger fraction")
        return n
    if train_size != int(train_size):
        raise ValueError(f"--train-size {train_size} is neither a fraction (<= 1) nor a whole number of rows")
    if train_size > n_rows:
        raise ValueError(f"--train-size {int(train_size)} is more than the {n_rows} rows of {path}; pass at "
                         f"most {n_rows} or a fraction")
    return int(train_size)


def fit(args):
    from ..anomaly import AnomalyDetector
    from ..callbacks import EpochProgress, MetricsLog
    from ..progress import progress
    from ..forecast.data import new_run_dir

    data_path(args)
    columns = _cols(args.columns, "--columns")
    check_roles({"--columns": columns, "--label-col": [args.label_col] if args.label_col else None})
    times, x, cols, _ = _read(args, columns)
    if args.test_start is not None and args.train_size is not None:
        raise ValueError("--train-size and --test-start both say where training ends; pass one of them")
    if args.test_start is not None:
        n = _row_of(args.test_start, times, args.csv)
        if n == 0:
            raise ValueError(f"--test-start {args.test_start} is the first row of {args.csv}, which leaves no rows to "
                             "fit on; pass a later time")
    else:
        n = _train_rows(1.0 if args.train_size is None else args.train_size, len(x), args.csv)
    d = AnomalyDetector(kind=args.kind, window=args.window, hidden_size=args.hidden, num_layers=args.layers,
                        epochs=args.epochs, lr=args.lr, clip=args.clip, span=args.span, threshold=args.threshold,
                        quantile=args.quantile, merge_gap=args.merge_gap, random_state=args.seed,
                        validation_fraction=args.validation_fraction)
    d._check_params()
    d._prep(x[:n], fitting=True)               # refuse bad data before the run directory is made
    if args.per_sensor:
        if controls(args, args.epochs, args.lr):
            raise ValueError("--early-stopping and --lr-schedule are not available with --per-sensor yet; drop them, "
                             "or fit one detector over all columns")
        return _fit_sensors(args, d, x, n, cols)
    if args.jobs != 1:
        raise ValueError("--jobs spreads the sensors of --per-sensor over workers; add --per-sensor, or drop --jobs")
    with new_run_dir(args.out, "a fitted anomaly detector") as run:
        run.reset_metrics()
        bar = progress(args.epochs, "anomaly fit", disable=args.quiet or None, unit="epoch")
        d.fit(x[:n], callbacks=[*controls(args, args.epochs, args.lr), MetricsLog(run.log), EpochProgress(bar)])
        path = d.save(os.path.join(args.out, "model.rnnkit"), {"columns": cols, "time_col": args.time_col,
                                                                "controls": settings(args), "train_rows": n,
                                                                "train_digest": _digest(x[:n])})
    stopped = f" ({d.stop_reason_})" if d.stop_reason_ else ""
    print(f"fitted a {args.kind} detector on {n} steps of {cols}, final loss {d.loss_curve_[-1]:.5f}{stopped}; "
          f"saved {path}")
    return 0


def _jobs(text):
    """``--jobs``: a positive number of workers, or -1 for every core."""
    import argparse

    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v == 0 or v < -1:
        raise argparse.ArgumentTypeError(f"{text} is not a number of workers; pass 1 or more, or -1 for every core")
    return v


SENSORS = "sensors.json"


def _fit_sensors(args, template, x, n, cols):
    """``fit --per-sensor``: one detector per column, fitted over ``--jobs`` workers, each saved
    as the run ``RUN/sensor-K`` (a one-column run of its own), listed in ``RUN/sensors.json``."""
    from ..anomaly import fit_sensors
    from ..forecast.data import new_run_dir
    from ..io.files import atomic_write_text

    if os.path.exists(os.path.join(args.out, SENSORS)):
        raise ValueError(f"--out {args.out} already holds fitted per-sensor detectors; choose a new --out, or remove "
                         "the old run first")
    params = {k: v for k, v in template.get_params().items()}
    for j, c in enumerate(cols):                                   # refuse a constant sensor before fitting any
        template._prep(x[:n, j], fitting=True)
    with new_run_dir(args.out, "a fitted anomaly detector"):
        ds = fit_sensors(x[:n], n_jobs=args.jobs, names=cols, **params)
        runs = []
        for j, (c, d) in enumerate(ds.items()):
            sub = os.path.join(args.out, f"sensor-{j}")
            os.makedirs(sub, exist_ok=True)
            d.save(os.path.join(sub, "model.rnnkit"), {"columns": [c], "time_col": args.time_col, "train_rows": n,
                                                       "train_digest": _digest(x[:n, j:j + 1])})
            runs.append({"column": c, "run": f"sensor-{j}"})
        atomic_write_text(os.path.join(args.out, SENSORS),
                          json.dumps({"sensors": runs, "time_col": args.time_col, "train_rows": n,
                                      "train_digest": _digest(x[:n]), "seed": args.seed}, indent=1), suffix=".json")
    print(f"fitted {len(cols)} {args.kind} detectors, one per sensor {cols}, on {n} steps ({args.jobs} job(s)); "
          f"saved {os.path.join(args.out, SENSORS)}")
    return 0


def _sensor_run(args):
    """The manifest of a ``--per-sensor`` run directory, or None."""
    path = os.path.join(args.run, SENSORS)
    if not os.path.isdir(args.run) or not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def _detect_sensors(args, manifest, action):
    """``score`` / ``detect`` of a ``--per-sensor`` run: each sensor's detector on its
    column (``--jobs`` workers), alerts named by sensor, metrics on any sensor's flags."""
    import numpy as np

    from ..anomaly import AnomalyDetector, detect_sensors, event_scores, intervals, point_scores
    from ..anomaly.plot import plot_detection
    from ..io.files import atomic_write_text, check_output, check_plot

    data_path(args)
    if getattr(args, "stream", False):
        raise ValueError("--stream scores one detector point by point; a --per-sensor run is scored in batch: drop "
                         "--stream")
    cols = [s["column"] for s in manifest["sensors"]]
    ds = {s["column"]: AnomalyDetector.load(os.path.join(args.run, s["run"], "model.rnnkit"))
          for s in manifest["sensors"]}
    inputs = [(os.path.join(args.run, SENSORS), "the run's sensor list"), (args.csv, "the input CSV")]
    inputs += [(os.path.join(args.run, s["run"], "model.rnnkit"), "a model file") for s in manifest["sensors"]]
    named = [(args.output or os.path.join(args.run, "scores.csv"), "--output")]
    if action == "detect":
        named += [(args.report or os.path.join(args.run, "detect.json"), "--report"),
                  (args.plot or os.path.join(args.run, "detect.png"), "--plot")]
    outs = []
    for i, (p, opt) in enumerate(named):
        others = inputs + [(q, f"the {o} output") for j, (q, o) in enumerate(named) if j != i]
        outs.append((check_plot if opt == "--plot" else check_output)(p, opt, others))
    times, x, _, labels = _read(args, cols, manifest.get("time_col"))
    start = _test_start(args, manifest, times, x)
    gap = max(d.merge_gap for d in ds.values())
    res = {c: _from(r, start, d.merge_gap) for (c, r), d in
           zip(detect_sensors(ds, x, n_jobs=args.jobs).items(), ds.values())}
    flags = np.any([r["flags"] for r in res.values()], axis=0)
    spans = [(s + start, e + start) for s, e in intervals(flags, gap)]
    header = ["time"] + [f"{k}_{c}" for c in cols for k in ("score", "smoothed", "threshold", "flag")] + ["flag"]
    from ..forecast.data import number, write_csv

    def cells(c, t):
        r = res[c]
        return [number(r["score"][t]), number(r["smoothed"][t]), number(r["threshold"][t]), int(r["flags"][t])]

    rows = [[times[start + t]] + [v for c in cols for v in cells(c, t)] + [int(flags[t])]
            + ([int(labels[start + t])] if labels is not None else []) for t in range(len(flags))]

    write_csv(outs[0], header + (["label"] if labels is not None else []), rows)
    if action == "score":
        print(f"scored {len(flags)} steps of {len(cols)} sensors from row {start} ({int(flags.sum())} flagged) to "
              f"{outs[0]}")
        return 0
    report_spans = []
    for s, e in spans:
        which = [c for c in cols if res[c]["flags"][s - start:e - start + 1].any()]
        print(f"anomaly {times[s]} .. {times[e]} ({e - s + 1} steps) on {', '.join(which)}")
        report_spans.append({"start": s, "end": e, "start_time": _json_time(times[s]),
                             "end_time": _json_time(times[e]), "steps": e - s + 1, "sensors": which})
    print(f"{len(spans)} flagged interval(s), {int(flags.sum())} of {len(flags)} points scored (from row {start}, "
          f"time {times[start]})")
    report = {"test_start": {"row": start, "time": _json_time(times[start])}, "scored_rows": len(flags),
              "intervals": report_spans,
              "sensors": {c: [{"start": s, "end": e} for s, e in res[c]["intervals"]] for c in cols}}
    if labels is not None:
        lab = labels[start:]
        pt, ev = point_scores(flags, lab), event_scores(flags, lab, early=args.early, gap=gap)
        report.update(point=pt, event=ev)
        lead = "n/a" if ev["mean_lead"] is None else f"{ev['mean_lead']:.1f}"
        print(f"point  P={pt['precision']:.3f} R={pt['recall']:.3f} F1={pt['f1']:.3f}")
        print(f"event  P={ev['precision']:.3f} R={ev['recall']:.3f} F1={ev['f1']:.3f}  "
              f"detected {ev['detected']}/{ev['events']}  mean lead {lead} steps")
    atomic_write_text(outs[1], json.dumps(report, indent=1), suffix=".json")
    ratio = np.max([r["smoothed"] / r["threshold"] for r in res.values()], axis=0)
    plot_detection(outs[2], x[start:], {"smoothed": ratio, "threshold": np.ones_like(ratio),
                                        "intervals": [(s - start, e - start) for s, e in spans]},
                   None if labels is None else labels[start:], title="per-sensor detection (score / threshold)")
    sys.stdout.flush()
    return 0


def _band_json(side):
    """A band side ``(C,)`` for the JSON report: numbers, ``null`` where open (``±inf``,
    which strict JSON cannot hold)."""
    return [None if math.isinf(v) else float(v) for v in side]


def _limits(text):
    """``--limits LOWER,UPPER`` as a pair (an empty side: ``None``)."""
    parts = text.split(",")
    if len(parts) != 2:
        raise ValueError(f"--limits {text!r} is not LOWER,UPPER; write e.g. --limits=-1.6,1.6 (or --limits=,80 for an "
                         "upper limit only)")
    out = []
    for p in parts:
        try:
            out.append(float(p) if p.strip() else None)
        except ValueError:
            raise ValueError(f"--limits {text!r}: {p!r} is not a number") from None
    if out == [None, None]:
        raise ValueError("--limits gives neither side; pass at least one limit, or drop --limits to learn the band")
    return tuple(out)


WARN_FIT = {"horizon": 25, "lookback": 50, "limits": None, "trigger": "point", "every": 1, "epochs": 30,
            "hidden": 32, "seed": 0}            # ``anomaly warn``'s fitting options and their defaults


def warn(args):
    """``anomaly warn``: predictive alerts (:class:`rnnkit.anomaly.EarlyWarning`) from the test start on;
    the warning is fitted on the rows before it (``--save`` writes it), or read with ``--model``."""
    import numpy as np

    from ..anomaly import event_scores, false_alerts_per_1000
    from ..io.files import atomic_write_text, check_output

    data_path(args)
    columns = _cols(args.columns, "--columns")
    check_roles({"--columns": columns, "--label-col": [args.label_col] if args.label_col else None})
    if args.test_start is not None and args.train_size is not None:
        raise ValueError("--train-size and --test-start both say where training ends; pass one of them")
    if args.model is not None:
        given = [f"--{k}" for k in WARN_FIT if getattr(args, k) is not None] + (["--columns"] if columns else [])
        if given or args.save is not None:
            what = ", ".join(given + (["--save"] if args.save is not None else []))
            raise ValueError(f"--model warns with a saved early warning, its columns and settings as fitted; "
                             f"drop {what} (or drop --model to fit a new one)")
    for k, v in WARN_FIT.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    inputs = [(args.csv, "the input CSV"), (args.model, "the --model file")]
    save = None if args.save is None else check_output(args.save, "--save",
                                                       inputs + [(args.report, "the --report output")])
    out = None if args.report is None else check_output(args.report, "--report",
                                                        inputs + [(args.save, "the --save output")])
    if args.model is not None:
        w, meta = _load_warning(args.model)
        times, x, cols, labels = _read(args, meta["columns"], meta.get("time_col"))
        n = _warn_start(args, meta, times, x)
    else:
        times, x, cols, labels = _read(args, columns)
        w, n = _fit_warning(args, times, x)
        if save is not None:
            w.save(save, {"columns": cols, "time_col": args.time_col, "train_rows": n, "train_digest": _digest(x[:n])})
    r = w.warn(x, start=n)
    for a in r["alerts"]:
        when = "now" if a["crossing_in"] == 0 else f"in {a['crossing_in']} step(s)"
        print(f"WARN t={times[a['time']]} {a['bound']} limit of {cols[a['column']]!r} crossed {when}", flush=True)
    band = ", ".join(f"{c} [{lo:.4g}, {hi:.4g}]" for c, lo, hi in zip(cols, w.lower_, w.upper_))
    print(f"{len(r['alerts'])} warning(s) over {len(x) - n} rows from row {n} (time {times[n]}); band {band}")
    report = {"test_start": {"row": n, "time": _json_time(times[n])}, "scored_rows": len(x) - n,
              "lower": _band_json(w.lower_), "upper": _band_json(w.upper_),
              "alerts": [{**a, "time_value": _json_time(times[a["time"]]), "column": cols[a["column"]]}
                         for a in r["alerts"]]}
    if labels is not None:
        f, y = r["flags"][n:], labels[n:]
        ev = event_scores(f, y, early=w.horizon, gap=w.merge_gap)
        fa = false_alerts_per_1000(f, y, early=w.horizon, gap=w.merge_gap)
        got = [v for v in ev["lead_times"] if v is not None]
        med = "n/a" if not got else f"{float(np.median(got)):g}"
        print(f"detected {ev['detected']}/{ev['events']} failures, median lead {med} steps (capped at "
              f"{w.horizon}), {fa:.2f} false alerts per 1000 steps")
        report.update(event=ev, false_per_1000=fa)
    if out is not None:
        atomic_write_text(out, json.dumps(report, indent=1), suffix=".json")
    if save is not None:
        print(f"saved the early warning to {save}")
    sys.stdout.flush()
    return 0


def _fit_warning(args, times, x):
    """``(EarlyWarning fitted on the rows before the test start, that row)``."""
    from ..anomaly import EarlyWarning

    if args.test_start is None and args.train_size is None:
        raise ValueError("anomaly warn needs a test part to warn on: pass --test-start TIME or --train-size")
    n = (_row_of(args.test_start, times, args.csv) if args.test_start is not None
         else _train_rows(args.train_size, len(x), args.csv))
    if n >= len(x) or n < args.lookback + args.horizon + 2:
        raise ValueError(f"{args.csv}: {n} training row(s) and {len(x) - n} to warn on; the forecaster needs more "
                         f"than lookback + horizon ({args.lookback + args.horizon}) rows to fit on and at least one "
                         "after them")
    limits = None if args.limits is None else _limits(args.limits)
    w = EarlyWarning(horizon=args.horizon, lookback=args.lookback, hidden_size=args.hidden, epochs=args.epochs,
                     limits=limits, trigger=args.trigger, every=args.every, random_state=args.seed).fit(x[:n])
    return w, n


def _load_warning(path):
    """``(EarlyWarning, meta)`` saved in ``path`` by ``anomaly warn --save``."""
    from ..anomaly import EarlyWarning
    from ..io.files import ModelFileError
    from ..io.models import read

    w = EarlyWarning.load(path)
    meta = read(path, EarlyWarning.FILE_KIND)[0]["meta"]
    if not (isinstance(meta.get("columns"), list) and len(meta["columns"]) == w.n_features_):
        raise ModelFileError(f"{path}: the early warning was not saved by 'anomaly warn --save' (no column names); "
                             "save it with --save, or warn from Python")
    return w, meta


def _warn_start(args, meta, times, x):
    """The first row a saved warning warns on: ``--test-start`` (or ``--train-size`` rows), else
    after the rows it was fitted on when ``x`` starts with them.  Refuses a start inside those rows."""
    n_fit = meta.get("train_rows")
    fitted_here = (isinstance(n_fit, int) and len(x) >= n_fit and meta.get("train_digest") is not None
                   and _digest(x[:n_fit]) == meta["train_digest"])
    if args.test_start is not None:
        n = _row_of(args.test_start, times, args.csv)
    elif args.train_size is not None:
        n = _train_rows(args.train_size, len(x), args.csv)
    elif fitted_here:
        n = n_fit
    else:
        raise ValueError(f"{args.csv} does not start with the rows the early warning was fitted on; pass "
                         "--test-start TIME to say where warnings start")
    if fitted_here and n < n_fit:
        raise ValueError(f"the warning would start at row {n}, inside the rows the early warning was fitted on "
                         f"(rows 0 .. {n_fit - 1} of {args.csv}); pass a later --test-start")
    if n >= len(x):
        raise ValueError(f"{args.csv} has no rows after the test start (row {n}, of {len(x)}): pass a file that "
                         "goes on past the training rows, or an earlier --test-start")
    return n


def _load(args):
    from ..anomaly import AnomalyDetector
    from ..io.files import read_file

    path = _model_path(args)
    meta = read_file(path, "anomaly-detector")[0]["meta"]
    run = args.run if os.path.isdir(args.run) else os.path.dirname(args.run) or "."
    return AnomalyDetector.load(path), meta, run


def _model_path(args):
    return os.path.join(args.run, "model.rnnkit") if os.path.isdir(args.run) else args.run


def _write_scores(path, times, res, labels, start=0):
    """Per-step scores of the rows from ``start`` on (``res`` holds those rows only)."""
    from ..forecast.data import number, write_csv

    rows = [[times[start + t], number(res['score'][t]), number(res['smoothed'][t]), number(res['threshold'][t]),
             int(res["flags"][t])] + ([int(labels[start + t])] if labels is not None else [])
            for t in range(len(res["flags"]))]
    write_csv(path, ["time", "score", "smoothed", "threshold", "flag"] + (["label"] if labels is not None else []),
              rows)


def score(args):
    from ..io.files import check_output

    manifest = _sensor_run(args)
    if manifest is not None:
        return _detect_sensors(args, manifest, "score")
    _single_jobs(args)
    data_path(args)
    d, meta, run = _load(args)
    out = check_output(args.output or os.path.join(run, "scores.csv"), "--output",
                       [(_model_path(args), "the model file"), (args.csv, "the input CSV")])
    times, x, _, labels = _read(args, meta["columns"], meta.get("time_col"))
    start = _test_start(args, meta, times, x)
    res = _from(d.detect(x), start, d.merge_gap)
    _write_scores(out, times, res, labels, start)
    print(f"scored {len(x) - start} steps from row {start} ({int(res['flags'].sum())} flagged) to {out}")
    return 0


def detect(args):
    import numpy as np

    from ..anomaly import event_scores, point_scores
    from ..anomaly.plot import plot_detection
    from ..io.files import atomic_write_text, check_output, check_plot

    manifest = _sensor_run(args)
    if manifest is not None:
        return _detect_sensors(args, manifest, "detect")
    _single_jobs(args)
    data_path(args)
    d, meta, run = _load(args)
    named = [(p or os.path.join(run, name), opt) for p, name, opt in
             ((args.output, "scores.csv", "--output"), (args.report, "detect.json", "--report"),
              (args.plot, "detect.png", "--plot"))]
    inputs = [(_model_path(args), "the model file"), (args.csv, "the input CSV")]
    outs = []
    for i, (p, opt) in enumerate(named):
        others = inputs + [(q, f"the {o} output") for j, (q, o) in enumerate(named) if j != i]
        outs.append((check_plot if opt == "--plot" else check_output)(p, opt, others))
    times, x, _, labels = _read(args, meta["columns"], meta.get("time_col"), fill=not args.stream)
    start = _test_start(args, meta, times, x)
    if args.stream:
        _refuse_gaps(args.csv, times, x, meta["columns"])
        rows, last = [], None
        for t, e, sm, thr, flag, _ in d.stream(x):          # the rows before the test part warm the state up
            flag = flag and t >= start
            rows.append((e, sm, thr, flag))
            if flag and (last is None or t - last - 1 > d.merge_gap):
                print(f"ALERT t={times[t]} score={sm:.4g} threshold={thr:.4g}", flush=True)
            last = t if flag else last
        a = np.array(rows, dtype=float).reshape(-1, 4)
        res = _from({"score": a[:, 0], "smoothed": a[:, 1], "threshold": a[:, 2], "flags": a[:, 3] > 0.5},
                    start, d.merge_gap)
    else:
        res = _from(d.detect(x), start, d.merge_gap)
        for s, e in res["intervals"]:
            print(f"anomaly {times[s]} .. {times[e]} ({e - s + 1} steps, peak score "
                  f"{res['smoothed'][s - start:e - start + 1].max():.4g})")
    n = len(x) - start
    print(f"{len(res['intervals'])} flagged interval(s), {int(res['flags'].sum())} of {n} points scored "
          f"(from row {start}, time {times[start]})")
    report = {"test_start": {"row": start, "time": _json_time(times[start])}, "scored_rows": n,
              "intervals": [{"start": s, "end": e, "start_time": _json_time(times[s]), "end_time": _json_time(times[e]),
                             "steps": e - s + 1, "peak_score": float(res["smoothed"][s - start:e - start + 1].max())}
                            for s, e in res["intervals"]]}
    if labels is not None:
        lab = labels[start:]
        pt, ev = point_scores(res["flags"], lab), event_scores(res["flags"], lab, early=args.early, gap=d.merge_gap)
        report.update(point=pt, event=ev)
        lead = "n/a" if ev["mean_lead"] is None else f"{ev['mean_lead']:.1f}"
        print(f"point  P={pt['precision']:.3f} R={pt['recall']:.3f} F1={pt['f1']:.3f}")
        print(f"event  P={ev['precision']:.3f} R={ev['recall']:.3f} F1={ev['f1']:.3f}  "
              f"detected {ev['detected']}/{ev['events']}  mean lead {lead} steps")
    _write_scores(outs[0], times, res, labels, start)
    atomic_write_text(outs[1], json.dumps(report, indent=1), suffix=".json")
    plot_detection(outs[2], x[start:], {**res, "intervals": [(s - start, e - start) for s, e in res["intervals"]]},
                   None if labels is None else labels[start:])
    sys.stdout.flush()
    return 0


def _single_jobs(args):
    if args.jobs != 1:
        raise ValueError(f"--jobs spreads the sensors of a --per-sensor run over workers; {args.run} holds one "
                         "detector: drop --jobs")


def _from(res, start, gap):
    """``res`` (per-step arrays over the whole series) from row ``start`` on; its
    intervals in whole-series rows, found in the scored part only."""
    from ..anomaly import intervals

    out = {k: res[k][start:] for k in ("score", "smoothed", "threshold", "flags")}
    out["intervals"] = [(s + start, e + start) for s, e in intervals(out["flags"], gap)]
    return out


def _digest(x):
    """A fingerprint of the training rows, to know them again in a later file."""
    import hashlib

    import numpy as np

    return hashlib.sha256(np.ascontiguousarray(x, dtype=np.float64).tobytes()).hexdigest()


def _row_of(value, times, path):
    """The data row whose time is ``value`` (``--test-start``); without a time column
    ``times`` are the row numbers."""
    try:
        return times.index(str(value).strip())
    except ValueError:
        pass
    raise ValueError(f"--test-start {value}: no row of {path} has that time (its times run {times[0]} .. "
                     f"{times[-1]}); pass a time as written in the time column, or a 0-based row number when the "
                     "file has none")


def _test_start(args, meta, times, x):
    """The first row ``score``/``detect`` scores: ``--test-start``, else after the rows
    the detector was fitted on when ``x`` starts with them, else 0.  Refuses a
    ``--test-start`` that would score rows the detector was fitted on."""
    if getattr(args, "in_sample", False):
        if args.test_start is not None:
            raise ValueError("--in-sample scores every row and --test-start only the rows from it on; pass one of them")
        print(f"--in-sample: scoring every row of {args.csv}, the detector's training rows too")
        return 0
    n_fit = meta.get("train_rows")
    fitted_here = (n_fit is not None and len(x) >= n_fit and meta.get("train_digest") is not None
                   and _digest(x[:n_fit]) == meta["train_digest"])
    if args.test_start is None:
        start = n_fit if fitted_here else 0
        if fitted_here and start > 0:
            print(f"rows 0 .. {n_fit - 1} of {args.csv} are the detector's training rows: scoring from row "
                  f"{start} (time {times[start] if start < len(times) else 'n/a'})")
    else:
        start = _row_of(args.test_start, times, args.csv)
        if fitted_here and start < n_fit:
            later = times[n_fit] if n_fit < len(times) else "a later time"
            raise ValueError(f"--test-start {args.test_start} (row {start}) would score rows the detector was fitted "
                             f"on (rows 0 .. {n_fit - 1} of {args.csv}); pass {later} or later")
    if start >= len(x) and fitted_here and args.test_start is None:
        raise ValueError(f"every row of {args.csv} is one the detector was fitted on (rows 0 .. {n_fit - 1}), so none "
                         "is left to score: fit with --train-size or --test-start to keep a test part, or pass "
                         "--in-sample to score the training rows")
    if start >= len(x):
        raise ValueError(f"{args.csv} has no rows after the test start (row {start}, of {len(x)}): pass a file "
                         "that goes on past the training rows, or an earlier --test-start")
    return start


def _json_time(value):
    """A time as JSON: a number when it reads as one, else the text as written."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return value
    return int(f) if f.is_integer() and "." not in value and "e" not in value.lower() else f


def _refuse_gaps(path, times, x, columns):
    """Streaming scores each point as it comes: a missing cell cannot be interpolated (docs/anomaly.md)."""
    import numpy as np

    bad = np.argwhere(~np.isfinite(x))
    if len(bad):
        t, j = bad[0]
        raise ValueError(f"{path}: column {columns[j]!r} is missing at data row {t + 1} (time {times[t]}); "
                         "--stream cannot interpolate, fill the cell in (or drop --stream)")
