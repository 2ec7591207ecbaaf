"""``SequenceTagger``: many-to-many, aligned.  One label per step.

    x (B, T[, D]) -> y (B, T, F) = BiRNN(x, lengths) -> logits (B, T, C) = y W^T + b

The loss is the cross-entropy averaged over real (unpadded) steps only.  Also
here: entity-level precision/recall/F1 for BIO tags (:func:`bio_f1`).
"""
from __future__ import annotations

import numpy as np

from .._params import keeps_fitted_state_on_failure, plain
from ..data.batching import length_mask
from ..layers import Dense
from ..losses import softmax_cross_entropy
from ..module import Module
from ._seqbase import (InputSpec, LabelledSequences, RecurrentEncoder, SequenceEstimator, as_labels, check_batch_size,
                       match_label_types, read_X)


class _TaggerNet(Module):
    def __init__(self, spec, n_classes, p, rng, dtype=np.float32):
        super().__init__()
        self.encoder = RecurrentEncoder(spec, p["embedding_dim"], p["cell"], p["hidden_size"], p["num_layers"],
                                        p["bidirectional"], p["dropout"], dtype, rng)
        self.head = Dense(self.encoder.rnn.output_size, n_classes, dtype=dtype, seed=rng)

    def forward(self, x, lengths, keep_cache=True):
        y, _ = self.encoder(x, lengths, keep_cache=keep_cache)     # (B, T, F)
        return self.head(y, keep_cache=keep_cache)                  # (B, T, C)

    __call__ = forward

    def backward(self, dlogits):
        self.encoder.backward(self.head.backward(dlogits))


class SequenceTagger(LabelledSequences, SequenceEstimator):
    """One label per step, scikit-learn style.

    ``X``: sequences of token ids or vectors (see :mod:`rnnkit.models._seqbase`);
    ``y``: a list of label sequences (any hashable labels, e.g. BIO strings),
    ``y[i]`` as long as ``X[i]``.  ``predict`` returns a list of label arrays;
    ``score`` is per-token accuracy; :meth:`f1_score` entity-level BIO F1.

    Arguments as :class:`SequenceClassifier` (no pooling); ``bidirectional``
    defaults to True.  Training controls and the input layout:

        early_stopping: None/False: off; an int: stop after that many epochs without a lower
            validation loss (True: 10), best weights restored (:mod:`rnnkit.callbacks`).
        validation_fraction: share of the training data held out for early stopping (or
            ``lr_schedule="plateau"``) when ``fit`` gets no ``validation_data``.
        lr_schedule: ``None``, ``"step"``, ``"cosine"`` or ``"plateau"`` (over ``epochs``).
        layout: how a 3-D array ``X`` holds its axes: ``"NTC"`` (rnnkit's: sequences, steps,
            features), ``"NCT"`` (aeon's and sktime's channels first, ``(N, C, T)``, and lists of
            ``(C, T_i)``), or ``None``: NTC, with a warning when an array looks channels first.
            sktime's nested DataFrames are read whatever it says (:mod:`rnnkit.data.panels`).
            ``y[i]`` holds one label per step ``T_i`` in either layout.
    """

    def __init__(self, cell="lstm", hidden_size=64, num_layers=1, bidirectional=True, embedding_dim=32,
                 dropout=0.0, standardize=True, epochs=20, batch_size=32, lr=1e-2, clip=5.0,
                 random_state=0, early_stopping=None, validation_fraction=0.1, lr_schedule=None,
                 layout=None, learning_rate="deprecated"):
        self.cell = cell
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
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

    def _build_net(self, rng):
        return _TaggerNet(self.spec_, len(self.classes_), self.get_params(), rng)

    def prepare(self, X, y, lengths=None, learn=False, n_tokens=None):
        """Sequences and per-step integer targets; ``learn`` takes the classes
        and input spec from this data (``n_tokens``: the vocabulary size of
        token-id inputs), changing the estimator only once every check passed."""
        seqs = read_X(X, lengths, layout=self.layout)
        if len(y) != len(seqs):
            raise ValueError(f"X holds {len(seqs)} sequences but y {len(y)} label sequences")
        as_labels([v for t in y for v in (t.tolist() if isinstance(t, np.ndarray) else list(t))])
        ys = [np.asarray(t) for t in y]
        for i, (s, t) in enumerate(zip(seqs, ys)):
            if t.ndim != 1 or len(t) != len(s):
                raise ValueError(f"y[{i}] has {len(t)} labels for {len(s)} steps; give one label per step")
        if learn:
            classes = np.unique(np.concatenate(ys))
            spec = InputSpec.learn(seqs, self.standardize, n_tokens)
        else:
            self._check_fitted()
            classes, spec = self.classes_, self.spec_
            ys = [match_label_types(classes, t) for t in ys]
        spec.check(seqs)
        targets = [self._encode_labels(t, classes) for t in ys]
        if learn:
            self.classes_, self.spec_, self.n_features_in_ = classes, spec, spec.n_in
        return {"seqs": seqs, "targets": targets, "lengths": np.array([len(s) for s in seqs])}

    def _encode_labels(self, t, classes=None):
        classes = self.classes_ if classes is None else classes
        pos = np.clip(np.searchsorted(classes, t), 0, len(classes) - 1)
        bad = classes[pos] != t
        if bad.any():
            raise ValueError(f"label {plain(t[bad][0])!r} was not seen in training; known labels: "
                             f"{', '.join(map(str, classes))}")
        return pos

    def _loss_backward(self, data, idx):
        x, lengths = self.spec_.batch([data["seqs"][i] for i in idx], np.float32)
        T = x.shape[1]
        targets = np.zeros((len(idx), T), np.int64)
        for r, i in enumerate(idx):
            targets[r, :lengths[r]] = data["targets"][i]
        logits = self.net_(x, lengths)
        loss, dlogits = softmax_cross_entropy(logits, targets, mask=length_mask(lengths, T))
        self.net_.backward(dlogits)
        return loss

    @keeps_fitted_state_on_failure
    def fit(self, X, y, lengths=None, validation_data=None, callbacks=None):
        """Train; ``validation_data`` and ``callbacks`` as :meth:`SequenceClassifier.fit`."""
        self._check_training_params()
        return self._fit_data(self.prepare(X, y, lengths, learn=True), validation_data, callbacks)

    def predict(self, X, lengths=None, batch_size=256):
        """A list of label arrays, one per sequence."""
        self._check_fitted()
        batch_size = check_batch_size(batch_size)
        seqs = self.spec_.check(read_X(X, lengths, layout=self.layout))
        self.net_.eval()
        out = []
        for i in range(0, len(seqs), batch_size):
            x, n = self.spec_.batch(seqs[i:i + batch_size], np.float32)
            pred = self.net_(x, n, keep_cache=False).argmax(-1)       # (B, T)
            out.extend(self.classes_[pred[r, :n[r]]] for r in range(len(n)))
        return out

    def score(self, X, y, lengths=None):
        """Per-token accuracy over all real steps."""
        pred = self.predict(X, lengths)
        return token_accuracy(y, pred)

    def f1_score(self, X, y, lengths=None):
        """Entity-level F1 of BIO tags (see :func:`bio_f1`)."""
        return bio_f1(y, self.predict(X, lengths))["f1"]


