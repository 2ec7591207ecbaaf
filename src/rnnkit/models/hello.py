"""The seeds' "hello" case study (seed 003, after Karpathy's min-char-rnn): a
plain tanh RNN over one-hot characters learns a word with Adagrad and
gradients clipped to [-5, 5], then samples it back from its first letter."""
from __future__ import annotations

import itertools

import numpy as np

from ..losses import softmax_cross_entropy
from ..optim import Adagrad
from ..training import Callback, Trainer
from ..token_rnn import TokenRNN


def train_hello(text="hello", hidden_size=16, steps=300, lr=0.1, clip=5.0, seed=0, log=None):
    """Train on ``text`` (one sequence, the next-character task, from a zero
    state every step) and return ``(net, vocab, losses)``; ``log(step, loss)``
    is called every 50 steps and at the last."""
    if len(text) < 2:
        raise ValueError("the case study needs a text of at least two characters")
    vocab = sorted(set(text))
    ids = np.array([vocab.index(c) for c in text])
    net = TokenRNN(len(vocab), hidden_size, cell="rnn", embedding_dim=0, dtype=np.float64, seed=seed)

    def train_step(batch, state):
        x, y = batch                                          # (1, n - 1) each: y is x one character on
        logits, _ = net.forward(x)
        loss, dlogits = softmax_cross_entropy(logits, y)
        net.backward(dlogits)
        return loss, None

    logged = Callback(on_step_end=lambda step, m: log(step - 1, m["loss"])
                      if (step - 1) % 50 == 0 or step == steps else None)
    trainer = Trainer(train_step, net.named_grads, Adagrad(net.named_parameters(), lr=lr), clip_value=clip,
                      callbacks=[logged] if log is not None else [])
    trainer.fit(lambda epoch: itertools.repeat((ids[None, :-1], ids[None, 1:]), steps))
    return net, vocab, trainer.losses


def sample_text(net, vocab, prime, length, temperature=0.0, seed=0):
    """Feed ``prime`` and generate ``length`` characters (greedy by default)."""
    ids = net.sample([vocab.index(c) for c in prime], length, temperature=temperature, rng=seed)
    return prime + "".join(vocab[i] for i in ids)
