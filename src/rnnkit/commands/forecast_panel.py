"""``rnnkit forecast train|predict|eval`` over many independent series: one model per series.

A file holds several independent series in one of two layouts, and the user says which:

* ``--per-series``: a wide CSV; every target column (``--target``, default all) is its
  own series with its own model (without it, several columns are one multivariate target);
* ``--id-col COL``: a long CSV, one row per series and time; ``--target`` names the value
  column (default: the one column besides the id and the time).

``--jobs N`` fits the models on N joblib workers (each with one BLAS thread; the models
do not depend on N: series ``k`` is seeded from ``--seed`` and ``k``).  A panel run
directory holds ``panel.json`` and ``series/NNNNN.rnnkit``, one model file per series;
``predict`` on it writes one long ``forecast.csv`` (``series, step, time, forecast,
lower, upper``).
"""
from __future__ import annotations

import os

import numpy as np

FINE_CONTROLS = {"min_delta": 0.0, "lr_step_size": None, "lr_gamma": 0.1, "lr_patience": 2}


def add_panel_args(p):
    """``--per-series``, ``--id-col`` and ``--jobs`` of ``train`` and ``eval``."""
    g = p.add_argument_group("many series (one model per series)")
    layout = g.add_mutually_exclusive_group()
    layout.add_argument("--per-series", action="store_true",
                        help="every target column is a separate series with its own model "
                             "(default: the columns are one multivariate target)")
    layout.add_argument("--id-col", help="long table: the column naming each row's series; one model per series")
    g.add_argument("--jobs", type=int, default=1,
                   help="joblib workers fitting the series' models (-1: every core; default 1)")


def is_panel(args):
    """True when the command fits one model per series; refuses ``--jobs`` without it."""
    from ..parallel import check_n_jobs

    panel = bool(getattr(args, "per_series", False) or getattr(args, "id_col", None))
    check_n_jobs(args.jobs)
    if args.jobs != 1 and not panel:
        raise ValueError(f"--jobs {args.jobs} fits several series at once; say which columns are separate series "
                         "with --per-series (wide file) or --id-col COL (long file)")
    return panel


def _check(args):
    if args.past or args.future:
        raise ValueError("one model per series takes no covariates (--past/--future); fit each series with its "
                         "covariates as a model of its own")
    fine = [k for k, v in FINE_CONTROLS.items() if getattr(args, k, v) != v]
    if fine:
        raise ValueError(f"--{fine[0].replace('_', '-')} applies to one model's training; with --per-series or "
                         "--id-col use --early-stopping, --validation-fraction and --lr-schedule alone")


def read_panel(args):
    """``({series id: values (T,)}, {series id: times}, meta)`` of ``args.csv`` in its layout."""
    from ..forecast.data import read_csv
    from ..forecast.panel import read_long_csv
    from .forecast import _cols

    targets = _cols(args.target, "--target")
    if args.id_col:
        if targets and len(targets) > 1:
            raise ValueError(f"--id-col reads one value column, --target names {len(targets)}; name one")
        table = read_long_csv(args.csv, args.id_col, args.time_col, targets[0] if targets else None)
        series = {k: v for k, (_, v) in table.items()}
        times = {k: t for k, (t, _) in table.items()}
        return series, times, {"layout": "long", "id_col": args.id_col}
    times, values, names = read_csv(args.csv, args.time_col)
    for c in targets or []:
        if c not in names:
            raise ValueError(f"{args.csv}: no column {c!r}; columns are {names}")
    targets = targets or names
    return ({c: values[:, names.index(c)] for c in targets}, {c: times for c in targets},
            {"layout": "wide", "targets": targets})


def _params(args):
    from .forecast import _model

    model = _model(args)
    if hasattr(args, "early_stopping"):                     # train's controls, as the constructor takes them
        model.early_stopping = args.early_stopping or None
        model.lr_schedule = None if args.lr_schedule == "none" else args.lr_schedule
        model.validation_fraction = args.validation_fraction
    model._check_params()
    params = model.get_params()
    params.pop("random_state")
    return params


