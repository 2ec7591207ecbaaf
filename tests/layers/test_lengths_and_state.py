"""Variable lengths without sorting, state in and out, streaming, layouts, and the cache a
backward pass reads (left alone by inference passes and by changes to the input)."""
import numpy as np
import pytest

import rnnkit
from conftest import CELLS, make_layer, pass_grads as _grads, small_input as _x
from rnnkit.layers import Embedding
from rnnkit.models import TokenRNN
from rnnkit.recurrent import GRU, LSTM, RNN

D, H = 3, 5


def _states(hn):
    return hn if isinstance(hn, tuple) else (hn,)


@pytest.mark.parametrize("cell", list(CELLS))
def test_padded_batch_equals_each_sequence_run_alone(cell, rng):
    layer = make_layer(cell, D, H, num_layers=2, bidirectional=True, dtype=np.float64, seed=0)
    lengths = np.array([2, 6, 4])                      # unsorted on purpose
    x = rng.standard_normal((6, 3, D))
    x_garbage = x.copy()
    for b, n in enumerate(lengths):
        x_garbage[n:, b] = 1e3                         # padding content must not matter
    y, hn = layer(x_garbage, lengths=lengths)
    for b, n in enumerate(lengths):
        yb, hb = layer(x[:n, b:b + 1])
        np.testing.assert_allclose(y[:n, b], yb[:, 0], atol=1e-13)
        assert np.all(y[n:, b] == 0), "padded steps must output zeros"
        for s, sb in zip(_states(hn), _states(hb)):
            np.testing.assert_allclose(s[:, b], sb[:, 0], atol=1e-13)


def test_reverse_direction_starts_at_each_sequences_own_last_step(rng):
    layer = make_layer("gru", D, H, bidirectional=True, dtype=np.float64, seed=1)
    x = rng.standard_normal((5, 2, D))
    y, _ = layer(x, lengths=[5, 3])
    alone, _ = layer(x[:3, 1:2])
    # the reverse half at step 2 (the last real step) saw only x[2]
    np.testing.assert_allclose(y[:3, 1, H:], alone[:, 0, H:], atol=1e-13)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
def test_state_carried_across_chunks_equals_one_long_run(cell, rng):
    layer = make_layer(cell, D, H, num_layers=2, dtype=np.float64, seed=2)
    x = rng.standard_normal((9, 2, D))
    y_full, h_full = layer(x)
    y1, h1 = layer(x[:4])
    y2, h2 = layer(x[4:], h1)
    np.testing.assert_allclose(np.concatenate([y1, y2]), y_full, atol=1e-13)
    for a, b in zip(_states(h2), _states(h_full)):
        np.testing.assert_allclose(a, b, atol=1e-13)


@pytest.mark.parametrize("cell", list(CELLS))
def test_single_step_streaming_equals_whole_sequence(cell, rng):
    layer = make_layer(cell, D, H, num_layers=2, dtype=np.float64, seed=3)
    x = rng.standard_normal((7, 2, D))
    y_full, h_full = layer(x)
    state = None
    for t in range(7):
        y_t, state = layer.step(x[t], state)
        np.testing.assert_allclose(y_t, y_full[t], atol=1e-13)
    for a, b in zip(_states(state), _states(h_full)):
        np.testing.assert_allclose(a, b, atol=1e-13)
    y_one, _ = layer.step(x[0, 0])                     # unbatched (D,) input
    np.testing.assert_allclose(y_one, y_full[0, 0], atol=1e-13)


def test_batch_first_and_unbatched_layouts_agree_with_time_major(rng):
    tm = make_layer("lstm", D, H, bidirectional=True, dtype=np.float64, seed=4)
    bf = make_layer("lstm", D, H, bidirectional=True, dtype=np.float64, seed=4, batch_first=True)
    x = rng.standard_normal((6, 3, D))
    y_tm, _ = tm(x, lengths=[6, 2, 4])
    y_bf, _ = bf(x.transpose(1, 0, 2), lengths=[6, 2, 4])
    np.testing.assert_allclose(y_bf.transpose(1, 0, 2), y_tm, atol=1e-14)
    dx_tm, _ = tm.backward(np.ones_like(y_tm))
    dx_bf, _ = bf.backward(np.ones_like(y_bf))
    np.testing.assert_allclose(dx_bf.transpose(1, 0, 2), dx_tm, atol=1e-14)
    y_u, (h_u, c_u) = tm(x[:, 0])
    y_b, (h_b, c_b) = tm(x[:, :1])
    np.testing.assert_allclose(y_u, y_b[:, 0], atol=1e-14)
    assert h_u.shape == (2, H)


def test_float64_inputs_stay_float64_and_float32_is_the_default(rng):
    layer64 = make_layer("gru", D, H, dtype=np.float64)
    y, h = layer64(rng.standard_normal((3, 2, D)))
    dx, dh0 = layer64.backward(np.ones_like(y))
    assert y.dtype == h.dtype == dx.dtype == dh0.dtype == np.float64
    assert all(g.dtype == np.float64 for g in layer64.grads.values())
    layer32 = make_layer("gru", D, H)
    assert all(p.dtype == np.float32 for p in layer32.params.values())
    assert layer32(rng.standard_normal((3, 2, D)))[0].dtype == np.float32


