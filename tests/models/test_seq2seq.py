import numpy as np
import pytest

from rnnkit.models import Seq2Seq
from rnnkit.models.seq2seq import _Seq2SeqNet

from _gradcheck import check_estimator_grads


def sort_task(n, seed, max_len=5):
    """Digit sequences of length 1..max_len and their sorted versions."""
    rng = np.random.default_rng(seed)
    X = [rng.integers(0, 10, rng.integers(1, max_len + 1)) for _ in range(n)]
    return X, [np.sort(s) for s in X]


@pytest.fixture(scope="module")
def sorter():
    X, y = sort_task(1200, 0, max_len=4)
    return Seq2Seq(hidden_size=48, embedding_dim=16, epochs=6, random_state=0).fit(X, y)


def test_learns_to_sort_unseen_digit_sequences(sorter):
    X, y = sort_task(200, 1, max_len=4)
    assert sorter.score(X, y) > 0.9                     # exact match of whole outputs
    assert sorter.loss_curve_[-1] < sorter.loss_curve_[0] / 10


def sequence_logprob(model, x, y):
    """Total log-probability of target ``y`` given source ``x`` (teacher forcing)."""
    state, _ = model._encode(model._sources([x]))
    loss, _ = model.net_.decoder.loss_backward(state, [y])
    return -loss * (len(y) + 1)                           # mean over n tokens + <eos>


def test_beam_search_finds_outputs_at_least_as_likely_as_greedy(sorter):
    X, y = sort_task(40, 2, max_len=4)
    X = [np.concatenate([x, x]) for x in X]               # longer than training: a harder regime
    greedy = sorter.predict(X)
    beam = sorter.predict(X, beam_size=4)
    lp_greedy = [sequence_logprob(sorter, x, g) for x, g in zip(X, greedy)]
    lp_beam = [sequence_logprob(sorter, x, b) for x, b in zip(X, beam)]
    assert all(b >= g - 1e-4 for b, g in zip(lp_beam, lp_greedy))
    assert any(b > g + 1e-3 for b, g in zip(lp_beam, lp_greedy))     # the beam did find better outputs
    assert all(b.dtype.kind == "i" for b in beam)


def test_output_lengths_vary_with_the_input(sorter):
    out = sorter.predict([np.array([3]), np.array([9, 1, 4, 1])])
    assert [len(o) for o in out] == [1, 4]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_encoder_decoder_backward_matches_central_differences(cell):
    X, y = sort_task(4, 3)
    m = Seq2Seq(cell=cell, hidden_size=4, embedding_dim=3, num_layers=2, clip=0, random_state=0)
    data = m.prepare(X, y, learn=True)
    m.net_ = _Seq2SeqNet(m.spec_, m.n_targets_, m.get_params(), np.random.default_rng(0), dtype=np.float64)
    check_estimator_grads(m, data, np.arange(4))


def test_save_load_round_trip(tmp_path, sorter):
    sorter.save(tmp_path / "s.npz")
    again = Seq2Seq.load(tmp_path / "s.npz")
    X, _ = sort_task(20, 4)
    assert all(np.array_equal(a, b) for a, b in zip(again.predict(X), sorter.predict(X)))
