"""One function chooses the loop (:func:`rnnkit.engine.choose_loop`), as its
docstring says, and a pass's backward half runs on the loop that made its
forward half."""
import numpy as np
import pytest

import rnnkit
from rnnkit import engine
from rnnkit.cells import ElmanCell, GRUCell, LSTMCell, SimpleGRUCell
from rnnkit.diagnostics.gates import gate_activations
from rnnkit.kernels import blas

F32 = np.float32
T, B = 8, 6
LENGTHS = np.arange(T)[:, None] < np.array([T, 3, 5, T, 1, 2])[None, :]


def choose(cell=LSTMCell(), dtype=F32, mask=None, rmask=None, batch=B, keep_cache=True):
    return engine.choose_loop(cell, dtype, mask, rmask, batch, keep_cache)


def test_compiled_cells_train_on_the_column_loop_and_the_rest_on_the_reference_loop():
    assert choose() == "columns"
    assert choose(GRUCell()) == "columns"
    assert choose(ElmanCell()) == "rows"
    for cell in (GRUCell(reset_after=False), SimpleGRUCell()):
        assert choose(cell) == "reference"
    assert choose(dtype=np.float64) == "reference"                       # float64: NumPy's exact functions


def test_lengths_dropout_and_batch_size_send_a_pass_where_the_docstring_says():
    assert choose(mask=LENGTHS) == "columns"                             # lengths: packed columns in training
    assert choose(mask=LENGTHS, keep_cache=False) == "rows"              # ... not in inference
    holes = LENGTHS.copy()
    holes[1, 0] = False
    assert choose(mask=holes) == "rows"                                  # a mask that is not lengths
    assert choose(rmask=np.ones((B, 7), F32)) == "rows"                  # recurrent dropout
    assert choose(batch=engine.MIN_BATCH - 1, keep_cache=False) == "rows"   # small inference batches
    assert choose(batch=engine.MIN_BATCH, keep_cache=False) == "columns"
    assert choose(batch=1) == "columns"                                  # training from one sequence


def test_the_environment_switches_the_compiled_loops_off(monkeypatch):
    monkeypatch.setenv("RNNKIT_BLAS_LOOP", "off")
    assert choose() == "rows"
    monkeypatch.setenv("RNNKIT_KERNELS", "numpy")
    assert choose() == "reference"


def test_a_forced_loop_that_cannot_run_the_pass_is_refused():
    rng = np.random.default_rng(0)
    cell = SimpleGRUCell()
    p = {"W_ih": rng.standard_normal((14, 3)).astype(F32), "W_hh": rng.standard_normal((14, 7)).astype(F32)}
    x, h0 = rng.standard_normal((T, B, 3)).astype(F32), (np.zeros((B, 7), F32),)
    with pytest.raises(ValueError, match="needs compiled kernels for SimpleGRUCell"):
        engine.forward(cell, p, x, h0, loop="rows")
    with pytest.raises(ValueError, match="unknown loop 'fast'"):
        engine.forward(cell, p, x, h0, loop="fast")


def test_a_cache_goes_back_to_the_loop_that_made_it_whatever_the_choice_in_between(monkeypatch):
    layer = rnnkit.GRU(4, 7, dtype=F32, seed=0)
    x = np.random.default_rng(1).standard_normal((T, B, 4)).astype(F32)
    y, _ = layer(x)
    dx, _ = layer.backward(np.ones_like(y))
    assert layer._cache["layers"][0][1][0].loop == "columns"
    monkeypatch.setenv("RNNKIT_BLAS_LOOP", "off")                         # the choice changes before backward
    y, _ = layer(x)
    monkeypatch.setenv("RNNKIT_KERNELS", "numpy")
    assert choose(GRUCell()) == "reference"
    dx2, _ = layer.backward(np.ones_like(y))
    assert layer._cache["layers"][0][1][0].loop == "rows"
    np.testing.assert_allclose(dx2, dx, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(blas.sgemm() is None, reason="NumPy's BLAS is not callable from compiled code here")
def test_gate_activations_read_the_same_in_both_layouts(monkeypatch):
    rng = np.random.default_rng(4)
    layer = rnnkit.LSTM(5, 7, num_layers=2, bidirectional=True, dtype=F32, seed=0)
    x = rng.standard_normal((10, 6, 5)).astype(F32)
    layer(x)
    assert layer._cache["layers"][0][1][1].loop == "columns"
    got = {(l, d): gate_activations(layer, l, d) for l in range(2) for d in range(2)}
    monkeypatch.setattr(engine, "choose_loop", lambda *args: "rows")
    layer(x)
    assert layer._cache["layers"][0][1][1].loop == "rows"
    for (l, d), acts in got.items():
        want = gate_activations(layer, l, d)
        for g in "ifgo":
            assert acts[g].shape == (10, 6, 7)
            np.testing.assert_allclose(acts[g], want[g], atol=1e-6)


@pytest.mark.skipif(blas.sgemm() is None, reason="NumPy's BLAS is not callable from compiled code here")
def test_a_column_pass_finishes_on_the_column_loop_after_the_switch_is_turned_off(monkeypatch):
    layer = rnnkit.LSTM(4, 7, dtype=F32, seed=0)
    x = np.random.default_rng(1).standard_normal((T, B, 4)).astype(F32)
    y, _ = layer(x)
    want, _ = layer.backward(np.ones_like(y))
    y, _ = layer(x)
    assert layer._cache["layers"][0][1][0].loop == "columns"
    monkeypatch.setenv("RNNKIT_BLAS_LOOP", "off")
    got, _ = layer.backward(np.ones_like(y))
    np.testing.assert_array_equal(got, want)
