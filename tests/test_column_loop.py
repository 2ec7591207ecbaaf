"""The LSTM loop in column layout (``rnnkit.sequence_columns``) computes what the
batch-major kernel loop computes, is taken exactly where it applies, and its
cache serves the backward pass and the diagnostics like any other."""
import numpy as np
import pytest

pytest.importorskip("numba")

import rnnkit  # noqa: E402
from rnnkit import sequence, sequence_columns  # noqa: E402
from rnnkit.kernels import blas  # noqa: E402
from rnnkit.cells.gru import GRUCell  # noqa: E402
from rnnkit.cells.lstm import LSTMCell  # noqa: E402
from rnnkit.diagnostics.gates import gate_activations  # noqa: E402

LSTM = LSTMCell()


def _case(T=11, B=6, D=5, H=9, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    G = 4 * H
    p = {"W_ih": rng.standard_normal((G, D)) * 0.5, "W_hh": rng.standard_normal((G, H)) * 0.5,
         "b_ih": rng.standard_normal(G) * 0.2, "b_hh": rng.standard_normal(G) * 0.2}
    p = {k: v.astype(dtype) for k, v in p.items()}
    x = (rng.standard_normal((T, B, D)) * 2).astype(dtype)
    state0 = tuple(rng.standard_normal((B, H)).astype(dtype) for _ in range(2))
    dhs = rng.standard_normal((T, B, H)).astype(dtype)
    dT = tuple(rng.standard_normal((B, H)).astype(dtype) for _ in range(2))
    return p, x, state0, dhs, dT


def _pass(p, x, state0, dhs, dT, reverse, buffers=None):
    T = x.shape[0]
    hs, final, cache = sequence.forward(LSTM, p, x, state0, reverse=reverse, buffers=buffers)
    norms = np.empty(T, np.float32)
    dx, d0, grads = sequence.backward(LSTM, p, cache, dhs, dT, dh_norms=norms, buffers=buffers)
    return cache, [hs, *final, dx, *d0, norms] + [grads[k] for k in sorted(grads)]


def _mask(lengths, T):
    """The (T, B) mask of ``lengths``, or ``None``."""
    return None if lengths is None else np.arange(T)[:, None] < np.array(lengths)[None, :]


def _batch_major(monkeypatch):
    monkeypatch.setattr(sequence_columns, "applies", lambda *args: False)


def _pass_over_nan(cell, p, x, state0, mask, reverse, dhs, dT, cached):
    """A training pass into buffers left full of NaN by an earlier pass (so that
    any cell a loop fails to write shows), and an inference pass where there are
    no lengths.  ``cached(cache)`` names the cache's per-step arrays to compare
    (padded steps: zeros, not NaN).  Returns ``(columns, arrays)``."""
    buffers = {}
    sequence.forward(cell, p, x, state0, mask, reverse=reverse, buffers=buffers)
    for b in buffers.values():
        b.fill(np.nan)
    hs, final, cache = sequence.forward(cell, p, x, state0, mask, reverse=reverse, buffers=buffers)
    out = [hs, *final, cache.gate_activations().copy(), *(a.copy() for a in cached(cache))]
    if mask is None:
        hs2, final2, _ = sequence.forward(cell, p, x, state0, reverse=reverse, keep_cache=False)
        out += [hs2, *final2]
    norms = np.empty(x.shape[0], np.float32)
    dx, d0, grads = sequence.backward(cell, p, cache, dhs, dT, dh_norms=norms, buffers=buffers)
    return cache.columns, out + [dx, *d0, norms] + [grads[k] for k in sorted(grads)]


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("with_dhs", [False, True])
@pytest.mark.parametrize("with_dT", [False, True])
def test_column_loop_matches_the_batch_major_kernels(monkeypatch, reverse, with_dhs, with_dT):
    p, x, state0, dhs, dT = _case()
    dhs = dhs if with_dhs else None
    dT = dT if with_dT else (None, dT[1])
    cache, got = _pass(p, x, state0, dhs, dT, reverse)
    assert cache.columns
    _batch_major(monkeypatch)
    cache, want = _pass(p, x, state0, dhs, dT, reverse)
    assert not cache.columns
    for g, w in zip(got, want):
        assert g.dtype == np.float32 and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6 * max(1.0, float(np.abs(w).max())))


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("lengths", [[11, 4, 1, 8, 11, 2], [3, 9, 9, 1, 5, 2], [11, 9, 6, 6, 2, 1],
                                     [11, 11, 11, 11, 11, 11]])