def train(args):
    from ..forecast.data import new_run_dir
    from ..forecast.panel import PANEL_FILE, ForecasterPanel, fit_panel

    _check(args)
    params = _params(args)
    series, _, meta = read_panel(args)
    if os.path.exists(os.path.join(args.out, PANEL_FILE)):
        raise ValueError(f"--out {args.out} already holds trained models ({PANEL_FILE}); choose a new --out")
    meta.update(time_col=args.time_col, source=os.path.abspath(args.csv), seed=args.seed, jobs=args.jobs)
    with new_run_dir(args.out, "a trained forecaster"):
        panel = fit_panel(series, n_jobs=args.jobs, random_state=args.seed, **params)
        ForecasterPanel(panel.models_, args.id_col, args.time_col, args.target).save(args.out, meta)
    print(f"trained {len(panel)} models, one per series ({min(map(len, series.values()))}-"
          f"{max(map(len, series.values()))} steps each), with --jobs {args.jobs}; saved {args.out}")
    return 0


def predict(args):
    from ..forecast.data import future_times, number, write_csv
    from ..forecast.panel import ForecasterPanel
    from ..io.files import check_output

    if args.plot:
        raise ValueError(f"--plot draws one model's forecast; {args.run} holds one model per series and writes "
                         "forecast.csv alone: drop --plot")
    panel = ForecasterPanel.load(args.run)
    meta = panel.meta
    out = args.output or os.path.join(args.run, "forecast.csv")
    check_output(out, "--output", ((args.csv, "the input CSV"),))
    args.id_col = meta.get("id_col")
    args.time_col = args.time_col or meta.get("time_col")
    args.target = None if meta["layout"] == "wide" else panel.target
    if meta["layout"] == "wide":
        args.target = ",".join(meta["targets"])
    series, times, _ = read_panel(args)
    lacking = [str(i) for i in panel if i not in series]
    if lacking:
        raise ValueError(f"{args.csv} lacks series {lacking[:5]} the models were trained on; pass every series' "
                         "history")
    rows = []
    for sid, model in panel.items():
        f, (lo, hi) = model.predict(series[sid], return_interval=True)
        when = future_times(times[sid], len(f)) or [""] * len(f)
        rows += [[sid, k + 1, when[k], number(f[k]), number(lo[k]), number(hi[k])] for k in range(len(f))]
    write_csv(out, ["series", "step", "time", "forecast", "lower", "upper"], rows)
    print(f"forecasts of {len(panel)} series, {panel.horizon} step(s) each, written to {out}")
    return 0


def _backtest_one(params, seed, sid, y, first, step, season):
    from ..forecast import Forecaster, backtest

    try:
        model = Forecaster(**params, random_state=seed)
        if season == "auto":                              # the model's own, resolved on the training part
            model._check_data(y[:first], None, None, True)
            season = model.settings_["season"]
        r = backtest(model, y, first, step=step, season=season, n_jobs=1)
    except ValueError as exc:
        raise ValueError(f"series {sid!r}: {exc}") from None
    return r["metrics"], len(r["origins"]), r["interval"]["coverage"], season


def evaluate(args):
    from ..forecast import format_report
    from ..io.files import atomic_write_text
    from ..parallel import run_tasks, task_seeds
    from ..runs import RunDir, strict_json
    from .forecast import _eval_out, _test_steps

    _check(args)
    params = _params(args)
    series, _, meta = read_panel(args)
    from ..forecast import Forecaster

    need = Forecaster(**params)._need()
    firsts = {sid: len(y) - _test_steps(args.test_size, len(y), args.horizon, need) for sid, y in series.items()}
    _eval_out(args.out)
    seeds = task_seeds(args.seed, len(series))
    tasks = [(params, s, sid, y, firsts[sid], args.step, args.season) for s, (sid, y) in zip(seeds, series.items())]
    with RunDir(args.out).lock():
        runs = run_tasks(_backtest_one, tasks, args.jobs)
        per = {str(sid): {"metrics": m, "origins": n, "train_size": firsts[sid], "interval_coverage": c,
                          "season": season} for sid, (m, n, c, season) in zip(series, runs)}
        models = list(runs[0][0])
        mean = {k: {name: float(np.nanmean([r[0][k][name] for r in runs])) for name in runs[0][0][k]}
                for k in models}
        print(f"rolling-origin backtests of {len(series)} series, horizon {args.horizon}, season {args.season}, "
              f"--jobs {args.jobs}; means over the series:")
        print(format_report(mean))
        print("MASE per series: " + ", ".join(f"{sid} {r['metrics']['rnn']['MASE']:.3f}" for sid, r in per.items()))
        summary = {"mean": mean, "series": per, "horizon": args.horizon, "season": args.season, **meta}
        atomic_write_text(os.path.join(args.out, "backtest.json"), strict_json(summary, indent=1), suffix=".json")
    return 0
