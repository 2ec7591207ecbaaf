import numpy as np
import pytest

from rnnkit.models import OneToMany
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