def test_column_loop_with_lengths_matches_the_packed_batch_major_loop(monkeypatch, reverse, lengths):
    p, x, state0, dhs, dT = _case()
    T = x.shape[0]
    mask = np.arange(T)[:, None] < np.array(lengths)[None, :]

    def run():
        hs, final, cache = sequence.forward(LSTM, p, x, state0, mask, reverse=reverse)
        hs2, final2, _ = sequence.forward(LSTM, p, x, state0, mask, reverse=reverse, keep_cache=False)
        norms = np.empty(T, np.float32)
        dx, d0, grads = sequence.backward(LSTM, p, cache, dhs, dT, dh_norms=norms)
        acts = cache.gate_activations().copy()
        return cache.columns, [hs, hs2, *final, *final2, dx, *d0, norms, acts] + [grads[k] for k in sorted(grads)]

    columns, got = run()
    assert columns
    _batch_major(monkeypatch)
    columns, want = run()
    assert not columns
    np.testing.assert_array_equal(got[0] * ~mask[:, :, None], 0)    # padded steps output zeros
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6 * max(1.0, float(np.abs(w).max())))


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("lengths", [None, [11, 4, 1, 8, 11, 2], [3, 9, 9, 1, 5, 2]])
@pytest.mark.parametrize("with_dhs", [False, True])
def test_compiled_column_loops_compute_what_the_python_driven_loop_does(monkeypatch, reverse, lengths, with_dhs):
    """The whole-sequence loops of ``kernels.fused`` (products through NumPy's
    own sgemm) against the same loop driven step by step from Python, into
    buffers left full of NaN by an earlier pass, so that any cell the compiled
    loops fail to write shows."""
    if blas.sgemm() is None:
        pytest.skip("no BLAS callable from compiled code here (NumPy without a bundled OpenBLAS)")
    p, x, state0, dhs, dT = _case()
    T = x.shape[0]
    mask = _mask(lengths, T)
    dhs = dhs if with_dhs else None

    def run():
        return _pass_over_nan(LSTM, p, x, state0, mask, reverse, dhs, (None, dT[1]), lambda c: [c.mem["tc"]])

    columns, got = run()
    assert columns
    monkeypatch.setenv("RNNKIT_BLAS_LOOP", "off")
    columns, want = run()
    assert columns
    for g, w in zip(got, want):
        assert g.shape == w.shape and not np.isnan(g).any()
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6 * max(1.0, float(np.abs(w).max())))


def test_column_loop_without_cache_gives_the_same_outputs(monkeypatch):
    monkeypatch.setattr(sequence_columns, "MIN_HIDDEN_INFER", 1)    # inference of small layers is batch-major
    p, x, state0, _, _ = _case(B=8)
    for reverse in (False, True):
        hs, final, cache = sequence.forward(LSTM, p, x, state0, reverse=reverse)
        hs2, final2, none = sequence.forward(LSTM, p, x, state0, reverse=reverse, keep_cache=False)
        assert cache.columns and none is None
        np.testing.assert_array_equal(hs, hs2)
        for a, b in zip(final, final2):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(final[0], hs[0 if reverse else -1])


def test_outputs_survive_the_next_pass_that_reuses_the_buffers():
    """``hs`` and the final state are the caller's arrays, not views of the
    cache buffers that the next pass overwrites."""
    p, x, state0, dhs, dT = _case()
    buffers = {}
    _, first = _pass(p, x, state0, dhs, dT, False, buffers)
    kept = [a.copy() for a in first]
    _pass(p, x[::-1] * 0.5, state0, dhs, dT, True, buffers)
    for a, k in zip(first, kept):
        np.testing.assert_array_equal(a, k)
    _, again = _pass(p, x, state0, dhs, dT, False, buffers)
    for g, k in zip(again, kept):
        np.testing.assert_array_equal(g, k)


