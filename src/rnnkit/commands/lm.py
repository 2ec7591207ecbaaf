"""``rnnkit lm train|sample|eval``: character/byte/word language models.

Without ``--data``, ``train`` uses the Python standard library's own source
(found through ``sysconfig``, test folders left out; file count and sha256
recorded in RUN_DIR/config.json)."""
from __future__ import annotations

import os
import sys

from ..registry import cell_names
from ._args import count, nonnegative_float, positive_float, positive_int, refuse_changed
from ._controls import add_control_args, controls, settings
from ._dialect import renamed

# option -> (LanguageModel parameter, default for a new run)
MODEL_OPTIONS = {"level": ("level", "byte"), "unknown": ("unknown", "unk"), "cell": ("cell", "lstm"),
                 "hidden": ("hidden_size", 256), "layers": ("num_layers", 2), "embedding_dim": ("embedding_dim", 64),
                 "seq_len": ("seq_len", 64), "batch_size": ("batch_size", 32), "lr": ("lr", 2e-3),
                 "clip": ("clip", 5.0), "seed": ("random_state", 0), "eval_every": ("eval_every", 200),
                 "val_tokens": ("val_tokens", 65536), "min_count": ("min_count", 1)}


def register(sub):
    p = sub.add_parser("lm", help="train, sample and evaluate language models")
    lm = p.add_subparsers(dest="lm_command", metavar="ACTION")
    lm.required = True

    t = lm.add_parser("train", help="train a language model (default corpus: the Python stdlib source)",
                      description="Train a language model.  With --resume, the run goes on as it was "
                                  "configured: model and training options differing from its config.json "
                                  "are refused (--data may name the same text moved elsewhere).  Under "
                                  "`mpirun -n K` the K processes train one model, each on --batch-size/K of "
                                  "the streams; rank 0 writes RUN_DIR (docs/scaling.md).")
    t.add_argument("--data", nargs="+", metavar="FILE", help="text files (default: the stdlib source)")
    t.add_argument("--level", choices=["byte", "char", "word"], help="tokens (default byte)")
    t.add_argument("--unknown", choices=["unk", "error"],
                   help="char/word tokens unseen in training: map to <unk> (default), or refuse the text")
    t.add_argument("--min-count", type=positive_int,
                   help="char/word tokens seen fewer times in the training text become <unk> (default 1: keep all)")
    t.add_argument("--cell", choices=cell_names(), help="default lstm")
    t.add_argument("--hidden", type=positive_int, help="default 256")
    t.add_argument("--layers", type=positive_int, help="default 2")
    renamed(t, "--embedding-dim", "--embed", type=count, help="embedding size (0: one-hot; default 64)")
    t.add_argument("--seq-len", type=positive_int, help="TBPTT window T (default 64)")
    renamed(t, "--batch-size", "--batch", type=positive_int, help="parallel streams B (default 32)")
    t.add_argument("--lr", type=positive_float, help="Adam's learning rate (default 2e-3)")
    t.add_argument("--clip", type=nonnegative_float, help="global gradient-norm clip (0: none; default 5)")
    g = t.add_mutually_exclusive_group()
    g.add_argument("--steps", type=positive_int, default=None, help="updates in all (default 1000)")
    g.add_argument("--minutes", type=positive_float, default=None, help="train for this much wall time")
    t.add_argument("--seed", type=count, help="random seed: weights, data order and samples (default 0)")
    t.add_argument("--eval-every", type=count, help="validate every N steps (0: at the end only; default 200)")
    t.add_argument("--val-tokens", type=count,
                   help="held-out tokens scored during training (0: all of them; default 65536)")
    t.add_argument("--checkpoint-every", type=count, default=100,
                   help="checkpoint every N steps (0: at the end only; default 100)")
    t.add_argument("--resume", action="store_true", help="continue from RUN_DIR's last checkpoint")
    renamed(t, "--quiet", "--no-progress", action="store_true", help="no progress bar or progress lines")
    t.add_argument("--record-gradflow", action="store_true",
                   help="log per-step diagnostics into RUN_DIR/metrics.jsonl: gradient norm before/after "
                        "clipping, clipped or not, ‖∂L/∂h_t‖ per layer and direction, gate saturation, "
                        "forget-gate mean over time, step time (see `rnnkit report RUN_DIR`)")
    t.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory: config, metrics, checkpoints")
    add_control_args(t, unit="validations", validation="the held-out tail of the text, every --eval-every steps",
                     validation_fraction=0.05)
    t.set_defaults(func=train)

    s = lm.add_parser("sample", help="generate text from a trained model")
    s.add_argument("run_dir", metavar="RUN_DIR", help="the --out directory of `rnnkit lm train`")
    s.add_argument("--length", type=count, default=300, help="tokens to generate (default 300)")
    s.add_argument("--prime", default=None,
                   help="text to start from (default: a newline; word level: no text)")
    s.add_argument("--temperature", type=nonnegative_float, default=0.8, help="0: greedy (default 0.8)")
    s.add_argument("--top-k", type=positive_int, default=None, help="sample among the K likeliest tokens")
    s.add_argument("--seed", type=count, default=None, help="random seed of the draws (default: a fresh one)")
    s.set_defaults(func=sample)

    e = lm.add_parser("eval", help="nats and bits per character of a text")
    e.add_argument("run_dir", metavar="RUN_DIR", nargs="?",      # may follow --data's files: see _eval_run_dir
                   help="the --out directory of `rnnkit lm train`")
    e.add_argument("--data", required=True, nargs="+", metavar="FILE", help="text files to score, read as one text")
    e.add_argument("--json", action="store_true", help="print the scores as one JSON object")
    e.set_defaults(func=evaluate)


