"""Attention over a sequence of encoder outputs: additive (Bahdanau, Cho and
Bengio 2015) and multiplicative (Luong, Pham and Manning 2015: "general" and
"dot").

A decoder's queries ``q_t`` (its states, ``(B, T, H)``: ``T`` decoder steps
at once, or one) read the encoder's outputs ``m_s`` (the memory, ``(B, S, E)``),
of which only the live source steps count (``mask`` ``(B, S)``, from the
sources' lengths)::

    keys     k_s = W_k m_s + b_k                 additive   (B, S, A)
             k_s = W_a m_s                       general    (B, S, H)
             k_s = m_s                           dot        (B, S, E), needs E = H
    scores   e_ts = v · tanh(W_q q_t + k_s)      additive   (B, T, S)
             e_ts = q_t · k_s                    general, dot
    weights  α_ts = exp(e_ts) / Σ_{s' live} exp(e_ts')    live s; exactly 0 on padded s
    context  c_t = Σ_s α_ts m_s                  (B, T, E)

The keys depend on the memory alone: :meth:`Attention.memory` computes them
once per batch of sources, and every decoder step reads them
(:meth:`Attention.forward`).  The backward pass, from ``dc_t``::

    dα_ts = dc_t · m_s                    dm_s = Σ_t α_ts dc_t  (+ the keys' part)
    de_ts = α_ts (dα_ts − Σ_s' α_ts' dα_ts')            softmax; 0 on padded s
    general, dot:  dq_t = Σ_s de_ts k_s,     dk_s = Σ_t de_ts q_t
    additive:      z_ts = tanh(W_q q_t + k_s),  g_ts = de_ts v ∘ (1 − z_ts²)   (B, T, S, A)
                   dv = Σ_bts de_ts z_ts,  dW_q = Σ_bt (Σ_s g_ts) q_tᵀ,
                   dq_t = W_qᵀ Σ_s g_ts,   dk_s = Σ_t g_ts
    keys:          dW_k = Σ_bs dk_s m_sᵀ,  db_k = Σ_bs dk_s,  dm_s += W_kᵀ dk_s
                   (general: W_a, no bias; dot: dm_s += dk_s)

:meth:`Attention.backward` takes one forward pass's cache (a decoder that
runs step by step calls it once per step) and returns the parameter
gradients instead of storing them; :meth:`Attention.memory_backward` adds the
keys' part, and :meth:`Attention.set_grads` stores the sum.  Parameters:
additive ``query_weight`` ``(A, H)``, ``key_weight`` ``(A, E)``, ``key_bias``
``(A,)``, ``score_weight`` ``(A,)`` (``v``); general ``weight`` ``(H, E)``;
dot none.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._checks import as_dtype, choice, positive_int
from .data.batching import length_mask
from .init import glorot_uniform
from .module import Module

SCORES = ("additive", "general", "dot")


class Memory(NamedTuple):
    """Encoder outputs as attention reads them: ``values`` ``(B, S, E)``, their
    ``keys`` ``(B, S, K)`` and ``mask`` ``(B, S)``, True on live source steps."""

    values: np.ndarray
    keys: np.ndarray
    mask: np.ndarray

    def take(self, rows):
        """The memory of the sequences ``rows`` (an index array), in that order."""
        return Memory(self.values[rows], self.keys[rows], self.mask[rows])


def masked_softmax(e, mask):
    """``softmax`` of scores ``e`` ``(B, T, S)`` over the live steps of ``mask``
    ``(B, S)``; padded steps get weight exactly 0."""
    e = np.where(mask[:, None, :], e, -np.inf)
    e = e - e.max(axis=-1, keepdims=True)
    a = np.exp(e)                                               # exp(-inf) = 0 on padded steps
    return a / a.sum(axis=-1, keepdims=True)


class Attention(Module):
    """Scores of one kind (``"additive"``, ``"general"``, ``"dot"``) between
    queries of width ``query_size`` and a memory of width ``memory_size``;
    ``attention_size`` (``A``, additive only) defaults to ``query_size``."""

    def __init__(self, score, query_size, memory_size, attention_size=None, *, dtype=np.float32, seed=None):
        super().__init__()
        self.score = choice("score", score, SCORES)
        self.query_size = positive_int("query_size", query_size)
        self.memory_size = positive_int("memory_size", memory_size)
        self.dtype = as_dtype(dtype)
        if score == "dot" and self.query_size != self.memory_size:
            raise ValueError(f"dot attention needs encoder outputs as wide as the decoder state; got "
                             f"{self.memory_size} and {self.query_size} (a bidirectional encoder that "
                             "concatenates doubles it): use general or additive attention, or a merge "
                             "mode that keeps the width (sum, mean, mul)")
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        H, E = self.query_size, self.memory_size
        if score == "additive":
            A = positive_int("attention_size", attention_size or H)
            self.params["query_weight"] = glorot_uniform(rng, A, H, self.dtype)
            self.params["key_weight"] = glorot_uniform(rng, A, E, self.dtype)
            self.params["key_bias"] = np.zeros(A, self.dtype)
            self.params["score_weight"] = glorot_uniform(rng, 1, A, self.dtype)[0]
        elif score == "general":
            self.params["weight"] = glorot_uniform(rng, H, E, self.dtype)
        self.zero_grad()

    # -- the memory and its keys --------------------------------------------------------------
    def memory(self, values, lengths=None):
        """A :class:`Memory` of encoder outputs ``values`` ``(B, S, E)`` and the
        sources' ``lengths`` ``(B,)`` (``None``: all ``S`` steps live)."""
        values = np.asarray(values, self.dtype)
        if values.ndim != 3 or values.shape[2] != self.memory_size:
            raise ValueError(f"the memory must be (B, S, {self.memory_size}), got shape {values.shape}")
        B, S, _ = values.shape
        mask = np.ones((B, S), bool) if lengths is None else length_mask(lengths, S)
        if not mask[:, 0].all():
            raise ValueError("every source needs at least one live step (lengths >= 1)")
        P = self.params
        if self.score == "additive":
            keys = values @ P["key_weight"].T + P["key_bias"]      # (B, S, A)
        elif self.score == "general":
            keys = values @ P["weight"].T                          # (B, S, H)
        else:
            keys = values                                          # (B, S, E)
        return Memory(values, keys, mask)

    def memory_backward(self, memory, dvalues, dkeys):
        """``(dvalues, grads)``: the gradient w.r.t. the memory's values, given
        ``dvalues`` (their direct part) and ``dkeys`` ``(B, S, K)``, and the keys'
        parameter gradients."""
        P, m = self.params, memory.values
        flat_dk = dkeys.reshape(-1, dkeys.shape[-1])               # (B*S, K)
        flat_m = m.reshape(-1, m.shape[-1])                        # (B*S, E)
        if self.score == "additive":
            grads = {"key_weight": flat_dk.T @ flat_m, "key_bias": flat_dk.sum(axis=0)}
            return dvalues + dkeys @ P["key_weight"], grads
        if self.score == "general":
            return dvalues + dkeys @ P["weight"], {"weight": flat_dk.T @ flat_m}
        return dvalues + dkeys, {}

    # -- one pass -----------------------------------------------------------------------------
    def forward(self, query, memory, keep_cache=True):
        """``(context (B, T, E), weights (B, T, S), cache)`` for queries ``(B, T, H)``
        (``cache`` is ``None`` without ``keep_cache``)."""
        q = np.asarray(query, self.dtype)
        if q.ndim != 3 or q.shape[2] != self.query_size:
            raise ValueError(f"the query must be (B, T, {self.query_size}), got shape {q.shape}")
        k = memory.keys
        z = None
        if self.score == "additive":
            qp = q @ self.params["query_weight"].T                 # (B, T, A)
            z = np.tanh(qp[:, :, None, :] + k[:, None, :, :])     # (B, T, S, A)
            e = z @ self.params["score_weight"]                    # (B, T, S)
        else:
            e = q @ k.transpose(0, 2, 1)                           # (B, T, S)
        a = masked_softmax(e, memory.mask)                         # (B, T, S)
        c = a @ memory.values                                      # (B, T, E)
        cache = (q, memory, a, z) if keep_cache else None
        return c, a, cache

    def backward(self, cache, dcontext):
        """BPTT through one :meth:`forward` pass: ``(dquery (B, T, H), dvalues
        (B, S, E), dkeys (B, S, K), grads)``; ``grads`` holds the gradients of the
        query-side parameters (the keys' come from :meth:`memory_backward`)."""
        q, memory, a, z = cache
        dc = np.asarray(dcontext, self.dtype)                      # (B, T, E)
        dvalues = a.transpose(0, 2, 1) @ dc                        # (B, S, E)
        da = dc @ memory.values.transpose(0, 2, 1)                 # (B, T, S)
        de = a * (da - (a * da).sum(axis=-1, keepdims=True))       # (B, T, S), 0 where a = 0
        if self.score != "additive":
            dq = de @ memory.keys                                  # (B, T, H)
            dkeys = de.transpose(0, 2, 1) @ q                      # (B, S, H)
            return dq, dvalues, dkeys, {}
        P = self.params
        v = P["score_weight"]
        g = de[..., None] * v * (1.0 - z * z)                      # (B, T, S, A)
        dqp = g.sum(axis=2)                                        # (B, T, A)
        A, H = P["query_weight"].shape
        grads = {"score_weight": np.einsum("bts,btsa->a", de, z),
                 "query_weight": dqp.reshape(-1, A).T @ q.reshape(-1, H)}
        return dqp @ P["query_weight"], dvalues, g.sum(axis=1), grads

    def set_grads(self, *parts):
        """``grads`` = the sum of the gradient dicts ``parts`` (zeros for a
        parameter none of them holds)."""
        self.grads = {k: sum((p[k] for p in parts if k in p), np.zeros_like(v)) for k, v in self.params.items()}

    def __repr__(self):
        return f"Attention({self.score!r}, {self.query_size}, {self.memory_size})"