def _check_aligned(true, pred):
    """Refuse true and predicted tag lists that do not pair up one to one."""
    if len(true) != len(pred):
        raise ValueError(f"{len(true)} true tag sequences but {len(pred)} predicted; pass one per sequence")
    for i, (t, p) in enumerate(zip(true, pred)):
        if len(t) != len(p):
            raise ValueError(f"sequence {i}: {len(t)} true tags but {len(p)} predicted; each predicted tag "
                             "sequence must be as long as its true one")


def token_accuracy(true, pred):
    """Fraction of steps whose predicted tag is the true one."""
    true, pred = list(true), list(pred)
    _check_aligned(true, pred)
    t = np.concatenate([np.asarray(s) for s in true])
    p = np.concatenate([np.asarray(s) for s in pred])
    return float(np.mean(t == p))


def bio_spans(tags):
    """Entity spans ``{(type, start, end_exclusive)}`` of one BIO tag sequence.

    ``B-X`` opens an entity of type ``X``; ``I-X`` continues an open ``X``
    entity, and (as conlleval does) opens one when none of type ``X`` is open;
    ``O`` or any other tag closes the open entity.
    """
    spans, start, kind = set(), None, None
    for i, tag in enumerate(list(tags) + ["O"]):
        tag = str(tag)
        prefix, _, typ = tag.partition("-")
        continues = prefix == "I" and kind == typ
        if start is not None and not continues:
            spans.add((kind, start, i))
            start, kind = None, None
        if prefix == "B" or (prefix == "I" and not continues):
            start, kind = i, typ
    return spans


def bio_f1(true, pred):
    """Entity-level precision, recall and F1 over sequences of BIO tags: an
    entity counts as found only when its type and both ends match exactly.
    Returns ``{"precision", "recall", "f1", "true", "pred", "correct"}``."""
    true, pred = list(true), list(pred)
    _check_aligned(true, pred)
    n_true = n_pred = n_ok = 0
    for t, p in zip(true, pred):
        st, sp = bio_spans(t), bio_spans(p)
        n_true += len(st)
        n_pred += len(sp)
        n_ok += len(st & sp)
    prec = n_ok / n_pred if n_pred else 0.0
    rec = n_ok / n_true if n_true else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"precision": prec, "recall": rec, "f1": f1, "true": n_true, "pred": n_pred, "correct": n_ok}
