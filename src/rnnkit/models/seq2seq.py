"""``Seq2Seq``: encoder-decoder for unaligned many-to-many (Sutskever et al. 2014).

    source ids (B, S) -> encoder RNN -> outputs M (B, S, E), final state h_S (L, B, H)
    decoder: state_0 = h_S;  input at step t = embedding of the previous target
             token (<bos> first; teacher forcing in training: the true one)
             logits_t (B, C) = Dense(h_t);  stops at <eos>

A bidirectional encoder's two final states are summed, layer by layer, into
the decoder's ``state_0`` (and its gradient goes to both).  With
``attention`` the decoder also reads ``M`` at every step
(:mod:`rnnkit.models.attention_decoder`); with ``sampling_schedule`` training
feeds the model's own tokens more and more often (:mod:`rnnkit.models.sampling`).

Target ids are shifted inside the model: ``<bos>`` = 0 (input only),
``<eos>`` = 1, a user token ``k`` is class ``k + 2``.  Decoding is greedy or
beam search (``beam_size > 1``), up to ``max_length`` tokens.
"""
from __future__ import annotations

import numpy as np

from .._checks import choice
from .._params import keeps_fitted_state_on_failure
from ..attention import SCORES
from ..data.batching import length_mask, pad
from ..layers import Dense, Embedding
from ..losses import log_softmax, softmax_cross_entropy
from ..module import Module
from ..recurrent import MERGE_MODES
from ..registry import build_layer, check_cell
from ._seqbase import InputSpec, RecurrentEncoder, SequenceEstimator, check_batch_size, read_X
from .sampling import mixed_inputs, parse_schedule

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


class _Seq2SeqNet(Module):
    def __init__(self, spec, n_out, p, rng, dtype=np.float32):
        super().__init__()
        self.encoder = RecurrentEncoder(spec, p["embedding_dim"], p["cell"], p["hidden_size"], p["num_layers"],
                                        p["bidirectional"], p["dropout"], dtype, rng, merge_mode=p["merge_mode"])
        args = (n_out + SHIFT, p["embedding_dim"], p["cell"], p["hidden_size"], p["num_layers"], p["dropout"], rng,
                dtype)
        if p["attention"] == "none":
            self.decoder = Decoder(*args)
        else:
            from .attention_decoder import AttentionDecoder      # it builds on Decoder, from this module
            self.decoder = AttentionDecoder(*args, memory_size=self.encoder.rnn.output_size, score=p["attention"],
                                            input_feeding=p["input_feeding"])


def join_directions(state, bidirectional):
    """A bidirectional encoder's final state ``(L*2, B, H)`` (LSTM: each of
    ``(h, c)``) as the decoder's ``(L, B, H)``: the two directions of each layer
    summed.  Unidirectional: ``state`` itself."""
    if not bidirectional:
        return state
    def join(a):
        return a.reshape(-1, 2, *a.shape[1:]).sum(axis=1)          # (L, 2, B, H) -> (L, B, H)
    return tuple(join(a) for a in state) if isinstance(state, tuple) else join(state)


def split_directions(dstate, bidirectional):
    """The gradient of :func:`join_directions`: each layer's to both directions."""
    if not bidirectional:
        return dstate
    def split(a):
        return np.repeat(a, 2, axis=0)                              # (L, B, H) -> (L*2, B, H)
    return tuple(split(a) for a in dstate) if isinstance(dstate, tuple) else split(dstate)


