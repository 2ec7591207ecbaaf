"""What the sequence estimators share: scikit-learn's parameter protocol
(without importing scikit-learn), input handling for token ids or vectors,
the recurrent encoder, what they give the training loop
(:class:`rnnkit.training.Trainer`), and saving (:mod:`rnnkit.io.estimators`).

Inputs ``X`` are a list of sequences, each ``(n_i,)`` integer token ids or
``(n_i, D)`` real vectors, or a padded array ``(N, T)`` / ``(N, T, D)`` with
``lengths=`` ``(N,)``.
"""
from __future__ import annotations

import numbers
import warnings
import zlib

import numpy as np

from .._checks import finite_number, not_fitted, positive_int
from .._params import Params, plain
from ..callbacks import Validation, check_control_params, needs_validation, stop_reason, training_controls
from ..data.batching import as_sequences, bucket_batches, pad
from ..io.estimators import EstimatorFile
from ..layers import Embedding
from ..module import Module
from ..optim import Adam
from ..registry import build_layer, check_cell
from ..training import Trainer, TrainMode


class SequenceEstimator(EstimatorFile, Params):
    """Base class: ``get_params``/``set_params`` as scikit-learn's ``clone``,
    ``GridSearchCV`` and ``Pipeline`` expect (:class:`rnnkit._params.Params`), a
    training loop, ``save``/``load``."""

    _sk_target_required = True
    # settings that only steer prediction: ``save`` writes their current values, while every
    # other parameter is written as the network was built with it (``fit_params_``)
    _PREDICT_PARAMS = ("batch_size", "beam_size", "max_length", "exclude_ids")

    def __sklearn_tags__(self):  # called by scikit-learn only, so it is importable here
        from sklearn.utils import InputTags

        tags = super().__sklearn_tags__()
        tags.input_tags = InputTags(two_d_array=True, three_d_array=True)
        return tags

    # -- training ---------------------------------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "net_"):
            raise not_fitted(self)

    def _check_training_params(self):
        """Refuse training settings that would fail deep inside the loop (before
        ``fit`` changes anything)."""
        positive_int("epochs", self.epochs)
        positive_int("batch_size", self.batch_size)
        if self._deprecated_lr():
            warnings.warn("learning_rate is deprecated and will be removed in rnnkit 0.3; use lr (PyTorch's and "
                          "the other rnnkit models' name)", DeprecationWarning, stacklevel=4)
            finite_number("learning_rate", self.learning_rate)
        else:
            finite_number("lr", self.lr)
        if self.clip is not None and self.clip != float("inf"):    # None, 0 or inf: no clipping
            finite_number("clip", self.clip, strict=False)
        v = getattr(self, "bidirectional", False)
        if not (isinstance(v, (bool, np.bool_)) or (isinstance(v, (int, np.integer)) and v in (0, 1))):
            raise ValueError(f"bidirectional must be True or False, got {v!r}")
        if hasattr(self, "hidden_size"):
            positive_int("hidden_size", self.hidden_size)
        check_control_params(self.early_stopping, self.lr_schedule, self.validation_fraction)

    def _deprecated_lr(self):
        """Whether the deprecated ``learning_rate`` was given (it then wins over ``lr``)."""
        v = getattr(self, "learning_rate", "deprecated")
        return not (isinstance(v, str) and v == "deprecated")

    def _lr(self):
        """The learning rate: ``lr``, or the deprecated ``learning_rate`` when given."""
        return self.learning_rate if self._deprecated_lr() else self.lr

    def _start(self, n_train):
        """Make the network, optimizer and RNG (after the data set learned sizes)."""
        rng = np.random.default_rng(self.random_state)
        net = self._build_net(np.random.default_rng(rng.integers(2**63)))   # its checks first: a failed
        self.fit_params_ = dict(self.get_params())                          # refit changes nothing
        self.rng_, self.net_ = rng, net
        self.optimizer_ = Adam(self.net_.named_parameters(), lr=self._lr())
        self.loss_curve_ = []

    def _train_epochs(self, data, epochs, start=0, callbacks=(), val=None, log=(), world=None):
        """Train on ``data`` (from :meth:`prepare`) from epoch ``start`` until
        ``epochs`` are done, mini-batches in length buckets; returns the
        :class:`~rnnkit.training.Trainer` (its ``history``: each epoch's mean
        loss, and ``val_loss`` when validating).

        ``val``: validation data (prepared like ``data``), scored after each epoch
        as ``val_loss``; without it, when a control watches a validation metric,
        ``validation_fraction`` of ``data`` is held out.  Callbacks run in this
        order: the estimator's own (evaluation mode at each epoch's end, the
        validation), ``log``, the constructor's controls (``early_stopping``,
        ``lr_schedule``), ``callbacks``.

        ``world``: under MPI (:mod:`rnnkit.distributed`), the ranks that train
        this one model; each takes a contiguous share of every mini-batch."""
        if world is None and log:
            from ..distributed import launched_size
            if launched_size() > 1:
                raise RuntimeError("this command trains as one process; under mpirun, train with the Python "
                                   "API's fit (every rank calls it) or `rnnkit lm train`")
        controls = training_controls(self.early_stopping, self.lr_schedule, epochs=epochs,
                                     base_lr=self._lr())
        if val is None and needs_validation(controls + list(callbacks)):
            data, val = self._hold_out(data)
        score = (lambda: self._validation_loss(val)) if world is None else \
            (lambda: world.bcast(self._validation_loss(val) if world.root else None))     # rank 0's, for all
        own = [TrainMode(self.net_)] + ([Validation(score)] if val is not None else [])

        def train_step(idx, state):
            if world is not None:                   # this rank's share of the batch (it may hold none)
                idx = idx[world.shard(len(idx))]
                if not len(idx):
                    return 0.0, None
            return self._loss_backward(data, idx), None

        reduce = None
        if world is not None:                       # the whole batch's gradient, on every rank
            from ..distributed import GradientAllreduce

            reduce = GradientAllreduce(world, self.net_.named_parameters(), lambda idx: (
                self._loss_terms(data, idx[world.shard(len(idx))]), self._loss_terms(data, idx)))
        trainer = Trainer(train_step, self.net_.named_grads, self.optimizer_, clip_norm=self.clip or None,
                          batch_size=len, callbacks=[*own, *log, *controls, *callbacks], reduce=reduce)
        return trainer.fit(lambda epoch: bucket_batches(data["lengths"], self.batch_size, self.rng_), epochs, start)

    def _hold_out(self, data):
        """``(train, validation)``: a random ``validation_fraction`` of ``data`` held out."""
        n = len(data["lengths"])
        n_val = int(round(n * self.validation_fraction))
        if n_val < 1 or n_val >= n:
            raise ValueError(f"validation_fraction={self.validation_fraction} of {n} sequences holds out "
                             f"{n_val}; early stopping needs at least one sequence on each side: pass more "
                             "data, another validation_fraction, or validation_data")
        rng = self.rng_ if self.random_state is None else np.random.default_rng(self.random_state)
        order = rng.permutation(n)                  # with a seed, a resumed run holds out the same examples
        return subset(data, np.sort(order[n_val:])), subset(data, np.sort(order[:n_val]))

    def _validation_loss(self, val):
        """The mean loss over ``val``, batch by batch in evaluation mode (the
        training pass: it overwrites the gradients, which the next update refills)."""
        n = len(val["lengths"])
        total = 0.0
        for a in range(0, n, self.batch_size):
            idx = np.arange(a, min(a + self.batch_size, n))
            total += float(self._loss_backward(val, idx)) * len(idx)
        return total / n

    def _run_epoch(self, data):
        """One more pass over ``data``; returns its mean loss."""
        return self._train_epochs(data, 1).history[0]["loss"]

    def _fit_data(self, data, validation_data=None, callbacks=None):
        """Train a new network on ``data``; ``validation_data`` ``(X, y[, lengths])``
        and ``callbacks`` as ``fit`` takes them.  Under MPI every rank calls ``fit``
        with the same data and they train one model (:meth:`_join_world`)."""
        from ..distributed import world as mpi_world

        world = mpi_world()
        if world is not None:
            self._check_world(world, data)          # before _start: a refused fit changes nothing
        self._start(len(data["lengths"]))
        if world is not None:
            self._join_world(world)
        val = None if validation_data is None else self._prepare_validation(validation_data)
        trainer = self._train_epochs(data, self.epochs, callbacks=callbacks or (), val=val, world=world)
        self.loss_curve_ += [m["loss"] for m in trainer.history]
        self.val_loss_curve_ = [m["val_loss"] for m in trainer.history if "val_loss" in m] or None
        self.n_epochs_ = len(trainer.history)
        self.stop_reason_ = stop_reason(trainer.callbacks)
        return self

    def _check_world(self, world, data):
        """Refuse, on every rank alike, what data-parallel training cannot do, and
        ranks given different settings or data."""
        with world.together():
            world.check_divides(self.batch_size, "batch_size")
            if getattr(self, "sampling_schedule", None) is not None:
                raise ValueError("scheduled sampling (sampling_schedule) is not available under MPI yet; "
                                 "pass sampling_schedule=None, or train as one process")
        lengths = np.ascontiguousarray(data["lengths"], np.int64)
        world.agree({"params": {k: plain(v) for k, v in self.get_params().items()}, "learned": self._learned(),
                     "lengths": [len(lengths), zlib.crc32(lengths.view(np.uint8))]}, "settings or data")

    def _join_world(self, world):
        """Take rank 0's initial weights and RNG (batch order, held-out data); each
        rank's dropout masks come from its own stream."""
        shared = world.bcast({"weights": self.net_.state_dict(), "rng": self.rng_.bit_generator.state}
                             if world.root else None)
        if not world.root:
            self.net_.load_state_dict(shared["weights"])
            self.rng_.bit_generator.state = shared["rng"]
        world.own_random_streams(self.net_)

    def _loss_terms(self, data, idx):
        """How many terms the mean loss of the examples ``idx`` averages (a rank's
        share of the batch in the distributed gradient): sequences for one label
        each, real steps for a tagger's labels per step, target tokens plus the
        end-of-sequence token for the decoders."""
        targets = data["targets"]
        if isinstance(targets, np.ndarray) and targets.ndim == 1 and targets.dtype != object:
            return len(idx)                                       # one label per sequence
        if isinstance(self, LabelledSequences):
            return int(np.sum(np.asarray(data["lengths"])[idx]))  # one label per step
        return int(sum(len(targets[i]) + 1 for i in idx))         # decoder targets and their <eos>

    def _prepare_validation(self, validation_data):
        """``fit``'s ``validation_data`` ``(X, y[, lengths])`` prepared as training data is."""
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("validation_data must be a pair (X_val, y_val) (or (X_val, y_val, lengths_val))")
        try:
            return self.prepare(*validation_data, learn=False)
        except ValueError as exc:
            raise ValueError(f"validation_data: {exc}") from None

    # -- saving -------------------------------------------------------------------------------
    def get_config(self):
        """JSON-able hyperparameters and learned metadata (not the weights).  The
        parameters are those the network was built with at ``fit``, whatever
        ``set_params`` changed since."""
        self._check_fitted()
        fitted = getattr(self, "fit_params_", None) or {}
        params = {**self.get_params(), **{k: v for k, v in fitted.items() if k not in self._PREDICT_PARAMS}}
        params = {k: plain(v) for k, v in params.items()}     # NumPy scalars (a grid search's) as JSON numbers
        return {"class": type(self).__name__, "params": params, "learned": self._learned()}

    @classmethod
    def from_config(cls, config, rng=None):
        """An estimator with the network built (weights at their initial values)."""
        if config.get("class") != cls.__name__:
            raise ValueError(f"the saved model is a {config.get('class')}, not a {cls.__name__}")
        params = dict(config["params"])
        if params.get("learning_rate", "deprecated") != "deprecated":   # rnnkit 0.1's name: read as lr, no warning
            params["lr"] = params.pop("learning_rate")
        est = cls(**params)
        est._check_training_params()                # as fit checks them: a hand-edited file is refused
        est.fit_params_ = dict(est.get_params())
        est._set_learned(config["learned"])
        est.rng_ = np.random.default_rng(est.random_state)
        est.net_ = est._build_net(np.random.default_rng(0))
        est.optimizer_ = Adam(est.net_.named_parameters(), lr=est._lr())
        est.loss_curve_ = []
        est.net_.eval()
        return est

    FILE_KIND = "sequence-estimator"          # config and weights (save / load: rnnkit.io.estimators)

    def _file_contents(self):
        return self.get_config(), self.net_.state_dict()

    @classmethod
    def _from_file(cls, config, arrays):
        est = cls.from_config(config)
        est.net_.load_state_dict(arrays)
        return est


