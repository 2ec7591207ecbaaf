"""Initialisation defaults (SPEC): Glorot input, orthogonal recurrent, zero
biases, forget bias 1, optional reset bias, and PyTorch's own scheme."""
import numpy as np

import rnnkit


def test_recurrent_blocks_are_orthogonal_and_input_blocks_glorot_bounded():
    layer = rnnkit.LSTM(10, 16, num_layers=2, dtype=np.float64, seed=0)
    for l in range(2):
        W_hh = layer.params[f"weight_hh_l{l}"]
        for g in range(4):
            block = W_hh[g * 16:(g + 1) * 16]
            np.testing.assert_allclose(block.T @ block, np.eye(16), atol=1e-12)
    W_ih = layer.params["weight_ih_l0"]
    limit = np.sqrt(6 / (10 + 16))
    assert np.abs(W_ih).max() <= limit and np.abs(W_ih).max() > 0.8 * limit


def test_lstm_forget_bias_starts_at_one_and_is_switchable():
    H = 8
    b = rnnkit.LSTM(3, H).params["bias_ih_l0"]
    assert np.all(b[H:2 * H] == 1) and np.all(b[:H] == 0) and np.all(b[2 * H:] == 0)
    assert np.all(rnnkit.LSTM(3, H).params["bias_hh_l0"] == 0)
    assert np.all(rnnkit.LSTM(3, H, forget_bias=0.0).params["bias_ih_l0"] == 0)


def test_gru_reset_bias_can_start_at_minus_one():
    H = 8
    b = rnnkit.GRU(3, H, reset_bias=-1.0, num_layers=2, bidirectional=True).params
    for k, v in b.items():
        if k.startswith("bias_ih"):
            assert np.all(v[:H] == -1) and np.all(v[H:] == 0)


def test_torch_init_draws_every_tensor_from_uniform_one_over_sqrt_h():
    H = 25
    layer = rnnkit.GRU(4, H, init="torch", seed=0, bidirectional=True)
    for v in layer.params.values():
        assert np.abs(v).max() <= 1 / np.sqrt(H)
        assert np.abs(v).max() > 0.9 / np.sqrt(H)


def test_same_seed_gives_same_weights_and_no_global_state_is_used():
    np.random.seed(0)
    a = rnnkit.RNN(3, 4, seed=7).state_dict()
    np.random.seed(1)
    b = rnnkit.RNN(3, 4, seed=7).state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    c = rnnkit.RNN(3, 4, seed=8).state_dict()
    assert not np.array_equal(a["weight_ih_l0"], c["weight_ih_l0"])
