"""``OneToMany``: a token sequence generated from one input vector, which sets
the decoder's initial state (as in image captioning).

    v (B, D) -> s = tanh(v W^T + b) (B, L*S*H) -> initial state (L, B, H) [LSTM: (h, c)]
    decoder as in :class:`~rnnkit.models.Seq2Seq`: <bos>, teacher forcing, stops at <eos>
"""
from __future__ import annotations

import numpy as np

from .._params import keeps_fitted_state_on_failure
from ..layers import Dense
from ..module import Module
from ..registry import state_count
from ._seqbase import SequenceEstimator
from .decoder import Decoder, check_beam, check_targets, exact_match, learn_targets, output_limit


class _OneToManyNet(Module):
    def __init__(self, n_in, n_out, p, rng, n_states, dtype=np.float32):
        super().__init__()
        self.L, self.S, self.H = p["num_layers"], n_states, p["hidden_size"]
        self.bridge = Dense(n_in, self.L * self.S * self.H, dtype=dtype, seed=rng)
        self.decoder = Decoder(n_out + 2, p["embedding_dim"], p["cell"], p["hidden_size"], p["num_layers"],
                               p["dropout"], rng, dtype)

    def state0(self, v):
        z = np.tanh(self.bridge(v))                                 # (B, L*S*H)
        self._z = z
        s = z.reshape(len(v), self.S, self.L, self.H).transpose(1, 2, 0, 3)   # (S, L, B, H)
        return (s[0], s[1]) if self.S == 2 else s[0]

    def state0_backward(self, dstate):
        parts = dstate if self.S == 2 else (dstate,)
        ds = np.stack([np.zeros_like(parts[0]) if p is None else p for p in parts])   # (S, L, B, H)
        dz = ds.transpose(2, 0, 1, 3).reshape(self._z.shape)
        self.bridge.backward(dz * (1.0 - self._z ** 2))


class OneToMany(SequenceEstimator):
    """Generate a token id sequence from one vector, scikit-learn style.

    ``X`` ``(N, D)`` real vectors; ``y`` a list of token id sequences (ints ``>= 0``).
    ``predict`` returns a list of id arrays (greedy, or beam search with
    ``beam_size > 1``); ``score`` is exact-match accuracy.  Training controls
    (``early_stopping``, ``validation_fraction``, ``lr_schedule``) as
    :class:`~rnnkit.models.SequenceClassifier` takes them.
    """

    def __init__(self, cell="lstm", hidden_size=64, num_layers=1, embedding_dim=16, dropout=0.0, beam_size=1,
                 max_length=None, epochs=50, batch_size=32, lr=5e-3, clip=5.0, random_state=0,
                 early_stopping=None, validation_fraction=0.1, lr_schedule=None,
                 learning_rate="deprecated"):
        self.cell = cell
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.embedding_dim = embedding_dim
        self.dropout = dropout
        self.beam_size = beam_size
        self.max_length = max_length
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.clip = clip
        self.random_state = random_state
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.lr_schedule = lr_schedule
        self.learning_rate = learning_rate

    def _build_net(self, rng):
        return _OneToManyNet(self.n_features_in_, self.n_targets_, self.get_params(), rng,
                             state_count(self.cell))

    def _learned(self):
        return {"n_features": self.n_features_in_, "n_targets": self.n_targets_, "max_target": self.max_target_}

    def _set_learned(self, d):
        self.n_features_in_, self.n_targets_ = int(d["n_features"]), int(d["n_targets"])
        self.max_target_ = int(d["max_target"])

    def _vectors(self, X):
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2:
            raise ValueError(f"X has shape {X.shape}; pass one vector per example, (N, D)")
        if hasattr(self, "n_features_in_") and X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features but the model was trained on {self.n_features_in_}")
        if not np.isfinite(X).all():
            raise ValueError("X contains NaN or Inf")
        return X

    @keeps_fitted_state_on_failure
    def fit(self, X, y, validation_data=None, callbacks=None):
        """Train on vectors ``X`` ``(N, D)`` and target id sequences ``y``; a
        failed check leaves a fitted estimator as it was.  ``validation_data``
        ``(X_val, y_val)`` and ``callbacks`` as :meth:`SequenceClassifier.fit`."""
        self._check_training_params()
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2:
            raise ValueError(f"X has shape {X.shape}; pass one vector per example, (N, D)")
        if not np.isfinite(X).all():
            raise ValueError("X contains NaN or Inf")
        if len(X) == 0:
            raise ValueError("X holds no vectors; pass at least one")
        ys = check_targets(y, len(X), "vectors")
        n_targets, longest = learn_targets(ys)
        self.n_features_in_, self.n_targets_, self.max_target_ = X.shape[1], n_targets, longest
        return self._fit_data(self._data(X, ys), validation_data, callbacks)

    @staticmethod
    def _data(X, ys):
        return {"X": X, "targets": ys, "lengths": np.array([len(t) for t in ys])}

    def _prepare_validation(self, validation_data):
        X, y = validation_data
        X = self._vectors(X)
        ys = check_targets(y, len(X), "vectors")
        for i, t in enumerate(ys):
            if t.size and t.max() >= self.n_targets_:
                raise ValueError(f"validation_data: y[{i}] holds target id {t.max()} outside the model's "
                                 f"{self.n_targets_} target tokens")
        return self._data(X, ys)

    def _loss_backward(self, data, idx):
        state = self.net_.state0(data["X"][idx])
        loss, dstate = self.net_.decoder.loss_backward(state, [data["targets"][i] for i in idx])
        self.net_.state0_backward(dstate)
        return loss

    def predict(self, X, beam_size=None, max_length=None):
        self._check_fitted()
        X = self._vectors(X)
        if len(X) == 0:
            raise ValueError("X holds no vectors; pass at least one")
        self.net_.eval()
        beam = check_beam(self.beam_size if beam_size is None else beam_size)
        limit = output_limit(self.max_length if max_length is None else max_length, 2 * self.max_target_ + 5)
        return self.net_.decoder.decode(self.net_.state0(X), limit, beam)

    def score(self, X, y):
        return exact_match(y, self.predict(X))
