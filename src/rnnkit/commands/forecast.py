"""``rnnkit forecast train|predict|eval``: the recurrent forecaster from the command line.

A run directory holds ``model.rnnkit`` (config JSON + arrays, no pickle) and what
the commands write: ``forecast.csv``/``forecast.png`` (predict) and
``backtest.json``/``backtest.csv``/``backtest.png`` (eval).
"""
from __future__ import annotations

import os

from ..registry import cell_names
from ._args import count, positive_float, positive_int
from ._controls import add_control_args, controls, settings
from ._dialect import data_argument, data_path, renamed
from .forecast_panel import add_panel_args, is_panel


def _cols(s, option=None):
    """The comma-separated names of ``option``'s value (``None`` when not given);
    refuses a value that names no column, or a name listed twice."""
    if s is None:
        return None
    names = [c.strip() for c in s.split(",") if c.strip()]
    if not names:
        raise ValueError(f"{option} {s!r} names no column; pass column names separated by commas")
    twice = next((c for i, c in enumerate(names) if c in names[:i]), None)
    if twice is not None:
        raise ValueError(f"{option} lists column {twice!r} twice; name each column once")
    return names


def check_roles(roles):
    """``roles``: ``{option: [names] or None}``; refuses a column given two roles."""
    seen = {}
    for option, names in roles.items():
        for c in names or []:
            if c in seen:
                raise ValueError(f"column {c!r} is given to both {seen[c]} and {option}; give each column "
                                 "one role")
            seen[c] = option


def _add_data(p):
    data_argument(p)
    p.add_argument("--time-col", help="time column (default: one named time/date/timestamp, or an unnamed index)")
    p.add_argument("--target", help="target column(s), comma-separated (default: all non-covariate columns)")
    p.add_argument("--past", help="past-only covariate columns, comma-separated")
    p.add_argument("--future", help="known-future covariate columns, comma-separated")


def add_network_args(p, kind, epochs, over):
    """``--hidden``, ``--layers``, ``--epochs``, ``--lr``, ``--clip`` of the forecaster and the detector."""
    p.add_argument("--hidden", type=positive_int, default=32, help=f"{kind} hidden units")
    p.add_argument("--layers", type=positive_int, default=1, help=f"stacked {kind} layers")
    p.add_argument("--epochs", type=_auto_or(positive_int) if epochs == "auto" else positive_int, default=epochs,
                   help=f"passes over {over}")
    p.add_argument("--lr", type=positive_float, default=0.01, help="Adam's learning rate")
    p.add_argument("--clip", type=positive_float, default=1.0, help="global gradient-norm clip (default 1)")


def _auto_or(kind):
    """An argparse type: ``auto`` (decided on the data by the forecaster), else ``kind``."""
    def parse(text):
        return "auto" if text == "auto" else kind(text)
    parse.__doc__ = f"'auto' or {kind.__doc__}"
    return parse


def _add_model(p):
    p.add_argument("--method", choices=["auto", "hybrid", "window"], default="auto",
                   help="hybrid: exponential smoothing and an LSTM trained jointly; window: the windowed network; "
                        "auto: the hybrid unless a windowed-network option (--lookback, --scaler, --diff, "
                        "--seasonal-diff, --strategy recursive, covariates, several targets) is given")
    p.add_argument("--lookback", type=_auto_or(positive_int), default="auto",
                   help="input window length (auto: two seasons for the hybrid, 24 for the windowed network)")
    p.add_argument("--horizon", type=positive_int, default=1, help="steps ahead (default 1)")
    p.add_argument("--strategy", choices=["direct", "recursive"], default="direct",
                   help="direct: one output per horizon step; recursive: one step fed back")
    p.add_argument("--cell", choices=cell_names(), default="lstm", help="recurrent cell")
    add_network_args(p, "recurrent", epochs="auto", over="the training windows (auto: 50 hybrid, 100 window)")
    p.add_argument("--ensemble", type=_auto_or(positive_int), default="auto",
                   help="hybrid networks from successive seeds, forecast = their median (auto: 5)")
    p.add_argument("--scaler", choices=["auto", "standard", "minmax", "log", "none"], default="auto",
                   help="scaling of the target (auto: log when the spread grows with the level, for the hybrid; "
                        "standard for the windowed network)")
    p.add_argument("--diff", type=_auto_or(count), default="auto",
                   help="differencing order d (auto: for the hybrid a trend when the KPSS test asks for two "
                        "differences, or one and the series drifts; 0 for the windowed network)")
    p.add_argument("--seasonal-diff", type=_auto_or(count), default="auto",
                   help="seasonal differencing order D (auto: 0; the hybrid smooths the season instead)")
    p.add_argument("--season", type=_auto_or(positive_int), default="auto",
                   help="season length m for the model, MASE, seasonal naive and ETS (auto: from the "
                        "autocorrelation of the training part)")
    p.add_argument("--batch-size", type=positive_int, default=32, help="windows per update")
    p.add_argument("--alpha", type=positive_float, default=0.1, help="interval miss rate (0.1: 90%% intervals)")
    p.add_argument("--seed", type=count, default=0, help="random seed: weights, data order and sampling")


