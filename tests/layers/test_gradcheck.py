"""Float64 central-difference checks of every parameter, the input and the
initial state, for each cell x {1, 2 directions} x {1, 2 layers} x {equal,
mixed lengths}, with dropout under a fixed mask."""
import itertools

import numpy as np
import pytest

from conftest import CELLS, make_layer
from _gradcheck import central_difference

T, B, D, H = 4, 3, 3, 3
EPS = 1e-6


def _loss_and_grads(layer, x, h0, lengths, masks, R_y, R_h):
    """L = Σ y∘R_y + Σ_j state_j∘R_h[j]; returns (L, dx, dh0, grads)."""
    y, hn = layer.forward(x, h0, lengths, masks=masks)
    hn = hn if isinstance(hn, tuple) else (hn,)
    L = float((y * R_y).sum() + sum((s * r).sum() for s, r in zip(hn, R_h)))
    return L, y, hn


def _check(analytic, f, arr, name, max_entries=None, rng=None):
    idxs = list(np.ndindex(arr.shape))
    if max_entries is not None and len(idxs) > max_entries:
        idxs = [idxs[i] for i in rng.choice(len(idxs), max_entries, replace=False)]
    for idx in idxs:
        num = central_difference(f, arr, idx, EPS)
        assert abs(num - analytic[idx]) <= 1e-7 + 1e-5 * abs(num), (
            f"{name}{idx}: numeric {num:.10g} vs analytic {analytic[idx]:.10g}")


def run_gradcheck(cell, bidirectional, num_layers, mixed, dropout, merge_mode="concat", seed=0, max_entries=None):
    rng = np.random.default_rng(seed)
    layer = make_layer(cell, D, H, num_layers=num_layers, bidirectional=bidirectional, merge_mode=merge_mode,
                       dtype=np.float64, init="torch", seed=seed,
                       dropout=0.3 if dropout and num_layers > 1 else 0.0,
                       recurrent_dropout=0.3 if dropout else 0.0)
    x = rng.standard_normal((T, B, D))
    K = layer.num_layers * layer.num_directions
    n_states = layer.cell.n_states
    h0_arrays = [rng.standard_normal((K, B, H)) * 0.5 for _ in range(n_states)]
    h0 = tuple(h0_arrays) if n_states > 1 else h0_arrays[0]
    lengths = np.array([T, 2, 1]) if mixed else None
    masks = layer.sample_masks(T, B)  # drawn once, reused by every evaluation
    if dropout:
        assert any(m is not None for m in masks["recurrent"])
    R_y = rng.standard_normal((T, B, layer.output_size))
    R_h = [rng.standard_normal((K, B, H)) for _ in range(n_states)]

    def f():
        return _loss_and_grads(layer, x, h0, lengths, masks, R_y, R_h)[0]

    f()
    dx, dh0 = layer.backward(R_y, tuple(R_h) if n_states > 1 else R_h[0])
    dh0 = dh0 if isinstance(dh0, tuple) else (dh0,)
    for name, p in layer.params.items():
        _check(layer.grads[name], f, p, name, max_entries, rng)
    _check(dx, f, x, "x", max_entries, rng)
    for j, a in enumerate(h0_arrays):
        _check(dh0[j], f, a, f"state0[{j}]", max_entries, rng)
    return layer, dx


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("bidirectional,num_layers,mixed",
                         list(itertools.product([False, True], [1, 2], [False, True])))
def test_gradients_match_central_differences(cell, bidirectional, num_layers, mixed):
    run_gradcheck(cell, bidirectional, num_layers, mixed, dropout=False, max_entries=40)


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("bidirectional", [False, True])
def test_gradients_match_with_fixed_dropout_masks(cell, bidirectional):
    run_gradcheck(cell, bidirectional, num_layers=2, mixed=True, dropout=True, max_entries=40)


@pytest.mark.parametrize("merge_mode", ["sum", "mean", "mul"])
@pytest.mark.parametrize("cell", ["lstm", "gru_reset_before"])
def test_gradients_match_for_every_merge_mode(cell, merge_mode):
    run_gradcheck(cell, True, num_layers=2, mixed=True, dropout=False, merge_mode=merge_mode, max_entries=40)


def test_padded_input_steps_get_zero_gradient():
    _, dx = run_gradcheck("lstm", True, 2, mixed=True, dropout=False, max_entries=5)
    # sequence 1 has length 2, sequence 2 length 1
    assert np.all(dx[2:, 1] == 0) and np.all(dx[1:, 2] == 0)
    assert np.abs(dx[:2, 1]).sum() > 0
