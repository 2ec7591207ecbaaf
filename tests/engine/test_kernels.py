"""The compiled float32 kernels (numba): the tanh approximation's bound, the
switches, row and column kernels agreeing to the bit, and repeatability.
The loops that call them are held to the reference loop in ``tests/engine/``.
numba is in the test extra, so CI runs these."""
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("numba")

from rnnkit import kernels  # noqa: E402
from rnnkit.kernels import activations  # noqa: E402
from rnnkit.kernels import gru as gru_kernels  # noqa: E402
from rnnkit.kernels import lstm as lstm_kernels  # noqa: E402

import rnnkit  # noqa: E402


def test_tanh_and_sigmoid_approximations_stay_within_their_stated_error():
    x = np.concatenate([np.linspace(-12, 12, 400_001), [-1e30, -100.0, 0.0, 1e-8, 100.0, 1e30]]).astype(np.float32)
    out = np.empty_like(x)
    exact = np.tanh(x.astype(np.float64))
    activations.tanh_array(x, out)
    assert np.abs(out - exact).max() < 4e-7
    assert np.all(np.abs(out) <= 1.0)
    assert np.array_equal(np.sign(out), np.sign(x))             # odd, and exact at 0
    activations.sigmoid_array(x, out)
    exact = 0.5 * np.tanh(0.5 * x.astype(np.float64)) + 0.5
    assert np.abs(out - exact).max() < 2e-7
    assert np.all((out >= 0) & (out <= 1))


def test_kernels_serve_float32_only_and_can_be_switched_off(monkeypatch):
    assert kernels.available(np.float32)
    assert not kernels.available(np.float64)
    monkeypatch.setenv("RNNKIT_KERNELS", "numpy")
    assert not kernels.available(np.float32)


def _rows_and_columns(rng, B, G):
    """A (B, G) float32 array and its C-contiguous transpose."""
    rows = rng.standard_normal((B, G)).astype(np.float32)
    return rows, np.ascontiguousarray(rows.T)


def test_lstm_row_and_column_kernels_agree_to_the_bit():
    """One step of the batch-major kernels against the column-layout ones on the
    same data, forward (the products summed into the columns first) and back."""
    rng = np.random.default_rng(11)
    B, H = 13, 21                                        # odd sizes: vector bodies and scalar remainders
    G, f = 4 * H, np.float32
    hp, hp_c = _rows_and_columns(rng, B, G)
    xp, xp_c = _rows_and_columns(rng, B, G)
    c_prev, c_prev_c = _rows_and_columns(rng, B, H)
    bx = rng.standard_normal(G).astype(f)
    scales = lstm_kernels.lstm_gate_scales(H)
    act, c_out, tc, h_out = np.empty((B, G), f), np.empty((B, H), f), np.empty((B, H), f), np.empty((B, H), f)
    lstm_kernels.lstm_forward_step(hp, xp, bx, scales, c_prev, act, c_out, tc, h_out)

    a_c = hp_c + xp_c                                    # (hp + xp) + bx, as the row kernel adds
    c_out_c, tc_c, h_c, hs_t = np.empty((H, B), f), np.empty((H, B), f), np.empty((H, B), f), np.empty((B, H), f)
    lstm_kernels.lstm_forward_cols_acc(a_c, bx, scales, c_prev_c, c_out_c, tc_c, h_c, hs_t, 0, H, 0, B)
    for rows, cols in ((act, a_c), (c_out, c_out_c), (tc, tc_c), (h_out, h_c), (h_out, hs_t.T)):
        np.testing.assert_array_equal(rows, cols.T)

    dh, dh_c = _rows_and_columns(rng, B, H)
    dc, dc_c = _rows_and_columns(rng, B, H)
    da, dc_prev = np.empty((B, G), f), np.empty((B, H), f)
    lstm_kernels.lstm_backward_step(act, tc, c_prev, dh, dc, da, dc_prev)
    da_c = np.empty((G, B), f)
    lstm_kernels.lstm_backward_cols(a_c, tc_c, c_prev_c, dh_c, np.empty((0, 0), f), dc_c, da_c, 0, H, 0, B)
    np.testing.assert_array_equal(da, da_c.T)
    np.testing.assert_array_equal(dc_prev, dc_c.T)
    np.testing.assert_array_equal(dh, dh_c.T)            # no output gradient: dh unchanged


