"""Seq2Seq on tasks with a checkable answer; exact match (the whole output
right) on held-out examples, greedy and beam decoding.

    sort     1..MAX random digits -> the same digits sorted
    reverse  1..MAX random digits -> the same digits backwards
    dates    a date written as "7 March 2024", "March 7, 2024" or "07 Mar 2024"
             (characters) -> "2024-03-07"

    PYTHONPATH=src python benchmarks/models_seq2seq.py --task sort|reverse|dates
"""
import argparse
import datetime
import time

import numpy as np

from rnnkit.models import Seq2Seq


def sort_task(n, rng, max_len):
    X = [rng.integers(0, 10, rng.integers(1, max_len + 1)) for _ in range(n)]
    return X, [np.sort(s) for s in X]


def reverse_task(n, rng, max_len):
    X = [rng.integers(0, 10, rng.integers(1, max_len + 1)) for _ in range(n)]
    return X, [s[::-1].copy() for s in X]


CHARS = sorted(set("0123456789-, abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"))


def dates_task(n, rng, max_len=None):
    start = datetime.date(1950, 1, 1).toordinal()
    X, Y = [], []
    for _ in range(n):
        d = datetime.date.fromordinal(start + int(rng.integers(0, 100 * 365)))
        fmt = ["%d %B %Y", "%B %d, %Y", "%d %b %Y"][rng.integers(3)]
        src = d.strftime(fmt)
        src = src.lstrip("0") if fmt == "%d %B %Y" else src
        X.append(np.array([CHARS.index(c) for c in src]))
        Y.append(np.array([CHARS.index(c) for c in d.isoformat()]))
    return X, Y


TASKS = {"sort": sort_task, "reverse": reverse_task, "dates": dates_task}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", choices=list(TASKS), default="sort")
    ap.add_argument("--max-len", type=int, default=8)
    ap.add_argument("--train", type=int, default=8000)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-reverse-source", action="store_true", help="feed the source in reading order")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    task = TASKS[args.task]
    Xtr, ytr = task(args.train, rng, args.max_len)
    Xte, yte = task(args.test, rng, args.max_len)
    model = Seq2Seq(cell="lstm", hidden_size=args.hidden, embedding_dim=32, epochs=1, batch_size=64,
                    learning_rate=5e-3, reverse_source=not args.no_reverse_source, random_state=args.seed)
    t = time.time()
    model.fit(Xtr, ytr)
    print(f"epoch  1  loss {model.loss_curve_[-1]:.4f}  {time.time() - t:.0f} s", flush=True)
    data = model.prepare(Xtr, ytr)
    for epoch in range(2, args.epochs + 1):
        model.loss_curve_.append(model._run_epoch(data))
        print(f"epoch {epoch:2d}  loss {model.loss_curve_[-1]:.4f}  {time.time() - t:.0f} s", flush=True)
    train_s = time.time() - t
    greedy = model.score(Xte, yte)
    t = time.time()
    beam = np.mean([np.array_equal(p, q) for p, q in zip(model.predict(Xte, beam_size=4), yte)])
    what = "dates" if args.task == "dates" else f"{args.task} 1..{args.max_len} digits"
    what += " (source fed in reading order)" if args.no_reverse_source else " (source fed reversed)"
    print(f"{what}: {args.train} train, {args.test} test, {args.epochs} epochs in "
          f"{train_s:.0f} s; exact match greedy {greedy:.4f}, beam 4 {beam:.4f} ({time.time() - t:.0f} s)")


if __name__ == "__main__":
    main()
