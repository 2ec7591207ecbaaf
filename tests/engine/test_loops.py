"""Every time loop computes what the reference loop computes.

The oracle is :mod:`rnnkit.loops.reference` in float64 (the cell's readable
equations, themselves held to finite differences and to PyTorch elsewhere);
each loop that can run a pass (the reference loop in float32 too, and for
cells with compiled kernels the batch-major ``rows`` loop and the ``columns``
loop) is run in float32 on the same data and must agree to float32
precision: outputs, final states (with and without a cache), input and state
gradients, every weight gradient and the gradient norms through time, with
lengths, masks that are not lengths, recurrent dropout and both directions.
"""
import numpy as np
import pytest

from rnnkit import engine
from rnnkit.cells import ElmanCell, GRUCell, LSTMCell, SimpleGRUCell

CELLS = {"lstm": LSTMCell(), "gru": GRUCell(), "gru_reset_before": GRUCell(reset_after=False),
         "rnn_tanh": ElmanCell("tanh"), "rnn_relu": ElmanCell("relu"), "simple_gru": SimpleGRUCell()}
MASKS = ("none", "lengths", "holes")


def _case(cell, T=9, B=6, D=4, H=7, seed=0):
    rng = np.random.default_rng(seed)
    p = {k: rng.standard_normal(shape) * scale
         for k, shape, scale in (("W_ih", (cell.gates * H, D), 0.6), ("W_hh", (cell.gates * H, H), 0.6),
                                 ("b_ih", (cell.gates * H,), 0.3), ("b_hh", (cell.gates * H,), 0.3))}
    x = rng.standard_normal((T, B, D)) * 2
    state0 = tuple(rng.standard_normal((B, H)) for _ in range(cell.n_states))
    dhs = rng.standard_normal((T, B, H))
    dT = tuple(rng.standard_normal((B, H)) for _ in range(cell.n_states))
    lengths = np.array([T, 4, 1, T - 3, 2, T])
    masks = {"none": None, "lengths": np.arange(T)[:, None] < lengths[None, :]}
    holes = masks["lengths"].copy()
    holes[2, 0] = holes[5, 3] = False                  # not lengths: a step missing inside a sequence
    masks["holes"] = holes
    rmask = (rng.random((B, H)) > 0.3) / 0.7
    return p, x, state0, dhs, dT, masks, rmask


def _cast(tree, dtype):
    if isinstance(tree, dict):
        return {k: _cast(v, dtype) for k, v in tree.items()}
    if isinstance(tree, tuple):
        return tuple(_cast(v, dtype) for v in tree)
    if tree is None or np.asarray(tree).dtype == bool:
        return tree                                    # masks stay masks
    return np.asarray(tree, dtype)


def _pass(cell, loop, p, x, state0, dhs, dT, mask, rmask, reverse, buffers=None):
    """Forward with and without a cache, then backward; everything a pass gives, as a list."""
    T = x.shape[0]
    hs, final, cache = engine.forward(cell, p, x, state0, mask, rmask, reverse, buffers=buffers, loop=loop)
    assert cache.loop == loop
    out = [hs, *final]
    if rmask is None:                                  # inference never drops out
        plain = "rows" if loop == "columns" and mask is not None else loop   # columns: lengths in training only
        hs2, final2, none = engine.forward(cell, p, x, state0, mask, None, reverse, keep_cache=False, loop=plain)
        assert none is None
        out += [hs2, *final2]
    gates = cache.gate_activations().copy()
    if mask is not None:
        gates *= mask[:, :, None]                      # what a padded step's cache holds is no result
    norms = np.empty(T, p["W_ih"].dtype)
    dx, d0, grads = engine.backward(cell, p, cache, dhs, dT, dh_norms=norms, buffers=buffers)
    return out + [dx, *d0, norms, gates] + [grads[k] for k in sorted(grads)]


def _serves(cell, loop, mask_name, dropout):
    family = engine.compiled_family(cell)
    if loop == "reference":
        return True
    if loop == "rows":
        return family is not None
    return family in ("lstm", "gru") and not dropout and mask_name != "holes"