class Seq2Seq(SequenceEstimator):
    """Encoder-decoder over token id sequences, scikit-learn style.

    ``X``: source sequences (token ids, or vectors ``(n, D)``); ``y``: target
    token id sequences (ints ``>= 0``), any lengths on both sides.
    ``predict`` returns a list of id arrays; ``score`` is exact-match accuracy.

    Arguments:
        cell, hidden_size, num_layers, embedding_dim, dropout: encoder and decoder alike.
        reverse_source: feed the source backwards (shortens the path from the
            first source tokens to the first target tokens; Sutskever et al.).
        beam_size: 1 = greedy decoding.   max_length: longest output
            (default: 2 × the longest training target + 5).
        exclude_ids: target ids never to output (e.g. the target vocabulary's
            ``<pad>``, ``<unk>``, ``<bos>``, ``<eos>`` tokens); default none.
        epochs, batch_size, lr, clip, random_state: training (``learning_rate``: the deprecated name of
            ``lr``; ``random_state`` default 0).
        early_stopping, validation_fraction, lr_schedule: training controls, as
            :class:`~rnnkit.models.SequenceClassifier` takes them.
        attention: ``"none"`` (the decoder sees the final state only),
            ``"additive"`` (Bahdanau), ``"general"`` or ``"dot"`` (Luong; dot needs
            encoder outputs as wide as ``hidden_size``): the decoder reads the
            encoder's outputs at every step (:mod:`rnnkit.models.attention_decoder`).
        input_feeding: with attention, the last context joins the decoder's next input.
        bidirectional, merge_mode: a bidirectional encoder, its directions
            joined by ``"concat"``, ``"sum"``, ``"mean"`` or ``"mul"`` in its outputs
            (the final states are summed into the decoder's first state).
        sampling_schedule: scheduled sampling, e.g. ``"inverse_sigmoid:k=100"``
            (:mod:`rnnkit.models.sampling`); ``None``: teacher forcing.  The draws
            come from ``random_state``.
    """

    def __init__(self, cell="lstm", hidden_size=128, num_layers=1, embedding_dim=32, dropout=0.0,
                 reverse_source=True, beam_size=1, max_length=None, standardize=True, epochs=20, batch_size=32,
                 lr=5e-3, clip=5.0, random_state=0, exclude_ids=None, attention="none",
                 input_feeding=False, bidirectional=False, merge_mode="concat", sampling_schedule=None,
                 early_stopping=None, validation_fraction=0.1, lr_schedule=None,
                 learning_rate="deprecated"):
        self.cell = cell
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.embedding_dim = embedding_dim
        self.dropout = dropout
        self.reverse_source = reverse_source
        self.exclude_ids = exclude_ids
        self.beam_size = beam_size
        self.max_length = max_length
        self.standardize = standardize
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.clip = clip
        self.random_state = random_state
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.lr_schedule = lr_schedule
        self.learning_rate = learning_rate
        self.attention = attention
        self.input_feeding = input_feeding
        self.bidirectional = bidirectional
        self.merge_mode = merge_mode
        self.sampling_schedule = sampling_schedule

    def _check_model_params(self):
        """Refuse attention, encoder and schedule settings that do not fit (before
        ``fit`` changes anything)."""
        choice("attention", self.attention, ("none",) + SCORES)
        choice("merge_mode", self.merge_mode, MERGE_MODES)
        if not isinstance(self.input_feeding, (bool, np.bool_)):
            raise ValueError(f"input_feeding must be True or False, got {self.input_feeding!r}")
        if self.input_feeding and self.attention == "none":
            raise ValueError("input_feeding feeds the attention context to the decoder; set attention "
                             "('additive', 'general' or 'dot') or leave input_feeding off")
        if self.attention == "dot" and self.bidirectional and self.merge_mode == "concat":
            raise ValueError("dot attention needs encoder outputs as wide as the decoder state, but a "
                             "bidirectional encoder that concatenates doubles them; use attention='general' "
                             "or 'additive', or merge_mode 'sum', 'mean' or 'mul'")
        parse_schedule(self.sampling_schedule)

    def _build_net(self, rng):
        return _Seq2SeqNet(self.spec_, self.n_targets_, self.get_params(), rng)

    def _learned(self):
        return {"spec": self.spec_.to_config(), "n_targets": self.n_targets_, "max_target": self.max_target_}

    def _set_learned(self, d):
        self.spec_ = InputSpec.from_config(d["spec"])
        self.n_targets_, self.max_target_ = int(d["n_targets"]), int(d["max_target"])
        self.n_features_in_ = self.spec_.n_in

    def _sources(self, X, lengths=None):
        seqs = read_X(X, lengths)
        return [s[::-1] for s in seqs] if self.reverse_source else seqs

    def prepare(self, X, y, lengths=None, learn=False, n_tokens=None, n_targets=None):
        """Sources and targets as the training loop wants them; ``learn`` takes
        the sizes from this data (``n_tokens``, ``n_targets``: vocabulary sizes,
        when larger than the ids seen), changing the estimator only once every
        check passed."""
        seqs = self._sources(X, lengths)
        ys = check_targets(y, len(seqs))
        if learn:
            spec = InputSpec.learn(seqs, self.standardize, n_tokens)
            n_out, longest = learn_targets(ys, n_targets)
        else:
            self._check_fitted()
            spec, n_out = self.spec_, self.n_targets_
        spec.check(seqs)
        for i, t in enumerate(ys):
            if t.size and t.max() >= n_out:
                raise ValueError(f"y[{i}] holds target id {t.max()} outside the model's {n_out} "
                                 "target tokens; encode with the training vocabulary")
        if learn:
            self.spec_, self.n_targets_, self.max_target_ = spec, n_out, longest
            self.n_features_in_ = spec.n_in
        return {"seqs": seqs, "targets": ys, "lengths": np.array([len(s) for s in seqs])}

    def _encode(self, seqs, keep_cache=True):
        """``(the decoder's first state, the attention memory or None)``."""
        x, n = self.spec_.batch(seqs, np.float32)
        y, h_n = self.net_.encoder(x, n, keep_cache=keep_cache)     # (B, S, E)
        enc, dec = self.net_.encoder.rnn, self.net_.decoder
        memory = dec.attention.memory(y, n) if hasattr(dec, "attention") else None
        return join_directions(h_n, enc.bidirectional), memory

    def _sampling(self):
        """``(p_teacher, rng)`` of this update under the sampling schedule, or
        ``None``: teacher forcing (no schedule, or a pass in evaluation mode such
        as a validation loss)."""
        schedule = parse_schedule(self.sampling_schedule)
        if schedule is None or not self.net_.training:
            return None
        return schedule.probability(self.optimizer_.steps), self.rng_

    def _loss_backward(self, data, idx):
        seqs, targets = [data["seqs"][i] for i in idx], [data["targets"][i] for i in idx]
        state, memory = self._encode(seqs)
        enc = self.net_.encoder.rnn
        if memory is None:
            loss, dstate = self.net_.decoder.loss_backward(state, targets, self._sampling())
            dy = np.zeros((len(seqs), max(len(s) for s in seqs), enc.output_size), enc.dtype)
        else:
            loss, dstate, dy = self.net_.decoder.loss_backward(state, targets, memory, self._sampling())
        self.net_.encoder.backward(dy, split_directions(dstate, enc.bidirectional))
        return loss

    @keeps_fitted_state_on_failure
    def fit(self, X, y, lengths=None, validation_data=None, callbacks=None):
        """Train; ``validation_data`` ``(X_val, y_val[, lengths_val])`` is scored after
        each epoch (``val_loss``); ``callbacks``: :mod:`rnnkit.callbacks` objects."""
        self._check_training_params()
        self._check_model_params()
        ex = self.exclude_ids
        if ex is not None and (isinstance(ex, (str, bytes)) or not hasattr(ex, "__iter__")
                               or not all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in ex)):
            raise ValueError(f"exclude_ids must be a list of target ids (integers), got {ex!r}")
        return self._fit_data(self.prepare(X, y, lengths, learn=True), validation_data, callbacks)

    def predict(self, X, lengths=None, beam_size=None, max_length=None, batch_size=256, return_attention=False):
        """Decoded target id arrays, one per source sequence (``max_length``
        given here overrides the estimator's; 0 gives empty outputs).

        ``return_attention``: ``(outputs, weights)``, with ``weights[i]`` the
        ``(len(outputs[i]), len(X[i]))`` attention weights each output token
        was decoded with, over the source in its given order (rows sum to 1)."""
        self._check_fitted()
        batch_size = check_batch_size(batch_size)
        seqs = self.spec_.check(self._sources(X, lengths))
        beam = check_beam(self.beam_size if beam_size is None else beam_size)
        limit = output_limit(self.max_length if max_length is None else max_length, 2 * self.max_target_ + 5)
        decoder = self.net_.decoder
        if return_attention and not hasattr(decoder, "attention"):
            raise ValueError("this model has no attention (attention='none'); train one with attention="
                             "'additive', 'general' or 'dot' to get attention weights")
        self.net_.eval()
        out, weights = [], []
        for i in range(0, len(seqs), batch_size):
            chunk = seqs[i:i + batch_size]
            state, memory = self._encode(chunk, keep_cache=False)
            start = state if memory is None else decoder.start(state, memory)
            decoded = decoder.decode(start, limit, beam, self.exclude_ids)
            out.extend(decoded)
            if return_attention:
                for w, s in zip(decoder.attention_weights(start, decoded), chunk):
                    w = w[:, :len(s)]                                # (len(output), len(source))
                    weights.append(w[:, ::-1] if self.reverse_source else w)   # in the source's own order
        return (out, weights) if return_attention else out

    def score(self, X, y, lengths=None):
        """Exact-match accuracy: the whole output sequence must be right."""
        return exact_match(y, self.predict(X, lengths))


def exact_match(true, pred):
    """Fraction of outputs equal to their target sequence as a whole."""
    true, pred = list(true), list(pred)
    if len(true) != len(pred):
        raise ValueError(f"{len(true)} targets but {len(pred)} outputs; pass one target per input")
    return float(np.mean([len(t) == len(p) and np.array_equal(np.asarray(t), np.asarray(p))
                          for t, p in zip(true, pred)]))
