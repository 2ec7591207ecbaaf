"""Seq2Seq with and without attention on long sources: copy (or reverse) a
sequence of symbols, trained on short sequences, scored on held-out ones of
the training lengths and on longer ones than any seen in training.

    copy     n distinct symbols (of 64), then an end symbol -> the n symbols
    reverse  the same source -> the n symbols backwards

The source ends with an end symbol, as translation systems end theirs with
``</s>``: an attention model then sees where the source ends in what it reads
(without it, the models here learn to stop after about as many tokens as the
longest training target).  Symbols are distinct within a sequence
(``--repeats``: drawn with repetition), so that a position is told by its
neighbours.

Exact match (the whole output right) and token accuracy (share of target
positions right, those past a too-short output counting wrong) per length
band; greedy decoding.  Every model: LSTM, the same sizes, epochs and seed.
The model without attention reads the source reversed (its better order
here, Sutskever et al. 2014; ``--same-order`` gives every model the reading
order), the attention models in reading order.

    PYTHONPATH=src python benchmarks/models_attention.py [--attention none additive general dot]
        [--train-len 5 25] [--test-len 21 60] [--hidden 128] [--epochs 15] [--tiny]
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _results  # noqa: E402

from rnnkit.models import Seq2Seq  # noqa: E402
from rnnkit.models.decoder import exact_match  # noqa: E402


def make_task(kind, n, rng, lo, hi, symbols, repeats=False):
    """``(sources, targets)``: ``n`` pairs of ``lo..hi`` symbols; each source ends
    with the end symbol (id ``symbols``)."""
    sizes = rng.integers(lo, hi + 1, n)
    body = [rng.integers(0, symbols, k) if repeats else rng.permutation(symbols)[:k] for k in sizes]
    return [np.append(b, symbols) for b in body], [b.copy() if kind == "copy" else b[::-1].copy() for b in body]


def token_accuracy(true, pred):
    """Share of target positions output right (positions past the output count wrong)."""
    right = sum(int(np.sum(t[:len(p)] == p[:len(t)])) for t, p in zip(true, pred))
    return right / sum(len(t) for t in true)


def bands(lo, hi, width=10):
    """``[(lo, b), (b+1, ...), ... hi]`` in steps of ``width``."""
    edges = list(range(lo, hi + 1, width))
    return [(a, min(a + width - 1, hi)) for a in edges]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", choices=["copy", "reverse"], default="copy")
    ap.add_argument("--attention", nargs="+", default=["none", "additive", "general"],
                    choices=["none", "additive", "general", "dot"])
    ap.add_argument("--train-len", nargs=2, type=int, default=[5, 25], metavar=("MIN", "MAX"))
    ap.add_argument("--test-len", nargs=2, type=int, default=[21, 60], metavar=("MIN", "MAX"))
    ap.add_argument("--symbols", type=int, default=64)
    ap.add_argument("--repeats", action="store_true", help="symbols may repeat within a sequence")
    ap.add_argument("--same-order", action="store_true", help="every model reads the source in reading order")
    ap.add_argument("--train", type=int, default=6000)
    ap.add_argument("--test", type=int, default=150, help="test sequences per length band")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--input-feeding", action="store_true")
    ap.add_argument("--bidirectional", action="store_true")
    ap.add_argument("--sampling-schedule", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tiny", action="store_true", help="a smoke run: small data, 1 epoch, writes nothing")
    _results.add_out_options(ap, __file__)
    args = ap.parse_args(argv)
    if args.tiny:
        args.train, args.test, args.epochs, args.hidden = 200, 10, 1, 16
    if not args.repeats and args.test_len[1] > args.symbols:
        ap.error(f"--test-len up to {args.test_len[1]} needs at least as many --symbols (or --repeats)")
    rng = np.random.default_rng(args.seed)
    lo, hi = args.train_len
    Xtr, ytr = make_task(args.task, args.train, rng, lo, hi, args.symbols, args.repeats)
    tests = {f"{lo}-{hi} (trained)": make_task(args.task, args.test, rng, lo, hi, args.symbols, args.repeats)}
    for a, b in bands(*args.test_len):
        tests[f"{a}-{b}"] = make_task(args.task, args.test, rng, a, b, args.symbols, args.repeats)
    results = {"task": args.task, "symbols": args.symbols, "repeats": args.repeats, "train": args.train,
               "train_len": [lo, hi],
               "test_per_band": args.test, "epochs": args.epochs, "hidden": args.hidden, "cell": "lstm",
               "batch_size": args.batch_size, "input_feeding": args.input_feeding,
               "bidirectional": args.bidirectional, "sampling_schedule": args.sampling_schedule,
               "seed": args.seed, "command": " ".join(sys.argv), "models": {}}
    for att in args.attention:
        model = Seq2Seq(cell="lstm", hidden_size=args.hidden, embedding_dim=32, epochs=args.epochs,
                        batch_size=args.batch_size, random_state=args.seed, attention=att,
                        input_feeding=args.input_feeding and att != "none", bidirectional=args.bidirectional,
                        sampling_schedule=args.sampling_schedule, max_length=args.test_len[1] + 5,
                        reverse_source=att == "none" and not args.same_order)
        t = time.time()
        model.fit(Xtr, ytr)
        train_s = time.time() - t
        row = {"train_seconds": round(train_s, 1), "final_loss": model.loss_curve_[-1],
               "reverse_source": model.reverse_source, "bands": {}}
        for band, (X, y) in tests.items():
            pred = model.predict(X)
            row["bands"][band] = {"exact_match": exact_match(y, pred), "token_accuracy": token_accuracy(y, pred)}
        results["models"][att] = row
        print(f"attention={att:9s} trained in {train_s:5.0f} s, final loss {row['final_loss']:.4f}", flush=True)
    names = list(results["models"])
    print(f"\n{args.task}, trained on {lo}-{hi} symbols ({args.train} pairs, {args.epochs} epochs, LSTM "
          f"{args.hidden}); exact match / token accuracy, greedy")
    print(f"{'length':>16s} " + " ".join(f"{n:>17s}" for n in names))
    for band in tests:
        cells = [results["models"][n]["bands"][band] for n in names]
        print(f"{band:>16s} " + " ".join(f"{c['exact_match']:8.3f} / {c['token_accuracy']:.3f}" for c in cells))
    _results.write(_results.out_path(args, __file__, smoke=args.tiny), results)
    return results


if __name__ == "__main__":
    main()
