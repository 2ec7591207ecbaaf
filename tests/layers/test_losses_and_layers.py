"""Losses against torch and their gradients; embedding and dense by finite differences."""
import numpy as np
import pytest

from rnnkit.layers import Dense, Embedding
from rnnkit.losses import mse, softmax_cross_entropy
from _gradcheck import central_difference

torch = pytest.importorskip("torch")


def test_cross_entropy_matches_torch_with_ignore_index_and_fused_gradient(rng):
    logits = rng.standard_normal((4, 5, 7)) * 3
    targets = rng.integers(0, 7, (4, 5))
    targets[1, 2:] = -100
    loss, grad = softmax_cross_entropy(logits, targets)
    lt = torch.tensor(logits, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(lt.reshape(-1, 7), torch.tensor(targets).reshape(-1), ignore_index=-100)
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(grad, lt.grad.numpy(), atol=1e-14)
    # fused form: (softmax - onehot) / N on counted positions
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    n = (targets != -100).sum()
    assert grad[0, 0, targets[0, 0]] == pytest.approx((p[0, 0, targets[0, 0]] - 1) / n)
    assert np.all(grad[1, 2:] == 0)


def test_cross_entropy_is_stable_for_huge_logits_and_honours_masks():
    logits = np.array([[1000.0, 0.0], [0.0, -1000.0]])
    loss, grad = softmax_cross_entropy(logits, np.array([0, 1]), mask=np.array([True, False]))
    assert np.isfinite(loss) and loss == pytest.approx(0.0)
    assert np.all(grad[1] == 0)
    with pytest.raises(ValueError, match="target class out of range"):
        softmax_cross_entropy(logits, np.array([0, 5]))


def test_mse_gradient_and_mask(rng):
    pred, target = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    loss, grad = mse(pred, target)
    assert loss == pytest.approx(((pred - target) ** 2).mean())
    np.testing.assert_allclose(grad, 2 * (pred - target) / 12)
    mask = np.array([1, 0, 1], bool)
    loss_m, grad_m = mse(pred, target, mask=mask)
    assert loss_m == pytest.approx(((pred - target)[[0, 2]] ** 2).mean())
    assert np.all(grad_m[1] == 0)


def _fd(f, arr, eps=1e-6):
    g = np.zeros_like(arr)
    for idx in np.ndindex(arr.shape):
        g[idx] = central_difference(f, arr, idx, eps)
    return g


def test_dense_gradients_match_finite_differences(rng):
    dense = Dense(4, 3, dtype=np.float64, seed=0)
    x = rng.standard_normal((2, 5, 4))
    R = rng.standard_normal((2, 5, 3))
    f = lambda: float((dense(x) * R).sum())
    f()
    dx = dense.backward(R)
    for k, p in dense.params.items():
        np.testing.assert_allclose(dense.grads[k], _fd(f, p), atol=1e-8)
    np.testing.assert_allclose(dx, _fd(f, x), atol=1e-8)


@pytest.mark.parametrize("shape, axes", [((5, 2, 4), (1, 0, 2)), ((3, 2, 5, 4), (1, 2, 0, 3))],
                         ids=["batch-first view of time-major", "4-D cyclic"])
def test_dense_on_a_transposed_view_keeps_its_memory_order_and_matches_finite_differences(rng, shape, axes):
    """A batch-first view of a time-major array (what a recurrent layer returns)
    goes through without a copy: the output is laid out like the input, and the
    gradients are those of the plain product, whatever the layout of ``dy``."""
    dense = Dense(4, 3, dtype=np.float64, seed=0)
    base = rng.standard_normal(shape)                    # C order in memory
    x = base.transpose(axes)                             # a view
    y = dense(x)
    inv = tuple(np.argsort(axes))                        # x.transpose(inv) is base, C-contiguous
    assert y.shape == x.shape[:-1] + (3,) and y.transpose(inv).flags.c_contiguous
    np.testing.assert_allclose(y, x @ dense.params["weight"].T + dense.params["bias"], rtol=1e-12)
    R = rng.standard_normal(y.shape)                     # C order: not y's layout
    f = lambda: float((dense(x) * R).sum())
    for dy in (R, np.ascontiguousarray(R.transpose(inv)).transpose(axes)):      # C order, and y's layout
        f()
        dx = dense.backward(dy)
        for k, p in dense.params.items():
            np.testing.assert_allclose(dense.grads[k], _fd(f, p), atol=1e-8)
        np.testing.assert_allclose(dx, _fd(f, x), atol=1e-8)
        assert dx.shape == x.shape


def test_dense_on_a_broadcast_input_matches_the_plain_product(rng):
    dense = Dense(4, 3, dtype=np.float64, seed=0)
    x = np.broadcast_to(rng.standard_normal((1, 4)), (6, 4))     # zero stride: copied, not viewed
    np.testing.assert_allclose(dense(x), x @ dense.params["weight"].T + dense.params["bias"], rtol=1e-12)
    dense.backward(np.ones((6, 3)))
    np.testing.assert_allclose(dense.grads["weight"], np.ones((6, 3)).T @ x, rtol=1e-12)


def test_embedding_accumulates_gradients_of_repeated_ids_and_skips_padding(rng):
    emb = Embedding(6, 3, padding_idx=0, dtype=np.float64, seed=0)
    assert np.all(emb.params["weight"][0] == 0)
    ids = np.array([[1, 2, 1], [0, 5, 1]])
    R = rng.standard_normal((2, 3, 3))
    f = lambda: float((emb(ids) * R).sum())
    f()
    emb.backward(R)
    expected = _fd(f, emb.params["weight"])
    expected[0] = 0
    np.testing.assert_allclose(emb.grads["weight"], expected, atol=1e-8)
    with pytest.raises(ValueError, match="token id out of range"):
        emb(np.array([[7]]))


@pytest.mark.parametrize("vocab", [50, 20_000], ids=["one-hot product", "sorted row sums"])
def test_embedding_gradient_sums_the_rows_of_each_id_for_small_and_large_vocabularies(rng, vocab):
    emb = Embedding(vocab, 4, padding_idx=3, dtype=np.float64, seed=0)
    ids = rng.integers(0, 40, (30, 16))                  # repeated ids, some unused rows
    dy = rng.standard_normal((30, 16, 4))
    emb(ids)
    emb.backward(dy)
    expected = np.zeros((vocab, 4))
    for i, row in zip(ids.reshape(-1), dy.reshape(-1, 4)):
        expected[i] += row
    expected[3] = 0
    np.testing.assert_allclose(emb.grads["weight"], expected, rtol=1e-12, atol=1e-12)


def test_cross_entropy_refuses_float_targets_and_integer_logits_in_one_line():
    logits = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match="targets have dtype float64; pass integer class indices"):
        softmax_cross_entropy(logits, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="logits have dtype int64; pass floating-point scores"):
        softmax_cross_entropy(logits.astype(np.int64), np.zeros((2, 3), np.int64))