def register(sub):
    p = sub.add_parser("forecast", help="train, apply and backtest a recurrent forecaster",
                       description="Recurrent forecasting of CSV time series with honest baselines.")
    s = p.add_subparsers(dest="action", metavar="ACTION")
    s.required = True
    t = s.add_parser("train", help="fit a forecaster and save it in a run directory")
    _add_data(t)
    _add_model(t)
    t.add_argument("--out", required=True, help="run directory to create")
    t.add_argument("--quiet", action="store_true", help="no progress bar or progress lines")
    add_control_args(t, validation="the last training windows")
    add_panel_args(t)
    t.set_defaults(func=train)
    q = s.add_parser("predict", help="forecast the steps after the CSV's last row")
    q.add_argument("run", help="run directory (or model.rnnkit file) from 'forecast train'")
    data_argument(q, "history CSV with the columns the model was trained on")
    q.add_argument("--time-col", help="time column (default: the one the model was trained with)")
    q.add_argument("--future-csv", help="CSV with the future covariates for the horizon rows")
    renamed(q, "--output", "--out", help="forecast CSV (default RUN/forecast.csv)")
    q.add_argument("--plot", help="PNG (default RUN/forecast.png)")
    q.set_defaults(func=predict)
    e = s.add_parser("eval", help="rolling-origin backtest against naive, seasonal naive and ETS")
    _add_data(e)
    _add_model(e)
    e.add_argument("--test-size", type=positive_float, default=0.2,
                   help="held-out tail: a fraction (<1) or a number of steps (default 0.2)")
    e.add_argument("--step", type=positive_int, default=1, help="steps between forecast origins")
    e.add_argument("--out", required=True, help="run directory for the report")
    e.add_argument("--quiet", action="store_true", help="no progress bar or progress lines")
    add_panel_args(e)
    e.set_defaults(func=evaluate)
    p.set_defaults(func=lambda a: p.print_help() or 2)


def _load(args):
    from ..forecast.data import read_csv

    data_path(args)
    past, fut = _cols(args.past, "--past"), _cols(args.future, "--future")
    targets = _cols(args.target, "--target")
    check_roles({"--target": targets, "--past": past, "--future": fut})
    times, values, names = read_csv(args.csv, args.time_col)
    covs = (past or []) + (fut or [])
    if targets is None:
        targets = [n for n in names if n not in covs]
        if not targets:
            raise ValueError(f"{args.csv}: no target column left (every column is --past or --future); "
                             "name the target with --target")
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
                      batch_size=args.batch_size, lr=args.lr, clip=args.clip, alpha=args.alpha, random_state=args.seed,
                      method=args.method, ensemble=args.ensemble)


def train(args):
    from ..callbacks import EpochProgress, MetricsLog
    from ..forecast.data import new_run_dir
    from ..progress import progress

    if is_panel(args):                          # --per-series / --id-col: one model per series
        from . import forecast_panel
        data_path(args)
        return forecast_panel.train(args)
    times, y, past, fut, targets = _load(args)
    model = _model(args)
    model._check_params()
    model._check_data(y, past, fut, True)      # refuse bad data before the run directory is made
    meta = {"targets": targets, "past": _cols(args.past) or [], "future": _cols(args.future) or [],
            "time_col": args.time_col, "source": os.path.abspath(args.csv), "controls": settings(args)}
    model.validation_fraction = args.validation_fraction
    with new_run_dir(args.out, "a trained forecaster") as run:
        run.reset_metrics()
        epochs = model.settings_["epochs"]              # "auto" resolved on the data by _check_data
        bar = progress(epochs, "forecast train", disable=args.quiet or None, unit="epoch")
        model.fit(y, past, fut, callbacks=[*controls(args, epochs, args.lr), MetricsLog(run.log),
                                           EpochProgress(bar)])
        path = model.save(os.path.join(args.out, "model.rnnkit"), meta)
    stopped = f" ({model.stop_reason_})" if model.stop_reason_ else ""
    print(f"trained on {len(y)} steps, final loss {model.loss_curve_[-1]:.5f}{stopped}; saved {path}")
    return 0


