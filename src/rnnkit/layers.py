"""Feed-forward building blocks that sit around recurrent layers.

Each layer keeps what its backward pass needs from the last forward call, and
``backward`` fills ``grads`` (overwriting) and returns the input gradient.
"""
from __future__ import annotations

import numpy as np

from ._checks import as_dtype, positive_int, probability
from .init import glorot_uniform
from .module import Module
from .tokens import sum_rows_by_id


class Embedding(Module):
    """Lookup table ``y[...] = weight[ids[...]]``.

    ``weight`` ``(V, E)``; ids of any shape ``S`` give ``(*S, E)``.  Rows of
    ``padding_idx`` start at zero and receive no gradient, as in PyTorch.
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, *, dtype=np.float32, seed=None):
        super().__init__()
        self.num_embeddings = positive_int("num_embeddings", num_embeddings)
        self.embedding_dim = positive_int("embedding_dim", embedding_dim)
        self.padding_idx = padding_idx
        self.dtype = as_dtype(dtype)
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        w = rng.standard_normal((self.num_embeddings, self.embedding_dim)).astype(self.dtype)
        if padding_idx is not None:
            w[padding_idx] = 0
        self.params["weight"] = w
        self.zero_grad()
        self._ids = None

    def check_ids(self, ids):
        """``ids`` as an integer array, or a one-line error naming the problem."""
        ids = np.asarray(ids)
        if ids.dtype.kind not in "iu":
            raise ValueError(f"Embedding expects integer token ids, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_embeddings):
            raise ValueError(f"token id out of range [0, {self.num_embeddings}): min {ids.min()}, max {ids.max()}; "
                             "check the vocabulary matches the model")
        return ids

    def forward(self, ids):
        ids = self.check_ids(ids)
        self._ids = ids
        return self.params["weight"][ids]

    __call__ = forward

    def backward(self, dy):
        dy2 = np.asarray(dy, self.dtype).reshape(-1, self.embedding_dim)
        self.set_grad(sum_rows_by_id(self._ids, dy2, self.num_embeddings))
        return None

    def set_grad(self, g):
        """``grads["weight"] = g`` ``(V, E)``, with the padding row's gradient zeroed
        (also how :class:`rnnkit.Recurrent` hands back the gradient of an embedding it folded)."""
        if self.padding_idx is not None:
            g[self.padding_idx] = 0
        self.grads["weight"] = g


class Dense(Module):
    """Affine map on the last axis, ``y = x @ weight.T + bias``; applied to every
    time step at once (time-distributed).  ``weight`` ``(O, I)``, ``bias`` ``(O,)``."""

    def __init__(self, in_features, out_features, bias=True, *, dtype=np.float32, seed=None):
        super().__init__()
        self.in_features = positive_int("in_features", in_features)
        self.out_features = positive_int("out_features", out_features)
        self.dtype = as_dtype(dtype)
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self.params["weight"] = glorot_uniform(rng, self.out_features, self.in_features, self.dtype)
        if bias:
            self.params["bias"] = np.zeros(self.out_features, self.dtype)
        self.zero_grad()
        self._x = None

    def forward(self, x):
        x = np.asarray(x, dtype=self.dtype)
        if x.shape[-1] != self.in_features:
            raise ValueError(f"Dense expects {self.in_features} input features, got {x.shape[-1]}")
        self._x = x
        # one matrix product over all leading axes (a 3-D @ 2-D matmul would be one product per step)
        y = (x.reshape(-1, self.in_features) @ self.params["weight"].T).reshape(*x.shape[:-1], self.out_features)
        if "bias" in self.params:
            y += self.params["bias"]
        return y

    __call__ = forward

    def backward(self, dy):
        x2 = self._x.reshape(-1, self.in_features)                  # (N, I)
        dy2 = np.asarray(dy, self.dtype).reshape(-1, self.out_features)  # (N, O)
        self.grads["weight"] = dy2.T @ x2
        if "bias" in self.params:
            self.grads["bias"] = dy2.sum(axis=0)
        return (dy2 @ self.params["weight"]).reshape(*np.shape(dy)[:-1], self.in_features)


class Dropout(Module):
    """Inverted dropout: in training, zero each element with probability ``p``
    and scale the rest by ``1/(1-p)``; the identity in evaluation mode."""

    def __init__(self, p=0.5, *, seed=None):
        super().__init__()
        self.p = probability("p", p)
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self._mask = None

    def forward(self, x, mask=None):
        x = np.asarray(x)
        if not self.training or self.p == 0:
            self._mask = None
            return x
        if mask is None:
            keep = 1.0 - self.p
            mask = (self.rng.random(x.shape) < keep).astype(x.dtype) / x.dtype.type(keep)
        self._mask = mask
        return x * mask

    __call__ = forward

    def backward(self, dy):
        return dy if self._mask is None else dy * self._mask
