"""The decoder of the encoder-decoder and the one-to-many model: a recurrent
layer over the previous token's embedding, a dense head, teacher forcing in
training, greedy or beam decoding; and what both models check of targets.

    state_0 (L, B, H)  ->  h_t = RNN(embed(y_{t-1}), h_{t-1})  ->  logits_t = Dense(h_t)

Target ids are shifted inside the models: ``<bos>`` = 0 (input only),
``<eos>`` = 1, a user token ``k`` is class ``k + 2``.
"""
from __future__ import annotations

import numpy as np

from ..data.batching import length_mask, pad
from ..layers import Dense, Embedding
from ..losses import log_softmax, softmax_cross_entropy
from ..module import Module
from ..registry import build_layer, check_cell
from .sampling import mixed_inputs

BOS, EOS, SHIFT = 0, 1, 2


def check_targets(y, n_inputs, what="sequences"):
    """Target id sequences as int64 arrays: 1-D, non-negative integers, one per
    input, not all empty."""
    ys = [np.asarray(t) for t in y]
    if len(ys) != n_inputs:
        raise ValueError(f"X holds {n_inputs} {what} but y {len(ys)} targets")
    for i, t in enumerate(ys):
        if t.ndim != 1 or (t.size and (t.dtype.kind not in "iu" or t.min() < 0)):
            raise ValueError(f"y[{i}] must be a 1-D sequence of non-negative integer token ids")
    return [t.astype(np.int64) for t in ys]


def learn_targets(ys, n_targets=None):
    """``(n_targets, max_target)`` of training targets; refuses all-empty ones."""
    if not any(t.size for t in ys):
        raise ValueError("every target sequence in y is empty; give at least one non-empty target")
    top = max(int(t.max()) + 1 for t in ys if t.size)
    return max(top, n_targets or 0), max(len(t) for t in ys)


def output_limit(max_length, default):
    """The longest output: ``max_length`` when given (0 allowed), else ``default``."""
    limit = default if max_length is None else max_length
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 0:
        raise ValueError(f"max_length must be a non-negative integer, got {limit!r}")
    return int(limit)


def check_beam(beam_size):
    if isinstance(beam_size, bool) or not isinstance(beam_size, (int, np.integer)) or beam_size < 1:
        raise ValueError(f"beam_size must be a positive integer (1 = greedy), got {beam_size!r}")
    return int(beam_size)


def banned_classes(exclude_ids, n_classes):
    """Decoder classes never to output: ``<bos>`` and the user ids ``exclude_ids``."""
    ids = [BOS] + [int(k) + SHIFT for k in (() if exclude_ids is None else exclude_ids)
                   if 0 <= int(k) + SHIFT < n_classes]
    return np.array(sorted(set(ids)), np.int64)