def _run_file(run):
    return os.path.join(run, "model.rnnkit") if os.path.isdir(run) else run


def predict(args):
    import numpy as np

    from ..forecast import Forecaster
    from ..forecast.data import future_times, number, read_csv, time_axis, time_column, write_csv
    from ..forecast.plot import plot_forecast
    from ..io.files import check_output, check_plot, read_file

    data_path(args)
    from ..forecast.panel import is_panel_dir
    if is_panel_dir(args.run):                   # a run of 'train --per-series / --id-col'
        from . import forecast_panel
        return forecast_panel.predict(args)
    path = _run_file(args.run)
    meta = read_file(path, "forecaster")[0]["meta"]
    model = Forecaster.load(path)
    run = args.run if os.path.isdir(args.run) else os.path.dirname(args.run) or "."
    out = args.output or os.path.join(run, "forecast.csv")
    png = args.plot or os.path.join(run, "forecast.png")
    inputs = ((path, "the model file"), (args.csv, "the input CSV"), (args.future_csv, "the --future-csv file"))
    check_output(out, "--output", inputs + ((png, "the --plot output"),))
    check_plot(png, "--plot", inputs + ((out, "the --output file"),))
    times, values, names = read_csv(args.csv, args.time_col or meta.get("time_col"))
    tcol = time_column(args.csv, args.time_col or meta.get("time_col"))     # None: the rows are numbered
    get = lambda cs, v=values, n=names, src=args.csv: v[:, [_idx(n, c, src) for c in cs]] if cs else None  # noqa
    y, past, fut = get(meta["targets"]), get(meta["past"]), get(meta["future"])
    if meta["future"]:
        if not args.future_csv:
            raise ValueError(f"this model uses future covariates {meta['future']}; pass them for the "
                             f"{model.horizon} forecast steps with --future-csv")
        _, fv, fn = read_csv(args.future_csv, args.time_col or meta.get("time_col"))
        if len(fv) < model.horizon:
            raise ValueError(f"{args.future_csv} has {len(fv)} row(s) but the model forecasts {model.horizon} "
                             f"step(s); give it {model.horizon} rows of {meta['future']}, one per forecast step")
        fut = np.vstack([fut, get(meta["future"], fv, fn, args.future_csv)])
    f, (lo, hi) = model.predict(y, past, fut, return_interval=True)      # 2-D: y is (T, C)
    when = future_times(times, len(f)) if tcol is not None else None     # continues the time column's spacing
    header = ["step"] + ([tcol or "time"] if when else []) + [f"{c}{s}" for c in meta["targets"]
                                                      for s in ("", "_lower", "_upper")]
    rows = [[k + 1] + ([when[k]] if when else []) +
            [number(v) for j in range(f.shape[1]) for v in (f[k, j], lo[k, j], hi[k, j])] for k in range(len(f))]
    write_csv(out, header, rows)
    axis = time_axis(times + when) if when else None
    plot_forecast(png, y, f, lo, hi, names=meta["targets"], times=axis)
    print(f"forecast of {len(f)} step(s) after {times[-1]} written to {out} and {png}")
    return 0


def _idx(names, c, src):
    if c not in names:
        raise ValueError(f"{src}: no column {c!r} (the model needs it); columns are {names}")
    return names.index(c)


