"""Learning, not just running: the seeds' "hello" case study, and the adding
problem at T = 100 where gates win and the plain RNN struggles."""
import numpy as np
import pytest

from rnnkit.models.hello import sample_text, train_hello
from rnnkit.diagnostics.adding import adding_problem, train_adding


def test_hello_case_study_samples_hello_exactly():
    net, vocab, losses = train_hello("hello", hidden_size=16, steps=300, seed=0)
    assert losses[-1] < 0.01 < losses[0]
    assert sample_text(net, vocab, "h", 4) == "hello"


def test_adding_problem_baseline_of_always_answering_one_is_a_sixth():
    _, y = adding_problem(20000, 100, rng=0, dtype=np.float64)
    assert ((y - 1.0) ** 2).mean() == pytest.approx(1 / 6, abs=0.01)


@pytest.mark.slow
def test_gru_solves_the_adding_problem_where_the_plain_rnn_struggles():
    budget = dict(T=100, hidden_size=32, steps=350, batch_size=64, lr=1e-2, seed=0)
    gru_mse, _ = train_adding("gru", **budget)
    rnn_mse, _ = train_adding("rnn", **budget)
    assert gru_mse < 0.05
    assert rnn_mse > 0.1          # no better than a constant answer (0.167) within the same budget
