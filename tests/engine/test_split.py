"""rnnkit's own split of the work over threads (rnnkit.threads.run,
block_ranges, matmul): the column loop by unit ranges (large weights) or
column ranges (small ones) and the large products by row ranges give the
same bits at every width, so the thread tuner's choice never changes a
result."""
import numpy as np
import pytest

import rnnkit
from rnnkit import threads
from rnnkit.loops.frame import empty

pytest.importorskip("numba")          # the column loop is compiled; numba is in the test extra


def _at_width(monkeypatch, n):
    monkeypatch.setattr(threads, "width", lambda: n)


def _layer_results(cls, x, lengths, bidirectional, seed=0):
    # H 160: weights large enough to split (rnnkit.kernels.product.unit_block), so widths 2 and 3 split
    layer = cls(x.shape[2], 160, num_layers=2, bidirectional=bidirectional, batch_first=True, seed=seed)
    layer.record_grad_norms = True
    y, state = layer(x, lengths=lengths)
    dy = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    dx, _ = layer.backward(dy)
    states = state if isinstance(state, tuple) else (state,)
    return [y, *states, dx] + [layer.grads[k] for k in sorted(layer.grads)] + \
        [layer.grad_norms_[k] for k in sorted(layer.grad_norms_)]


@pytest.mark.parametrize("cls", [rnnkit.LSTM, rnnkit.GRU])
@pytest.mark.parametrize("B", [1, 20, 37, 64])
@pytest.mark.parametrize("padded", [False, True])
def test_the_column_loop_gives_the_same_bits_at_every_width(monkeypatch, cls, B, padded):
    rng = np.random.default_rng(B)
    x = rng.standard_normal((B, 11, 24)).astype(np.float32)
    lengths = rng.integers(1, 12, B) if padded else None
    from rnnkit.kernels import product
    assert len(threads.block_ranges(160, product.unit_block(160, 3 * 160, 3 * 160), 3)) == 3
    got = {}
    for n in (1, 2, 3):
        _at_width(monkeypatch, n)
        got[n] = _layer_results(cls, x, lengths, bidirectional=padded)
    assert len(got[1]) > 8
    for n in (2, 3):
        for a, b in zip(got[1], got[n]):
            np.testing.assert_array_equal(a, b)


def _small_layer_results(cls, x, lengths, bidirectional):
    # H 24: weights small enough (rnnkit.kernels.product.small) for the column loop to split the columns
    layer = cls(x.shape[2], 24, num_layers=2, bidirectional=bidirectional, batch_first=True, seed=3)
    layer.record_grad_norms = True
    y, state = layer(x, lengths=lengths)
    dy = np.random.default_rng(2).standard_normal(y.shape).astype(np.float32)
    dx, _ = layer.backward(dy)
    y_infer, _ = layer.forward(x, keep_cache=False) if lengths is None else (y, None)
    states = state if isinstance(state, tuple) else (state,)
    return [y, y_infer, *states, dx] + [layer.grads[k] for k in sorted(layer.grads)] + \
        [layer.grad_norms_[k] for k in sorted(layer.grad_norms_)]


@pytest.mark.parametrize("cls", [rnnkit.LSTM, rnnkit.GRU])
@pytest.mark.parametrize("B", [33, 64, 100])
@pytest.mark.parametrize("padded", [False, True])
def test_small_weights_split_by_columns_give_the_same_bits_at_every_width(monkeypatch, cls, B, padded):
    from rnnkit.loops import columns
    monkeypatch.setattr(threads, "MIN_WORK", 1)          # split however small the step product
    rng = np.random.default_rng(B)
    x = rng.standard_normal((B, 9, 5)).astype(np.float32)
    lengths = rng.integers(1, 10, B) if padded else None
    got = {}
    for n in (1, 2, 3):
        _at_width(monkeypatch, n)
        parts = columns._plan(24, 4 * 24, 24, B)[2]
        assert len(parts) == min(n, -(-B // 32)) and all(p[:2] == (0, 24) for p in parts)
        got[n] = _small_layer_results(cls, x, lengths, bidirectional=padded)
    for n in (2, 3):
        for a, b in zip(got[1], got[n]):
            np.testing.assert_array_equal(a, b)


def test_block_ranges_are_whole_blocks_and_cover_the_rows():
    for H in (8, 15, 16, 17, 100, 256):
        for block in (8, 16, 25):
            for n in (1, 2, 3, 8):
                ranges = threads.block_ranges(H, block, n)
                assert ranges[0][0] == 0 and ranges[-1][1] == H
                assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
                assert all(u0 % block == 0 and u1 > u0 for u0, u1 in ranges)
                assert len(ranges) == min(n, -(-H // block))


def test_product_blocks_depend_on_the_shapes_only():
    from rnnkit.kernels import product
    assert product.unit_block(256, 1024, 256) == 64              # 2^19 multiply-adds a call
    assert product.unit_block(256, 1024, 1024) == 16
    assert product.unit_block(128, 512, 128) == 64               # at most half the units: two threads can share
    assert product.unit_block(32, 128, 32) == 32                 # small weights: one block, the columns split
    assert product.small(128, 32) and not product.small(512, 128)


@pytest.mark.parametrize("shape", [((2048, 256), (256, 256)), ((1024, 2048), (2048, 64)),
                                   ((256, 2048), (2048, 256)), ((3001, 517), (517, 129))])
def test_matmul_split_by_rows_gives_the_bits_of_one_blas_thread(monkeypatch, shape):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal(s).astype(np.float32) for s in shape)
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        want = a @ b                             # OpenBLAS's own threads may split some shapes' sums
    for n in (2, 3, 4):
        _at_width(monkeypatch, n)
        assert len(threads.row_ranges(a.shape[0], a.shape[1] * b.shape[1])) > 1
        np.testing.assert_array_equal(threads.matmul(a, b), want)
        np.testing.assert_array_equal(threads.matmul(np.asfortranarray(a), b), want)   # a transposed view too


def test_run_returns_results_in_order_and_raises_a_parts_error():
    assert threads.run(lambda i: i * i, [(i,) for i in range(5)]) == [0, 1, 4, 9, 16]

    def fail(i):
        if i == 2:
            raise ValueError("part 2")
        return i

    with pytest.raises(ValueError, match="part 2"):
        threads.run(fail, [(i,) for i in range(4)])


def test_aligned_buffers_start_on_a_cache_line():
    for shape in ((3, 5), (64, 1024, 32), (7,)):
        a = empty(shape, np.float32)
        assert a.shape == shape and a.dtype == np.float32 and a.ctypes.data % 64 == 0 and a.flags.c_contiguous


def test_a_language_model_step_gives_the_same_bits_under_every_setting(monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from rnnkit.losses import softmax_cross_entropy
    from rnnkit.models import TokenRNN

    ids = np.random.default_rng(0).integers(0, 50, (32, 17))
    results = []
    for blas_threads, n in ((1, 1), (2, 1), (1, 2), (1, 3)):
        _at_width(monkeypatch, n)
        with threadpoolctl.threadpool_limits(blas_threads, user_api="blas"):
            net = TokenRNN(50, 64, 2, "lstm", 16, seed=0)
            logits, _ = net.forward(ids[:, :-1])
            loss, d = softmax_cross_entropy(logits, ids[:, 1:])
            net.backward(d)
            results.append([logits, np.float64(loss)] + [g for _, g in sorted(net.named_grads().items())])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)