def test_gru_row_and_column_kernels_agree_to_the_bit():
    rng = np.random.default_rng(12)
    B, H = 13, 21
    G, f = 3 * H, np.float32
    hp, hp_c = _rows_and_columns(rng, B, G)
    xp, xp_c = _rows_and_columns(rng, B, G)
    h_prev, h_prev_c = _rows_and_columns(rng, B, H)
    bx = rng.standard_normal(G).astype(f)
    b_hn = rng.standard_normal(H).astype(f)
    act, hn, h_out = np.empty((B, G), f), np.empty((B, H), f), np.empty((B, H), f)
    gru_kernels.gru_forward_step(hp, xp, bx, b_hn, h_prev, act, hn, h_out)

    a_c = xp_c.copy()
    h_new_c, hn_c, hs_t = np.empty((H, B), f), np.empty((H, B), f), np.empty((B, H), f)
    gru_kernels.gru_forward_cols(hp_c, a_c, bx, b_hn, h_prev_c, h_new_c, hn_c, hs_t, 0, H, 0, B)
    for rows, cols in ((act, a_c), (hn, hn_c), (h_out, h_new_c), (h_out, hs_t.T)):
        np.testing.assert_array_equal(rows, cols.T)

    dh, dh_c = _rows_and_columns(rng, B, H)
    da, dhp, direct = np.empty((B, G), f), np.empty((B, G), f), np.empty((B, H), f)
    gru_kernels.gru_backward_step(act, hn, h_prev, dh, da, dhp, direct)
    da_c, dhp_c = np.empty((G, B), f), np.empty((G, B), f)
    gru_kernels.gru_backward_cols(a_c, hn_c, h_prev_c, dh_c, da_c, dhp_c, 0, H, 0, B)   # dh_c leaves as the direct path
    for rows, cols in ((da, da_c), (dhp, dhp_c), (direct, dh_c)):
        np.testing.assert_array_equal(rows, cols.T)


@pytest.mark.parametrize("make", [rnnkit.LSTM, rnnkit.GRU, rnnkit.RNN])
def test_layer_with_kernels_matches_float64_to_float32_precision(make):
    """A float32 layer on the kernels against the same weights in float64 (NumPy, exact functions)."""
    rng = np.random.default_rng(3)
    l32 = make(7, 16, num_layers=2, bidirectional=True, dtype=np.float32, seed=1)
    l64 = make(7, 16, num_layers=2, bidirectional=True, dtype=np.float64, seed=1)
    l64.load_state_dict({k: v.astype(np.float64) for k, v in l32.state_dict().items()})
    x = rng.standard_normal((30, 4, 7))
    lengths = np.array([30, 11, 25, 3])
    y32, _ = l32(x.astype(np.float32), lengths=lengths)
    y64, _ = l64(x, lengths=lengths)
    dy = rng.standard_normal(y64.shape)
    dx32, _ = l32.backward(dy.astype(np.float32))
    dx64, _ = l64.backward(dy)
    np.testing.assert_allclose(y32, y64, atol=5e-6)
    np.testing.assert_allclose(dx32, dx64, atol=2e-5 * np.abs(dx64).max())
    for k in l64.grads:
        scale = np.abs(l64.grads[k]).max()
        np.testing.assert_allclose(l32.grads[k], l64.grads[k], atol=2e-5 * scale, err_msg=k)


def test_importing_rnnkit_does_not_import_numba():
    """``import rnnkit`` and ``import rnnkit.kernels`` stay light: numba loads with the first kernel module."""
    code = "import sys, rnnkit, rnnkit.kernels, rnnkit.engine; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_training_with_kernels_is_bitwise_repeatable():
    """The same seed gives the same weights to the last bit, run after run in one
    process, whatever addresses the arrays get.  (With ``fastmath=True`` the
    kernels' approximate reciprocals made repeated runs differ in the last bits
    now and then; ``test_cli_lm``'s resume test caught it.)"""
    from rnnkit.models import LanguageModel

    text = "def f(x):\n    return (x + 1) * 2  # comment\n" * 40

    def weights():
        lm = LanguageModel(level="char", cell="lstm", hidden_size=48, num_layers=1, embedding_dim=8, seq_len=8,
                           batch_size=4, steps=120, eval_every=0, random_state=2)
        lm.fit(text)
        return lm.net_.state_dict()

    first = weights()
    for _ in range(3):
        again = weights()
        for k in first:
            np.testing.assert_array_equal(again[k], first[k], err_msg=k)