def subset(data, idx):
    """The examples ``idx`` of a prepared data dict (lists and per-example arrays
    indexed alike; anything else kept)."""
    n = len(data["lengths"])
    return {k: [v[i] for i in idx] if isinstance(v, list) else
            v[idx] if isinstance(v, np.ndarray) and v.ndim and len(v) == n else v for k, v in data.items()}


class LabelledSequences:
    """The learned metadata of an estimator whose targets are class labels and
    whose inputs an :class:`InputSpec` describes (the classifier, the tagger):
    ``classes_``, ``spec_``, ``n_features_in_``, saved and restored."""

    def _learned(self):
        return {"classes": [plain(c) for c in self.classes_],
                "spec": self.spec_.to_config()}

    def _set_learned(self, d):
        self.classes_ = np.asarray(d["classes"])
        self.spec_ = InputSpec.from_config(d["spec"])
        self.n_features_in_ = self.spec_.n_in


# -- inputs ---------------------------------------------------------------------------------------
class InputSpec:
    """How raw sequences become network inputs: ``"tokens"`` (ids ``< n_in``) or
    ``"vectors"`` (``n_in`` features per step, optionally standardised)."""

    def __init__(self, kind, n_in, mean=None, scale=None):
        self.kind, self.n_in = kind, int(n_in)
        self.mean = None if mean is None else np.asarray(mean, np.float64)
        self.scale = None if scale is None else np.asarray(scale, np.float64)

    @classmethod
    def learn(cls, seqs, standardize=True, n_tokens=None):
        """The spec of training sequences ``seqs``; ``n_tokens`` (a vocabulary's
        size) sets the number of token ids when larger than the ids seen."""
        if all(s.ndim == 1 for s in seqs):
            if not all(s.dtype.kind in "iu" for s in seqs):
                raise ValueError("1-D sequences must hold integer token ids; pass vectors as (n, D) arrays")
            top = max(int(s.max()) for s in seqs) + 1
            if min(int(s.min()) for s in seqs) < 0:
                raise ValueError("token ids must be non-negative")
            return cls("tokens", max(top, n_tokens or 0))
        if not all(s.ndim == 2 for s in seqs):
            raise ValueError("mix of 1-D and 2-D sequences; pass all token ids (n,) or all vectors (n, D)")
        D = seqs[0].shape[1]
        if any(s.shape[1] != D for s in seqs):
            raise ValueError("every sequence must have the same number of features per step")
        mean = scale = None
        if standardize:
            allx = np.concatenate(seqs).astype(np.float64)
            mean, scale = allx.mean(0), allx.std(0)
            scale[scale == 0] = 1.0
        return cls("vectors", D, mean, scale)

    def to_config(self):
        return {"kind": self.kind, "n_in": self.n_in,
                "mean": None if self.mean is None else self.mean.tolist(),
                "scale": None if self.scale is None else self.scale.tolist()}

    @classmethod
    def from_config(cls, c):
        return cls(c["kind"], c["n_in"], c.get("mean"), c.get("scale"))

    def check(self, seqs, name="X"):
        for i, s in enumerate(seqs):
            if self.kind == "tokens":
                if s.ndim != 1 or s.dtype.kind not in "iu":
                    raise ValueError(f"{name}[{i}]: the model reads token id sequences (n,), got {s.shape} {s.dtype}")
                if s.min() < 0 or s.max() >= self.n_in:
                    raise ValueError(f"{name}[{i}] holds token id {s.max()} outside the model's vocabulary of "
                                     f"{self.n_in}; encode with the training vocabulary")
            elif s.ndim != 2 or s.shape[1] != self.n_in:
                raise ValueError(f"{name}[{i}] has shape {s.shape} but the model was trained on {self.n_in} "
                                 "features per step")
        return seqs

    def batch(self, seqs, dtype):
        """Padded network input and lengths."""
        if self.kind == "tokens":
            return pad(seqs, 0, np.int64)
        x, lengths = pad(seqs, 0.0, np.float64)
        if self.mean is not None:
            x = (x - self.mean) / self.scale
            x[np.arange(x.shape[1])[None, :] >= lengths[:, None]] = 0.0
        return x.astype(dtype), lengths


