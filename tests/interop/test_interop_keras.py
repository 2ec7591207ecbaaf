"""Keras layouts, checked against the Keras equations written out in NumPy."""
import numpy as np
import pytest

from rnnkit.interop import from_keras


def sig(z):
    return 1 / (1 + np.exp(-z))


def keras_lstm(x, k, rk, b):
    H = rk.shape[0]
    h = c = np.zeros((x.shape[0], H))
    out = []
    for t in range(x.shape[1]):
        z = x[:, t] @ k + h @ rk + b
        i, f, g, o = sig(z[:, :H]), sig(z[:, H:2 * H]), np.tanh(z[:, 2 * H:3 * H]), sig(z[:, 3 * H:])
        c = f * c + i * g
        h = o * np.tanh(c)
        out.append(h)
    return np.stack(out, 1)


def keras_gru(x, k, rk, b, reset_after):
    H = rk.shape[0]
    h = np.zeros((x.shape[0], H))
    out = []
    for t in range(x.shape[1]):
        if reset_after:
            xi, hi = x[:, t] @ k + b[0], h @ rk + b[1]
            z = sig(xi[:, :H] + hi[:, :H])
            r = sig(xi[:, H:2 * H] + hi[:, H:2 * H])
            hh = np.tanh(xi[:, 2 * H:] + r * hi[:, 2 * H:])
        else:
            xi = x[:, t] @ k + b
            z = sig(xi[:, :H] + h @ rk[:, :H])
            r = sig(xi[:, H:2 * H] + h @ rk[:, H:2 * H])
            hh = np.tanh(xi[:, 2 * H:] + (r * h) @ rk[:, 2 * H:])
        h = z * h + (1 - z) * hh
        out.append(h)
    return np.stack(out, 1)


def keras_simplernn(x, k, rk, b):
    h = np.zeros((x.shape[0], rk.shape[0]))
    out = []
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ k + h @ rk + b)
        out.append(h)
    return np.stack(out, 1)


rng = np.random.default_rng(0)
D, H = 3, 4
X = rng.standard_normal((2, 5, D))


def test_lstm_kernel_columns_ifco():
    w = [rng.standard_normal((D, 4 * H)), rng.standard_normal((H, 4 * H)), rng.standard_normal(4 * H)]
    y, _ = from_keras("lstm", w, dtype=np.float64)(X)
    np.testing.assert_allclose(y, keras_lstm(X, *w), atol=1e-12)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_zrh_with_both_bias_layouts(reset_after):
    b = rng.standard_normal((2, 3 * H) if reset_after else 3 * H)
    w = [rng.standard_normal((D, 3 * H)), rng.standard_normal((H, 3 * H)), b]
    y, _ = from_keras("gru", w, reset_after=reset_after, dtype=np.float64)(X)
    np.testing.assert_allclose(y, keras_gru(X, *w, reset_after), atol=1e-12)


def test_simple_rnn():
    w = [rng.standard_normal((D, H)), rng.standard_normal((H, H)), rng.standard_normal(H)]
    y, _ = from_keras("SimpleRNN", w, dtype=np.float64)(X)
    np.testing.assert_allclose(y, keras_simplernn(X, *w), atol=1e-12)


def test_wrong_bias_layout_is_named():
    w = [np.zeros((D, 3 * H)), np.zeros((H, 3 * H)), np.zeros(3 * H)]
    with pytest.raises(ValueError, match=r"\(2, 12\)"):
        from_keras("gru", w)
    with pytest.raises(ValueError, match="gate blocks"):
        from_keras("lstm", w)
