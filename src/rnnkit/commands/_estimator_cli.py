"""What ``rnnkit classify|tag|seq2seq`` share: the run directory, the training
loop with progress bar, metrics log, checkpoints and ``--resume``, and loading
a trained model for ``predict`` / ``eval``.

A task module supplies a :class:`Task`: how to read its files into model
inputs, which estimator to build, and how to print predictions and scores.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

from ..runs import RunDir, progress


class Task:
    """Per-task hooks (subclassed by each command module)."""

    name = ""
    estimator = None

    def build(self, args):
        """``(estimator, extra config)`` for a fresh run (vocabularies etc.)."""
        raise NotImplementedError

    def load_xy(self, path, extra, est, need_y=True, learn=False):
        """``(X, y)`` model inputs from a data file; ``learn`` on the training file."""
        raise NotImplementedError

    def prepare(self, est, X, y, learn):
        return est.prepare(X, y, learn=learn)

    def metrics(self, est, X, y):
        """``{name: value}`` on labelled data."""
        return {"accuracy": est.score(X, y)}

    def format_predictions(self, est, X, extra):
        raise NotImplementedError


def add_common_train_args(p, hidden=64, epochs=20, lr=1e-2, batch=32):
    p.add_argument("--data", help="training data file (with --resume: the run's own)")
    p.add_argument("--val", help="validation data file (scored after every epoch)")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory to create")
    p.add_argument("--cell", choices=["lstm", "gru", "rnn"], default="lstm")
    p.add_argument("--hidden", type=int, default=hidden, help=f"hidden units (default: {hidden})")
    p.add_argument("--layers", type=int, default=1, help="stacked layers (default: 1)")
    p.add_argument("--embedding", type=int, default=32, help="token embedding size (default: 32)")
    p.add_argument("--epochs", type=int, default=None,
                   help=f"passes over the data (default: {epochs}; with --resume, the run's own)")
    p.set_defaults(default_epochs=epochs)
    p.add_argument("--batch-size", type=int, default=batch, help=f"(default: {batch})")
    p.add_argument("--lr", type=float, default=lr, help=f"Adam learning rate (default: {lr})")
    p.add_argument("--clip", type=float, default=5.0, help="gradient norm clip, 0 = off (default: 5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--encoding", default="utf-8", help="text encoding of the data files (default: utf-8)")
    p.add_argument("--resume", action="store_true", help="continue RUN_DIR from its last checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def add_use_args(p, verb):
    p.add_argument("run_dir", metavar="RUN_DIR", help="directory of a training run")
    p.add_argument("--data", required=True, help=f"file to {verb}")
    p.add_argument("--encoding", default="utf-8", help="text encoding of the data file (default: utf-8)")
    if verb == "predict":
        p.add_argument("--output", help="write predictions here instead of standard output")


def _with_file(path, fn, *a, **kw):
    """Run ``fn``; a ValueError that does not name ``path`` gets it prefixed."""
    try:
        return fn(*a, **kw)
    except ValueError as exc:
        msg = str(exc)
        raise ValueError(msg if str(path) in msg else f"{path}: {msg}") from None


def train(task, args):
    if args.epochs is not None and args.epochs < 1:
        raise ValueError("--epochs must be a positive integer")
    if args.hidden < 1 or args.layers < 1 or args.batch_size < 1:
        raise ValueError("--hidden, --layers and --batch-size must be positive integers")
    if not args.resume and not args.data:
        raise ValueError("--data is required to start a run; pass the training file")
    run = RunDir(args.out, create=True)
    if args.resume:
        if not run.has_checkpoint():
            raise ValueError(f"{run.file('checkpoint.npz')} does not exist; nothing to resume, "
                             "drop --resume to start a new run")
        config = run.read_config()
        if config.get("task") != task.name:
            raise ValueError(f"{run.path} holds a {config.get('task')!r} run, not {task.name!r}; "
                             f"use rnnkit {config.get('task')} or another --out")
        est = task.estimator.from_config(config["model"])
        _, meta = run.load_checkpoint(est.net_, est.optimizer_, est.rng_)
        start = int(meta["step"])
        run.truncate_metrics(start)
        est.loss_curve_ = [m["loss"] for m in run.read_metrics() if "loss" in m]
        extra = config["extra"]
        epochs = args.epochs or config["epochs"]
        if epochs != config["epochs"]:
            config["epochs"] = epochs
            run.write_config(config)
        Xtr, ytr = _with_file(config["data"], task.load_xy, config["data"], extra, est, True, False)
        data = _with_file(config["data"], task.prepare, est, Xtr, ytr, False)
        val_path = config.get("val")
    else:
        if run.has_checkpoint():
            raise ValueError(f"{run.path} already holds a training run; pass --resume to continue it "
                             "or choose another --out")
        est, extra = task.build(args)
        Xtr, ytr = _with_file(args.data, task.load_xy, args.data, extra, est, True, True)
        data = _with_file(args.data, task.prepare, est, Xtr, ytr, True)
        est._start(len(data["lengths"]))
        start, epochs, val_path = 0, args.epochs or args.default_epochs, args.val
        config = {"task": task.name, "data": os.path.abspath(args.data),
                  "val": os.path.abspath(args.val) if args.val else None, "epochs": epochs,
                  "seed": args.seed, "extra": extra, "model": est.get_config()}
        run.write_config(config)
    val = None
    if val_path:
        Xv, yv = _with_file(val_path, task.load_xy, val_path, extra, est, True, False)
        _with_file(val_path, task.prepare, est, Xv, yv, False)
        val = (Xv, yv)
    n = len(data["lengths"])
    bar = progress(epochs * n, f"{task.name} train", disable=True if args.quiet else None, unit="ex")
    bar.update(start * n)
    t0, seen = time.perf_counter(), 0

    def on_batch(k, loss):
        nonlocal seen
        seen += k
        bar.update(k)
        bar.set_postfix(loss=f"{loss:.4f}", ex_s=f"{seen / max(time.perf_counter() - t0, 1e-9):.0f}")

    for epoch in range(start + 1, epochs + 1):
        loss = est._run_epoch(data, on_batch)
        est.loss_curve_.append(loss)
        line = {"step": epoch, "loss": loss}
        if val is not None:
            line.update({f"val_{k}": v for k, v in task.metrics(est, *val).items()})
        run.log(**line)
        run.save_checkpoint(est.net_, est.optimizer_, epoch, rng=est.rng_, config=config)
    bar.close()
    run.plot_losses(keys=("loss",))
    last = run.read_metrics()[-1] if run.read_metrics() else {}
    summary = "  ".join(f"{k} {v:.4f}" for k, v in last.items() if k != "step")
    print(f"trained {epochs} epochs: {summary}; run saved in {run.path}")
    return 0


def load(task, run_dir):
    run = RunDir(run_dir, create=False)
    config = run.read_config()
    if config.get("task") != task.name:
        raise ValueError(f"{run.path} holds a {config.get('task')!r} run, not {task.name!r}; "
                         f"use rnnkit {config.get('task')} {{predict,eval}}")
    try:
        est = task.estimator.from_config(config["model"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{run.file('config.json')} is damaged ({exc}); restore it from the run "
                         "or train again") from None
    try:
        run.load_checkpoint(est.net_)
    except ValueError as exc:
        msg = str(exc)
        if "does not fit" in msg:
            msg = (f"{run.file('checkpoint.npz')} does not match the vocabulary/sizes in "
                   f"{run.file('config.json')}; restore the run's original config.json or train again")
        raise ValueError(msg) from None
    est.net_.eval()
    return est, config["extra"]


def predict(task, args):
    est, extra = load(task, args.run_dir)
    extra = dict(extra, read_encoding=args.encoding)
    if getattr(args, "beam", None):
        est.beam_size = args.beam
    X, _ = _with_file(args.data, task.load_xy, args.data, extra, est, False, False)
    lines = _with_file(args.data, task.format_predictions, est, X, extra)
    text = "".join(line + "\n" for line in lines)
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as exc:
            raise OSError(f"cannot write {args.output} ({exc.strerror}); choose a writable --output") from None
    else:
        sys.stdout.write(text)
    return 0


def evaluate(task, args):
    est, extra = load(task, args.run_dir)
    extra = dict(extra, read_encoding=args.encoding)
    X, y = _with_file(args.data, task.load_xy, args.data, extra, est, True, False)
    _with_file(args.data, task.prepare, est, X, y, False)
    scores = _with_file(args.data, task.metrics, est, X, y)
    print("  ".join(f"{k} {v:.4f}" for k, v in scores.items()) + f"  ({len(y)} examples)")
    return 0


def register_task(subparsers, task, help, train_defaults, add_model_args, add_predict_args=None):
    p = subparsers.add_parser(task.name, help=help, description=help)
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    t = sub.add_parser("train", help="train a model into RUN_DIR")
    add_common_train_args(t, **train_defaults)
    add_model_args(t)
    t.set_defaults(func=lambda a: train(task, a))
    pr = sub.add_parser("predict", help="predict with a trained model")
    add_use_args(pr, "predict")
    if add_predict_args is not None:
        add_predict_args(pr)
    pr.set_defaults(func=lambda a: predict(task, a))
    e = sub.add_parser("eval", help="score a trained model on labelled data")
    add_use_args(e, "eval")
    e.set_defaults(func=lambda a: evaluate(task, a))
    return p


def unknown_token_ids(vocab, tokens):
    """Token strings -> ids, unseen ones -> ``<unk>``."""
    unk = vocab.unk_id
    return np.array([vocab.index.get(t, unk) for t in tokens], dtype=np.int64)
