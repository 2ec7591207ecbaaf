"""What ``rnnkit classify|tag|seq2seq`` share: the run directory, training (the
estimator's loop, with a progress bar, metrics log, checkpoints and ``--resume``), and loading
a trained model for ``predict`` / ``eval``.

A task module supplies a :class:`Task`: how to read its files into model
inputs, which estimator to build, and how to print predictions and scores.
"""
from __future__ import annotations

import argparse
import codecs
import copy
import os
import sys
import time

import numpy as np

from ..registry import cell_names
from ..runs import RunDir, progress, started_run
from ..callbacks import LogStop, stop_reason
from ..training import Callback
from ._args import count, nonnegative_float, positive_float, positive_int, refuse_changed
from ._controls import add_control_args, controls, settings
from ._dialect import old_spelling


class Task:
    """Per-task hooks (subclassed by each command module)."""

    name = ""
    estimator = None
    # (option, config "extra" key, help): options of predict and eval that override the run's setting
    use_options = ()

    def use_overrides(self, args):
        """The ``use_options`` given on the command line, as ``{extra key: value}``."""
        return {key: getattr(args, key) for _, key, _ in self.use_options if getattr(args, key, None) is not None}

    def build(self, args):
        """``(estimator, extra config)`` for a fresh run (vocabularies etc.)."""
        raise NotImplementedError

    def load_xy(self, path, extra, est, need_y=True, learn=False):
        """``(X, y)`` model inputs from a data file; ``learn`` on the training file."""
        raise NotImplementedError

    def prepare(self, est, X, y, learn, extra=None):
        """Model data of ``(X, y)``; ``extra`` is the run's vocabularies etc."""
        return est.prepare(X, y, learn=learn)

    def saved_options(self, config):
        """``{option dest: value}`` of the training options a run saved, so that
        ``--resume`` can refuse a differing one."""
        p, extra = config["model"].get("params", {}), config["extra"]
        return {"cell": p.get("cell"), "hidden": p.get("hidden_size"), "layers": p.get("num_layers"),
                "embedding_dim": p.get("embedding_dim"), "batch_size": p.get("batch_size"),
                "lr": p["lr"] if "lr" in p else p.get("learning_rate"),        # rnnkit 0.1's name
                "clip": p.get("clip"), "seed": config.get("seed"),
                "encoding": extra.get("encoding")}

    def check_loaded(self, est, extra, config_path):
        """Check an estimator loaded from a run against its config.json (a
        vocabulary that does not fit the weights is refused)."""

    def metrics(self, est, X, y):
        """``{name: value}`` on labelled data."""
        return {"accuracy": est.score(X, y)}

    def format_predictions(self, est, X, extra):
        raise NotImplementedError

    def after_training(self, est, run, config):
        """Anything more a finished run writes into its directory ``run`` (a
        :class:`~rnnkit.runs.RunDir`); ``config`` is the run's config.json."""


# -- option types: checked at parse time, one-line messages ------------------------------------------
def data_encoding(extra):
    """The text encoding of a data file: this command's ``--encoding`` (``read_encoding``),
    else the one the run was trained with."""
    return extra.get("read_encoding") or extra.get("encoding") or "utf-8"


