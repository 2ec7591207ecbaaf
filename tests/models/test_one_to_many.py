import numpy as np
import pytest

from rnnkit.models import OneToMany, Seq2Seq
from rnnkit.models.one_to_many import _OneToManyNet

from _gradcheck import check_estimator_grads


def count_task():
    """One-hot (digit d, count c) -> the sequence d repeated c times, then c+1 ... : a
    sequence whose content and length both come from the input vector only."""
    X, Y = [], []
    for d in range(6):
        for c in range(1, 5):
            v = np.zeros(10)
            v[d] = 1
            v[6 + c - 1] = 1
            X.append(v)
            Y.append(np.array([d] * c + [(d + 1) % 6]))
    return np.array(X), Y


def test_generates_the_sequence_each_vector_stands_for():
    X, Y = count_task()
    m = OneToMany(hidden_size=32, epochs=60, batch_size=8, random_state=0).fit(X, Y)
    assert m.score(X, Y) > 0.9                       # exact match; chance is ~0
    assert m.score(X, Y) <= OneToMany.score(m.set_params(beam_size=3), X, Y) + 0.05


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_state_bridge_backward_matches_central_differences(cell):
    X, Y = count_task()
    m = OneToMany(cell=cell, hidden_size=4, embedding_dim=3, num_layers=2, clip=0, random_state=0)
    m.n_features_in_, m.n_targets_, m.max_target_ = 10, 6, 5
    m.net_ = _OneToManyNet(10, 6, m.get_params(), np.random.default_rng(0), 2 if cell == "lstm" else 1,
                           dtype=np.float64)
    data = {"X": X.astype(np.float64), "targets": Y}
    check_estimator_grads(m, data, np.arange(0, 24, 5))


def test_wrong_vector_size_is_refused():
    X, Y = count_task()
    m = OneToMany(hidden_size=4, epochs=1, random_state=0).fit(X, Y)
    with pytest.raises(ValueError, match="trained on 10"):
        m.predict(np.zeros((2, 7)))


# -- targets and lengths at their edges (with Seq2Seq, which shares the decoder) -----------------------------
def test_all_empty_targets_are_refused():
    empty = [np.array([], int), np.array([], int)]
    with pytest.raises(ValueError, match="every target sequence in y is empty"):
        Seq2Seq(epochs=1).fit([np.array([1, 2]), np.array([2])], empty)
    with pytest.raises(ValueError, match="every target sequence in y is empty"):
        OneToMany(epochs=1).fit(np.zeros((2, 3)), empty)


@pytest.mark.parametrize("bad", [[np.array([0, -1])], [np.array([0.5, 1.0])]])
def test_one_to_many_refuses_negative_or_float_target_ids(bad):
    with pytest.raises(ValueError, match="non-negative integer token ids"):
        OneToMany(epochs=1).fit(np.zeros((1, 3)), bad)


def test_max_length_zero_is_honoured():
    X = [np.array([1, 2]), np.array([2, 3])]
    y = [np.array([2, 1]), np.array([3, 2])]
    s2s = Seq2Seq(hidden_size=4, embedding_dim=4, epochs=1, random_state=0).fit(X, y)
    assert [len(p) for p in s2s.predict(X, max_length=0)] == [0, 0]
    assert [len(p) for p in s2s.predict(X, max_length=0, beam_size=2)] == [0, 0]
    o2m = OneToMany(hidden_size=4, embedding_dim=4, epochs=1, random_state=0).fit(np.eye(2), y)
    assert [len(p) for p in o2m.predict(np.eye(2), max_length=0)] == [0, 0]
    assert all(len(p) <= 1 for p in o2m.predict(np.eye(2), max_length=1))
    with pytest.raises(ValueError, match="max_length must be a non-negative integer"):
        s2s.predict(X, max_length=-1)
    with pytest.raises(ValueError, match="beam_size must be a positive integer"):
        s2s.predict(X, beam_size=0)