def read_X(X, lengths=None, name="X", layout=None):
    """Sequences of ``X`` (see the module docstring); refuses an empty ``X`` and
    ``lengths`` outside ``[1, T]`` of a padded array.  ``layout``: ``"NTC"``
    (rnnkit's), ``"NCT"`` (aeon's and sktime's channels first) or ``None`` (NTC, with
    a warning when an array looks channels first); sktime's nested and
    ``(instance, time)``-indexed DataFrames are read as they are
    (:mod:`rnnkit.data.panels`)."""
    X = _panel_input(X, name, layout)
    if lengths is not None and isinstance(X, np.ndarray) and X.dtype != object and X.ndim in (2, 3):
        n, T = np.asarray(lengths), X.shape[1]
        if n.size and (n.dtype.kind not in "iuf" or not np.all(n == np.round(n)) or n.min() < 1 or n.max() > T):
            raise ValueError(f"lengths must be whole numbers in [1, {T}] (the padded {name} has {T} steps); "
                             f"got {plain(n.min())!r}..{plain(n.max())!r}")
    seqs = as_sequences(X, lengths, name)
    if len(seqs) == 0:
        raise ValueError(f"{name} holds no sequences; pass at least one")
    if any(s.dtype.kind == "c" for s in seqs):
        raise ValueError(f"{name} holds complex numbers; pass real values (e.g. the real part, or real and "
                         "imaginary parts as two features)")
    return seqs


