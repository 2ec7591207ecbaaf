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
from ..module import Module
from ..recurrent import MERGE_MODES
from ._seqbase import InputSpec, RecurrentEncoder, SequenceEstimator, check_batch_size, read_X
from .attention_decoder import AttentionDecoder
from .decoder import SHIFT, Decoder, check_beam, check_targets, exact_match, learn_targets, output_limit
from .sampling import parse_schedule

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
        layout: how a 3-D array of source vectors holds its axes: ``"NTC"`` (rnnkit's:
            sequences, steps, features), ``"NCT"`` (aeon's and sktime's channels first, and
            lists of ``(C, T_i)``), or ``None``: NTC, with a warning when an array looks
            channels first (as :class:`~rnnkit.models.SequenceClassifier`).
    """

    def __init__(self, cell="lstm", hidden_size=128, num_layers=1, embedding_dim=32, dropout=0.0,
                 reverse_source=True, beam_size=1, max_length=None, standardize=True, epochs=20, batch_size=32,
                 lr=5e-3, clip=5.0, random_state=0, exclude_ids=None, attention="none",
                 input_feeding=False, bidirectional=False, merge_mode="concat", sampling_schedule=None,
                 early_stopping=None, validation_fraction=0.1, lr_schedule=None, layout=None,
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
        self.layout = layout
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
        seqs = read_X(X, lengths, layout=self.layout)
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