def test_a_mask_of_the_wrong_shape_is_named():
    logits = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match=r"mask has shape \(3, 2\) but the targets \(2, 3\)"):
        softmax_cross_entropy(logits, np.zeros((2, 3), np.int64), mask=np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"mask has shape \(2, 3, 1\) but the targets \(2, 3\)"):
        softmax_cross_entropy(logits, np.zeros((2, 3), np.int64), mask=np.ones((2, 3, 1)))
    with pytest.raises(ValueError, match=r"mask has shape \(3, 2\) but the predictions \(2, 3, 4\)"):
        mse(logits, logits, mask=np.ones((3, 2)))
    # length-1 axes broadcast: (B, 1) is one flag per sequence; fewer axes are ambiguous, refused
    full, _ = softmax_cross_entropy(logits, np.zeros((2, 3), np.int64))
    assert softmax_cross_entropy(logits, np.zeros((2, 3), np.int64), mask=np.ones((2, 1)))[0] == full
    with pytest.raises(ValueError, match=r"mask has shape \(3,\) but the targets \(2, 3\); pass one flag per target"):
        softmax_cross_entropy(logits, np.zeros((2, 3), np.int64), mask=np.ones(3))
    assert mse(logits, logits + 1, mask=np.array([[1, 0, 1], [0, 0, 1]]))[0] == 1.0


def test_a_mask_flags_sequences_the_same_way_in_both_losses():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((3, 3, 5))                 # B == T: a trailing-axis reading would pass silently
    targets = rng.integers(0, 5, (3, 3))
    seq0 = softmax_cross_entropy(logits[:1], targets[:1])[0]
    loss, grad = softmax_cross_entropy(logits, targets, mask=[[True], [False], [False]])
    assert loss == pytest.approx(seq0) and not grad[1:].any()
    with pytest.raises(ValueError, match="pass one flag per target"):       # (B,) or (T,)? refused
        softmax_cross_entropy(logits, targets, mask=[True, False, False])
    pred, target = rng.standard_normal((3, 3, 2)), rng.standard_normal((3, 3, 2))
    assert mse(pred, target, mask=[1, 0, 0])[0] == pytest.approx(mse(pred[:1], target[:1])[0])
