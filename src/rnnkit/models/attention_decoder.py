"""``AttentionDecoder``: the token decoder of :class:`~rnnkit.models.Seq2Seq`
reading the encoder's outputs through attention (:mod:`rnnkit.attention`), in
the arrangement of Luong, Pham and Manning (2015)::

    x_t        = E[y_{t-1}]                    (B, D)   input feeding: [E[y_{t-1}]; c_{t-1}], c_0 = 0
    h_t        = RNN(x_t, h_{t-1})             (B, H)   the top layer's output; h_0 from the encoder
    c_t, α_t   = attention(h_t, M)             (B, E), (B, S)   M: the encoder's outputs
    h̃_t        = tanh(W_c [c_t; h_t] + b_c)    (B, H)   ``combine``
    logits_t   = W_o h̃_t + b_o                 (B, C)   ``head``

Training feeds the true previous tokens (or, with scheduled sampling, tokens
decided before the pass: :mod:`rnnkit.models.sampling`).  Without input
feeding the recurrent layer runs over the whole target at once and attention
reads all its steps together.  With input feeding step ``t``'s input holds
``c_{t-1}``, so the decoder runs step by step (one :func:`rnnkit.engine.forward`
per layer and step, each keeping its own cache) and BPTT goes back the same
way, the context's gradient joining the previous step's::

    dc_t = ∂L/∂c_t (through h̃_t) + the c-part of dx_{t+1}
    dh_t = ∂L/∂h_t (through h̃_t) + dq_t (attention's query)    -> the RNN's step back
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import engine
from ..attention import Attention, Memory
from ..data.batching import length_mask
from ..layers import Dense
from ..losses import log_softmax, softmax_cross_entropy
from ..tokens import sum_rows_by_id
from .sampling import mixed_inputs
from .decoder import Decoder


class DecodeState(NamedTuple):
    """What a decoding step carries: the recurrent state ``rnn`` (``(L, B, H)``,
    LSTM ``(h, c)``), the last context ``context`` ``(B, E)`` and the ``memory``."""

    rnn: object
    context: np.ndarray
    memory: Memory


class AttentionDecoder(Decoder):
    """Embedding -> RNN -> attention over the encoder's outputs -> ``combine`` ->
    Dense (see the module docstring).  ``memory_size``: the width ``E`` of the
    encoder's outputs; ``score``: ``"additive"``, ``"general"`` or ``"dot"``."""

    def __init__(self, n_classes, embedding_dim, cell, hidden_size, num_layers, dropout, rng, dtype=np.float32,
                 *, memory_size, score, input_feeding=False):
        super().__init__(n_classes, embedding_dim, cell, hidden_size, num_layers, dropout, rng, dtype,
                         extra_input=memory_size if input_feeding else 0)
        self.input_feeding = bool(input_feeding)
        self.attention = Attention(score, hidden_size, memory_size, dtype=dtype, seed=rng)
        self.combine = Dense(memory_size + hidden_size, hidden_size, dtype=dtype, seed=rng)

    def start(self, state0, memory):
        """The decoding state before ``<bos>``: the encoder's state, ``c_0 = 0``."""
        B, _, E = memory.values.shape
        return DecodeState(state0, np.zeros((B, E), self.attention.dtype), memory)

    # -- the read-out: h̃ = tanh(W_c [c; h] + b_c), logits = W_o h̃ + b_o -------------------------
    def _read_out(self, h, c, keep_cache=True):
        ht = np.tanh(self.combine(np.concatenate([c, h], axis=-1), keep_cache=keep_cache))   # (B, T, H)
        if keep_cache:
            self._ht = ht
        return self.head(ht, keep_cache=keep_cache)                  # (B, T, C)

    def _read_out_backward(self, dlogits):
        """``(dh, dc)`` from ``dlogits`` ``(B, T, C)``; fills ``head``'s and ``combine``'s grads."""
        dht = self.head.backward(dlogits)                           # (B, T, H)
        dch = self.combine.backward(dht * (1.0 - self._ht ** 2))    # (B, T, E + H)
        E = self.attention.memory_size
        return dch[..., E:], dch[..., :E]

    # -- training -------------------------------------------------------------------------------
    def loss_backward(self, state0, targets, memory, sampling=None):
        """Cross-entropy over real steps, teacher-forced (``sampling``:
        ``(p_teacher, rng)`` for scheduled sampling); fills grads, returns
        ``(loss, dstate0, dmemory)``: ``dmemory`` ``(B, S, E)`` goes back into
        the encoder as the gradient of its outputs."""
        x, y, n = self.teacher_batch(targets)
        if sampling is not None:
            x = mixed_inputs(self._step, self.start(state0, memory), x, *sampling)
        run = self._stepwise if self.input_feeding else self._whole
        h, c, cache = run(x, n, state0, memory)                      # (B, T, H), (B, T, E)
        loss, dlogits = softmax_cross_entropy(self._read_out(h, c), y, mask=length_mask(n, x.shape[1]))
        dh, dc = self._read_out_backward(dlogits)
        dstate0, dvalues, dkeys, att_grads = (self._stepwise_back if self.input_feeding else self._whole_back)(
            cache, dh, dc)
        dmemory, key_grads = self.attention.memory_backward(memory, dvalues, dkeys)
        self.attention.set_grads(*att_grads, key_grads)
        return loss, dstate0, dmemory

    def _whole(self, x, n, state0, memory):
        """All target steps at once: one recurrent pass, one attention pass."""
        h, _ = self.rnn.forward(x, state0, lengths=n, embedding=self.embed)   # (B, T, H)
        c, _, att = self.attention.forward(h, memory)                       # (B, T, E)
        return h, c, att

    def _whole_back(self, att, dh, dc):
        dq, dvalues, dkeys, grads = self.attention.backward(att, dc)
        _, dstate0 = self.rnn.backward(dh + dq, input_grad=False)          # fills self.embed.grads too
        return dstate0, dvalues, dkeys, [grads]

    def _stepwise(self, x, n, state0, memory):
        """Input feeding: step by step, each layer's step through the engine with
        its own cache.  Steps past a target's end run on (their loss is masked, so
        they pass no gradient back)."""
        rnn = self.rnn
        B, T = x.shape
        E = self.attention.memory_size
        layers = [rnn._p(l, 0) for l in range(rnn.num_layers)]      # each layer's parameters, as the cell names them
        masks = rnn.sample_masks(T, B)                              # dropout: one draw for the whole pass
        parts = state0 if isinstance(state0, tuple) else (state0,)
        states = [tuple(p[l] for p in parts) for l in range(rnn.num_layers)]
        emb = self.embed.params["weight"][x]                        # (B, T, D)
        c = np.zeros((B, E), rnn.dtype)
        hs, cs, steps = [], [], []
        for t in range(T):
            inp = np.concatenate([emb[:, t], c], axis=1)[None]      # (1, B, D + E)
            caches = []
            for l, p in enumerate(layers):
                out, states[l], cache = engine.forward(rnn.cell, p, inp, states[l], None, masks["recurrent"][l])
                caches.append(cache)
                drop = masks["between"][l]
                inp = out * drop[t:t + 1] if drop is not None else out
            h = inp[0]                                              # (B, H)
            ct, _, att = self.attention.forward(h[:, None], memory)
            c = ct[:, 0]                                            # (B, E)
            hs.append(h)
            cs.append(c)
            steps.append((caches, att))
        return np.stack(hs, 1), np.stack(cs, 1), (x, layers, masks, steps)

    def _stepwise_back(self, cache, dh, dc):
        x, layers, masks, steps = cache
        rnn = self.rnn
        B, T = x.shape
        D = self.embed.embedding_dim
        ns = rnn.cell.n_states
        dstates = [(None,) * ns for _ in layers]
        grads = [dict() for _ in layers]
        dvalues = dkeys = 0.0
        att_grads = []
        demb = np.zeros((B, T, D), rnn.dtype)
        dc_next = 0.0                                               # ∂L/∂c_t through step t+1's input
        for t in range(T - 1, -1, -1):
            caches, att = steps[t]
            dq, dv, dk, g = self.attention.backward(att, (dc[:, t] + dc_next)[:, None])
            dvalues, dkeys = dvalues + dv, dkeys + dk
            att_grads.append(g)
            dout = (dh[:, t] + dq[:, 0])[None]                      # (1, B, H) into the top layer's output
            for l in range(len(layers) - 1, -1, -1):
                drop = masks["between"][l]
                if drop is not None:
                    dout = dout * drop[t:t + 1]
                dout, dstates[l], g = engine.backward(rnn.cell, layers[l], caches[l], dout, dstates[l])
                for k, v in g.items():
                    grads[l][k] = grads[l][k] + v if k in grads[l] else v
            demb[:, t] = dout[0, :, :D]                             # backprop into the embedding
            dc_next = dout[0, :, D:]                                # and into c_{t-1}
        rnn.grads = {rnn.cell.param_names[k] + f"_l{l}": v for l, g in enumerate(grads) for k, v in g.items()}
        self.embed.set_grad(sum_rows_by_id(x, demb.reshape(-1, D), self.embed.num_embeddings))
        stacked = tuple(np.stack([s[j] for s in dstates]) for j in range(ns))   # (L, B, H) each
        return (stacked if ns > 1 else stacked[0]), dvalues, dkeys, att_grads

    # -- decoding -------------------------------------------------------------------------------
    def _attend_step(self, tokens, state):
        """One decoding step: ``(logits (B, C), state, weights (B, S))``."""
        x = self.embed(tokens)                                      # (B, D)
        if self.input_feeding:
            x = np.concatenate([x, state.context], axis=1)
        h, rnn_state = self.rnn.step(x, state.rnn)                  # (B, H)
        c, a, _ = self.attention.forward(h[:, None], state.memory, keep_cache=False)
        logits = self._read_out(h[:, None], c, keep_cache=False)[:, 0]
        return logits, DecodeState(rnn_state, c[:, 0], state.memory), a[:, 0]

    def _step(self, tokens, state):
        logits, state, _ = self._attend_step(tokens, state)
        return log_softmax(logits.astype(np.float64)), state

    @staticmethod
    def _batch_size(state):
        return state.context.shape[0]

    @staticmethod
    def _take(state, rows):
        return DecodeState(Decoder._take(state.rnn, rows), state.context[rows], state.memory.take(rows))

    def attention_weights(self, state, outputs):
        """The weights ``(len(output), S)`` each decoded output was read with:
        the decoding steps rerun on ``outputs`` (user ids) from ``state``
        (:meth:`start`)."""
        x, _, _ = self.teacher_batch(outputs)
        rows = []
        for t in range(max(len(o) for o in outputs)):
            _, state, a = self._attend_step(x[:, t], state)
            rows.append(a)
        S = state.memory.values.shape[1]
        w = np.stack(rows, 1) if rows else np.zeros((len(outputs), 0, S))
        return [w[b, :len(o)] for b, o in enumerate(outputs)]