@pytest.mark.parametrize("compiled", [True, False])
def test_column_loop_is_taken_only_where_it_applies(monkeypatch, compiled):
    if not compiled:
        monkeypatch.setenv("RNNKIT_BLAS_LOOP", "off")
    elif blas.sgemm() is None:
        pytest.skip("no BLAS callable from compiled code here (NumPy without a bundled OpenBLAS)")
    p, x, state0, _, _ = _case(B=6)

    def columns(cell=LSTM, p=p, x=x, state0=state0, **kw):
        return sequence.forward(cell, p, x, state0, **kw)[2].columns

    def columns_without_cache(**kw):
        taken = []
        real = sequence_columns.forward
        monkeypatch.setattr(sequence_columns, "forward", lambda *a, **k: taken.append(1) or real(*a, **k))
        sequence.forward(LSTM, p, kw.pop("x", x), kw.pop("state0", state0), keep_cache=False, **kw)
        monkeypatch.setattr(sequence_columns, "forward", real)
        return bool(taken)

    assert columns()
    T, B = x.shape[:2]
    mask = np.arange(T)[:, None] < np.array([T, 3, 5, T, 1, 2])[None, :]
    assert columns(mask=mask)                                               # lengths: packed columns in training
    assert not columns_without_cache(mask=mask)                             # ... not in inference
    assert columns_without_cache() == compiled                              # inference of small layers (H 9)
    monkeypatch.setattr(sequence_columns, "MIN_HIDDEN_INFER", 1)
    assert columns_without_cache()
    monkeypatch.setattr(sequence_columns, "MIN_HIDDEN_INFER", 128)
    assert columns(mask=np.ones((T, B), bool))                              # lengths that pad nothing
    holes = mask.copy()
    holes[1, 0] = False
    assert not columns(mask=holes)                                          # not from lengths
    assert not columns(rmask=np.ones((B, p["W_hh"].shape[1]), np.float32))  # recurrent dropout
    two = dict(x=x[:, :2], state0=tuple(s[:2] for s in state0))             # B < MIN_BATCH: training
    assert columns(**two) == compiled                                       # compiled only, inference never
    assert not columns_without_cache(**two)
    p64 = {k: v.astype(np.float64) for k, v in p.items()}
    assert not columns(p=p64, x=x.astype(np.float64), state0=tuple(s.astype(np.float64) for s in state0))
    gru = GRUCell()
    rng = np.random.default_rng(1)
    pg = {"W_ih": rng.standard_normal((27, 5)).astype(np.float32), "W_hh": rng.standard_normal((27, 9)).astype(np.float32),
          "b_ih": np.zeros(27, np.float32), "b_hh": np.zeros(27, np.float32)}
    assert columns(cell=gru, p=pg, state0=(state0[0],)) == compiled         # reset-after GRU: compiled only
    assert not columns(cell=GRUCell(reset_after=False), p=pg, state0=(state0[0],))
    assert not columns(fast=False)
    monkeypatch.setenv("RNNKIT_KERNELS", "numpy")
    assert not columns()


def test_gate_activations_read_the_same_in_both_layouts(monkeypatch):
    rng = np.random.default_rng(4)
    layer = rnnkit.LSTM(5, 7, num_layers=2, bidirectional=True, dtype=np.float32, seed=0)
    x = rng.standard_normal((10, 6, 5)).astype(np.float32)
    layer(x)
    assert layer._cache["layers"][0][1][1].columns
    got = {(l, d): gate_activations(layer, l, d) for l in range(2) for d in range(2)}
    _batch_major(monkeypatch)
    layer(x)
    for (l, d), acts in got.items():
        want = gate_activations(layer, l, d)
        for g in "ifgo":
            assert acts[g].shape == (10, 6, 7)
            np.testing.assert_allclose(acts[g], want[g], atol=1e-6)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_column_loop_matches_torch_in_float32(kind):
    """The float32 twin: a 2-layer bidirectional LSTM or GRU on the column loop
    against ``torch.nn.LSTM`` / ``torch.nn.GRU`` with the same weights; outputs,
    input gradient and weight gradients to float32 precision."""
    torch = pytest.importorskip("torch")
    if kind == "GRU" and blas.sgemm() is None:
        pytest.skip("no BLAS callable from compiled code here: the GRU has no column loop")
    rng = np.random.default_rng(7)
    layer = getattr(rnnkit, kind)(12, 32, num_layers=2, bidirectional=True, dtype=np.float32, seed=3)
    twin = getattr(torch.nn, kind)(12, 32, num_layers=2, bidirectional=True)
    with torch.no_grad():
        for k, v in twin.named_parameters():
            v.copy_(torch.from_numpy(layer.params[k]))
    x = rng.standard_normal((25, 16, 12)).astype(np.float32)
    dy = rng.standard_normal((25, 16, 64)).astype(np.float32)
    y, _ = layer(x)
    assert all(c.columns for _, caches in layer._cache["layers"] for c in caches)
    dx, _ = layer.backward(dy)
    xt = torch.from_numpy(x).requires_grad_(True)
    yt, _ = twin(xt)
    yt.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(y, yt.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(dx, xt.grad.numpy(), atol=1e-5 * np.abs(dx).max())
    for k, v in twin.named_parameters():
        g = v.grad.numpy()
        np.testing.assert_allclose(layer.grads[k], g, atol=1e-5 * np.abs(g).max(), err_msg=k)


GRU = GRUCell()


def _gru_case(T=11, B=6, D=5, H=9, seed=0):
    p, x, state0, dhs, dT = _case(T, B, D, H, seed)
    rng = np.random.default_rng(seed + 100)
    p = {"W_ih": (rng.standard_normal((3 * H, D)) * 0.5).astype(np.float32),
         "W_hh": (rng.standard_normal((3 * H, H)) * 0.5).astype(np.float32),
         "b_ih": (rng.standard_normal(3 * H) * 0.2).astype(np.float32),
         "b_hh": (rng.standard_normal(3 * H) * 0.2).astype(np.float32)}
    return p, x, state0[:1], dhs, dT[:1]


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("lengths", [None, [11, 4, 1, 8, 11, 2], [3, 9, 9, 1, 5, 2]])
@pytest.mark.parametrize("with_dhs", [False, True])
def test_gru_column_loop_matches_the_batch_major_kernels(monkeypatch, reverse, lengths, with_dhs):
    """The reset-after GRU in columns (compiled loop) against the batch-major
    kernel loop: outputs, final state, gate activations, input, state and weight
    gradients and the gradient norms through time, into buffers left full of
    NaN by an earlier pass."""
    if blas.sgemm() is None:
        pytest.skip("no BLAS callable from compiled code here: the GRU has no column loop")
    p, x, state0, dhs, dT = _gru_case()
    T = x.shape[0]
    mask = _mask(lengths, T)
    dhs = dhs if with_dhs else None

    def run():
        return _pass_over_nan(GRU, p, x, state0, mask, reverse, dhs, dT,
                              lambda c: [c.mem["hn"].transpose(0, 2, 1) if c.columns else c.mem["hn"]])

    columns, got = run()
    assert columns
    _batch_major(monkeypatch)
    columns, want = run()
    assert not columns
    if mask is not None:
        np.testing.assert_array_equal(got[0] * ~mask[:, :, None], 0)    # padded steps output zeros
    for g, w in zip(got, want):
        assert g.dtype == np.float32 and g.shape == w.shape and not np.isnan(g).any()
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6 * max(1.0, float(np.abs(w).max())))


