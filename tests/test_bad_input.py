"""Bad input raises one clear error naming the problem."""
import numpy as np
import pytest

import rnnkit


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
