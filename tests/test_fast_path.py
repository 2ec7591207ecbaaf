"""The fast time loop (preallocated buffers, in-place ufuncs) computes what the
readable reference loop computes: outputs, final states, input/state gradients
and weight gradients agree in float64 to 1e-12, with lengths (padding),
recurrent dropout, both directions, and with and without a cache."""
import numpy as np
import pytest

from rnnkit import sequence
from rnnkit.cells.gru import GRUCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.rnn import ElmanCell

CELLS = {"lstm": LSTMCell(), "gru": GRUCell(), "rnn": ElmanCell(), "rnn_relu": ElmanCell("relu")}


def _setup(cell, T=7, B=4, D=3, H=5, seed=0):
    rng = np.random.default_rng(seed)
    G = cell.gates
    p = {"W_ih": rng.standard_normal((G * H, D)) * 0.5, "W_hh": rng.standard_normal((G * H, H)) * 0.5,
         "b_ih": rng.standard_normal(G * H) * 0.1, "b_hh": rng.standard_normal(G * H) * 0.1}
    x = rng.standard_normal((T, B, D))
    state0 = tuple(rng.standard_normal((B, H)) for _ in range(cell.n_states))
    dhs = rng.standard_normal((T, B, H))
    dT = tuple(rng.standard_normal((B, H)) for _ in range(cell.n_states))
    lengths = np.array([T, 3, 1, T - 2])
    mask = np.arange(T)[:, None] < lengths[None, :]
    rmask = (rng.random((B, H)) > 0.3) / 0.7
    return p, x, state0, dhs, dT, mask, rmask


def _run(cell, fast, p, x, state0, dhs, dT, mask, rmask, reverse):
    hs, final, cache = sequence.forward(cell, p, x, state0, mask, rmask, reverse, keep_cache=True, fast=fast)
    hs2, final2, _ = sequence.forward(cell, p, x, state0, mask, rmask, reverse, keep_cache=False, fast=fast)
    np.testing.assert_array_equal(hs, hs2)
    for a, b in zip(final, final2):
        np.testing.assert_array_equal(a, b)
    dx, d0, grads = sequence.backward(cell, p, cache, dhs, dT, fast=fast)
    return hs, final, dx, d0, grads


@pytest.mark.parametrize("name", sorted(CELLS))
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("with_mask", [False, True])
@pytest.mark.parametrize("with_rmask", [False, True])
def test_fast_loop_matches_reference_loop(name, reverse, with_mask, with_rmask):
    cell = CELLS[name]
    p, x, state0, dhs, dT, mask, rmask = _setup(cell)
    mask = mask if with_mask else None
    rmask = rmask if with_rmask else None
    ref = _run(cell, False, p, x, state0, dhs, dT, mask, rmask, reverse)
    got = _run(cell, True, p, x, state0, dhs, dT, mask, rmask, reverse)
    hs_r, fin_r, dx_r, d0_r, g_r = ref
    hs_f, fin_f, dx_f, d0_f, g_f = got
    np.testing.assert_allclose(hs_f, hs_r, rtol=1e-12, atol=1e-12)
    for a, b in zip(fin_f, fin_r):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx_f, dx_r, rtol=1e-12, atol=1e-12)
    for a, b in zip(d0_f, d0_r):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    assert set(g_f) == set(g_r)
    for k in g_r:
        np.testing.assert_allclose(g_f[k], g_r[k], rtol=1e-12, atol=1e-12, err_msg=k)


def test_fast_loop_leaves_inputs_untouched():
    cell = CELLS["lstm"]
    p, x, state0, dhs, dT, mask, rmask = _setup(cell)
    copies = [a.copy() for a in (x, *state0, dhs, *dT)]
    _run(cell, True, p, x, state0, dhs, dT, mask, rmask, False)
    for a, b in zip((x, *state0, dhs, *dT), copies):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["lstm", "rnn"])
def test_fast_loop_is_taken(name):
    """Guard against the test above passing because both runs took the reference loop."""
    assert callable(getattr(CELLS[name], "step_into", None))
    assert callable(getattr(CELLS[name], "step_back_into", None))