class Decoder(Module):
    """Token decoder from a given initial state: embedding -> RNN -> Dense.
    Shared by :class:`Seq2Seq` and :class:`~rnnkit.models.OneToMany`."""

    def __init__(self, n_classes, embedding_dim, cell, hidden_size, num_layers, dropout, rng, dtype=np.float32,
                 extra_input=0):
        super().__init__()
        check_cell(cell)
        self.embed = Embedding(n_classes, embedding_dim, dtype=dtype, seed=rng)
        self.rnn = build_layer(cell, embedding_dim + extra_input, hidden_size, num_layers, batch_first=True,
                               dropout=dropout, dtype=dtype, seed=rng)
        self.head = Dense(hidden_size, n_classes, dtype=dtype, seed=rng)

    @staticmethod
    def teacher_batch(targets):
        """Shifted decoder inputs, outputs and lengths for user-id ``targets``."""
        ins = [np.concatenate([[BOS], np.asarray(t, np.int64) + SHIFT]) for t in targets]
        outs = [np.concatenate([np.asarray(t, np.int64) + SHIFT, [EOS]]) for t in targets]
        x, n = pad(ins, BOS, np.int64)
        y, _ = pad(outs, EOS, np.int64)
        return x, y, n

    def loss_backward(self, state0, targets, sampling=None):
        """Teacher-forced cross-entropy over real steps; fills grads, returns
        ``(loss, dstate0)``.  ``sampling``: ``(p_teacher, rng)`` for scheduled
        sampling (:func:`~rnnkit.models.sampling.mixed_inputs`), ``None``: teacher forcing."""
        x, y, n = self.teacher_batch(targets)
        if sampling is not None:
            x = mixed_inputs(self._step, state0, x, *sampling)
        h, _ = self.rnn.forward(x, state0, lengths=n, embedding=self.embed)   # (B, T, H)
        logits = self.head(h)                                       # (B, T, C)
        loss, dlogits = softmax_cross_entropy(logits, y, mask=length_mask(n, x.shape[1]))
        _, dstate0 = self.rnn.backward(self.head.backward(dlogits), input_grad=False)   # fills self.embed.grads too
        return loss, dstate0

    def _step(self, tokens, state):
        y, state = self.rnn.step(self.embed(tokens), state)         # (B, H)
        return log_softmax(self.head(y, keep_cache=False).astype(np.float64)), state  # (B, C)

    @staticmethod
    def _batch_size(state):
        """The number of sequences a decoding state holds."""
        return (state[0] if isinstance(state, tuple) else state).shape[1]

    @staticmethod
    def _take(state, rows):
        """The decoding state of the sequences ``rows`` (an index array), in that order."""
        return tuple(a[:, rows] for a in state) if isinstance(state, tuple) else state[:, rows]

    def greedy(self, state, max_length, banned=(BOS,)):
        """Most likely token at each step, for the whole batch at once; classes
        in ``banned`` are never chosen."""
        B = self._batch_size(state)
        if max_length == 0:
            return [np.zeros(0, np.int64) for _ in range(B)]
        tok = np.full(B, BOS, np.int64)
        out, done = [], np.zeros(B, bool)
        for _ in range(max_length):
            logp, state = self._step(tok, state)
            logp[:, banned] = -np.inf
            tok = logp.argmax(1)
            out.append(np.where(done, EOS, tok))
            done |= tok == EOS
            if done.all():
                break
        out = np.stack(out, 1)
        return [row[:np.argmax(row == EOS)] - SHIFT if (row == EOS).any() else row - SHIFT for row in out]

    def beam(self, state, beam_size, max_length, banned=(BOS,)):
        """Beam search for one sequence (``state`` with batch 1); returns the
        finished hypothesis of highest total log-probability.  Classes in
        ``banned`` are never chosen."""
        seqs = [[]]
        scores = np.zeros(1)
        tok = np.array([BOS])
        finished = []
        for _ in range(max_length):
            logp, state = self._step(tok, state)                    # (k, C)
            logp[:, banned] = -np.inf
            cand = scores[:, None] + logp                           # (k, C)
            flat = np.argsort(cand, axis=None)[::-1][:2 * beam_size]
            rows, cols = np.unravel_index(flat, cand.shape)
            keep_r, keep_c, keep_s = [], [], []
            for r, c in zip(rows, cols):
                if not np.isfinite(cand[r, c]):                     # banned: so is every later one
                    break
                if c == EOS:
                    finished.append((cand[r, c], seqs[r]))
                elif len(keep_r) < beam_size:
                    keep_r.append(r)
                    keep_c.append(c)
                    keep_s.append(cand[r, c])
                if len(keep_r) == beam_size:
                    break
            best_done = max((f[0] for f in finished), default=-np.inf)
            if not keep_r or (len(finished) >= beam_size and max(keep_s) <= best_done):
                break
            seqs = [seqs[r] + [c] for r, c in zip(keep_r, keep_c)]
            scores = np.array(keep_s)
            tok = np.array(keep_c, np.int64)
            state = self._take(state, np.array(keep_r))
        if not finished:
            finished = [(scores[0], seqs[0])]
        best = max(finished, key=lambda f: f[0])[1]
        return np.asarray(best, np.int64) - SHIFT

    def decode(self, state, max_length, beam_size=1, exclude_ids=None):
        """Greedy (``beam_size`` 1) or beam decoding of a batch; user ids in
        ``exclude_ids`` (e.g. a vocabulary's special tokens) are never output."""
        banned = banned_classes(exclude_ids, self.head.out_features)
        if beam_size <= 1:
            return self.greedy(state, max_length, banned)
        return [self.beam(self._take(state, np.array([b])), beam_size, max_length, banned)
                for b in range(self._batch_size(state))]


def exact_match(true, pred):
    """Fraction of outputs equal to their target sequence as a whole."""
    true, pred = list(true), list(pred)
    if len(true) != len(pred):
        raise ValueError(f"{len(true)} targets but {len(pred)} outputs; pass one target per input")
    return float(np.mean([len(t) == len(p) and np.array_equal(np.asarray(t), np.asarray(p))
                          for t, p in zip(true, pred)]))
