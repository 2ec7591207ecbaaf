"""``rnnkit anomaly fit|score|detect``: the recurrent anomaly detector from the command line.

``fit`` writes ``RUN/model.rnnkit`` (config JSON + arrays, no pickle); ``score``
writes a CSV of per-step scores; ``detect`` prints flagged intervals (or, with
``--stream``, an ``ALERT`` line the moment a point crosses the threshold),
precision/recall/F1 and lead times when a label column is given, and a PNG.
"""
from __future__ import annotations

import json
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
    f.add_argument("--train-size", type=positive_float, default=1.0,
                   help="leading part used for training: a fraction (<=1) or a number of rows")
    f.add_argument("--kind", choices=["forecast", "reconstruction"], default="forecast",
                   help="score by next-step forecast error, or by window reconstruction error")
    f.add_argument("--window", type=positive_int, default=32,
                   help="truncated-BPTT chunk (forecast) or autoencoder window (reconstruction), in steps")
    add_network_args(f, "LSTM", epochs=20, over="the training rows")
    f.add_argument("--span", type=positive_int, default=5, help="EWMA span for smoothing scores (>= 1; 1: none)")
    f.add_argument("--threshold", choices=["dynamic", "static"], default="dynamic",
                   help="dynamic (telemanom, causal) or static (a quantile of the training scores)")
    f.add_argument("--quantile", type=positive_float, default=0.995, help="static threshold quantile")
    f.add_argument("--merge-gap", type=count, default=20,
                   help="flagged runs at most this many steps apart are one interval / one alert")
    f.add_argument("--seed", type=count, default=0, help="random seed: weights, data order and sampling")
    f.add_argument("--out", required=True, help="run directory to create")
    f.add_argument("--quiet", action="store_true", help="no progress bar or progress lines")
    add_control_args(f, validation="the last part of the training rows")
    f.set_defaults(func=fit)
    for name, fn, hlp in (("score", score, "write per-step scores to CSV"),
                          ("detect", detect, "flag anomalies, print alerts and metrics")):
        q = s.add_parser(name, help=hlp)
        q.add_argument("run", help="run directory (or model.rnnkit) from 'anomaly fit'")
        data_argument(q, "CSV file with the columns the detector was fitted on")
        q.add_argument("--time-col", help="time column (default: the one the detector was fitted with)")
        q.add_argument("--label-col", help="0/1 label column to evaluate against")
        renamed(q, "--output", "--out", help="output CSV of per-step scores (default RUN/scores.csv)")
        if name == "detect":
            q.add_argument("--stream", action="store_true",
                           help="score one point at a time and print an ALERT line as each crossing happens")
            q.add_argument("--early", type=count, default=0,
                           help="flags up to this many steps before a labelled onset count as early detections")
            q.add_argument("--plot", help="PNG (default RUN/detect.png)")
            q.add_argument("--report", help="JSON report (default RUN/detect.json)")
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
    n = _train_rows(args.train_size, len(x), args.csv)
    d = AnomalyDetector(kind=args.kind, window=args.window, hidden_size=args.hidden, num_layers=args.layers,
                        epochs=args.epochs, lr=args.lr, clip=args.clip, span=args.span, threshold=args.threshold,
                        quantile=args.quantile, merge_gap=args.merge_gap, random_state=args.seed,
                        validation_fraction=args.validation_fraction)
    d._check_params()
    d._prep(x[:n], fitting=True)               # refuse bad data before the run directory is made
    with new_run_dir(args.out, "a fitted anomaly detector") as run:
        run.reset_metrics()
        bar = progress(args.epochs, "anomaly fit", disable=args.quiet or None, unit="epoch")
        d.fit(x[:n], callbacks=[*controls(args, args.epochs, args.lr), MetricsLog(run.log), EpochProgress(bar)])
        path = d.save(os.path.join(args.out, "model.rnnkit"), {"columns": cols, "time_col": args.time_col,
                                                                "controls": settings(args)})
    stopped = f" ({d.stop_reason_})" if d.stop_reason_ else ""
    print(f"fitted a {args.kind} detector on {n} steps of {cols}, final loss {d.loss_curve_[-1]:.5f}{stopped}; "
          f"saved {path}")
    return 0


