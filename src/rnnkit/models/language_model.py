"""``LanguageModel``: a next-token model over bytes, characters or words,
trained statefully with truncated BPTT over one long text.

The training text (ids ``x_0 .. x_{N-1}``) is cut into ``B`` contiguous streams
of length ``L = (N - 1) // B``; step ``s`` trains on window
``w = s mod (L // T)`` of every stream, inputs ``x[b*L + w*T : b*L + (w+1)*T]``
and the targets one token later, starting from the state the previous window
ended in (zeros at the start of each pass).  The loss is the mean
cross-entropy in nats per token; ``bits = nats / ln 2``.  For a text of ``C``
characters and ``n`` tokens, bits per character ``= n * nats / (C ln 2)``.
"""
from __future__ import annotations

import copy
import logging
import math
import os
import time
import warnings
import zlib

import numpy as np

from .._checks import choice, count, finite_number, not_fitted, positive_int
from .._params import Params, plain, restored_on_failure
from ..callbacks import LogStop, check_control_params, needs_validation, stop_reason, training_controls
from ..data.vocab import SPECIALS, Vocabulary
from ..losses import log_softmax, softmax_cross_entropy
from ..optim import Adam, grad_norm
from ..registry import check_cell
from ..training import Callback, DivergenceError, Trainer
from ..token_rnn import TokenRNN

LN2 = math.log(2.0)
LARGE_VOCAB = 50_000           # a vocabulary this large gets a warning (most of it seen once or twice)
log = logging.getLogger("rnnkit")


def _state_arrays(state):
    if state is None:
        return {}
    if isinstance(state, tuple):
        return {f"state{i}": s for i, s in enumerate(state)}
    return {"state0": state}


def _arrays_state(extra):
    parts = [extra[k] for k in sorted(k for k in extra if k.startswith("state"))]
    if not parts:
        return None
    return tuple(parts) if len(parts) > 1 else parts[0]


def model_config(run):
    """The ``model`` entry of a language model run's ``config.json`` (a
    :class:`rnnkit.runs.RunDir`), with its vocabulary; one line naming the file
    when the directory holds another kind of run or a damaged config."""
    cfg = run.read_config().get("model")
    if not isinstance(cfg, dict) or not isinstance(cfg.get("vocab"), dict):
        raise ValueError(f"{run.file('config.json')} holds no language model; pass the --out directory "
                         "of `rnnkit lm train`")
    return renamed_params(cfg)


def renamed_params(params):
    """Saved parameters with the names of this version (``val_fraction``, rnnkit 0.1's, is
    ``validation_fraction``)."""
    params = dict(params)
    if "val_fraction" in params and "validation_fraction" not in params:
        params["validation_fraction"] = params.pop("val_fraction")
    return params


