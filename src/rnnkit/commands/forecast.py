"""``rnnkit forecast train|predict|eval``: the recurrent forecaster from the command line.

A run directory holds ``model.rnnkit`` (config JSON + arrays, no pickle) and what
the commands write: ``forecast.csv``/``forecast.png`` (predict) and
``backtest.json``/``backtest.csv``/``backtest.png`` (eval).
"""
from __future__ import annotations

import json
import os


def _cols(s):
    return [c.strip() for c in s.split(",") if c.strip()] if s else None


def _add_data(p):
    p.add_argument("csv", help="CSV file with a header row")
    p.add_argument("--time-col", help="time column (default: one named time/date/timestamp, or an unnamed index)")
    p.add_argument("--target", help="target column(s), comma-separated (default: all non-covariate columns)")
    p.add_argument("--past", help="past-only covariate columns, comma-separated")
    p.add_argument("--future", help="known-future covariate columns, comma-separated")


def _add_model(p):
    p.add_argument("--lookback", type=int, default=24, help="input window length (default 24)")
    p.add_argument("--horizon", type=int, default=1, help="steps ahead (default 1)")
    p.add_argument("--strategy", choices=["direct", "recursive"], default="direct")
    p.add_argument("--cell", choices=["lstm", "gru"], default="lstm")
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--scaler", choices=["standard", "minmax", "log", "none"], default="standard")
    p.add_argument("--diff", type=int, default=0, help="differencing order d")
    p.add_argument("--seasonal-diff", type=int, default=0, help="seasonal differencing order D")
    p.add_argument("--season", type=int, default=1, help="season length m (MASE, seasonal naive, ETS, D)")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--alpha", type=float, default=0.1, help="interval miss rate (0.1: 90%% intervals)")
    p.add_argument("--seed", type=int, default=0)


def register(sub):
    p = sub.add_parser("forecast", help="train, apply and backtest a recurrent forecaster",
                       description="Recurrent forecasting of CSV time series with honest baselines.")
    s = p.add_subparsers(dest="action", metavar="ACTION")
    s.required = True
    t = s.add_parser("train", help="fit a forecaster and save it in a run directory")
    _add_data(t)
    _add_model(t)
    t.add_argument("--out", required=True, help="run directory to create")
    t.set_defaults(func=train)
    q = s.add_parser("predict", help="forecast the steps after the CSV's last row")
    q.add_argument("run", help="run directory (or model.rnnkit file) from 'forecast train'")
    q.add_argument("csv", help="history CSV with the same columns")
    q.add_argument("--time-col")
    q.add_argument("--future-csv", help="CSV with the future covariates for the horizon rows")
    q.add_argument("--out", help="forecast CSV (default RUN/forecast.csv)")
    q.add_argument("--plot", help="PNG (default RUN/forecast.png)")
    q.set_defaults(func=predict)
    e = s.add_parser("eval", help="rolling-origin backtest against naive, seasonal naive and ETS")
    _add_data(e)
    _add_model(e)
    e.add_argument("--test-size", type=float, default=0.2,
                   help="held-out tail: a fraction (<1) or a number of steps (default 0.2)")
    e.add_argument("--step", type=int, default=1, help="steps between forecast origins")
    e.add_argument("--out", required=True, help="run directory for the report")
    e.set_defaults(func=evaluate)
    p.set_defaults(func=lambda a: p.print_help() or 2)


def _load(args):
    from ..forecast.data import read_csv

    past, fut = _cols(args.past), _cols(args.future)
    targets = _cols(args.target)
    times, values, names = read_csv(args.csv, args.time_col)
    covs = (past or []) + (fut or [])
    if targets is None:
        targets = [n for n in names if n not in covs]
    for c in targets + covs:
        if c not in names:
            raise ValueError(f"{args.csv}: no column {c!r}; columns are {names}")
    pick = lambda cs: values[:, [names.index(c) for c in cs]] if cs else None  # noqa: E731
    return times, pick(targets), pick(past), pick(fut), targets


def _model(args):
    from ..forecast import Forecaster

    return Forecaster(lookback=args.lookback, horizon=args.horizon, strategy=args.strategy, cell=args.cell,
                      hidden_size=args.hidden, num_layers=args.layers, scaler=args.scaler, diff=args.diff,
                      seasonal_diff=args.seasonal_diff, season=args.season, epochs=args.epochs,
                      batch_size=args.batch_size, lr=args.lr, alpha=args.alpha, random_state=args.seed)


def train(args):
    times, y, past, fut, targets = _load(args)
    model = _model(args)
    model.fit(y, past, fut)
    os.makedirs(args.out, exist_ok=True)
    meta = {"targets": targets, "past": _cols(args.past) or [], "future": _cols(args.future) or [],
            "time_col": args.time_col, "source": os.path.abspath(args.csv)}
    path = model.save(os.path.join(args.out, "model.rnnkit"), meta)
    print(f"trained on {len(y)} steps, final loss {model.loss_curve_[-1]:.5f}; saved {path}")
    return 0


