"""Recurrent layers at their edges: the final-state gradient's shape, step() on a
bidirectional layer, an empty batch."""
import numpy as np
import pytest

from rnnkit.layers import Embedding
from rnnkit.recurrent import GRU, LSTM, RNN

D, H = 3, 4


def _backward_after_forward(layer, x):
    y, _ = layer(x)
    return lambda dh_n: layer.backward(np.zeros_like(y), dh_n)


@pytest.mark.parametrize("shape", [(1, 1, H), (3, 2, H), (1, 2, H + 1), (2, H), (1, 1, 2, H)])
def test_backward_refuses_a_final_state_gradient_of_the_wrong_shape(shape):
    back = _backward_after_forward(GRU(D, H, seed=0), np.ones((5, 2, D)))
    with pytest.raises(ValueError, match=r"dh_n has shape .* but the final state was \(1, 2, 4\)"):
        back(np.ones(shape))


def test_backward_still_takes_the_right_final_state_gradient():
    layer = GRU(D, H, num_layers=2, bidirectional=True, dtype=np.float64, seed=0)
    back = _backward_after_forward(layer, np.random.default_rng(0).standard_normal((5, 2, D)))
    dh = np.random.default_rng(1).standard_normal((4, 2, H))
    _, dh0 = back(dh)
    assert dh0.shape == (4, 2, H) and np.abs(dh0).max() > 0


def test_unbatched_backward_takes_l_k_by_h_and_refuses_other_shapes():
    layer = RNN(D, H, num_layers=2, seed=0)
    back = _backward_after_forward(layer, np.ones((5, D)))
    _, dh0 = back(np.ones((2, H)))
    _, dh0_3d = back(np.ones((2, 1, H)))                 # as h0 accepts (L*K, 1, H) too
    np.testing.assert_array_equal(dh0, dh0_3d)
    with pytest.raises(ValueError, match=r"dh_n has shape \(1, 4\) but the final state was \(2, 4\)"):
        back(np.ones((1, H)))


def test_lstm_final_state_gradient_given_as_one_array_is_refused_in_one_line():
    back = _backward_after_forward(LSTM(D, H, seed=0), np.ones((5, 2, D)))
    with pytest.raises(ValueError, match=r"LSTM is a pair \(dh_n, dc_n\)") as info:
        back(np.ones((1, 2, H)))
    assert "\n" not in str(info.value)


def test_lstm_final_state_gradient_pair_parts_are_checked_and_may_be_none():
    layer = LSTM(D, H, dtype=np.float64, seed=0)
    back = _backward_after_forward(layer, np.random.default_rng(0).standard_normal((5, 2, D)))
    g = np.random.default_rng(1).standard_normal((1, 2, H))
    _, (dh_only, _) = back((g, None))
    _, (dh_both, _) = back((g, np.zeros_like(g)))
    np.testing.assert_allclose(dh_only, dh_both, atol=1e-15)
    with pytest.raises(ValueError, match=r"dc_n has shape \(2, 4\)"):
        back((None, np.ones((2, H))))


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_step_refuses_a_bidirectional_layer(cls):
    layer = cls(D, H, bidirectional=True, seed=0)
    with pytest.raises(ValueError, match=r"step\(\) streams one direction only; use forward\(\)"):
        layer.step(np.ones((2, D)))
    with pytest.raises(ValueError, match="one direction only"):
        layer.step(np.ones(D))


def test_step_still_streams_a_unidirectional_layer():
    layer = GRU(D, H, seed=0).eval()
    x = np.random.default_rng(0).standard_normal((4, 2, D))
    y, _ = layer(x)
    state = None
    for t in range(4):
        y_t, state = layer.step(x[t], state)
        np.testing.assert_allclose(y_t, y[t], atol=1e-6)


@pytest.mark.parametrize("x,kwargs", [(np.zeros((5, 0, D)), {"lengths": []}), (np.zeros((5, 0, D)), {})])
def test_an_empty_batch_is_refused(x, kwargs):
    with pytest.raises(ValueError, match=r"holds no sequences \(batch size 0\)"):
        GRU(D, H)(x, **kwargs)


def test_an_empty_batch_is_refused_batch_first_and_as_token_ids():
    with pytest.raises(ValueError, match="batch size 0"):
        LSTM(D, H, batch_first=True)(np.zeros((0, 5, D)))
    with pytest.raises(ValueError, match="batch size 0"):
        GRU(D, H)(np.zeros((5, 0), np.int64), embedding=Embedding(6, D))