def _panel_input(X, name, layout):
    """``X`` in rnnkit's layout: panels converted, a channels-first-looking array warned about."""
    from ..data import panels

    if layout is not None:
        panels.check_layout(layout)
    if panels.is_nested_frame(X) or panels.is_multiindex_frame(X):
        return panels.to_sequences(X, name=name)
    if layout == "NCT":
        if isinstance(X, np.ndarray) and X.dtype != object and X.ndim == 3:
            return X.transpose(0, 2, 1)                                 # (N, C, T) -> (N, T, C)
        return panels.to_sequences(X, "NCT", name)
    if layout is None:
        panels.warn_if_channels_first(X, name)
    return X


def check_batch_size(batch_size):
    """``batch_size`` of a prediction call, checked."""
    return positive_int("batch_size", batch_size)


def label_kind(value):
    """``"number"``, ``"string"`` or the type name of one label."""
    if isinstance(value, (bool, np.bool_, numbers.Number)):
        return "number"
    if isinstance(value, (str, bytes, np.str_, np.bytes_)):
        return "string"
    return type(value).__name__


def as_labels(values, name="y"):
    """Labels as an array; refuses a mix of numbers and strings (which NumPy
    would silently turn all into strings), missing labels (None, NaN) and
    continuous values (scikit-learn's "continuous" target: not classes)."""
    if values is None:
        raise ValueError(f"{name} is None; pass the labels, one per sequence")
    arr = values if isinstance(values, np.ndarray) and values.dtype != object else np.asarray(values)
    if arr.dtype.kind == "c":
        raise ValueError(f"{name} holds complex numbers; pass class labels")
    if arr.dtype.kind == "f":
        if np.isnan(arr).any():
            raise ValueError(f"{name} holds NaN; give every example a label (or drop the unlabelled ones)")
        if not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} holds continuous values (e.g. {plain(arr[arr != np.round(arr)].flat[0])!r}); "
                             "pass class labels: integers or strings")
    if arr.dtype.kind in "biuf" or (arr is values and arr.dtype != object):
        return arr
    items = arr.ravel().tolist() if arr.dtype == object else list(values)
    if any(v is None or (isinstance(v, float) and v != v) for v in items):     # None, NaN (pandas' missing)
        raise ValueError(f"{name} holds a missing label (None or NaN); give every example a label (or drop "
                         "the unlabelled ones)")
    kinds = {}
    for v in items:
        kinds.setdefault(label_kind(v), v)
    if len(kinds) > 1:
        a, b = list(kinds.values())[:2]
        raise ValueError(f"{name} mixes label types ({plain(a)!r} and {plain(b)!r}); use one type for all "
                         "labels, e.g. all strings or all integers")
    if arr.dtype == object and set(kinds) == {"number"}:
        nums = np.array(items)                           # numbers in an object column: numbers
        if nums.dtype != object:                         # (ints beyond int64, Decimals stay objects)
            return as_labels(nums.reshape(arr.shape), name)
    return arr