def _load_text(data, level):
    from ..data.corpus import read_texts, stdlib_corpus, text_sha256
    if data:
        text = read_texts(data, level)
        return text, {"source": "files", "files": [os.path.abspath(p) for p in data],
                      "sha256": text_sha256(text)}
    return stdlib_corpus(level)


def _resumed_params(args, cfg, config_path):
    """The run's parameters, with ``--steps`` and ``--record-gradflow`` applied;
    other options must agree with the run's config (or be left out)."""
    from ..models.language_model import renamed_params

    params = renamed_params({k: v for k, v in cfg["model"].items() if k != "vocab"})
    refuse_changed([(option, getattr(args, option), params.get(name)) for option, (name, _) in MODEL_OPTIONS.items()],
                   config_path)
    if args.steps is not None:
        params["steps"] = args.steps
    if args.record_gradflow:
        params["record_gradflow"] = True
    return params


def train(args):
    from ..distributed import world
    from ..runs import started_run

    mpi = world()
    if mpi is not None:                                 # mpirun -n K rnnkit lm train: one model, K processes
        return _train_world(args, mpi)
    with started_run(args.out) as run:                  # fails early on an unwritable RUN_DIR; a refused
        return _train(args, run)                        # first run leaves no empty one behind


def _train(args, run):
    from ..models.language_model import LanguageModel

    params, _, text, run_config = _plan(args, run)
    model = LanguageModel(**params)
    model.fit(text, run=run, resume=args.resume, minutes=args.minutes, checkpoint_every=args.checkpoint_every,
              progress=not args.quiet, run_config=run_config, callbacks=controls(args, model.steps, model.lr, "step"))
    _report(args, model)
    return 0


def _plan(args, run):
    """What a run trains: ``(LanguageModel parameters, the files read (None: the stdlib
    corpus), the text, the run's config)``; a resumed run's from its config.json."""
    from ..models.language_model import model_config

    if args.resume:
        if not run.has_checkpoint():
            raise FileNotFoundError(f"{run.file('checkpoint.npz')} does not exist, nothing to resume; "
                                    "train without --resume first")
        model_config(run)                                # a language model's run, or one line saying not
        cfg = run.read_config()
        params = _resumed_params(args, cfg, run.file("config.json"))
        data = cfg.get("data") if isinstance(cfg.get("data"), dict) else {}
        if not data.get("sha256") and not args.data:       # a run made from Python: fit(run=...) or save()
            raise ValueError(f"{run.file('config.json')} records no training text (a run made from Python); "
                             "pass --data with the text it was trained on")
        files = args.data or (data.get("files") if data.get("source") == "files" else None)
        text, info = _load_text(files, params.get("level", "byte"))
        if data.get("sha256") and info["sha256"] != data["sha256"]:
            raise ValueError(f"the training text differs from the one {args.out} was trained on "
                             f"(sha256 {info['sha256'][:12]} != {str(data.get('sha256'))[:12]}); "
                             "restore it or start a new --out")
        # config.json is rewritten (with --steps, and --data's new place) only once the checkpoint loaded
        return params, files, text, {**cfg, "data": {**data, **info}, "controls": settings(args)}
    else:
        if run.has_checkpoint():
            raise FileExistsError(f"{run.file('checkpoint.npz')} already exists; pass --resume to continue "
                                  "that run, or choose a new --out")
        opts = {name: default if getattr(args, option) is None else getattr(args, option)
                for option, (name, default) in MODEL_OPTIONS.items()}
        text, info = _load_text(args.data, opts["level"])
        steps = args.steps if args.steps is not None else (10 ** 9 if args.minutes else 1000)
        params = dict(steps=steps, record_gradflow=args.record_gradflow,
                      validation_fraction=args.validation_fraction, **opts)
        return params, args.data, text, {"data": info, "controls": settings(args)}


