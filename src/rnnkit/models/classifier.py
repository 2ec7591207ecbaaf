"""``SequenceClassifier``: many-to-one.  A sequence of token ids or vectors ->
recurrent stack -> one pooled vector -> class logits.

    x (B, T[, D]) -> y (B, T, F) = RNN(x, lengths)       F = K*H (K = 2 if bidirectional)
    pooled (B, F):  last  concat of each direction's final state (own last step)
                    mean  Σ_t m_t y_t / n                 (m: length mask)
                    max   max_t over real steps of y_t
    logits (B, C) = pooled W^T + b;   p = softmax(logits)
"""
from __future__ import annotations

import numpy as np

from .._params import keeps_fitted_state_on_failure, plain
from ..layers import Dense
from ..losses import softmax, softmax_cross_entropy
from ..module import Module
from ._seqbase import (InputSpec, LabelledSequences, RecurrentEncoder, SequenceEstimator, as_labels, check_batch_size,
                       hidden_of, match_label_types, read_X)

POOLINGS = ("last", "mean", "max")


class _PooledNet(Module):
    def __init__(self, spec, n_classes, p, rng, dtype=np.float32):
        super().__init__()
        self.dtype = np.dtype(dtype)
        if p["pooling"] not in POOLINGS:
            raise ValueError(f"unknown pooling {p['pooling']!r}; use one of {', '.join(POOLINGS)}")
        self.pooling = p["pooling"]
        self.encoder = RecurrentEncoder(spec, p["embedding_dim"], p["cell"], p["hidden_size"], p["num_layers"],
                                        p["bidirectional"], p["dropout"], dtype, rng)
        self.head = Dense(self.encoder.rnn.output_size, n_classes, dtype=dtype, seed=rng)

    def forward(self, x, lengths, keep_cache=True):
        y, h_n = self.encoder(x, lengths, keep_cache=keep_cache)   # (B, T, F), (L*K, B, H)
        rnn = self.encoder.rnn
        B, T, F = y.shape
        m = np.arange(T)[None, :] < lengths[:, None]                # (B, T)
        arg = None
        if self.pooling == "last":
            K = rnn.num_directions
            h = hidden_of(h_n)[-K:]                                 # (K, B, H) last layer
            pooled = np.concatenate(list(h), axis=-1)               # (B, K*H)
        elif self.pooling == "mean":
            pooled = (y * m[:, :, None]).sum(1) / lengths[:, None].astype(y.dtype)
        else:
            yy = np.where(m[:, :, None], y, -np.inf)
            arg = yy.argmax(axis=1)                                 # (B, F)
            pooled = np.take_along_axis(y, arg[:, None, :], axis=1)[:, 0]
        if keep_cache:                                              # an inference pass leaves the last for backward
            self._shape, self._m, self._lengths, self._arg = y.shape, m, lengths, arg
        return self.head(pooled.astype(self.dtype), keep_cache=keep_cache)

    __call__ = forward

    def backward(self, dlogits):
        dp = self.head.backward(dlogits)                            # (B, F)
        rnn = self.encoder.rnn
        B, T, F = self._shape
        dy = np.zeros(self._shape, self.dtype)
        dh_n = None
        if self.pooling == "last":
            K, H = rnn.num_directions, rnn.hidden_size
            dh = np.zeros((rnn.num_layers * K, B, H), self.dtype)
            for d in range(K):
                dh[-K + d] = dp[:, d * H:(d + 1) * H]
            dh_n = (dh, None) if rnn.cell.n_states > 1 else dh
        elif self.pooling == "mean":
            dy[...] = self._m[:, :, None] * (dp / self._lengths[:, None])[:, None, :]
        else:
            np.put_along_axis(dy, self._arg[:, None, :], dp[:, None, :], axis=1)
        self.encoder.backward(dy, dh_n)


