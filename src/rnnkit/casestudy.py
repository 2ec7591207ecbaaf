"""The seeds' case study (seed 003, after Karpathy's min-char-rnn): a plain
tanh RNN over one-hot characters learns the word "hello" with Adagrad and
gradients clipped to [-5, 5], then samples it back from its first letter."""
from __future__ import annotations

import numpy as np

from .models.token_rnn import TokenRNN
from .optim import Adagrad
from .train import fit_stream


def train_hello(text="hello", hidden_size=16, steps=300, lr=0.1, clip=5.0, seed=0, log=None):
    """Train on ``text`` (one sequence, the next-character task) and return
    ``(net, vocab, losses)``; ``log(step, loss)`` is called every 50 steps."""
    if len(text) < 2:
        raise ValueError("the case study needs a text of at least two characters")
    vocab = sorted(set(text))
    ids = np.array([vocab.index(c) for c in text])
    net = TokenRNN(len(vocab), hidden_size, cell="rnn", embedding_dim=0, dtype=np.float64, seed=seed)
    opt = Adagrad(net.named_parameters(), lr=lr)
    losses = []
    for step in range(steps):
        (loss,), _ = fit_stream(net, ids[None, :-1], ids[None, 1:], opt, k1=len(text) - 1, clip_value=clip)
        losses.append(loss)
        if log is not None and (step % 50 == 0 or step == steps - 1):
            log(step, loss)
    return net, vocab, losses


def sample_text(net, vocab, prime, length, temperature=0.0, seed=0):
    """Feed ``prime`` and generate ``length`` characters (greedy by default)."""
    ids = net.sample([vocab.index(c) for c in prime], length, temperature=temperature, rng=seed)
    return prime + "".join(vocab[i] for i in ids)
