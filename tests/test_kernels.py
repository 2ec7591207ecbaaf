"""The compiled float32 kernels (numba) compute what the NumPy loops compute.

numba is in the test extra, so CI runs these; ``RNNKIT_KERNELS=numpy`` forces
the NumPy fast loop, which ``test_fast_path.py`` ties to the readable reference
loop.  Together: reference == NumPy fast loop == kernels."""
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("numba")

from rnnkit import kernels, sequence  # noqa: E402
from rnnkit.cells.gru import GRUCell  # noqa: E402
from rnnkit.cells.lstm import LSTMCell  # noqa: E402
from rnnkit.cells.rnn import ElmanCell  # noqa: E402
from rnnkit.kernels import fused  # noqa: E402

import rnnkit  # noqa: E402


def test_tanh_and_sigmoid_approximations_stay_within_their_stated_error():
    x = np.concatenate([np.linspace(-12, 12, 400_001), [-1e30, -100.0, 0.0, 1e-8, 100.0, 1e30]]).astype(np.float32)
    out = np.empty_like(x)
    exact = np.tanh(x.astype(np.float64))
    fused.tanh_array(x, out)
    assert np.abs(out - exact).max() < 4e-7
    assert np.all(np.abs(out) <= 1.0)
    assert np.array_equal(np.sign(out), np.sign(x))             # odd, and exact at 0
    fused.sigmoid_array(x, out)
    exact = 0.5 * np.tanh(0.5 * x.astype(np.float64)) + 0.5
    assert np.abs(out - exact).max() < 2e-7
    assert np.all((out >= 0) & (out <= 1))


def test_kernels_serve_float32_only_and_can_be_switched_off(monkeypatch):
    assert kernels.enabled(np.float32)
    assert not kernels.enabled(np.float64)
    monkeypatch.setenv("RNNKIT_KERNELS", "numpy")
    assert not kernels.enabled(np.float32)


CELLS = {"lstm": LSTMCell(), "gru": GRUCell(reset_after=True), "gru_reset_before": GRUCell(reset_after=False),
         "rnn_tanh": ElmanCell("tanh"), "rnn_relu": ElmanCell("relu")}


def _case(cell, T=9, B=5, D=3, H=6, seed=0):
    rng = np.random.default_rng(seed)
    f, G, S = np.float32, cell.gates, cell.n_states
    p = {"W_ih": (rng.standard_normal((G * H, D)) * 0.6).astype(f),
         "W_hh": (rng.standard_normal((G * H, H)) * 0.6).astype(f),
         "b_ih": (rng.standard_normal(G * H) * 0.3).astype(f), "b_hh": (rng.standard_normal(G * H) * 0.3).astype(f)}
    x = rng.standard_normal((T, B, D)).astype(f) * 2
    state0 = tuple(rng.standard_normal((B, H)).astype(f) for _ in range(S))
    dhs = rng.standard_normal((T, B, H)).astype(f)
    dT = tuple(rng.standard_normal((B, H)).astype(f) for _ in range(S))
    lengths = np.array([T, 4, 1, T - 3, 2])
    mask = np.arange(T)[:, None] < lengths[None, :]
    rmask = ((rng.random((B, H)) > 0.3) / 0.7).astype(f)
    return p, x, state0, dhs, dT, mask, rmask


def _run(cell, p, x, state0, dhs, dT, mask, rmask, reverse):
    hs, final, cache = sequence.forward(cell, p, x, state0, mask, rmask, reverse, keep_cache=True)
    hs2, final2, _ = sequence.forward(cell, p, x, state0, mask, rmask, reverse, keep_cache=False)
    dx, d0, grads = sequence.backward(cell, p, cache, dhs, dT)
    return [hs, hs2, *final, *final2, dx, *d0] + [grads[k] for k in sorted(grads)]


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("with_mask", [False, True])
@pytest.mark.parametrize("with_rmask", [False, True])
@pytest.mark.parametrize("name", sorted(CELLS))
def test_kernels_match_the_numpy_loop(monkeypatch, name, reverse, with_mask, with_rmask):
    cell = CELLS[name]
    p, x, state0, dhs, dT, mask, rmask = _case(cell)
    mask = mask if with_mask else None
    rmask = rmask if with_rmask else None
    got = _run(cell, p, x, state0, dhs, dT, mask, rmask, reverse)
    monkeypatch.setenv("RNNKIT_KERNELS", "numpy")
    want = _run(cell, p, x, state0, dhs, dT, mask, rmask, reverse)
    for g, w in zip(got, want):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=1e-6 * max(1.0, float(np.abs(w).max())))


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
    code = "import sys, rnnkit; print('numba' in sys.modules)"
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