class SequenceClassifier(LabelledSequences, SequenceEstimator):
    """Many-to-one recurrent classifier with the scikit-learn interface.

    Arguments:
        cell: ``"lstm"``, ``"gru"`` or ``"rnn"``.   hidden_size, num_layers.
        bidirectional: read each sequence both ways.
        pooling: ``"last"``, ``"mean"`` or ``"max"`` (see the module docstring).
        embedding_dim: size of the token embedding (token-id inputs only).
        dropout: between stacked layers.   standardize: scale vector inputs
            to zero mean, unit variance per feature (statistics of the training set).
        epochs, batch_size, lr (Adam's learning rate), clip (global gradient norm, 0 = off).
        random_state: seed for initialisation and batch order (default 0; None: a fresh one).
        learning_rate: the deprecated name of ``lr`` (a DeprecationWarning at ``fit``).
        early_stopping: None/False: off; an int: stop after that many epochs without a lower
            validation loss (True: 10), best weights restored (:mod:`rnnkit.callbacks`).
        validation_fraction: share of the training data held out for early stopping (or
            ``lr_schedule="plateau"``) when ``fit`` gets no ``validation_data``.
        lr_schedule: ``None``, ``"step"``, ``"cosine"`` or ``"plateau"`` (over ``epochs``).
        layout: how a 3-D array ``X`` holds its axes: ``"NTC"`` (rnnkit's: sequences, steps,
            features), ``"NCT"`` (aeon's and sktime's channels first, ``(N, C, T)``, and lists of
            ``(C, T_i)``), or ``None``: NTC, with a warning when an array looks channels first.
            sktime's nested DataFrames are read whatever it says (:mod:`rnnkit.data.panels`).

    Learned: ``classes_``, ``n_features_in_`` (features or vocabulary size),
    ``input_kind_``, ``loss_curve_``, ``net_``, ``optimizer_``.
    """

    _sk_type = "classifier"

    def __init__(self, cell="lstm", hidden_size=64, num_layers=1, bidirectional=False, pooling="last",
                 embedding_dim=32, dropout=0.0, standardize=True, epochs=20, batch_size=32,
                 lr=1e-2, clip=5.0, random_state=0, early_stopping=None, validation_fraction=0.1, lr_schedule=None,
                 layout=None, learning_rate="deprecated"):
        self.cell = cell
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.pooling = pooling
        self.embedding_dim = embedding_dim
        self.dropout = dropout
        self.standardize = standardize
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.clip = clip
        self.random_state = random_state
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.lr_schedule = lr_schedule
        self.layout = layout
        self.learning_rate = learning_rate

    # -- learned metadata -----------------------------------------------------------------------
    def _build_net(self, rng):
        return _PooledNet(self.spec_, len(self.classes_), self.get_params(), rng)

    def _set_learned(self, d):
        super()._set_learned(d)
        self.input_kind_ = self.spec_.kind

    # -- data ---------------------------------------------------------------------------------------
    def prepare(self, X, y, lengths=None, learn=False, n_tokens=None):
        """Sequences and integer targets as the training loop wants them.
        ``learn`` takes the classes and input spec from this data (``n_tokens``:
        the vocabulary size of token-id inputs); nothing is changed on the
        estimator unless the data passes every check."""
        seqs = read_X(X, lengths, layout=self.layout)
        y = as_labels(y)
        if y.ndim != 1:
            raise ValueError(f"y has shape {y.shape}; a classifier needs one label per sequence, y of shape (N,)")
        if len(y) != len(seqs):
            raise ValueError(f"X holds {len(seqs)} sequences but y {len(y)} labels")
        if learn:
            classes = np.unique(y)
            if len(classes) < 2:
                raise ValueError(f"the labels (y) hold a single class ({plain(classes[0])!r}); a classifier "
                                 "needs at least two: add examples of another class")
            spec = InputSpec.learn(seqs, self.standardize, n_tokens)
        else:
            self._check_fitted()
            classes, spec = self.classes_, self.spec_
            y = match_label_types(classes, y)
        spec.check(seqs)
        pos = np.clip(np.searchsorted(classes, y), 0, len(classes) - 1)
        bad = classes[pos] != y
        if bad.any():
            raise ValueError(f"label {plain(y[bad][0])!r} was not seen in training; known labels: "
                             f"{', '.join(map(str, classes))}")
        if learn:
            self.classes_, self.spec_ = classes, spec
            self.n_features_in_, self.input_kind_ = spec.n_in, spec.kind
        return {"seqs": seqs, "targets": pos, "lengths": np.array([len(s) for s in seqs])}

    def _loss_backward(self, data, idx):
        x, lengths = self.spec_.batch([data["seqs"][i] for i in idx], np.float32)
        logits = self.net_(x, lengths)
        loss, dlogits = softmax_cross_entropy(logits, data["targets"][idx])
        self.net_.backward(dlogits)
        return loss

    @keeps_fitted_state_on_failure
    def fit(self, X, y, lengths=None, validation_data=None, callbacks=None):
        """Train on ``X`` (see the module docstring) and labels ``y`` ``(N,)``;
        ``validation_data`` ``(X_val, y_val[, lengths_val])`` is scored after each
        epoch (``val_loss``); ``callbacks``: :mod:`rnnkit.callbacks` objects."""
        self._check_training_params()
        return self._fit_data(self.prepare(X, y, lengths, learn=True), validation_data, callbacks)

    # -- inference ------------------------------------------------------------------------------------
    def _logits(self, X, lengths=None, batch_size=256):
        """Class logits ``(N, C)``."""
        self._check_fitted()
        batch_size = check_batch_size(batch_size)
        seqs = self.spec_.check(read_X(X, lengths, layout=self.layout))
        self.net_.eval()
        out = []
        for i in range(0, len(seqs), batch_size):
            x, n = self.spec_.batch(seqs[i:i + batch_size], np.float32)
            out.append(self.net_(x, n, keep_cache=False))
        return np.concatenate(out)

    def decision_function(self, X, lengths=None, batch_size=256):
        """Class scores: logits ``(N, C)``; with two classes, as scikit-learn
        does, one score per sequence ``(N,)``: the logit of ``classes_[1]``
        minus that of ``classes_[0]`` (the log-odds of the positive class)."""
        logits = self._logits(X, lengths, batch_size)
        return logits[:, 1] - logits[:, 0] if logits.shape[1] == 2 else logits

    def predict_proba(self, X, lengths=None):
        """Class probabilities ``(N, C)``, columns in the order of ``classes_``."""
        return softmax(self._logits(X, lengths).astype(np.float64))

    def predict(self, X, lengths=None):
        """The most likely class of each sequence ``(N,)``."""
        logits = self._logits(X, lengths)
        return self.classes_[logits.argmax(axis=1)]

    def score(self, X, y, lengths=None):
        """Mean accuracy."""
        pred = self.predict(X, lengths)
        y = match_label_types(self.classes_, as_labels(y))
        if y.shape != pred.shape:
            raise ValueError(f"y has shape {y.shape} but X holds {len(pred)} sequences; pass one label each")
        return float(np.mean(pred == y))