def test_merge_modes_combine_the_two_directions(rng):
    x = rng.standard_normal((4, 2, D))
    outs = {}
    for mode in ("concat", "sum", "mean", "mul"):
        layer = make_layer("lstm", D, H, bidirectional=True, merge_mode=mode, dtype=np.float64, seed=5)
        outs[mode], _ = layer(x)
    f, b = outs["concat"][..., :H], outs["concat"][..., H:]
    np.testing.assert_allclose(outs["sum"], f + b, atol=1e-15)
    np.testing.assert_allclose(outs["mean"], (f + b) / 2, atol=1e-15)
    np.testing.assert_allclose(outs["mul"], f * b, atol=1e-15)


def test_recorded_gradient_norms_are_the_state_gradients(rng):
    layer = make_layer("rnn_tanh", D, H, bidirectional=True, dtype=np.float64, seed=6)
    layer.record_grad_norms = True
    x = rng.standard_normal((5, 2, D))
    y, _ = layer(x)
    dy = np.zeros_like(y)
    dy[-1, :, :H] = 1.0                                # loss on the last output, forward half
    layer.backward(dy)
    norms = layer.grad_norms_["l0"]
    assert norms.shape == (5,)
    assert norms[-1] == pytest.approx(np.sqrt(H))      # ‖dL/dh_T‖ = ‖1‖
    assert np.all(layer.grad_norms_["l0_reverse"][:-1] == 0)  # nothing reaches the reverse half earlier


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_repeated_passes_reusing_buffers_equal_fresh_layers(cell, dtype, bidirectional, rng):
    """A layer lends its cache arrays to its next pass; outputs already returned,
    and the gradients of each pass, must equal those of a fresh layer."""
    make = {"lstm": rnnkit.LSTM, "gru": rnnkit.GRU, "rnn": rnnkit.RNN}[cell]
    kw = dict(num_layers=2, bidirectional=bidirectional, dtype=dtype, seed=3)
    layer = make(3, 5, **kw)
    xs = [rng.standard_normal((6, 4, 3)) for _ in range(3)]
    lens = [None, np.array([6, 2, 5, 1]), None]
    dys = [rng.standard_normal((6, 4, layer.output_size)) for _ in range(3)]
    kept = []
    for x, n, dy in zip(xs, lens, dys):
        y, _ = layer(x, lengths=n)
        dx, _ = layer.backward(dy)
        layer(xs[0] * 2, keep_cache=False)          # an inference pass in between
        kept.append((y, y.copy(), dx, {k: v.copy() for k, v in layer.grads.items()}))
    for (x, n, dy), (y, y_then, dx, grads) in zip(zip(xs, lens, dys), kept):
        fresh = make(3, 5, **kw)
        y_f, _ = fresh(x, lengths=n)
        dx_f, _ = fresh.backward(dy)
        np.testing.assert_array_equal(y, y_then)    # later passes did not write into it
        np.testing.assert_array_equal(y, y_f)
        np.testing.assert_array_equal(dx, dx_f)
        for k in grads:
            np.testing.assert_array_equal(grads[k], fresh.grads[k])


# -- the cache a backward pass reads -------------------------------------------------------------------------
RNG = np.random.default_rng(0)


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_an_inference_pass_or_a_step_between_forward_and_backward_leaves_the_cache(cls, dtype):
    x = _x(B=5, dtype=dtype)                                  # B 5: the column loop, also without a cache
    ref = _grads(cls(3, 4, dtype=dtype, seed=0), x)
    layer = cls(3, 4, dtype=dtype, seed=0)
    y, _ = layer(x)
    layer(_x(T=7, B=3, dtype=dtype), keep_cache=False)       # another shape, no cache
    layer(x * 2, keep_cache=False)                           # the same shape: its scratch is not the cache
    layer.step(x[0])
    layer.backward(np.ones_like(y))
    for k, v in ref.items():
        np.testing.assert_array_equal(layer.grads[k], v, err_msg=k)


def test_a_token_model_keeps_its_head_cache_through_an_inference_pass():
    net, twin = TokenRNN(9, 6, embedding_dim=4, seed=0), TokenRNN(9, 6, embedding_dim=4, seed=0)
    ids = RNG.integers(0, 9, (2, 5))
    for n in (net, twin):
        logits, _ = n.forward(ids)
    net.forward(RNG.integers(0, 9, (2, 5)), keep_cache=False)
    for n in (net, twin):
        n.backward(np.ones_like(logits))
    for k, v in twin.named_grads().items():
        np.testing.assert_array_equal(net.named_grads()[k], v, err_msg=k)


@pytest.mark.parametrize("token_ids", [False, True])
def test_changing_the_input_after_forward_does_not_change_the_gradients(token_ids):
    if token_ids:
        layer, emb = LSTM(4, 5, seed=0), Embedding(7, 4, seed=1)
        ids = RNG.integers(0, 7, (6, 3))
        ref = _grads(layer, ids.copy(), embedding=emb)
        buf = ids.copy()
        y, _ = layer(buf, embedding=emb)
        buf[...] = 0
    else:
        layer = LSTM(3, 4, batch_first=True, seed=0)
        x = _x().transpose(1, 0, 2)
        ref = _grads(layer, x.copy())
        buf = x.copy()
        y, _ = layer(buf)
        buf[...] = 0
    layer.backward(np.ones_like(y))
    for k, v in ref.items():
        np.testing.assert_array_equal(layer.grads[k], v, err_msg=k)
