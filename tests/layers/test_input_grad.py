"""``layer.backward(dy, input_grad=False)`` skips the input gradient and nothing else."""
import numpy as np
import pytest

import rnnkit

LAYERS = {
    "lstm": lambda **kw: rnnkit.LSTM(6, 9, **kw),          # column loop (float32, numba) or batch-major
    "gru": lambda **kw: rnnkit.GRU(6, 9, reset_after=True, **kw),
    "gru-v1": lambda **kw: rnnkit.GRU(6, 9, reset_after=False, **kw),
    "rnn": lambda **kw: rnnkit.RNN(6, 9, **kw),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("lengths", [None, [6, 3, 6, 2, 1, 5, 6, 4]])
def test_backward_without_the_input_gradient_changes_nothing_else(kind, lengths, dtype):
    """``dx`` is ``None``; every weight gradient and the initial-state gradient
    are those of the full backward pass, to the bit."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((8, 6, 6)).astype(dtype)
    results = []
    for input_grad in (True, False):
        layer = LAYERS[kind](batch_first=True, num_layers=2, bidirectional=True, dtype=dtype, seed=1)
        y, _ = layer(x, lengths=lengths)
        dx, dh0 = layer.backward(np.random.default_rng(6).standard_normal(y.shape).astype(dtype),
                                 input_grad=input_grad)
        results.append((dx, dh0, dict(layer.grads)))
    assert results[0][0] is not None and results[0][0].shape == x.shape and results[1][0] is None
    h0s = [r[1] if isinstance(r[1], tuple) else (r[1],) for r in results]
    for a, b in zip(*h0s, strict=True):
        np.testing.assert_array_equal(a, b)
    for k, g in results[0][2].items():
        np.testing.assert_array_equal(results[1][2][k], g, err_msg=k)


def test_unbatched_backward_without_the_input_gradient():
    layer = rnnkit.LSTM(6, 9, seed=1)
    y, _ = layer(np.ones((5, 6), np.float32))
    dx, (dh0, dc0) = layer.backward(np.ones_like(y), input_grad=False)
    assert dx is None and dh0.shape == (1, 9) and dc0.shape == (1, 9)
