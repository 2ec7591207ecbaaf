"""Feed-forward building blocks that sit around recurrent layers.

Each layer keeps what its backward pass needs from the last forward call, and
``backward`` fills ``grads`` (overwriting) and returns the input gradient.
"""
from __future__ import annotations

import numpy as np

from ._checks import as_dtype, positive_int, probability
from .init import glorot_uniform
from . import threads
from .module import Module
from .tokens import sum_rows_by_id


def check_token_ids(ids, V, who):
    """``ids`` as an integer array with values in ``[0, V)``, or a one-line
    error naming the problem (``who``: the layer, for the message)."""
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu":
        raise ValueError(f"{who} expects integer token ids, got dtype {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= V):
        raise ValueError(f"token id out of range [0, {V}): min {ids.min()}, max {ids.max()}; "
                         "check the vocabulary matches the model")
    return ids


class Embedding(Module):
    """Lookup table ``y[...] = weight[ids[...]]``.

    ``weight`` ``(V, E)``; ids of any shape ``S`` give ``(*S, E)``.  Rows of
    ``padding_idx`` start at zero and receive no gradient, as in PyTorch.
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, *, dtype=np.float32, seed=None):
        super().__init__()
        self.num_embeddings = positive_int("num_embeddings", num_embeddings)
        self.embedding_dim = positive_int("embedding_dim", embedding_dim)
        if padding_idx is not None:                      # PyTorch's rule: -V <= padding_idx < V, negatives from the end
            if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)) or not (
                    -self.num_embeddings <= padding_idx < self.num_embeddings):
                raise ValueError(f"padding_idx must be an integer in [-{self.num_embeddings}, "
                                 f"{self.num_embeddings}), got {padding_idx!r}")
            padding_idx = int(padding_idx) % self.num_embeddings
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
        return check_token_ids(ids, self.num_embeddings, "Embedding")

    def forward(self, ids):
        ids = self.check_ids(ids)
        self._ids = ids
        return self.params["weight"][ids]

    __call__ = forward

    def backward(self, dy):
        if self._ids is None:
            raise RuntimeError("Embedding.backward() needs a forward pass first")
        dy2 = np.asarray(dy, self.dtype).reshape(-1, self.embedding_dim)
        self.set_grad(sum_rows_by_id(self._ids, dy2, self.num_embeddings))
        return None

    def set_grad(self, g):
        """``grads["weight"] = g`` ``(V, E)``, with the padding row's gradient zeroed
        (also how :class:`rnnkit.Recurrent` hands back the gradient of an embedding it folded)."""
        if self.padding_idx is not None:
            g[self.padding_idx] = 0
        self.grads["weight"] = g


class OneHot(Module):
    """Token ids as one-hot vectors, ``y[...] = eye(V)[ids[...]]`` (the seeds'
    character models); no parameters.  ``layer(ids, embedding=OneHot(V))``
    (:class:`rnnkit.Recurrent`) folds it into the layer's input projection:
    ``W_ih`` one-hot is a lookup of ``W_ih``'s columns (:mod:`rnnkit.tokens`)."""

    def __init__(self, num_classes, *, dtype=np.float32):
        super().__init__()
        self.num_embeddings = self.embedding_dim = positive_int("num_classes", num_classes)
        self.dtype = as_dtype(dtype)

    def check_ids(self, ids):
        return check_token_ids(ids, self.num_embeddings, "OneHot")

    def forward(self, ids):
        return np.eye(self.num_embeddings, dtype=self.dtype)[self.check_ids(ids)]

    __call__ = forward

    def backward(self, dy):
        return None


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

    def forward(self, x, keep_cache=True):
        """``y = x W.T + b`` over the last axis.  ``backward`` reads this ``x``
        (kept, not copied: do not change it in between); ``keep_cache=False``
        (an inference pass) leaves the last kept one in place."""
        x = np.asarray(x, dtype=self.dtype)
        if x.shape[-1] != self.in_features:
            raise ValueError(f"Dense expects {self.in_features} input features, got {x.shape[-1]}")
        # one matrix product over all leading axes (a 3-D @ 2-D matmul would be one product per step),
        # with the rows in x's memory order, so that a transposed view (a batch-first view of a
        # time-major output) is not copied; y comes back in the same order
        order, x2 = _rows_in_memory_order(x)
        y2 = threads.matmul(x2, self.params["weight"].T)           # rows at once on rnnkit's split
        if "bias" in self.params:
            y2 += self.params["bias"]
        if keep_cache:
            self._x, self._order = x2, order
        return _unflatten(y2, x.shape[:-1], order)

    __call__ = forward

    def backward(self, dy):
        if self._x is None:
            raise RuntimeError("Dense.backward() needs a forward pass first")
        dy = np.asarray(dy, self.dtype)
        dy2 = _flatten_as(dy, self._order)                          # (N, O), rows in the order of forward's x
        self.grads["weight"] = threads.matmul(dy2.T, self._x)
        if "bias" in self.params:
            self.grads["bias"] = dy2.sum(axis=0)
        return _unflatten(threads.matmul(dy2, self.params["weight"]), dy.shape[:-1], self._order)


def _rows_in_memory_order(a):
    """``(order, a2)``: the leading axes of ``a`` sorted by decreasing stride
    (``order``, the last axis kept last) and ``a.transpose(order)`` as ``(N, F)``
    rows, a view whenever that transpose is C-contiguous (otherwise a copy in
    C order)."""
    order = (*sorted(range(a.ndim - 1), key=lambda i: -a.strides[i]), a.ndim - 1)
    return order, _flatten_as(a, order)


def _flatten_as(a, order):
    """``a``'s rows as ``(N, F)`` in the row order of :func:`_rows_in_memory_order`'s ``order``."""
    return np.ascontiguousarray(a.transpose(order)).reshape(-1, a.shape[-1])


def _unflatten(a2, lead_shape, order):
    """Inverse of :func:`_flatten_as`: ``(N, F)`` rows back to ``(*lead_shape, F)``
    (a transposed view of ``a2``)."""
    shape = tuple(lead_shape[i] for i in order[:-1]) + (a2.shape[-1],)
    return a2.reshape(shape).transpose(np.argsort(order))


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
        if x.dtype.kind != "f":
            raise ValueError(f"Dropout needs floating-point input, got dtype {x.dtype}; cast it first "
                             "(x.astype(np.float32))")
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
