"""Truncated BPTT: the schedule, and gradients equal to full BPTT where they must be."""
import numpy as np
import pytest

from rnnkit.losses import softmax_cross_entropy
from rnnkit.models import TokenRNN
from rnnkit.optim import SGD
from rnnkit.train import fit_stream, tbptt_schedule


def test_schedule_every_k1_steps_backprops_k2_steps():
    assert tbptt_schedule(10, 4) == [(0, 4, 0), (4, 8, 4), (8, 10, 8)]
    assert tbptt_schedule(10, 3, 5) == [(0, 3, 0), (1, 6, 3), (4, 9, 6), (7, 10, 9)]
    with pytest.raises(ValueError, match="k1 <= k2"):
        tbptt_schedule(10, 5, 3)


def test_one_window_over_the_whole_stream_is_full_bptt(rng):
    net = TokenRNN(5, 6, cell="gru", embedding_dim=4, dtype=np.float64, seed=0)
    ids = rng.integers(0, 5, (3, 13))
    before = {k: v.copy() for k, v in net.named_parameters().items()}
    logits, _ = net(ids[:, :-1])
    _, dlogits = softmax_cross_entropy(logits, ids[:, 1:])
    net.backward(dlogits)
    full = {k: v.copy() for k, v in net.named_grads().items()}
    fit_stream(net, ids[:, :-1], ids[:, 1:], SGD(net.named_parameters(), lr=1.0), k1=12)
    for k, v in net.named_parameters().items():
        np.testing.assert_allclose(before[k] - v, full[k], atol=1e-12)


def test_equal_k1_k2_carries_the_final_state_into_the_next_chunk(rng):
    net = TokenRNN(5, 6, cell="lstm", embedding_dim=0, dtype=np.float64, seed=1)
    ids = rng.integers(0, 5, (2, 9))
    seen = []
    orig = net.forward

    def spy(x, state=None, keep_cache=True):
        seen.append(state)
        return orig(x, state, keep_cache)

    net.forward = spy
    _, final = fit_stream(net, ids[:, :-1], ids[:, 1:], SGD(net.named_parameters(), lr=1e-9), k1=4)
    assert seen[0] is None and seen[1] is not None
    # with a negligible learning rate the chunked states equal one long run's
    net.forward = orig
    _, ref = net(ids[:, :-1])
    np.testing.assert_allclose(final[0], ref[0], atol=1e-7)


def test_longer_k2_counts_only_the_new_steps_in_the_loss(rng):
    net = TokenRNN(4, 5, cell="rnn", dtype=np.float64, seed=2)
    ids = rng.integers(0, 4, (1, 11))
    losses, _ = fit_stream(net, ids[:, :-1], ids[:, 1:], SGD(net.named_parameters(), lr=1e-12), k1=2, k2=6)
    logits, _ = net(ids[:, :-1])
    # window 3 covers [0, 6) and counts steps [4, 6)
    ref, _ = softmax_cross_entropy(logits[:, 4:6], ids[:, 5:7])
    assert losses[2] == pytest.approx(ref, rel=1e-8)


# -- fit_stream's reported norm ------------------------------------------------------------------------------
RNG = np.random.default_rng(0)


def test_fit_stream_reports_the_norm_before_any_clipping():
    from rnnkit.losses import softmax_cross_entropy
    from rnnkit.optim import grad_norm
    from rnnkit.train import fit_stream

    ids = RNG.integers(0, 6, (2, 9))
    twin = TokenRNN(6, 5, embedding_dim=3, seed=0)
    _, d = softmax_cross_entropy(twin.forward(ids[:, :8])[0], ids[:, 1:])
    twin.backward(d)
    expect = grad_norm(twin.named_grads())
    for kw in ({}, dict(clip_norm=1e-3), dict(clip_value=1e-4, clip_norm=1e-3)):
        net, norms = TokenRNN(6, 5, embedding_dim=3, seed=0), []
        fit_stream(net, ids[:, :8], ids[:, 1:], SGD(net.named_parameters(), lr=0.1), k1=8,
                   callback=lambda w, loss, n: norms.append(n), **kw)
        assert norms == [pytest.approx(expect, rel=1e-6)], kw
