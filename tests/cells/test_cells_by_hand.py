"""Small cases worked out by hand with scalar arithmetic (D = H = 1), for the
cells PyTorch has no twin of (the reset-before GRU, the simplified GRU), and
for the others as a second witness."""
import math

import numpy as np
import pytest

import rnnkit


def sig(a):
    return 1.0 / (1.0 + math.exp(-a))


def _layer(cls, W_ih, W_hh, b_ih, b_hh, **kw):
    layer = cls(1, 1, dtype=np.float64, **kw)
    layer.params["weight_ih_l0"][:, 0] = W_ih
    layer.params["weight_hh_l0"][:, 0] = W_hh
    layer.params["bias_ih_l0"][:] = b_ih
    layer.params["bias_hh_l0"][:] = b_hh
    return layer


XS = [0.5, -1.0]
H0 = 0.3


def test_reset_before_gru_matches_the_seeds_equations():
    W_ih, W_hh = [0.4, -0.3, 0.8], [0.2, 0.5, -0.6]
    b_ih, b_hh = [0.1, -0.2, 0.05], [0.0, 0.3, -0.1]
    layer = _layer(rnnkit.GRU, W_ih, W_hh, b_ih, b_hh, reset_after=False)
    h, expected = H0, []
    for x in XS:
        r = sig(W_ih[0] * x + b_ih[0] + W_hh[0] * h + b_hh[0])
        z = sig(W_ih[1] * x + b_ih[1] + W_hh[1] * h + b_hh[1])
        n = math.tanh(W_ih[2] * x + b_ih[2] + W_hh[2] * (r * h) + b_hh[2])   # reset before the product
        h = (1 - z) * n + z * h
        expected.append(h)
    y, hn = layer(np.array(XS)[:, None, None], np.full((1, 1, 1), H0))
    np.testing.assert_allclose(y[:, 0, 0], expected, rtol=0, atol=1e-15)
    assert hn[0, 0, 0] == pytest.approx(expected[-1], abs=1e-15)


def test_reset_after_gru_differs_from_reset_before_by_where_r_applies():
    W_ih, W_hh = [0.4, -0.3, 0.8], [0.2, 0.5, -0.6]
    b_ih, b_hh = [0.1, -0.2, 0.05], [0.0, 0.3, -0.1]
    layer = _layer(rnnkit.GRU, W_ih, W_hh, b_ih, b_hh, reset_after=True)
    x, h = XS[0], H0
    r = sig(W_ih[0] * x + b_ih[0] + W_hh[0] * h + b_hh[0])
    z = sig(W_ih[1] * x + b_ih[1] + W_hh[1] * h + b_hh[1])
    n = math.tanh(W_ih[2] * x + b_ih[2] + r * (W_hh[2] * h + b_hh[2]))          # reset after the product
    y, _ = layer(np.array([[[x]]]), np.full((1, 1, 1), H0))
    assert y[0, 0, 0] == pytest.approx((1 - z) * n + z * h, abs=1e-15)


def test_simplified_gru_matches_seed_004_with_update_gate_only():
    W_ih, W_hh = [0.7, -0.4], [0.3, 0.9]
    b_ih, b_hh = [-0.1, 0.2], [0.05, 0.0]
    layer = _layer(rnnkit.SimpleGRU, W_ih, W_hh, b_ih, b_hh)
    h, expected = H0, []
    for x in XS:
        gamma_u = 1 - sig(W_ih[0] * x + b_ih[0] + W_hh[0] * h + b_hh[0])   # seed 004's Γu = 1 − z
        c_tilde = math.tanh(W_ih[1] * x + b_ih[1] + W_hh[1] * h + b_hh[1])
        h = gamma_u * c_tilde + (1 - gamma_u) * h
        expected.append(h)
    y, _ = layer(np.array(XS)[:, None, None], np.full((1, 1, 1), H0))
    np.testing.assert_allclose(y[:, 0, 0], expected, rtol=0, atol=1e-15)


def test_simplified_gru_state_gradient_matches_the_derivative_by_hand():
    W_ih, W_hh = [0.7, -0.4], [0.3, 0.9]
    layer = _layer(rnnkit.SimpleGRU, W_ih, W_hh, [0, 0], [0, 0])
    x, h = XS[0], H0
    z = sig(W_ih[0] * x + W_hh[0] * h)
    n = math.tanh(W_ih[1] * x + W_hh[1] * h)
    # h1 = (1 - z) n + z h  =>  dh1/dh0 = z + (h - n) z (1 - z) u_z + (1 - z)(1 - n²) u_n
    dh1_dh0 = z + (h - n) * z * (1 - z) * W_hh[0] + (1 - z) * (1 - n * n) * W_hh[1]
    dh1_du_n = (1 - z) * (1 - n * n) * h
    layer(np.array([[[x]]]), np.full((1, 1, 1), h))
    _, dh0 = layer.backward(np.ones((1, 1, 1)))
    assert dh0[0, 0, 0] == pytest.approx(dh1_dh0, abs=1e-15)
    assert layer.grads["weight_hh_l0"][1, 0] == pytest.approx(dh1_du_n, abs=1e-15)


def test_lstm_and_elman_match_their_equations():
    W = dict(i=(0.3, -0.2, 0.1), f=(0.5, 0.4, 0.2), g=(-0.6, 0.7, 0.0), o=(0.2, 0.1, -0.3))  # (w_x, w_h, b)
    lstm = _layer(rnnkit.LSTM, [W[k][0] for k in "ifgo"], [W[k][1] for k in "ifgo"],
                  [W[k][2] for k in "ifgo"], [0, 0, 0, 0])
    h, c = H0, -0.2
    for x in XS:
        a = {k: W[k][0] * x + W[k][1] * h + W[k][2] for k in "ifgo"}
        c = sig(a["f"]) * c + sig(a["i"]) * math.tanh(a["g"])
        h = sig(a["o"]) * math.tanh(c)
    y, (hn, cn) = lstm(np.array(XS)[:, None, None], (np.full((1, 1, 1), H0), np.full((1, 1, 1), -0.2)))
    assert hn[0, 0, 0] == pytest.approx(h, abs=1e-15) and cn[0, 0, 0] == pytest.approx(c, abs=1e-15)

    relu = _layer(rnnkit.RNN, [1.5], [-0.5], [0.1], [0.0], nonlinearity="relu")
    y, _ = relu(np.array(XS)[:, None, None], np.full((1, 1, 1), H0))
    h1 = max(0.0, 1.5 * XS[0] - 0.5 * H0 + 0.1)
    h2 = max(0.0, 1.5 * XS[1] - 0.5 * h1 + 0.1)
    np.testing.assert_allclose(y[:, 0, 0], [h1, h2], atol=1e-15)
