"""Bad input raises one clear error naming the problem: misused layers and optimizers,
final-state gradients of the wrong shape, step() on a bidirectional layer, an empty batch."""
import numpy as np
import pytest

import rnnkit
from rnnkit.diagnostics.adding import adding_problem
from rnnkit.layers import Dense, Dropout, Embedding
from rnnkit.optim import Adam
from rnnkit.recurrent import GRU, LSTM, RNN


@pytest.fixture
def lstm():
    return rnnkit.LSTM(3, 4, num_layers=2)


def test_wrong_rank_is_named(lstm):
    with pytest.raises(ValueError, match=r"must be 3-D \(T, B, D\)"):
        lstm(np.zeros((2, 3, 4, 3)))


def test_wrong_feature_size_is_named(lstm):
    with pytest.raises(ValueError, match="5 features per step but the layer was built with input_size=3"):
        lstm(np.zeros((4, 2, 5)))


@pytest.mark.parametrize("lengths,match", [([5, 1], r"lengths must lie in \[1, 4\]"),
                                            ([0, 2], r"lengths must lie in \[1, 4\]"),
                                            ([1, 2, 3], "one length per sequence"),
                                            ([1.5, 2], "must be integers")])
def test_bad_lengths_are_named(lstm, lengths, match):
    with pytest.raises(ValueError, match=match):
        lstm(np.zeros((4, 2, 3)), lengths=lengths)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_input_is_rejected(lstm, bad):
    x = np.zeros((4, 2, 3))
    x[1, 1, 2] = bad
    with pytest.raises(ValueError, match="NaN or Inf"):
        lstm(x)


def test_state_of_wrong_shape_is_named(lstm):
    with pytest.raises(ValueError, match=r"h0 has shape \(1, 2, 4\) but this layer needs \(2, 2, 4\)"):
        lstm(np.zeros((4, 2, 3)), (np.zeros((1, 2, 4)), np.zeros((1, 2, 4))))
    with pytest.raises(ValueError, match="pair"):
        lstm(np.zeros((4, 2, 3)), np.zeros((2, 2, 4)))


@pytest.mark.parametrize("kwargs,match", [(dict(merge_mode="avg"), "unknown merge_mode 'avg'"),
                                           (dict(init="xavier"), "unknown init 'xavier'"),
                                           (dict(dropout=1.2), r"dropout must be a probability"),
                                           (dict(dtype=np.int32), "dtype int32 is not supported"),
                                           (dict(proj_size=4), "proj_size must be smaller than hidden_size")])
def test_unknown_option_values_are_named(kwargs, match):
    with pytest.raises((ValueError, NotImplementedError), match=match):
        rnnkit.LSTM(3, 4, **kwargs)


def test_unknown_nonlinearity_and_sizes_are_named():
    with pytest.raises(ValueError, match="unknown nonlinearity 'sigmoid'"):
        rnnkit.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="hidden_size must be a positive integer"):
        rnnkit.GRU(3, 0)


def test_non_numeric_input_is_named(lstm):
    with pytest.raises(ValueError, match="numeric"):
        lstm(np.array([[["a", "b", "c"]]]))


def test_backward_before_forward_is_explained():
    with pytest.raises(RuntimeError, match="forward pass"):
        rnnkit.GRU(3, 4).backward(np.zeros((2, 1, 4)))


# -- misuse of the core API gets one line naming the fix -----------------------------------------------------
def _x(T=5, B=2, D=3, dtype=np.float32):
    return np.random.default_rng(1).standard_normal((T, B, D)).astype(dtype)


def test_misuse_gets_one_line_errors_that_name_the_fix():
    import torch

    p = {"w": np.zeros(3)}
    with pytest.raises(TypeError, match="dict keyed like the parameters"):
        Adam(p).step([np.ones(3)])
    with pytest.raises(RuntimeError, match="Dense.backward\\(\\) needs a forward pass first"):
        Dense(3, 2).backward(np.ones((1, 2)))
    with pytest.raises(RuntimeError, match="Embedding.backward\\(\\) needs a forward pass first"):
        Embedding(5, 3).backward(np.ones((1, 3)))
    for bad in (5, -6, 1.5, True):
        with pytest.raises(ValueError, match=r"padding_idx must be an integer in \[-5, 5\)"):
            Embedding(5, 3, padding_idx=bad)
    assert Embedding(5, 3, padding_idx=-1).padding_idx == 4          # from the end, as in PyTorch
    with pytest.raises(NotImplementedError, match="proj_size is an LSTM option"):
        GRU(3, 4, proj_size=2)
    with pytest.raises(ValueError, match="T must be >= 2"):
        adding_problem(4, 1, 0)
    with pytest.raises(ValueError, match="not a NumPy dtype"):
        LSTM(3, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match="Dropout needs floating-point input"):
        Dropout(0.5)(np.ones((2, 3), np.int64))
    layer = LSTM(3, 4, seed=0)
    layer(_x())
    with pytest.raises(ValueError, match="dy is None"):
        layer.backward(None)


# -- final-state gradients, step() on a bidirectional layer, an empty batch ----------------------------------
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
