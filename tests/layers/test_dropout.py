"""Recurrent dropout (one mask per sequence, every step) and dropout between layers."""
import numpy as np
import pytest

from conftest import make_layer, pass_grads as _grads, small_input as _x
from rnnkit.recurrent import GRU, LSTM

D, H = 3, 64


def test_recurrent_dropout_reuses_one_mask_at_every_step(rng):
    layer = make_layer("lstm", D, H, recurrent_dropout=0.5, dtype=np.float64, seed=0)
    x = rng.standard_normal((12, 4, D))
    layer(x)
    cache = layer._cache["layers"][0][1][0]
    masks = layer._cache["masks"]["recurrent"][0]
    assert masks.shape == (4, H)
    dropped = masks == 0
    assert 0.3 < dropped.mean() < 0.7
    # the h fed to W_hh is zero on the same units at every step
    for t in range(1, 12):
        assert np.all(cache.hd[t][dropped] == 0)
        assert np.all(cache.hd[t][~dropped] != 0)
    np.testing.assert_allclose(masks[~dropped], 2.0)   # inverted dropout keeps the expectation


def test_dropout_is_off_in_eval_mode_and_seeded_in_training(rng):
    x = rng.standard_normal((6, 2, D))
    a = make_layer("gru", D, H, num_layers=2, dropout=0.5, recurrent_dropout=0.5, dtype=np.float64, seed=1)
    b = make_layer("gru", D, H, num_layers=2, dropout=0.5, recurrent_dropout=0.5, dtype=np.float64, seed=1)
    ref = make_layer("gru", D, H, num_layers=2, dtype=np.float64, seed=1)
    y_a, _ = a(x)
    y_b, _ = b(x)
    np.testing.assert_array_equal(y_a, y_b)           # same seed, same masks
    assert not np.allclose(y_a, ref(x)[0])
    np.testing.assert_array_equal(a.eval()(x)[0], ref(x)[0])


def test_dropout_between_layers_masks_each_element_of_lower_outputs(rng):
    layer = make_layer("rnn_tanh", D, 8, num_layers=3, dropout=0.4, dtype=np.float64, seed=2)
    masks = layer.sample_masks(5, 2)
    assert [m is None for m in masks["between"]] == [False, False, True]
    assert masks["between"][0].shape == (5, 2, 8)
    assert all(m is None for m in masks["recurrent"])


def test_dropout_layer_scales_kept_units_and_passes_gradient_through_mask(rng):
    from rnnkit.layers import Dropout

    drop = Dropout(0.25, seed=0)
    x = np.ones((1000, 10))
    y = drop(x)
    assert set(np.unique(y)) <= {0.0, 1.0 / 0.75}
    assert abs((y == 0).mean() - 0.25) < 0.02
    np.testing.assert_array_equal(drop.backward(np.ones_like(x)), y)
    assert drop.eval()(x) is x or np.array_equal(drop(x), x)


# -- dropout masks given to a pass ---------------------------------------------------------------------------
def test_dropout_masks_drawn_for_another_batch_are_refused():
    layer = GRU(3, 4, recurrent_dropout=0.5, dropout=0.3, num_layers=2, seed=0)
    with pytest.raises(ValueError, match=r"recurrent dropout mask has shape \(3, 4\) but this pass needs \(2, 4\) "
                                         r"\(or \(1, 4\), shared by the batch\); draw the masks with sample_masks\(5, 2\)"):
        layer(_x(), masks=layer.sample_masks(5, 3))
    with pytest.raises(ValueError, match="between dropout mask has shape"):
        layer(_x(), masks=layer.sample_masks(4, 2))
    layer(_x(), masks=layer.sample_masks(5, 2))


@pytest.mark.parametrize("lengths", [None, [5, 3, 2]])
def test_dropout_masks_of_batch_one_are_shared_by_every_sequence(lengths):
    layer = LSTM(3, 4, num_layers=2, dropout=0.5, recurrent_dropout=0.5, seed=0)
    x = _x(B=3)
    shared = layer.sample_masks(5, 1)
    full = {"recurrent": [np.repeat(m, 3, 0) for m in shared["recurrent"]],
            "between": [None if m is None else np.repeat(m, 3, 1) for m in shared["between"]]}
    a = _grads(layer, x, lengths=lengths, masks=shared)
    b = _grads(layer, x, lengths=lengths, masks=full)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