class LanguageModel(Params):
    """Next-token language model (scikit-learn conventions).

    Hyperparameters: ``level`` (``"byte"``, ``"char"``, ``"word"``), ``cell``,
    ``hidden_size``, ``num_layers``, ``embedding_dim`` (0: one-hot), ``seq_len``
    (TBPTT window ``T``), ``batch_size`` (``B`` streams), ``lr`` (Adam),
    ``clip`` (global gradient-norm clip), ``steps``, ``validation_fraction`` (tail of
    the text held out when no validation text is given), ``eval_every``,
    ``val_tokens`` (cap on held-out tokens scored during training),
    ``unknown`` (``"unk"`` or ``"error"`` for unseen chars/words), ``min_count``
    (char/word tokens seen fewer times in training become ``<unk>``), ``random_state``,
    ``record_gradflow`` (log per-step diagnostics into the run's metrics:
    gradient norm before/after clipping, whether it clipped, the batch-mean
    ``‖∂L/∂h_t‖`` of every layer and direction, gate saturation, the forget
    gate's mean over time, step time; off by default, and then nothing is
    recorded or computed).  Training controls (:mod:`rnnkit.callbacks`), counted
    in updates: ``early_stopping`` (``None``: off; an int: stop after that many
    validations, every ``eval_every`` steps, without a lower ``val_loss``, best
    weights restored), ``lr_schedule`` (``None``, ``"step"``, ``"cosine"`` over
    ``steps``, ``"plateau"`` on the validations); ``fit(callbacks=[...])`` takes more.

    Learned: ``vocab_``, ``net_``, ``optimizer_``, ``step_``, ``state_``
    (carried hidden state), ``history_`` (logged metrics), ``train_seconds_``
    (wall time of the last ``fit``'s training loop, validation excluded),
    ``stop_reason_`` (why a control stopped the last ``fit``, or ``None``),
    ``allreduce_seconds_`` (under MPI: the last ``fit``'s time in the gradient all-reduce).
    """

    def __init__(self, level="byte", cell="lstm", hidden_size=256, num_layers=2, embedding_dim=64,
                 seq_len=64, batch_size=32, lr=2e-3, clip=5.0, steps=1000, validation_fraction=0.05,
                 eval_every=200, val_tokens=65536, unknown="unk", random_state=0, record_gradflow=False,
                 early_stopping=None, lr_schedule=None, min_count=1, val_fraction="deprecated"):
        self.level, self.cell, self.hidden_size, self.num_layers = level, cell, hidden_size, num_layers
        self.embedding_dim, self.seq_len, self.batch_size, self.lr = embedding_dim, seq_len, batch_size, lr
        self.clip, self.steps, self.validation_fraction, self.eval_every = clip, steps, validation_fraction, eval_every
        self.val_tokens, self.unknown, self.random_state = val_tokens, unknown, random_state
        self.record_gradflow = record_gradflow
        self.early_stopping, self.lr_schedule = early_stopping, lr_schedule
        self.min_count = min_count
        self.val_fraction = val_fraction                 # deprecated name of validation_fraction

    # -- hyperparameters (get_params / set_params: rnnkit._params.Params) ------------------------------
    def _check_params(self, minutes=None):
        """Refuse hyperparameters no run can use, each in one sentence."""
        choice("level", self.level, ("byte", "char", "word"))
        check_cell(self.cell)
        choice("unknown", self.unknown, ("unk", "error"))
        for name in ("hidden_size", "num_layers", "seq_len", "batch_size") + (("steps",) if minutes is None else ()):
            positive_int(name, getattr(self, name))
        for name in ("embedding_dim", "eval_every", "val_tokens"):
            count(name, getattr(self, name))
        positive_int("min_count", self.min_count)
        if self.min_count > 1 and self.unknown == "error" and self.level != "byte":
            raise ValueError(f"min_count={self.min_count} maps rarer tokens to <unk>, which unknown='error' "
                             "refuses; pass unknown='unk' (--unknown unk) or min_count=1")
        finite_number("lr", self.lr)
        finite_number("clip", self.clip, strict=False)
        name, fraction = "validation_fraction", self._validation_fraction()
        if fraction is not self.validation_fraction:
            warnings.warn("val_fraction is deprecated and will be removed in rnnkit 0.3; use validation_fraction "
                          "(scikit-learn's name)", DeprecationWarning, stacklevel=4)
            name = "val_fraction"
        if isinstance(fraction, bool) or not (isinstance(fraction, (int, float, np.number)) and 0.0 <= fraction < 1.0):
            raise ValueError(f"{name} must be in [0, 1), got {plain(fraction)!r}")
        if minutes is not None:
            finite_number("minutes", minutes)
        check_control_params(self.early_stopping, self.lr_schedule)

    def _validation_fraction(self):
        """``validation_fraction``, or the deprecated ``val_fraction`` when given."""
        v = self.val_fraction
        return self.validation_fraction if isinstance(v, str) and v == "deprecated" else v

    def _check_fitted(self):
        if not hasattr(self, "net_"):
            raise not_fitted(self)

    def get_config(self):
        """Hyperparameters and vocabulary (JSON-able): enough to rebuild the model.
        A fitted model's are those its network was built with, whatever
        ``set_params`` changed since (``fit`` again to apply those)."""
        cfg = {k: plain(v) for k, v in (getattr(self, "fit_params_", None) or self.get_params()).items()}
        cfg["vocab"] = self.vocab_.get_config() if hasattr(self, "vocab_") else None
        return cfg

    # -- building --------------------------------------------------------------------------------------
    def encode(self, text):
        """``text`` (``str``; ``bytes`` too at byte level) -> ids ``(n,)``."""
        self._check_fitted()
        if isinstance(text, (bytes, bytearray)):
            if self.vocab_.level != "byte":
                text = bytes(text).decode("utf-8")
            else:
                return np.frombuffer(bytes(text), dtype=np.uint8).astype(np.int64)
        return self.vocab_.encode(text)

    def _build(self, text):
        if self.level == "byte":
            self.vocab_ = Vocabulary([], "byte")
        else:
            if isinstance(text, (bytes, bytearray)):
                text = bytes(text).decode("utf-8")
            self.vocab_ = Vocabulary.build([text], self.level, min_freq=self.min_count, unknown=self.unknown)
        self._init_net()
        if len(self.vocab_) > LARGE_VOCAB:
            mb = 3 * sum(p.nbytes for p in self.net_.named_parameters().values()) / 1e6   # weights + Adam's moments
            log.warning("the %s-level vocabulary has %s tokens, which makes a checkpoint of about %.0f MB at "
                        "hidden size %d; pass --min-count 2 or more (min_count=; rarer %ss become <unk>) or use "
                        "--level char or byte", self.level, f"{len(self.vocab_):,}", mb, self.hidden_size, self.level)

    def _init_net(self):
        self.fit_params_ = dict(self.get_params())        # what the network is built with
        self.rng_ = np.random.default_rng(self.random_state)
        self.net_ = TokenRNN(len(self.vocab_), self.hidden_size, self.num_layers, self.cell,
                             self.embedding_dim, seed=self.rng_)
        self.optimizer_ = Adam(self.net_.named_parameters(), lr=self.lr)
        self.step_, self.state_, self.history_ = 0, None, []

    def split(self, text):
        """``(train ids, validation ids)``: the last ``validation_fraction`` held out."""
        ids = self.encode(text)
        n_val = int(round(len(ids) * self._validation_fraction()))
        return (ids[: len(ids) - n_val], ids[len(ids) - n_val:]) if n_val else (ids, ids[:0])

    def streams(self, ids):
        """``(inputs, targets)`` ``(B, L)``: the text as ``B`` contiguous streams."""
        B, T = self.batch_size, self.seq_len
        L = (len(ids) - 1) // B
        if L < T:
            raise ValueError(f"the training text has {len(ids)} tokens, too few for {B} streams of "
                             f"{T}-token windows; pass more text or lower --batch-size/--seq-len")
        x = ids[: B * L].reshape(B, L)
        y = ids[1: B * L + 1].reshape(B, L)
        return x, y

    # -- training --------------------------------------------------------------------------------------
    def fit(self, text, val_text=None, run=None, minutes=None, resume=False, checkpoint_every=100,
            progress=False, run_config=None, callbacks=None, comm=None):
        """Train on ``text`` for ``steps`` updates (or ``minutes`` of wall time).

        ``run``: a :class:`rnnkit.runs.RunDir` for metrics and checkpoints;
        ``resume=True`` continues from its checkpoint (weights, Adam state,
        step, carried hidden state, RNG) and drops metric lines logged after it.
        A failure before training starts leaves the model as it was; once
        training has started, the model keeps what it trained (as the run's
        checkpoint does), Ctrl-C included.  ``callbacks``: :mod:`rnnkit.callbacks`
        objects, after the constructor's controls; their ``val_loss`` is measured
        every ``eval_every`` steps.

        Under MPI (``mpirun -n K``, or ``comm``: an mpi4py communicator) the K
        processes train this one model, each on ``batch_size / K`` of the streams
        (:mod:`rnnkit.distributed`); every rank calls ``fit`` with the same
        arguments, rank 0 alone writes into ``run``.
        """
        from ..distributed import world as mpi_world

        world = mpi_world(comm)
        if world is not None:
            return self._fit_world(world, text, val_text, run, minutes, resume, checkpoint_every, progress,
                                   run_config, callbacks)
        with restored_on_failure(self, Exception):
            x, y, val_ids, config = self._prepare_fit(text, val_text, run, minutes, resume, run_config)
            controls = training_controls(self.early_stopping, self.lr_schedule, epochs=self.steps, interval="step",
                                         base_lr=self.lr)
            callbacks = [*controls, *(callbacks or ())]
            if needs_validation(callbacks) and (len(val_ids) < 2 or not self.eval_every):
                raise ValueError("early stopping and the plateau schedule need validation every eval_every (>= 1) "
                                 "steps on held-out text: pass val_text or a validation_fraction above 0, and "
                                 "eval_every >= 1")
        return self._train(x, y, val_ids, config, run, minutes, checkpoint_every, progress, callbacks)

    def _prepare_fit(self, text, val_text, run, minutes, resume, run_config):
        """The checks, the network (or the resumed one) and the token streams of :meth:`fit`."""
        self._check_params(minutes)
        _check_text(text, "text")
        if val_text is not None:
            _check_text(val_text, "val_text")
        if resume:
            self._restore(run)
            if minutes is None and self.step_ >= int(self.steps):
                raise ValueError(f"the run is at step {self.step_} already, and steps is {self.steps}; "
                                 "pass a larger steps (--steps) to train on")
        else:
            if run is not None and run.has_checkpoint():
                raise FileExistsError(f"{run.file('checkpoint.npz')} already exists; fit(..., resume=True) "
                                      "continues that run (--resume), or pass another run directory")
            self._build(text)                      # every fit starts afresh (scikit-learn's convention)
        x, y, val_ids = self._fit_data(text, val_text)
        config = dict(run_config or {}, model=self.get_config())
        if run is not None:
            if not resume:
                run.reset_metrics()                # a failed earlier run's lines are not this run's
            if not resume or run_config is not None:
                run.write_config(config)
        return x, y, val_ids, config

    def _fit_data(self, text, val_text):
        """``(inputs (B, L), targets (B, L), validation ids)`` of :meth:`fit`."""
        if val_text is None:
            train_ids, val_ids = self.split(text)
        else:
            train_ids, val_ids = self.encode(text), self.encode(val_text)
        val_ids = val_ids[: self.val_tokens + 1] if self.val_tokens else val_ids
        x, y = self.streams(train_ids)
        return x, y, val_ids

    def _fit_world(self, world, text, val_text, run, minutes, resume, checkpoint_every, progress, run_config,
                   callbacks):
        """:meth:`fit` on every rank of ``world``: the same checks everywhere, rank 0
        builds (or resumes) the model and sends it to the others; each rank then
        trains on its share of the streams (:meth:`_train`).  A setup step that
        fails on one rank fails on every rank (:meth:`rnnkit.distributed.World.together`)."""
        root = world.root
        run = run if root else None
        with restored_on_failure(self, Exception):
            with world.together():
                self._check_params(minutes)
                _check_text(text, "text")
                if val_text is not None:
                    _check_text(val_text, "val_text")
                world.check_divides(self.batch_size, "batch_size (--batch-size)")
            world.agree({**{k: plain(v) for k, v in self.get_params().items()}, "minutes": minutes,
                         "resume": bool(resume), "checkpoint_every": checkpoint_every, "text": _crc(text),
                         "val_text": None if val_text is None else _crc(val_text)}, "settings or training text")
            has_run = world.bcast(run is not None)
            with world.together():
                if root:
                    x, y, val_ids, config = self._prepare_fit(text, val_text, run, minutes, resume, run_config)
            shared = world.bcast(self._shared_state() if root else None)
            with world.together():
                if not root:
                    self._load_shared_state(shared)
                    x, y, val_ids = self._fit_data(text, val_text)
                    config = None
                self.state_ = _streams_of(self.state_, world.shard(self.batch_size))
                controls = training_controls(self.early_stopping, self.lr_schedule, epochs=self.steps,
                                             interval="step", base_lr=self.lr)
                callbacks = [*controls, *(callbacks or ())]
                if needs_validation(callbacks) and (len(val_ids) < 2 or not self.eval_every):
                    raise ValueError("early stopping and the plateau schedule need validation every eval_every "
                                     "(>= 1) steps on held-out text: pass val_text or a validation_fraction above "
                                     "0, and eval_every >= 1")
        return self._train(x, y, val_ids, config, run, minutes, checkpoint_every, progress and root, callbacks,
                           world=world, saving=has_run)

    def _shared_state(self):
        """What rank 0 sends the other ranks at the start: everything a checkpoint holds."""
        return {"vocab": self.vocab_.get_config(), "fit_params": self.fit_params_, "weights": self.net_.state_dict(),
                "optimizer": self.optimizer_.state_dict(), "step": self.step_, "rng": self.rng_.bit_generator.state,
                "state": self.state_, "history": self.history_}

    def _load_shared_state(self, shared):
        self.vocab_ = Vocabulary.from_config(shared["vocab"])
        self._init_net()
        self.fit_params_ = shared["fit_params"]
        self.net_.load_state_dict(shared["weights"])
        self.optimizer_.load_state_dict(shared["optimizer"])
        self.rng_.bit_generator.state = shared["rng"]
        self.step_, self.state_, self.history_ = shared["step"], shared["state"], shared["history"]

    def _train(self, x, y, val_ids, config, run, minutes, checkpoint_every, progress, callbacks=(), world=None,
               saving=None):
        """The training loop of :meth:`fit` (:class:`rnnkit.training.Trainer`), then the run's files."""
        target = self.step_ + 10 ** 9 if minutes is not None else int(self.steps)
        deadline = time.monotonic() + 60.0 * minutes if minutes is not None else None
        bar = None
        if progress:                           # a bar counting steps, or with --minutes the seconds given
            from ..progress import progress as make_bar
            bar = (make_bar(target, "lm train", unit="step", initial=self.step_) if minutes is None else
                   make_bar(round(60 * minutes), "lm train", unit="s"))
        log = _StepLog(self, run, config, val_ids, target, checkpoint_every, bar, world, saving)
        stop = LogStop(run.log if run is not None else None, unit="step")
        train_step, reduce = self._train_step, None
        if world is not None:                  # this rank's streams; the gradient of all of them
            from ..distributed import GradientAllreduce

            mine = world.shard(self.batch_size)
            train_step = _on_streams(self._train_step, mine)
            reduce = GradientAllreduce(world, self.net_.named_parameters(),
                                       lambda window: (window[0][mine].size, window[0].size))
        trainer = Trainer(train_step, self.net_.named_grads, self.optimizer_, clip_norm=self.clip or None,
                          measure_norm=True, batch_size=lambda window: window[0].size,
                          callbacks=[log, *callbacks, stop], step=self.step_, state=self.state_,
                          start_loss=next((m["loss"] for m in self.history_ if _real(m.get("loss"))), None),
                          reduce=reduce)
        self.train_seconds_ = 0.0              # this call's training loop, wall time, validation excluded
        try:
            trainer.fit(lambda epoch: self._windows(x, y, target, deadline, world))
        except KeyboardInterrupt:
            if run is not None and world is None:      # under MPI the other ranks' streams are out of reach:
                self.save(run, config)                 # the last checkpoint stands
            raise
        except DivergenceError as err:             # the model keeps the weights of the last good step
            self._rewind(err.weights_step)
            raise
        finally:
            self.train_seconds_ = log.close()
        self.stop_reason_ = stop_reason(trainer.callbacks)
        if world is not None:                  # every stream's carried state, on every rank
            self.state_ = world.bcast(world.gather_streams(trainer.state))
            self.allreduce_seconds_ = reduce.seconds
            if not world.fingerprint_agrees(self.net_.named_parameters()):
                warnings.warn("the ranks' weights differ after training (their MPI library summed the gradients "
                              "differently on different ranks); rank 0's are the run's", RuntimeWarning,
                              stacklevel=3)
        if run is not None:
            if not self.history_ or "val_loss" not in self.history_[-1]:
                if len(val_ids) > 1:
                    v = self._nats(val_ids)
                    self.history_.append({"step": self.step_, "val_loss": v, "val_bpc": v / LN2})
                    run.log(**self.history_[-1])
            v = self.history_[-1].get("val_loss", 0.0) if self.history_ else 0.0
            if not _real(v):                        # the last update, which no training step checked
                trainer._undo()
                self._rewind(self.step_ - 1)
                raise DivergenceError(f"training diverged at its last step ({self.step_ + 1}): the validation "
                                      f"loss is {v}; the run keeps its last checkpoint; lower the learning rate "
                                      "(--lr, lr=) or clip gradients (--clip, clip=)", self.step_ + 1,
                                      "non-finite validation loss", self.step_)
            self.save(run, config)
            run.plot_losses(("loss", "val_loss"))
            self._write_samples(run)
        return self

    def _rewind(self, step):
        """After a divergence: the model is at ``step`` (its weights already are);
        the history after it is dropped, and a carried state no longer known is cleared."""
        if step != self.step_:
            self.step_, self.state_ = step, None
            self.history_ = [m for m in self.history_ if m.get("step", 0) <= step]

    def _windows(self, x, y, stop, deadline, world=None):
        """The batches from step ``step_`` until step ``stop`` (or the ``deadline``;
        under MPI rank 0's clock decides for all): at step ``s``, window
        ``w = s mod (L // T)`` of every stream, ``(inputs (B, T), targets (B, T), w == 0)``."""
        T = self.seq_len
        n_windows = x.shape[1] // T
        for step in range(self.step_, stop):
            if deadline is not None and (time.monotonic() >= deadline if world is None else
                                         world.bcast(time.monotonic() >= deadline)):
                return
            w = step % n_windows
            yield x[:, w * T:(w + 1) * T], y[:, w * T:(w + 1) * T], w == 0

    def _train_step(self, window, state):
        """Forward and BPTT of one window from the carried ``state`` (zeros at each
        pass's first window); returns ``(loss, final state)``."""
        xs, ys, first = window
        logits, state = self.net_.forward(xs, None if first else state)
        loss, dlogits = softmax_cross_entropy(logits, ys)
        self.net_.rnn.record_grad_norms = bool(self.record_gradflow)
        self.net_.backward(dlogits)
        return loss, state

    def _write_samples(self, run, n=3, length=200):
        """``RUN_DIR/samples.txt``: a few samples at temperature 0.8 (seeded), for the report."""
        try:
            texts = [self.sample(length, temperature=0.8, random_state=i) for i in range(n)]
        except ValueError:
            return
        from ..io.files import atomic_write_text

        atomic_write_text(run.file("samples.txt"), f"# step {self.step_}, temperature 0.8, seeds 0..{n - 1}\n"
                          + "".join(f"--- sample {i} ---\n{t}\n" for i, t in enumerate(texts)), suffix=".txt")

    # -- scoring ---------------------------------------------------------------------------------------
    def _nats(self, ids, batch=None):
        """Mean nats per token of predicting ``ids[1:]`` from ``ids[:-1]`` (stateful, in chunks)."""
        ids = np.asarray(ids)
        n = len(ids) - 1
        if n < 1:
            raise ValueError("need at least two tokens to score a text")
        B = max(1, min(batch or self.batch_size, n // self.seq_len or 1))
        L = n // B
        x, y = ids[: B * L].reshape(B, L), ids[1: B * L + 1].reshape(B, L)
        rest = (ids[B * L: n], ids[B * L + 1:]) if B * L < n else None
        was = self.net_.training
        self.net_.eval()
        total, count = 0.0, 0
        try:
            state = None
            for s in range(0, L, 4 * self.seq_len):
                logits, state = self.net_.forward(x[:, s:s + 4 * self.seq_len], state, keep_cache=False)
                t = y[:, s:s + 4 * self.seq_len]
                lp = log_softmax(logits.astype(np.float64), axis=-1)
                total -= float(np.take_along_axis(lp, t[..., None], axis=-1).sum())
                count += t.size
            if rest is not None:
                # the tail after the B streams, continued from the last stream's state
                st = tuple(s[:, -1:].copy() for s in state) if isinstance(state, tuple) else state[:, -1:].copy()
                logits, _ = self.net_.forward(rest[0][None, :], st, keep_cache=False)
                lp = log_softmax(logits.astype(np.float64), axis=-1)
                total -= float(np.take_along_axis(lp, rest[1][None, :, None], axis=-1).sum())
                count += len(rest[1])
        finally:
            self.net_.train(was)
        return total / count

    def evaluate(self, text):
        """``{"tokens", "chars", "nats_per_token", "bits_per_token", "bits_per_char", "perplexity"}``
        (the perplexity of a diverged model is ``inf``)."""
        ids = self.encode(text)
        nats = self._nats(ids)
        n = len(ids) - 1
        if isinstance(text, (bytes, bytearray)):
            chars = len(bytes(text).decode("utf-8", errors="replace")) - 1
        else:
            chars = len(text) - 1
        chars = max(chars, 1)
        return {"tokens": n, "chars": chars, "nats_per_token": nats, "bits_per_token": nats / LN2,
                "bits_per_char": nats * n / (chars * LN2), "perplexity": math.exp(nats) if nats < 709 else math.inf}

    def perplexity(self, text):
        """``exp(mean nats per token)`` of ``text``."""
        return self.evaluate(text)["perplexity"]

    def score(self, text, y=None):
        """Negative mean nats per token (higher is better, as scikit-learn expects)."""
        return -self._nats(self.encode(text))

    # -- sampling --------------------------------------------------------------------------------------
    def sample(self, length=200, prime=None, temperature=1.0, top_k=None, random_state=None):
        """Generate ``length`` tokens after ``prime`` (``str``, or ``bytes``); returns the prime
        plus the text generated.  Without a prime: a newline, or at word level the
        start-of-text token (and only the text generated is returned).  The special
        tokens (``<pad>``, ``<unk>``, ``<bos>``, ``<eos>``), which no training text
        holds, are never drawn."""
        self._check_fitted()
        count("length", length)
        finite_number("temperature", temperature, strict=False)
        if top_k is not None:
            top_k = positive_int("top_k", top_k)
        if prime is None or len(prime) == 0:
            if self.vocab_.level == "word":
                prime, ids = "", [self.vocab_.index["<bos>"]]
            else:
                prime = "\n"
        if prime:
            ids = self.encode(prime)
            if len(ids) == 0:
                raise ValueError(f"the prime text {prime!r} holds no tokens; pass a longer --prime")
        banned = [self.vocab_.index[t] for t in SPECIALS if t in self.vocab_.index]
        out = self.net_.sample(list(ids), int(length), temperature, top_k, np.random.default_rng(random_state),
                               banned=banned)
        if isinstance(prime, (bytes, bytearray)):
            prime = bytes(prime).decode("utf-8", errors="replace")
        sep = " " if self.vocab_.level == "word" and prime else ""
        return prime + sep + self.vocab_.decode(out)

    # -- saving ----------------------------------------------------------------------------------------
    def save(self, run, config=None):
        """Write ``config.json`` and the checkpoint into ``run`` (a RunDir or path).
        Without ``config``, the model's entry of an existing ``config.json`` is
        replaced and its other entries (the training data's record) are kept."""
        from ..runs import RunDir
        self._check_fitted()
        run = run if isinstance(run, RunDir) else RunDir(run)
        if config is None:
            try:
                kept = run.read_config() if os.path.exists(run.file("config.json")) else {}
            except ValueError:                     # a damaged config.json: replaced
                kept = {}
            config = {**kept, "model": self.get_config()}
        run.write_config(config)
        run.save_checkpoint(self.net_, self.optimizer_, self.step_, rng=self.rng_, config=config,
                            extra=_state_arrays(self.state_), history_len=len(self.history_))

    def _restore(self, run):
        from ..runs import RunDir
        run = run if isinstance(run, RunDir) else RunDir(run, create=False)
        if not run.has_checkpoint():
            raise FileNotFoundError(f"{run.file('checkpoint.npz')} does not exist, nothing to resume; "
                                    "train without --resume first")
        self.vocab_ = Vocabulary.from_config(model_config(run)["vocab"])
        self._init_net()
        extra = {}
        _, meta = run.load_checkpoint(self.net_, self.optimizer_, self.rng_, extra=extra)
        self.step_ = int(meta["step"])
        self.state_ = _arrays_state(extra)
        self.history_ = [m for m in run.read_metrics() if m.get("step", 0) <= self.step_]
        run.truncate_metrics(self.step_)
        return run

    @classmethod
    def load(cls, run):
        """Rebuild a trained model from a run directory (no code executed: JSON + npz)."""
        from ..runs import RunDir
        run = run if isinstance(run, RunDir) else RunDir(run, create=False)
        cfg = model_config(run)
        model = cls(**{k: cfg[k] for k in cls._param_names() if k in cfg})
        try:
            model._check_params()                 # as fit checks them: a hand-edited config.json is refused
        except ValueError as exc:
            raise ValueError(f"{run.file('config.json')}: {exc}; restore the run's config.json or train "
                             "again") from None
        model.vocab_ = Vocabulary.from_config(cfg["vocab"])
        model._init_net()
        if not run.has_checkpoint():
            raise FileNotFoundError(f"{run.file('checkpoint.npz')} does not exist; train the model first")
        extra = {}
        _, meta = run.load_checkpoint(model.net_, model.optimizer_, model.rng_, extra=extra)
        model.step_, model.state_ = int(meta["step"]), _arrays_state(extra)
        return model


def _real(v):
    """A finite int or float (not a bool)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _crc(text):
    """``[length, CRC-32]`` of a training text: whether every rank reads the same one."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    return [len(data), zlib.crc32(data)]


def _on_streams(train_step, mine):
    """``train_step`` on the streams ``mine`` (a slice) of each window."""
    def step(window, state):
        return train_step((window[0][mine], window[1][mine], window[2]), state)
    return step


def _streams_of(state, mine):
    """The streams ``mine`` (a slice) of a carried state ``(layers, B, H)`` (or a tuple of them)."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s[:, mine].copy() for s in state)
    return state[:, mine].copy()


def _check_text(text, name):
    """Refuse a training text that is not one ``str`` or ``bytes`` (a list of texts, ids)."""
    if not isinstance(text, (str, bytes, bytearray)):
        raise TypeError(f"{name} must be one str (or bytes at byte level), got a {type(text).__name__}; "
                        "join several texts into one, e.g. '\\n'.join(texts)")


class _StepLog(Callback):
    """What a language model does after each update: take the carried state and
    step count, log the step (with diagnostics when ``record_gradflow``, and the
    validation loss every ``eval_every`` steps and at step ``target``) into
    ``history_`` and the run, checkpoint every ``checkpoint_every`` steps, and
    show progress on ``bar`` (a progress bar, or ``None``).

    A step's checkpoint is written once the next step passed the trainer's
    divergence check (in ``on_before_update``, before that step's update, with
    the RNG as the step left it), so no checkpoint holds weights that diverged."""

    def __init__(self, model, run, config, val_ids, target, checkpoint_every, bar, world=None, saving=None):
        self.model, self.run, self.config, self.val_ids = model, run, config, val_ids
        self.target, self.checkpoint_every, self.bar = target, checkpoint_every, bar
        self.t0, self.tokens = time.monotonic(), 0
        self.t_start = self.t0                             # wall time, validation included (--minutes)
        self.pending = None                 # the RNG of a step whose checkpoint waits for the next step's check
        # under MPI: the ranks (rank 0 validates and writes; the checkpoint gathers every rank's streams)
        self.world, self.saving, self.pending_state = world, run is not None if saving is None else saving, None

    def on_train_begin(self, trainer):
        self.trainer = trainer

    def on_before_update(self, grads, metrics):
        """The checkpoint of the step before (its weights passed the check), and the
        per-step diagnostics of ``record_gradflow``, after clipping, before the update."""
        if self.pending is not None:
            m, live, live_state = self.model, self.model.rng_, self.model.state_
            m.rng_ = self.pending
            if self.pending_state is not None:
                m.state_ = self.pending_state             # every rank's streams
            try:
                m.save(self.run, self.config)
            finally:
                m.rng_, m.state_, self.pending, self.pending_state = live, live_state, None, None
        if self.model.record_gradflow:
            from ..diagnostics import gate_metrics, step_metrics

            net = self.model.net_
            diag = step_metrics(net, metrics["grad_norm"], self.model.clip or None)
            diag["grad_norm_clipped"] = grad_norm(grads)     # measured: the norm the optimizer will see
            diag.update(gate_metrics(net.rnn))
            metrics["diagnostics"] = diag

    def on_step_end(self, step, metrics):
        m = self.model
        m.state_, m.step_ = self.trainer.state, step
        loss, tokens = metrics["loss"], metrics["batch_size"]
        self.tokens += tokens
        rec = {"step": step, "loss": float(loss), "bpc": float(loss) / LN2, "grad_norm": metrics["grad_norm"],
               "lr": self.trainer.optimizer.lr}
        if "diagnostics" in metrics:
            seconds = metrics["seconds"]
            rec.update(metrics["diagnostics"], seconds=seconds, tokens_per_s=tokens / max(seconds, 1e-9))
        if ((m.eval_every and step % m.eval_every == 0) or step >= self.target) and len(self.val_ids) > 1:
            t_eval = time.monotonic()
            v = m._nats(self.val_ids) if self.world is None or self.world.root else None
            if self.world is not None:
                v = self.world.bcast(v)                   # rank 0's score decides for every rank
            self.t0 += time.monotonic() - t_eval          # validation is not training time
            rec.update(val_loss=v, val_bpc=v / LN2)
            metrics["val_loss"] = v                       # for the controls after this callback
        m.history_.append(rec)
        due = self.saving and self.checkpoint_every and step % self.checkpoint_every == 0
        if due and self.world is not None:
            self.pending_state = self.world.gather_streams(m.state_)      # None but on rank 0
        if self.run is not None:
            self.run.log(**rec)
            if due:
                self.pending = copy.deepcopy(m.rng_)
        if self.bar is not None:
            rate = self.tokens / max(time.monotonic() - self.t0, 1e-9)
            shown = {"step": step} if self.bar.unit == "s" else {}       # a bar of seconds says the step
            self.bar.set_postfix(**shown, loss=f"{loss:.3f}", tok_s=f"{rate:,.0f}")
            self.bar.update(int(time.monotonic() - self.t_start) - self.bar.n if self.bar.unit == "s" else 1)

    def close(self):
        """Close the progress bar; returns the training wall time, validation excluded."""
        if self.bar is not None:
            self.bar.close()
        return time.monotonic() - self.t0
