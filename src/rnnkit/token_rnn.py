"""``TokenRNN``: token ids -> (embedding or one-hot) -> recurrent stack -> dense
logits.  The network under the seeds' character model and the language model.

    ids (B, T) -> e (B, T, E) -> h (B, T, H') -> logits (B, T, V)
"""
from __future__ import annotations

import numpy as np

from .layers import Dense, Embedding, OneHot
from .losses import softmax
from .module import Module
from .registry import build_layer, check_cell


class TokenRNN(Module):
    """Next-token network.

    Arguments:
        vocab_size: number of token ids ``V``.
        hidden_size, num_layers, cell (a name of :mod:`rnnkit.registry`: ``"lstm"``,
            ``"gru"``, ``"rnn"``, ``"sgru"``, ...; kept as ``cell``).
        embedding_dim: ``E``; 0 feeds one-hot vectors (the seeds' setting).
        dropout, recurrent_dropout: as in :class:`rnnkit.Recurrent`.
        init, dtype, seed: as in :class:`rnnkit.Recurrent`.
    """

    def __init__(self, vocab_size, hidden_size=128, num_layers=1, cell="lstm", embedding_dim=0,
                 dropout=0.0, recurrent_dropout=0.0, init="default", dtype=np.float32, seed=None):
        super().__init__()
        self.cell = check_cell(cell)
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self.vocab_size, self.embedding_dim = int(vocab_size), int(embedding_dim)
        self.dtype = np.dtype(dtype)
        self.embed = Embedding(vocab_size, embedding_dim, dtype=dtype, seed=rng) if embedding_dim else None
        in_size = embedding_dim or vocab_size
        self.rnn = build_layer(cell, in_size, hidden_size, num_layers, batch_first=True, dropout=dropout,
                               recurrent_dropout=recurrent_dropout, init=init, dtype=dtype, seed=rng)
        self.head = Dense(self.rnn.output_size, vocab_size, dtype=dtype, seed=rng)

    def _tokens(self):
        """The layer that turns ids into the first layer's input: the embedding, or one-hot vectors."""
        return self.embed if self.embed is not None else OneHot(self.vocab_size, dtype=self.dtype)

    def _inputs(self, ids):
        """The first layer's input vectors for ``ids`` (the lookup done, not folded)."""
        return self._tokens()(ids)

    def forward(self, ids, state=None, keep_cache=True):
        """``ids`` ``(B, T)`` ints -> ``(logits (B, T, V), state)``."""
        # the lookup (or the one-hot vectors) folded into the first layer's input projection (rnnkit.tokens)
        h, state = self.rnn.forward(ids, state, keep_cache=keep_cache, embedding=self._tokens())
        return self.head(h, keep_cache=keep_cache), state

    __call__ = forward

    def backward(self, dlogits):
        """Fill ``grads`` from the gradient of the loss w.r.t. the logits."""
        dh = self.head.backward(dlogits)
        self.rnn.backward(dh, input_grad=False)          # with an embedding, fills its grads too

    def sample(self, prime, length, temperature=1.0, top_k=None, rng=None, state=None, banned=()):
        """Generate ``length`` token ids after feeding ``prime`` (a non-empty list
        of ids).  Sampling from ``softmax(logits / temperature)``, optionally
        restricted to the ``top_k`` most likely tokens; ``temperature=0`` is greedy;
        ids in ``banned`` are never drawn."""
        if len(prime) == 0:
            raise ValueError("prime must hold at least one token")
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        training = self.training
        self.eval()
        try:
            logits, state = self.forward(np.asarray(prime)[None, :], state, keep_cache=False)
            last = logits[0, -1]
            out = []
            for _ in range(length):
                tok = pick_token(last, temperature, top_k, rng, banned)
                out.append(tok)
                logits, state = self.forward(np.array([[tok]]), state, keep_cache=False)
                last = logits[0, -1]
        finally:
            self.train(training)
        return out


def pick_token(logits, temperature=1.0, top_k=None, rng=None, banned=()):
    """One token id drawn from ``logits`` ``(V,)`` with temperature and top-k,
    never one of ``banned``."""
    logits = np.array(logits, dtype=np.float64)
    if len(banned):
        logits[list(banned)] = -np.inf
    if temperature <= 0:
        return int(np.argmax(logits))
    z = logits / temperature
    if top_k is not None and 0 < top_k < z.size:
        cut = np.partition(z, -top_k)[-top_k]
        z = np.where(z >= cut, z, -np.inf)
    p = softmax(z)
    return int(rng.choice(z.size, p=p))