def test_gru_column_cache_goes_back_with_the_switch_turned_off_in_between(monkeypatch):
    """A GRU pass whose forward half ran compiled finishes compiled, even when
    ``RNNKIT_BLAS_LOOP=off`` was set before its backward half."""
    if blas.sgemm() is None:
        pytest.skip("no BLAS callable from compiled code here: the GRU has no column loop")
    p, x, state0, dhs, dT = _gru_case()

    def grads():
        _, _, cache = sequence.forward(GRU, p, x, state0)
        assert cache.columns
        if switch_off:
            monkeypatch.setenv("RNNKIT_BLAS_LOOP", "off")
        dx, d0, g = sequence.backward(GRU, p, cache, dhs, dT)
        return [dx, *d0] + [g[k] for k in sorted(g)]

    switch_off = False
    want = grads()
    switch_off = True
    for g, w in zip(grads(), want):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("kind, compiled", [("LSTM", True), ("LSTM", False), ("GRU", True)],
                         ids=["lstm compiled", "lstm from Python", "gru compiled"])
@pytest.mark.parametrize("lengths", [None, [11, 4, 1, 8, 11, 2]])
def test_column_loops_read_output_gradients_laid_out_batch_first_without_a_copy(monkeypatch, kind, compiled, lengths):
    """``dhs`` as a time-major view of batch-major memory (the gradient a
    batch-first caller hands back) gives what the same values laid out
    time-major give, to the bit."""
    if blas.sgemm() is None:
        pytest.skip("no BLAS callable from compiled code here")
    if not compiled:
        monkeypatch.setenv("RNNKIT_BLAS_LOOP", "off")
    cell, (p, x, state0, dhs, dT) = (LSTM, _case()) if kind == "LSTM" else (GRU, _gru_case())
    T = x.shape[0]
    mask = _mask(lengths, T)
    strided = np.ascontiguousarray(dhs.transpose(1, 0, 2)).transpose(1, 0, 2)
    assert not strided.flags.c_contiguous
    results = []
    for d in (dhs, strided):
        hs, final, cache = sequence.forward(cell, p, x, state0, mask)
        assert cache.columns
        dx, d0, grads = sequence.backward(cell, p, cache, d, dT)
        results.append([dx, *d0] + [grads[k] for k in sorted(grads)])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