def encoding_name(text):
    """argparse type: a text encoding Python knows (:func:`rnnkit.data.tables.check_encoding`)."""
    from ..data.tables import check_encoding

    try:
        return check_encoding(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_option(p, *flags, default=None, **kw):
    """An option left ``None`` unless given on the command line, so that
    ``--resume`` can tell what the user passed; a fresh run fills in
    ``default`` (see :func:`fill_defaults`)."""
    if default not in (None, False) and "default" not in kw.get("help", ""):
        kw["help"] = f"{kw.get('help', '')} (default: {default})".strip()
    action = p.add_argument(*flags, default=None, **kw)
    defaults = dict(p.get_default("fresh_defaults") or {})
    defaults[action.dest] = default
    p.set_defaults(fresh_defaults=defaults)
    return action


def fill_defaults(args):
    """Give the options a fresh run did not set their defaults."""
    for dest, value in (getattr(args, "fresh_defaults", None) or {}).items():
        if getattr(args, dest) is None:
            setattr(args, dest, value)


def add_common_train_args(p, hidden=64, epochs=20, lr=1e-2, batch=32):
    p.add_argument("--data", help="training data file (with --resume: the run's own, or where it moved)")
    p.add_argument("--val", help="validation data file (scored after every epoch; with --resume: "
                                 "replaces the run's)")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory to create")
    add_option(p, "--cell", choices=cell_names(), default="lstm", help="recurrent cell")
    add_option(p, "--hidden", type=positive_int, default=hidden, help=f"hidden units (default: {hidden})")
    add_option(p, "--layers", type=positive_int, default=1, help="stacked layers (default: 1)")
    old_spelling(p, "--embedding", add_option(p, "--embedding-dim", type=positive_int, default=32,
                                              help="token embedding size (default: 32)"))
    p.add_argument("--epochs", type=positive_int, default=None,
                   help=f"passes over the data (default: {epochs}; with --resume, the run's own)")
    p.set_defaults(default_epochs=epochs)
    add_option(p, "--batch-size", type=positive_int, default=batch, help=f"examples per update (default: {batch})")
    add_option(p, "--lr", type=positive_float, default=lr, help=f"Adam learning rate (default: {lr})")
    add_option(p, "--clip", type=nonnegative_float, default=5.0,
               help="gradient norm clip, 0 = off (default: 5)")
    add_option(p, "--seed", type=count, default=0, help="random seed: weights, data order and sampling")
    add_option(p, "--encoding", type=encoding_name, default="utf-8",
               help="text encoding of the data files (default: utf-8)")
    p.add_argument("--resume", action="store_true", help="continue RUN_DIR from its last checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_control_args(p, validation="--val, else a held-out share of --data")


def add_use_args(p, verb):
    p.add_argument("run_dir", metavar="RUN_DIR", help="directory of a training run")
    p.add_argument("--data", required=True, help=f"file to {verb}")
    p.add_argument("--encoding", type=encoding_name, default="utf-8",
                   help="text encoding of the data file (default: utf-8)")
    if verb == "predict":
        p.add_argument("--output", help="write predictions here instead of standard output")


def _with_file(path, fn, *a, **kw):
    """Run ``fn``; a ValueError that does not name ``path`` gets it prefixed."""
    try:
        return fn(*a, **kw)
    except ValueError as exc:
        msg = str(exc)
        raise ValueError(msg if str(path) in msg else f"{path}: {msg}") from None


def _codec_name(encoding):
    """The codec's canonical name (``UTF8`` and ``utf-8`` are one), or ``encoding``."""
    try:
        return codecs.lookup(encoding).name
    except (LookupError, TypeError):
        return encoding


def _refuse_conflicts(task, args, config, config_path):
    """Options given with ``--resume`` must agree with the run's saved ones
    (encodings compared by codec: ``UTF8`` is ``utf-8``)."""
    def same_codec(dest, given, saved):
        if dest == "encoding" and given is not None and saved is not None and _codec_name(given) == _codec_name(saved):
            return saved
        return given
    refuse_changed([(dest, same_codec(dest, getattr(args, dest, None), saved), saved)
                    for dest, saved in task.saved_options(config).items()], config_path)


def _resume(task, args, run):
    """``(est, config, extra, data, val, start, epochs)`` of a run to continue;
    nothing on disk changes here."""
    if not run.has_checkpoint():
        raise ValueError(f"{run.file('checkpoint.npz')} does not exist; nothing to resume, "
                         "drop --resume to start a new run")
    config = task_config(task, run, "train --resume")
    _refuse_conflicts(task, args, config, run.file("config.json"))
    est = _from_config(task, run, config)
    _, meta = run.load_checkpoint(est.net_, est.optimizer_, est.rng_)
    start = int(meta["step"])
    epochs = args.epochs or config.get("epochs")
    if not isinstance(epochs, int) or epochs <= start:
        raise ValueError(f"the run in {run.path} has already trained {start} epochs; pass --epochs larger "
                         f"than {start} to train more")
    extra = config["extra"]
    task.check_loaded(est, extra, run.file("config.json"))
    config = dict(config, epochs=epochs)
    if args.data:
        config["data"] = os.path.abspath(args.data)
    if args.val:
        config["val"] = os.path.abspath(args.val)
    data_path = config.get("data")
    if not data_path:
        raise ValueError(f"{run.file('config.json')} names no training file; pass it with --data")
    Xtr, ytr = _with_file(data_path, task.load_xy, data_path, extra, est, True, False)
    data = _with_file(data_path, task.prepare, est, Xtr, ytr, False, extra)
    val = _load_val(task, config.get("val"), extra, est)
    return est, config, extra, data, val, start, epochs


def _fresh(task, args, run):
    """``(est, config, extra, data, val, start, epochs)`` of a new run; nothing
    on disk changes here."""
    if run.has_checkpoint():
        raise ValueError(f"{run.path} already holds a training run; pass --resume to continue it "
                         "or choose another --out")
    fill_defaults(args)
    est, extra = task.build(args)
    Xtr, ytr = _with_file(args.data, task.load_xy, args.data, extra, est, True, True)
    data = _with_file(args.data, task.prepare, est, Xtr, ytr, True, extra)
    est._start(len(data["lengths"]))
    val = _load_val(task, args.val, extra, est)
    epochs = args.epochs or args.default_epochs
    config = {"task": task.name, "data": os.path.abspath(args.data),
              "val": os.path.abspath(args.val) if args.val else None, "epochs": epochs,
              "seed": args.seed, "extra": extra, "model": est.get_config()}
    return est, config, extra, data, val, 0, epochs


def _load_val(task, val_path, extra, est):
    if not val_path:
        return None
    Xv, yv = _with_file(val_path, task.load_xy, val_path, extra, est, True, False)
    _with_file(val_path, task.prepare, est, Xv, yv, False, extra)
    return Xv, yv


def train(task, args):
    if not args.resume and not args.data:
        raise ValueError("--data is required to start a run; pass the training file")
    with started_run(args.out) as run:                   # a refused first run leaves no empty --out
        return _train(task, args, run)


def _train(task, args, run):
    if args.resume:
        est, config, extra, data, val, start, epochs = _resume(task, args, run)
        run.truncate_metrics(start)
        est.loss_curve_ = [m["loss"] for m in run.read_metrics() if "loss" in m]
    else:
        est, config, extra, data, val, start, epochs = _fresh(task, args, run)
        run.reset_metrics()
    config["controls"] = settings(args)
    run.write_config(config)
    est.validation_fraction = args.validation_fraction
    val_data = None if val is None else task.prepare(est, *val, False, extra)
    n = len(data["lengths"])
    bar = progress(epochs * n, f"{task.name} train", disable=True if args.quiet else None, unit="ex",
                   initial=start * n)
    trainer = est._train_epochs(data, epochs, start, val=val_data, log=[_RunLog(task, est, run, config, val, bar)],
                                callbacks=[*controls(args, epochs, est._lr()), _RunEnd(est, run, config)])
    bar.close()
    run.plot_losses(keys=("loss",))
    task.after_training(est, run, config)
    last = next((m for m in reversed(run.read_metrics()) if "loss" in m), {})
    summary = "  ".join(f"{k} {v:.4f}" for k, v in last.items() if k not in ("step", "lr") and v is not None)
    done = start + len(trainer.history)
    stopped = stop_reason(trainer.callbacks)
    print(f"trained {done} epochs: {summary}" + (f" ({stopped})" if stopped else "") + f"; run saved in {run.path}")
    return 0


class _RunLog(Callback):
    """A command's training run: the progress bar after each batch; after each
    epoch a metrics line (with the validation scores) and a checkpoint.  An
    epoch's checkpoint is written once the next step passed the trainer's
    divergence check (or training ended), so none holds weights that diverged."""

    def __init__(self, task, est, run, config, val, bar):
        self.task, self.est, self.run, self.config, self.val, self.bar = task, est, run, config, val, bar
        self.t0, self.seen = time.perf_counter(), 0
        self.pending = None                  # (epoch, its RNG) of a checkpoint not written yet

    def on_train_begin(self, trainer):
        """A resumed run's divergence check measures losses against the run's first one."""
        first = next((m["loss"] for m in self.run.read_metrics() if isinstance(m.get("loss"), (int, float))), None)
        if first is not None and trainer.start_loss is None:
            trainer.start_loss = float(first)

    def on_before_update(self, grads, metrics):
        self._save_pending()

    def on_train_end(self, trainer):
        self._save_pending()

    def _save_pending(self):
        if self.pending is not None:
            epoch, rng = self.pending
            self.pending = None
            self.run.save_checkpoint(self.est.net_, self.est.optimizer_, epoch, rng=rng, config=self.config)

    def on_step_end(self, step, metrics):
        self.seen += metrics["batch_size"]
        self.bar.update(metrics["batch_size"])
        self.bar.set_postfix(loss=f"{metrics['loss']:.4f}",
                             ex_s=f"{self.seen / max(time.perf_counter() - self.t0, 1e-9):.0f}")

    def on_epoch_end(self, epoch, metrics):
        line = {"step": epoch, "loss": metrics["loss"], "lr": self.est.optimizer_.lr,
                **{k: v for k, v in metrics.items() if k.startswith("val_")}}
        if self.val is not None:
            line.update({f"val_{k}": v for k, v in self.task.metrics(self.est, *self.val).items()})
        self.run.log(**line)
        self.pending = (epoch, copy.deepcopy(self.est.rng_))


class _RunEnd(LogStop):
    """After the controls: the ``stop`` line, and the checkpoint saved again when
    early stopping restored the best weights."""

    def __init__(self, est, run, config):
        super().__init__(run.log)
        self.est, self.run, self.config = est, run, config

    def on_train_end(self, trainer):
        super().on_train_end(trainer)
        if any(getattr(cb, "restored", False) for cb in trainer.callbacks):
            self.run.save_checkpoint(self.est.net_, self.est.optimizer_, self.epoch, rng=self.est.rng_,
                                     config=self.config)


def _from_config(task, run, config):
    """The run's estimator, network built, weights not loaded."""
    try:
        return task.estimator.from_config(config["model"])
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{run.file('config.json')} is damaged ({type(exc).__name__}: {exc}); restore it "
                         "from the run or train again") from None


def run_kind(config):
    """The command that made the run whose ``config.json`` is ``config``, or ``None``."""
    if config.get("task"):
        return str(config["task"])
    model = config.get("model")
    return "lm" if isinstance(model, dict) and isinstance(model.get("vocab"), dict) else None


def task_config(task, run, actions):
    """``config.json`` of a ``task`` run (with its ``extra`` and ``model``
    sections); another kind of run is refused in one line naming its kind and
    the command (``rnnkit KIND ACTIONS``) that reads it."""
    config = run.read_config()
    kind = run_kind(config)
    if kind != task.name:
        if kind is None:
            raise ValueError(f"{run.file('config.json')} names no kind of run (no 'task'); pass the --out "
                             f"directory of `rnnkit {task.name} train`")
        if kind == "lm" and "predict" in actions:
            actions = "{sample,eval}"
        raise ValueError(f"{run.path} holds a {kind!r} run, not {task.name!r}; use rnnkit {kind} {actions} "
                         "or another --out")
    return run.read_config(require=("extra", "model"))


def load(task, run_dir):
    run = RunDir(run_dir, create=False)
    config = task_config(task, run, "{predict,eval}")
    est = _from_config(task, run, config)
    try:
        run.load_checkpoint(est.net_)
    except ValueError as exc:
        msg = str(exc)
        if "does not fit" in msg:
            msg = (f"{run.file('checkpoint.npz')} does not match the vocabulary/sizes in "
                   f"{run.file('config.json')}; restore the run's original config.json or train again")
        raise ValueError(msg) from None
    task.check_loaded(est, config["extra"], run.file("config.json"))
    est.net_.eval()
    return est, config["extra"]


def predict(task, args):
    if args.output:                   # before any work: never over the run's files or the input
        from ..io.files import check_output
        run = RunDir(args.run_dir, create=False)
        check_output(args.output, "--output", protect=[(args.data, "the input file")] + [
            (run.file(name), f"the run's {name}") for name in RunDir.SAVED])
    est, extra = load(task, args.run_dir)
    extra = dict(extra, read_encoding=args.encoding, **task.use_overrides(args))
    if getattr(args, "beam", None):
        est.beam_size = args.beam
    X, _ = _with_file(args.data, task.load_xy, args.data, extra, est, False, False)
    lines = _with_file(args.data, task.format_predictions, est, X, extra)
    text = "".join(line + "\n" for line in lines)
    if args.output:
        from ..io.files import atomic_write_text
        atomic_write_text(args.output, text)         # a full disk leaves an earlier file as it was
    else:
        sys.stdout.write(text)
    return 0


def evaluate(task, args):
    est, extra = load(task, args.run_dir)
    extra = dict(extra, read_encoding=args.encoding, **task.use_overrides(args))
    X, y = _with_file(args.data, task.load_xy, args.data, extra, est, True, False)
    _with_file(args.data, task.prepare, est, X, y, False, extra)
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
    for q in (pr, e):
        for flag, key, text in task.use_options:
            q.add_argument(flag, dest=key, default=None, help=f"{text} (default: the one the run was trained with)")
    e.set_defaults(func=lambda a: evaluate(task, a))
    return p


def saved_vocabulary(config, what, config_path):
    """A vocabulary from its config.json entry; a damaged one is refused."""
    from ..data.vocab import Vocabulary

    try:
        return Vocabulary.from_config(config)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"the {what} in {config_path} is damaged ({exc}); restore the run's original "
                         "config.json or train again") from None


def check_vocab_size(vocab, n, what, config_path):
    """Refuse a vocabulary (from config.json) whose size is not the ``n`` ids
    the loaded weights have."""
    if len(vocab) != n:
        raise ValueError(f"the {what} in {config_path} has {len(vocab)} tokens but the model's weights "
                         f"have {n}; restore the run's original config.json or train again")


def unknown_token_ids(vocab, tokens):
    """Token strings -> ids, unseen ones -> ``<unk>``."""
    unk = vocab.unk_id
    return np.array([vocab.index.get(t, unk) for t in tokens], dtype=np.int64)