def match_label_types(classes, y):
    """``y`` in the type of ``classes``: labels read as strings (``'0'``) from a
    text file meet classes learned as numbers (``0``) from a NumPy file, and
    the other way round.  Labels that do not convert are left as they are."""
    y = np.asarray(y)
    if classes.dtype.kind in "biuf" and y.dtype.kind in "USO":
        try:
            return np.array([classes.dtype.type(float(v) if classes.dtype.kind == "f" else int(str(v)))
                             for v in y.tolist()], dtype=classes.dtype)
        except (TypeError, ValueError):
            return y
    if classes.dtype.kind in "US" and y.dtype.kind in "biu":
        return y.astype(str)
    return y


class RecurrentEncoder(Module):
    """``x`` (ids ``(B, T)`` or vectors ``(B, T, D)``) -> optional embedding ->
    recurrent stack -> ``y`` ``(B, T, K*H)`` and ``h_n``."""

    def __init__(self, spec, embedding_dim, cell, hidden_size, num_layers, bidirectional, dropout, dtype, rng,
                 merge_mode="concat"):
        super().__init__()
        check_cell(cell)
        self.embed = Embedding(spec.n_in, embedding_dim, dtype=dtype, seed=rng) if spec.kind == "tokens" else None
        n_in = embedding_dim if self.embed is not None else spec.n_in
        self.rnn = build_layer(cell, n_in, hidden_size, num_layers, batch_first=True, dropout=dropout,
                               bidirectional=bidirectional, merge_mode=merge_mode, dtype=dtype, seed=rng)

    def forward(self, x, lengths, h0=None, keep_cache=True):
        return self.rnn.forward(x, h0, lengths=lengths, keep_cache=keep_cache,
                                embedding=self.embed)              # ids: the lookup folded in (rnnkit.tokens)

    __call__ = forward

    def backward(self, dy, dh_n=None):
        _, dh0 = self.rnn.backward(dy, dh_n, input_grad=False)     # fills self.embed.grads too
        return dh0


def hidden_of(state):
    """The ``h`` part of a recurrent state (LSTM states are ``(h, c)``)."""
    return state[0] if isinstance(state, tuple) else state
