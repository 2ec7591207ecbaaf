"""``rnnkit gradflow``: how far gradients reach back in time, per cell."""
from __future__ import annotations


def register(sub):
    p = sub.add_parser("gradflow", help="plot ‖∂L_T/∂h_t‖ against T − t for RNN/LSTM/GRU on the adding problem",
                       description="Measure gradient flow through time at initialisation and after short "
                                   "training on the adding problem; also the effect of clipping and of the "
                                   "LSTM forget-bias initialisation.  Writes gradflow.png and gradflow.json.")
    p.add_argument("--T", type=int, default=100, help="sequence length (default: 100)")
    p.add_argument("--steps", type=int, default=150, help="training steps per cell (default: 150)")
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--clip", type=float, default=1.0, help="gradient-norm clip (default: 1.0)")
    p.add_argument("--no-extras", action="store_true", help="skip the clipping and forget-bias comparisons")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=".", help="output directory (default: current)")
    p.set_defaults(func=run)


def run(args):
    import json
    import os

    from ..diagnostics.flow import gradflow_experiment, plot_gradflow

    if args.T < 2 or args.steps < 0 or args.hidden < 1 or args.batch < 1 or args.clip <= 0:
        raise ValueError("--T must be ≥ 2, --steps ≥ 0, --hidden/--batch ≥ 1, --clip > 0")
    os.makedirs(args.out, exist_ok=True)
    kw = dict(T=args.T, hidden=args.hidden, batch=args.batch, steps=args.steps, lr=args.lr, seed=args.seed,
              log=print)
    print(f"adding problem, T={args.T}, {args.steps} Adam steps per cell, clip {args.clip}")
    res = gradflow_experiment(clip_norm=args.clip, **kw)
    extras = {}
    if not args.no_extras:
        print("-- without clipping:")
        extras["no_clip"] = gradflow_experiment(cells=("rnn_tanh", "lstm"), clip_norm=None, **kw)
        print("-- LSTM forget bias 0 (instead of 1):")
        extras["lstm_forget_bias_0"] = gradflow_experiment(cells=("lstm",), clip_norm=args.clip,
                                                           forget_bias=0.0, **kw)
    png = plot_gradflow(res, os.path.join(args.out, "gradflow.png"))

    def conv(r):
        return {c: {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in d.items()} for c, d in r.items()}

    data = {"T": args.T, "steps": args.steps, "clip": args.clip, "cells": conv(res),
            "extras": {k: conv(v) for k, v in extras.items()}}
    with open(os.path.join(args.out, "gradflow.json"), "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    print(f"wrote {png} and {os.path.join(args.out, 'gradflow.json')}")
    return 0