def _train_world(args, world):
    """``rnnkit lm train`` as one of the K processes of an MPI job (:mod:`rnnkit.distributed`):
    rank 0 takes the run directory and plans the run, every rank reads the text and
    trains its share of the streams, rank 0 alone writes and prints.

    A failure every rank sees alike (a refused option, a missing file, divergence)
    is printed once, by rank 0, and every rank exits with status 2.  A failure of
    one rank alone is printed by that rank, which then leaves at once: the MPI
    launcher stops the others (an ``Allreduce`` never waits for a rank that is gone).
    So does a rank stopped by SIGTERM; a rank killed outright (SIGKILL) makes the
    launcher stop the job with its own message.  The run keeps its last checkpoint,
    and ``--resume`` continues it with any number of processes."""
    import contextlib
    import signal

    from ..distributed import DistributedError
    from ..models.language_model import LanguageModel
    from ..runs import started_run
    from ..training import DivergenceError

    signal.signal(signal.SIGTERM, lambda signum, frame: _leave(
        world, f"error: stopped by signal {signum} ({signal.Signals(signum).name}); the run keeps its last "
               "checkpoint: run the same command with --resume to continue", 128 + signum))
    try:
        with contextlib.ExitStack() as stack:
            with world.together():                      # rank 0 holds the run's lock and plans the run
                run = stack.enter_context(started_run(args.out)) if world.root else None
                plan = _plan(args, run) if world.root else None
            params, files, text, run_config = world.bcast(plan[:2] + (None,) + plan[3:] if world.root else None)
            with world.together():
                text = plan[2] if world.root else _load_text(files, params.get("level", "byte"))[0]
                model = LanguageModel(**params)
            model.fit(text, run=run, resume=args.resume, minutes=args.minutes,
                      checkpoint_every=args.checkpoint_every, progress=not args.quiet, run_config=run_config,
                      callbacks=controls(args, model.steps, model.lr, "step"))
            if world.root:
                _report(args, model)
            return 0
    except (DistributedError, DivergenceError):         # raised on every rank alike: rank 0 says it
        if world.root:
            raise
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        _leave(world, "interrupted; the run keeps its last checkpoint (--resume continues it)", 130)
    except Exception as exc:                            # noqa: BLE001 - one rank's own failure
        from ..distributed import _one_line
        _leave(world, f"error: {_one_line(exc)}", 2)


def _leave(world, message, status):
    """Print ``rnnkit: MESSAGE`` (naming the rank unless it is 0) and end the job at
    once: ``MPI_Abort`` makes the launcher stop every rank, including one blocked in
    a collective waiting for this one."""
    where = "" if world.root else f"rank {world.rank}: "
    sys.stdout.flush()
    if message.startswith("error: "):
        sys.stderr.write(f"rnnkit: error: {where}{message[len('error: '):]}\n")
    else:
        sys.stderr.write(f"rnnkit: {where}{message}\n")
    sys.stderr.flush()
    try:                                    # MPI_Abort: the launcher ends every rank now, whatever they wait on
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)                 # MPICH's own abort banner: the line above says it all
        world.comm.Abort(status)
    finally:
        os._exit(status)


def _report(args, model):
    """The closing line of ``lm train``."""
    last = [m for m in model.history_ if m.get("val_loss") is not None]
    msg = f"step {model.step_}"
    if last:
        msg += f": validation {last[-1]['val_loss']:.4f} nats/token, {last[-1]['val_bpc']:.4f} bits/token"
    if model.stop_reason_:
        msg += f" ({model.stop_reason_})"
    print(f"{msg}; saved to {args.out}")


def sample(args):
    from ..models.language_model import LanguageModel
    model = LanguageModel.load(args.run_dir)
    text = model.sample(args.length, args.prime, args.temperature, args.top_k, args.seed)
    sys.stdout.write(text + "\n")
    return 0


def _eval_run_dir(args):
    """RUN_DIR, given before or after ``--data FILE...`` (which takes every word after it)."""
    if args.run_dir is None:
        if len(args.data) < 2:
            raise ValueError("RUN_DIR is missing: rnnkit lm eval RUN_DIR --data FILE [FILE ...]")
        args.run_dir = args.data.pop()
    return args.run_dir


def evaluate(args):
    _eval_run_dir(args)
    from ..data.corpus import read_texts
    from ..models.language_model import LanguageModel
    model = LanguageModel.load(args.run_dir)
    text = read_texts(args.data, model.vocab_.level)
    try:
        r = model.evaluate(text)
    except ValueError as exc:
        raise ValueError(f"{', '.join(args.data)}: {exc}") from None
    if args.json:                        # strict JSON: an infinite perplexity (a diverged model) is null
        from ..runs import strict_json
        print(strict_json(r))
    else:
        print(f"{r['nats_per_token']:.4f} nats/token  {r['bits_per_token']:.4f} bits/token  "
              f"{r['bits_per_char']:.4f} bits/char  perplexity {r['perplexity']:.3f}  ({r['tokens']} tokens)")
    return 0