def evaluate(args):
    import numpy as np

    from ..forecast import backtest, format_report
    from ..forecast.data import number, time_axis, write_csv
    from ..forecast.plot import plot_forecast
    from ..io.files import atomic_write_text, check_output
    from ..runs import RunDir, strict_json

    if is_panel(args):                          # --per-series / --id-col: one backtest per series
        from . import forecast_panel
        data_path(args)
        return forecast_panel.evaluate(args)
    times, y, past, fut, targets = _load(args)
    n = len(y)
    model = _model(args)
    model._check_params()
    test = _test_steps(args.test_size, n, args.horizon, model._need())
    cut = lambda a: None if a is None else a[: n - test]  # noqa: E731
    model._check_data(y[: n - test], cut(past), cut(fut), True)        # resolves "auto" on the training part
    season = model.settings_["season"]                                 # the model's, for MASE and the baselines
    if os.path.isdir(args.out):              # the report must not overwrite the input CSV
        for name in ("backtest.json", "backtest.csv", "backtest.png", "model.rnnkit"):
            check_output(os.path.join(args.out, name), "the eval output (in --out)",
                         [(args.csv, "the input CSV")])
    _eval_out(args.out)
    with RunDir(args.out).lock():                   # one writer in --out at a time
        r = backtest(model, y, n - test, step=args.step, season=season, past_covariates=past,
                     future_covariates=fut, verbose=not args.quiet)
        report = format_report(r["metrics"])
        print(f"rolling-origin backtest: {len(r['origins'])} origins, horizon {args.horizon}, "
              f"train {n - test} steps, season {season}")
        print(report)
        iv = r["interval"]
        print(f"rnn interval coverage {iv['coverage']:.3f} (nominal {iv['nominal']:.2f})")
        summary = {"metrics": r["metrics"], "origins": r["origins"], "horizon": args.horizon,
                  "interval_coverage": iv["coverage"], "interval_nominal": iv["nominal"],
                  "train_size": n - test, "season": season, "targets": targets}
        atomic_write_text(os.path.join(args.out, "backtest.json"), strict_json(summary, indent=1),
                          suffix=".json")                                      # an undefined MASE: null
        rows = []
        for i, o in enumerate(r["origins"]):
            for k in range(args.horizon):
                for j, name in enumerate(targets):
                    rows.append([times[o - 1], k + 1, times[o + k], name, number(r['actuals'][i, k, j])] +
                                [number(r['forecasts'][m][i, k, j]) for m in r["forecasts"]] +
                                [number(iv['lower'][i, k, j]), number(iv['upper'][i, k, j])])
        write_csv(os.path.join(args.out, "backtest.csv"),
                  ["origin", "step", "time", "target", "actual"] + list(r["forecasts"]) + ["rnn_lower",
                                                                                           "rnn_upper"], rows)
        first = np.array([r["forecasts"]["rnn"][i, 0] for i in range(len(r["origins"]))])
        axis = time_axis(times)
        plot_forecast(os.path.join(args.out, "backtest.png"), y[: n - test], first,
                      actual=y[n - test: n - test + len(first)], title="1-step rolling forecasts", names=targets,
                      times=None if axis is None or len(axis) < n - test + len(first) else axis)
        model.save(os.path.join(args.out, "model.rnnkit"), {"targets": targets, "past": _cols(args.past) or [],
                                                             "future": _cols(args.future) or [],
                                                             "time_col": args.time_col})
        return 0


def _test_steps(test_size, n, horizon, need):
    """The number of held-out steps ``--test-size`` asks for, checked against the
    series length ``n``, the horizon and the training part the model ``need``s."""
    if test_size < 1:
        test = int(round(test_size * n))
    elif test_size == int(test_size):
        test = int(test_size)
    else:
        raise ValueError(f"--test-size {test_size} is neither a fraction (< 1) nor a whole number of steps")
    if test < horizon:
        raise ValueError(f"--test-size {test_size} holds out {test} step(s) of {n}, fewer than --horizon "
                         f"{horizon}; hold out at least {horizon} steps")
    if n - test < need:
        raise ValueError(f"--test-size {test_size} leaves {n - test} training step(s) of {n}; the model needs "
                         f"at least {need} (lookback + horizon + differencing + 1): hold out fewer steps")
    return test


def _eval_out(out):
    """Create the report directory; refuse one holding a trained model that eval would replace."""
    from ..runs import RunDir

    if os.path.isfile(out):
        RunDir(out)                                    # refuses it in one line
    if os.path.exists(os.path.join(out, "model.rnnkit")) and not os.path.exists(os.path.join(out, "backtest.json")):
        raise ValueError(f"--out {out} holds a trained model ({os.path.join(out, 'model.rnnkit')}) that eval "
                         "would replace; choose a new --out")
    RunDir(out)
