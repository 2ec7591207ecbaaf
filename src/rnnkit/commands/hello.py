"""``rnnkit hello``: the seeds' case study from the command line."""
from __future__ import annotations

import sys

from ._args import count, positive_int


def register(sub):
    p = sub.add_parser("hello", help="train a tiny character RNN on one word and sample it (a first check)",
                       description="Train a plain tanh RNN on one word (Adagrad, clip to ±5) and sample it.")
    p.add_argument("--text", default="hello", help="the word to learn (default: hello)")
    p.add_argument("--hidden", type=positive_int, default=16, help="hidden units (default: 16)")
    p.add_argument("--steps", type=positive_int, default=300, help="training steps (default: 300)")
    p.add_argument("--seed", type=count, default=0, help="random seed: weights, data order and sampling")
    p.set_defaults(func=run)


def run(args):
    from ..models.hello import sample_text, train_hello

    net, vocab, losses = train_hello(args.text, args.hidden, args.steps, seed=args.seed,
                                     log=lambda s, l: print(f"step {s:4d}  loss {l:.4f}"))
    sample = sample_text(net, vocab, args.text[0], len(args.text) - 1)
    print(f"sample from {args.text[0]!r}: {sample}")
    if sample != args.text:                              # exit 1, and say why
        print(f"rnnkit: error: hello: the sample does not reproduce {args.text!r} after {args.steps} steps with "
              f"{args.hidden} hidden units; pass more --steps or --hidden", file=sys.stderr)
        return 1
    return 0