def _load(args):
    from ..anomaly import AnomalyDetector
    from ..io.files import read_file

    path = _model_path(args)
    meta = read_file(path, "anomaly-detector")[0]["meta"]
    run = args.run if os.path.isdir(args.run) else os.path.dirname(args.run) or "."
    return AnomalyDetector.load(path), meta, run


def _model_path(args):
    return os.path.join(args.run, "model.rnnkit") if os.path.isdir(args.run) else args.run


def _write_scores(path, times, res, labels):
    from ..forecast.data import number, write_csv

    rows = [[times[t], number(res['score'][t]), number(res['smoothed'][t]), number(res['threshold'][t]),
             int(res["flags"][t])] + ([int(labels[t])] if labels is not None else []) for t in range(len(times))]
    write_csv(path, ["time", "score", "smoothed", "threshold", "flag"] + (["label"] if labels is not None else []),
              rows)


def score(args):
    from ..io.files import check_output

    data_path(args)
    d, meta, run = _load(args)
    out = check_output(args.output or os.path.join(run, "scores.csv"), "--output",
                       [(_model_path(args), "the model file"), (args.csv, "the input CSV")])
    times, x, _, labels = _read(args, meta["columns"], meta.get("time_col"))
    res = d.detect(x)
    _write_scores(out, times, res, labels)
    print(f"scored {len(x)} steps ({int(res['flags'].sum())} flagged) to {out}")
    return 0


def detect(args):
    import numpy as np

    from ..anomaly import event_scores, intervals, point_scores
    from ..anomaly.plot import plot_detection
    from ..io.files import atomic_write_text, check_output, check_plot

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
    if args.stream:
        _refuse_gaps(args.csv, times, x, meta["columns"])
        rows = []
        for t, e, sm, thr, flag, alert in d.stream(x):
            rows.append((e, sm, thr, flag))
            if alert:
                print(f"ALERT t={times[t]} score={sm:.4g} threshold={thr:.4g}", flush=True)
        a = np.array(rows, dtype=float).reshape(-1, 4)
        flags = a[:, 3] > 0.5
        res = {"score": a[:, 0], "smoothed": a[:, 1], "threshold": a[:, 2], "flags": flags,
               "intervals": intervals(flags, d.merge_gap)}
    else:
        res = d.detect(x)
        for s, e in res["intervals"]:
            print(f"anomaly {times[s]} .. {times[e]} ({e - s + 1} steps, peak score {res['smoothed'][s:e + 1].max():.4g})")
    print(f"{len(res['intervals'])} flagged interval(s), {int(res['flags'].sum())} of {len(x)} points")
    report = {"intervals": [[times[s], times[e]] for s, e in res["intervals"]]}
    if labels is not None:
        pt, ev = point_scores(res["flags"], labels), event_scores(res["flags"], labels, early=args.early, gap=d.merge_gap)
        report.update(point=pt, event=ev)
        lead = "n/a" if ev["mean_lead"] is None else f"{ev['mean_lead']:.1f}"
        print(f"point  P={pt['precision']:.3f} R={pt['recall']:.3f} F1={pt['f1']:.3f}")
        print(f"event  P={ev['precision']:.3f} R={ev['recall']:.3f} F1={ev['f1']:.3f}  "
              f"detected {ev['detected']}/{ev['events']}  mean lead {lead} steps")
    _write_scores(outs[0], times, res, labels)
    atomic_write_text(outs[1], json.dumps(report, indent=1), suffix=".json")
    plot_detection(outs[2], x, res, labels)
    sys.stdout.flush()
    return 0


def _refuse_gaps(path, times, x, columns):
    """Streaming scores each point as it comes: a missing cell cannot be interpolated (docs/anomaly.md)."""
    import numpy as np

    bad = np.argwhere(~np.isfinite(x))
    if len(bad):
        t, j = bad[0]
        raise ValueError(f"{path}: column {columns[j]!r} is missing at data row {t + 1} (time {times[t]}); "
                         "--stream cannot interpolate, fill the cell in (or drop --stream)")