PASSES = [(loop, name, mask_name, dropout) for loop in engine.LOOPS for name in sorted(CELLS)
          for mask_name in MASKS for dropout in (False, True) if _serves(CELLS[name], loop, mask_name, dropout)]


def test_every_cell_has_a_compiled_loop_or_says_why_not():
    """The parametrisation below covers every loop that serves each cell: the
    compiled loops serve exactly the cells with kernels."""
    assert {name for loop, name, *_ in PASSES if loop == "rows"} == {"lstm", "gru", "rnn_tanh", "rnn_relu"}
    assert {name for loop, name, *_ in PASSES if loop == "columns"} == {"lstm", "gru"}


@pytest.mark.parametrize("loop, name, mask_name, dropout", PASSES)
@pytest.mark.parametrize("reverse", [False, True])
def test_every_loop_matches_the_float64_reference(loop, name, mask_name, dropout, reverse):
    cell = CELLS[name]
    p, x, state0, dhs, dT, masks, rmask = _case(cell)
    rmask = rmask if dropout else None
    mask = masks[mask_name]
    want = _pass(cell, "reference", p, x, state0, dhs, dT, mask, rmask, reverse)
    f32 = _cast((p, x, state0, dhs, dT, rmask), np.float32)
    got = _pass(cell, loop, *f32[:5], mask, f32[5], reverse)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == np.float32 and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=3e-6 * max(1.0, float(np.abs(w).max())))
    if mask is not None:
        np.testing.assert_array_equal(got[0] * ~mask[:, :, None], 0)      # padded steps output zeros


@pytest.mark.parametrize("loop", engine.LOOPS)
def test_a_loop_leaves_its_inputs_untouched(loop):
    cell = CELLS["lstm"]
    p, x, state0, dhs, dT, masks, _ = _cast(_case(cell), np.float32)
    given = [x, *state0, dhs, *dT, *p.values()]
    copies = [a.copy() for a in given]
    _pass(cell, loop, p, x, state0, dhs, dT, masks["lengths"], None, False)
    for a, b in zip(given, copies):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("loop, name", [("rows", "lstm"), ("rows", "gru"), ("rows", "rnn_tanh"),
                                        ("columns", "lstm"), ("columns", "gru"), ("reference", "lstm")])
@pytest.mark.parametrize("mask_name", ["none", "lengths"])
def test_a_pass_into_buffers_full_of_nan_writes_every_value_it_returns(loop, name, mask_name):
    """Buffers lent from an earlier pass are filled with NaN before the next
    one: any value a loop forgets to write (a padded step, a final state)
    shows, and outputs survive the next pass that reuses the buffers."""
    cell = CELLS[name]
    p, x, state0, dhs, dT, masks, _ = _cast(_case(cell), np.float32)
    buffers = {}
    first = _pass(cell, loop, p, x, state0, dhs, dT, masks[mask_name], None, False, buffers)
    kept = [a.copy() for a in first]
    for b in buffers.values():
        b.fill(np.nan)
    again = _pass(cell, loop, p, x, state0, dhs, dT, masks[mask_name], None, False, buffers)
    for a, k, g in zip(first, kept, again):
        np.testing.assert_array_equal(a, k)            # the first pass's results are the caller's arrays
        assert not np.isnan(g).any()
        np.testing.assert_array_equal(g, k)            # and the same pass gives the same bits


@pytest.mark.parametrize("name", ["lstm", "gru"])
@pytest.mark.parametrize("lengths", [False, True])
def test_output_gradients_laid_out_batch_first_give_the_same_bits(name, lengths):
    """``dhs`` as a time-major view of batch-major memory (what a batch-first
    caller hands back) gives what the same values laid out time-major give."""
    cell = CELLS[name]
    p, x, state0, dhs, dT, masks, _ = _cast(_case(cell), np.float32)
    strided = np.ascontiguousarray(dhs.transpose(1, 0, 2)).transpose(1, 0, 2)
    assert not strided.flags.c_contiguous
    mask = masks["lengths"] if lengths else None
    results = []
    for d in (dhs, strided):
        _, _, cache = engine.forward(cell, p, x, state0, mask)
        dx, d0, grads = engine.backward(cell, p, cache, d, dT)
        results.append([dx, *d0] + [grads[k] for k in sorted(grads)])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
