"""``rnnkit gradflow``: how far gradients reach back in time, per cell."""
from __future__ import annotations

from ..diagnostics.flow import RECORD_EVERY
from ..registry import cell_names
from ._args import _checked, count, positive_float, positive_int
from ._dialect import renamed

DEFAULT_CELLS = ("rnn_tanh", "rnn_relu", "lstm", "gru", "lstm_fb0")


def register(sub):
    p = sub.add_parser("gradflow", help="gradient flow ‖∂L_T/∂h_t‖ over T − t, RNN/LSTM/GRU, adding problem",
                       description="Measure gradient flow through time at initialisation and after training on "
                                   "the adding problem (plain RNN tanh/relu, LSTM, GRU, LSTM with forget bias 0), "
                                   "with and without gradient clipping.  Writes gradflow.png, gradflow_noclip.png "
                                   "and gradflow.json; `rnnkit report OUT` renders them.")
    p.add_argument("--T", type=_checked(int, lambda v: v >= 2, "is below 2 (the adding problem marks two steps)",
                                        "An integer >= 2."), default=100, help="sequence length, 2 or more (default: 100)")
    p.add_argument("--steps", type=count, default=1500, help="Adam steps per cell (default: 1500)")
    p.add_argument("--hidden", type=positive_int, default=32, help="hidden units of every cell")
    renamed(p, "--batch-size", "--batch", type=positive_int, default=64, help="sequences per Adam step")
    p.add_argument("--lr", type=positive_float, default=1e-2, help="Adam's learning rate")
    p.add_argument("--clip", type=positive_float, default=1.0, help="gradient-norm clip (default: 1.0)")
    p.add_argument("--cells", nargs="+", choices=cell_names(), default=list(DEFAULT_CELLS), metavar="CELL",
                   help=f"cells to run (default: {' '.join(DEFAULT_CELLS)}; any of {', '.join(cell_names())})")
    p.add_argument("--no-extras", action="store_true", help="skip the runs without clipping")
    p.add_argument("--seed", type=count, default=0, help="random seed: weights, data order and sampling")
    p.add_argument("--out", default=".", help="output directory (default: current)")
    p.set_defaults(func=run)


def _jsonable(results):
    return {c: {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in d.items()} for c, d in results.items()}


def run(args):
    import datetime
    import os
    import sys

    import numpy as np

    from ..io.files import atomic_write_text

    from ..diagnostics.flow import gradflow_experiment, plot_gradflow

    from ..runs import RunDir, strict_json

    with RunDir(args.out).lock():                  # one writer in --out at a time
        kw = dict(cells=tuple(args.cells), T=args.T, hidden=args.hidden, batch=args.batch_size, steps=args.steps,
                  lr=args.lr, seed=args.seed, record_every=RECORD_EVERY, log=lambda m: print(m, flush=True))
        print(f"adding problem, T={args.T}, {args.steps} Adam steps per cell (lr {args.lr}, batch {args.batch_size}), "
              f"clip {args.clip}", flush=True)
        extras = {}
        with np.errstate(all="ignore"):                    # a diverging cell is reported below, once
            res = gradflow_experiment(clip_norm=args.clip, **kw)
            files = [plot_gradflow(res, os.path.join(args.out, "gradflow.png"))]
            if not args.no_extras:
                print("-- without clipping:", flush=True)
                extras["no_clip"] = gradflow_experiment(clip_norm=None, **kw)
                files.append(plot_gradflow(extras["no_clip"], os.path.join(args.out, "gradflow_noclip.png"),
                                           title="‖∂L_T/∂h_t‖ vs T − t, no clipping"))
        data = {"T": args.T, "steps": args.steps, "hidden": args.hidden, "batch": args.batch_size, "lr": args.lr,
                "clip": args.clip, "seed": args.seed, "record_every": RECORD_EVERY,
                "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                "cells": _jsonable(res), "extras": {k: _jsonable(v) for k, v in extras.items()}}
        files.append(os.path.join(args.out, "gradflow.json"))               # strict JSON: a diverged value is null
        atomic_write_text(files[-1], strict_json(data), suffix=".json")
        print("wrote " + ", ".join(files))
        for line in _diverged(res, args.steps, "") + _diverged(extras.get("no_clip", {}), args.steps,
                                                                 " without clipping"):
            print(line, file=sys.stderr)
        return 0


def _diverged(results, steps, how):
    """A warning line per cell whose training diverged before ``steps`` (:mod:`rnnkit.training`)."""
    return [f"warning: {cell}{how} diverged (its loss or gradient became non-finite) after {r['steps_run']} of "
            f"{steps} steps; try a smaller --lr" for cell, r in results.items() if r["steps_run"] < steps]