def _run_file(run):
    return os.path.join(run, "model.rnnkit") if os.path.isdir(run) else run


def predict(args):
    import numpy as np

    from ..forecast import Forecaster
    from ..forecast.data import read_csv, write_csv
    from ..forecast.plot import plot_forecast
    from ..io.files import read_file

    path = _run_file(args.run)
    meta = read_file(path, "forecaster")[0]["meta"]
    model = Forecaster.load(path)
    times, values, names = read_csv(args.csv, args.time_col or meta.get("time_col"))
    get = lambda cs, v=values, n=names, src=args.csv: v[:, [_idx(n, c, src) for c in cs]] if cs else None  # noqa
    y, past, fut = get(meta["targets"]), get(meta["past"]), get(meta["future"])
    if meta["future"]:
        if not args.future_csv:
            raise ValueError(f"this model uses future covariates {meta['future']}; pass them for the "
                             f"{model.horizon} forecast steps with --future-csv")
        _, fv, fn = read_csv(args.future_csv, args.time_col or meta.get("time_col"))
        fut = np.vstack([fut, get(meta["future"], fv, fn, args.future_csv)])
    f, (lo, hi) = model.predict(y, past, fut, return_interval=True)
    run = args.run if os.path.isdir(args.run) else os.path.dirname(args.run) or "."
    out = args.out or os.path.join(run, "forecast.csv")
    header = ["step"] + [f"{c}{s}" for c in meta["targets"] for s in ("", "_lower", "_upper")]
    rows = [[k + 1] + [f"{v:.6g}" for j in range(f.shape[1]) for v in (f[k, j], lo[k, j], hi[k, j])]
            for k in range(len(f))]
    write_csv(out, header, rows)
    png = plot_forecast(args.plot or os.path.join(run, "forecast.png"), y, f, lo, hi, names=meta["targets"])
    print(f"forecast of {len(f)} step(s) after {times[-1]} written to {out} and {png}")
    return 0


def _idx(names, c, src):
    if c not in names:
        raise ValueError(f"{src}: no column {c!r} (the model needs it); columns are {names}")
    return names.index(c)


def evaluate(args):
    import numpy as np

    from ..forecast import backtest, format_report
    from ..forecast.plot import plot_forecast

    times, y, past, fut, targets = _load(args)
    n = len(y)
    test = int(round(args.test_size * n)) if args.test_size < 1 else int(args.test_size)
    if args.test_size <= 0 or not 1 <= test < n:
        raise ValueError(f"--test-size {args.test_size} leaves no test or no training part of a {n}-step series")
    if args.horizon < 1:
        raise ValueError(f"--horizon must be >= 1, got {args.horizon}")
    model = _model(args)
    r = backtest(model, y, n - test, step=args.step, season=args.season, past_covariates=past,
                 future_covariates=fut)
    report = format_report(r["metrics"])
    print(f"rolling-origin backtest: {len(r['origins'])} origins, horizon {args.horizon}, "
          f"train {n - test} steps, season {args.season}")
    print(report)
    iv = r["interval"]
    print(f"rnn interval coverage {iv['coverage']:.3f} (nominal {iv['nominal']:.2f})")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "backtest.json"), "w") as fh:
        json.dump({"metrics": r["metrics"], "origins": r["origins"], "horizon": args.horizon,
                   "interval_coverage": iv["coverage"], "interval_nominal": iv["nominal"],
                   "train_size": n - test, "season": args.season, "targets": targets}, fh, indent=1)
    from ..forecast.data import write_csv

    rows = []
    for i, o in enumerate(r["origins"]):
        for k in range(args.horizon):
            for j, name in enumerate(targets):
                rows.append([times[o - 1], k + 1, times[o + k], name, f"{r['actuals'][i, k, j]:.6g}"] +
                            [f"{r['forecasts'][m][i, k, j]:.6g}" for m in r["forecasts"]] +
                            [f"{iv['lower'][i, k, j]:.6g}", f"{iv['upper'][i, k, j]:.6g}"])
    write_csv(os.path.join(args.out, "backtest.csv"),
              ["origin", "step", "time", "target", "actual"] + list(r["forecasts"]) + ["rnn_lower", "rnn_upper"],
              rows)
    first = np.array([r["forecasts"]["rnn"][i, 0] for i in range(len(r["origins"]))])
    plot_forecast(os.path.join(args.out, "backtest.png"), y[: n - test], first,
                  actual=y[n - test: n - test + len(first)], title="1-step rolling forecasts", names=targets)
    model.save(os.path.join(args.out, "model.rnnkit"), {"targets": targets, "past": _cols(args.past) or [],
                                                         "future": _cols(args.future) or [],
                                                         "time_col": args.time_col})
    return 0
