"""``layer(ids, embedding=emb)``: the embedding folded into the first layer's input
projection (rnnkit.tokens) gives what ``layer(emb(ids))`` gives, gradients included."""
import numpy as np
import pytest

import rnnkit
from rnnkit.loops import frame
from rnnkit.layers import Embedding, OneHot
from rnnkit.tokens import TokenInput, sum_rows_by_id

numba = pytest.importorskip("numba")

LAYERS = {
    "lstm": lambda D, **kw: rnnkit.LSTM(D, 9, **kw),
    "gru": lambda D, **kw: rnnkit.GRU(D, 9, reset_after=True, **kw),
    "gru-v1": lambda D, **kw: rnnkit.GRU(D, 9, reset_after=False, **kw),    # batch-major loop only
    "rnn": lambda D, **kw: rnnkit.RNN(D, 9, **kw),
    "sgru": lambda D, **kw: rnnkit.SimpleGRU(D, 9, **kw),
}


def _both_ways(kind, V=7, T=8, B=5, lengths=None, dtype=np.float32, padding_idx=None, seed=0, one_hot=False,
               **kw):
    """Outputs, final state and gradients of the folded pass and of the lookup
    followed by the layer, from equal weights and equal data; ``one_hot``: the
    tokens as one-hot vectors (``OneHot(V)``, no gradient of their own) instead
    of an embedding of size 6."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, V, (B, T))
    if padding_idx is not None:
        ids[:, -2:] = padding_idx
    runs = []
    for folded in (True, False):
        layer = LAYERS[kind](V if one_hot else 6, batch_first=True, dtype=dtype, seed=1, **kw)
        emb = OneHot(V, dtype=dtype) if one_hot else Embedding(V, 6, padding_idx=padding_idx, dtype=dtype, seed=2)
        if folded:
            y, state = layer(ids, lengths=lengths, embedding=emb)
        else:
            y, state = layer(emb(ids), lengths=lengths)
        dy = np.random.default_rng(seed + 1).standard_normal(y.shape).astype(dtype)
        dx, dh0 = layer.backward(dy)
        if folded:
            assert dx is None
        else:
            emb.backward(dx)
        runs.append((y, (state, dh0), dict(layer.grads), emb.grads.get("weight", np.zeros(1)).copy(), layer))
    return runs


def _assert_same(a, b, rtol):
    (y1, s1, g1, e1, _), (y2, s2, g2, e2, _) = a, b
    scale = lambda v: rtol * max(1.0, np.abs(v).max())      # noqa: E731
    np.testing.assert_allclose(y1, y2, atol=scale(y2))
    flat = lambda s: [a for part in s for a in (part if isinstance(part, tuple) else (part,))]  # noqa: E731
    for u, v in zip(flat(s1), flat(s2), strict=True):       # final states and their gradients
        np.testing.assert_allclose(u, v, atol=scale(v))
    assert g1.keys() == g2.keys()
    for k in g2:
        np.testing.assert_allclose(g1[k], g2[k], atol=scale(g2[k]), err_msg=k)
    np.testing.assert_allclose(e1, e2, atol=scale(e2), err_msg="embedding")


def _folded(layer):
    """Whether the last pass of ``layer`` folded the lookup (the first layer's cache holds tokens that fold)."""
    x = layer._cache["layers"][0][1][0].x
    return isinstance(x, TokenInput) and x.fold


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("lengths", [None, [8, 3, 6, 8, 1]])
def test_folded_embedding_matches_the_lookup_then_the_layer(kind, bidirectional, lengths):
    folded, plain = _both_ways(kind, lengths=lengths, bidirectional=bidirectional, num_layers=2)
    assert _folded(folded[-1])
    _assert_same(folded, plain, 2e-6)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_folded_embedding_with_dropout_between_layers_and_recurrent_dropout(kind):
    """Training mode with both dropouts: each run's layer draws the same masks (same seed)."""
    folded, plain = _both_ways(kind, lengths=[8, 3, 6, 8, 1], num_layers=2, dropout=0.3, recurrent_dropout=0.25)
    assert folded[-1]._cache["masks"]["recurrent"][0] is not None and _folded(folded[-1])
    _assert_same(folded, plain, 2e-6)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_folded_embedding_on_the_column_loop(kind):
    """B >= 4 and float32: the column loop serves these passes, token table and all."""
    folded, plain = _both_ways(kind, B=6, lengths=[8, 5, 8, 2, 7, 8])
    assert all(c.loop == "columns" for c in folded[-1]._cache["layers"][0][1]) and _folded(folded[-1])
    _assert_same(folded, plain, 2e-6)


@pytest.mark.parametrize("one_hot", [False, True], ids=["embedding", "one-hot"])
def test_a_vocabulary_larger_than_the_pass_is_looked_up_not_folded(one_hot):
    folded, plain = _both_ways("lstm", V=50, T=4, B=3, one_hot=one_hot)
    assert not _folded(folded[-1])
    _assert_same(folded, plain, 1e-6)


def test_padding_row_gets_no_gradient_through_the_fold():
    folded, plain = _both_ways("lstm", padding_idx=0)
    assert _folded(folded[-1])
    assert (folded[3][0] == 0).all() and np.abs(folded[3][1:]).max() > 0
    _assert_same(folded, plain, 2e-6)


def test_inference_without_cache_folds_too():
    rng = np.random.default_rng(3)
    ids = rng.integers(0, 5, (7, 6))
    layer = rnnkit.LSTM(6, 9, seed=1)
    emb = Embedding(5, 6, seed=2)
    y1, s1 = layer(ids, keep_cache=False, embedding=emb)
    y2, s2 = layer(emb(ids), keep_cache=False)
    np.testing.assert_allclose(y1, y2, atol=2e-6)
    np.testing.assert_allclose(s1[1], s2[1], atol=2e-6)


def test_unbatched_ids():
    emb = Embedding(5, 6, seed=2)
    layer = rnnkit.GRU(6, 9, seed=1)
    ids = np.array([0, 3, 4, 4, 1, 2, 0, 0, 3, 1])           # (T,), V 5 <= T
    y1, h1 = layer(ids, embedding=emb)
    assert _folded(layer)
    y2, h2 = layer(emb(ids))
    np.testing.assert_allclose(y1, y2, atol=2e-6)
    np.testing.assert_allclose(h1, h2, atol=2e-6)


def _loss(layer, emb, ids, dy):
    y, _ = layer(ids, embedding=emb)
    return float((y * dy).sum())


@pytest.mark.parametrize("kind", ["lstm", "gru-v1"])
def test_folded_gradients_match_finite_differences_in_float64(kind):
    """The fold's gather and sums serve float64 too: central differences on the
    embedding, the first layer's input weights and a recurrent weight."""
    rng = np.random.default_rng(4)
    ids = rng.integers(0, 4, (5, 3))                          # V 4 <= T*B 15: folds
    layer = LAYERS[kind](6, dtype=np.float64, seed=1, bidirectional=True)
    emb = Embedding(4, 6, dtype=np.float64, seed=2)
    dy = rng.standard_normal((5, 3, 18))
    _loss(layer, emb, ids, dy)
    assert _folded(layer)
    layer.backward(dy)
    for name, p, g in (("embedding", emb.params["weight"], emb.grads["weight"]),
                       ("weight_ih_l0", layer.params["weight_ih_l0"], layer.grads["weight_ih_l0"]),
                       ("weight_ih_l0_reverse", layer.params["weight_ih_l0_reverse"],
                        layer.grads["weight_ih_l0_reverse"]),
                       ("weight_hh_l0", layer.params["weight_hh_l0"], layer.grads["weight_hh_l0"])):
        g = g.copy()
        for j in rng.choice(p.size, 6, replace=False):
            flat = p.reshape(-1)
            old = flat[j]
            flat[j] = old + 1e-6
            up = _loss(layer, emb, ids, dy)
            flat[j] = old - 1e-6
            down = _loss(layer, emb, ids, dy)
            flat[j] = old
            num = (up - down) / 2e-6
            assert abs(num - g.reshape(-1)[j]) <= 1e-7 + 1e-6 * abs(num), (name, j, num, g.reshape(-1)[j])


def test_folded_lstm_matches_torch_embedding_and_lstm():
    """The float32 twin of P2's model: ``nn.Embedding`` into a 2-layer
    ``nn.LSTM``; outputs, LSTM and embedding gradients to 1e-5."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    V, E, H, T, B = 20, 12, 32, 16, 8
    layer = rnnkit.LSTM(E, H, num_layers=2, seed=3)
    emb = Embedding(V, E, seed=4)
    t_lstm, t_emb = torch.nn.LSTM(E, H, num_layers=2), torch.nn.Embedding(V, E)
    with torch.no_grad():
        for k, v in t_lstm.named_parameters():
            v.copy_(torch.from_numpy(layer.params[k]))
        t_emb.weight.copy_(torch.from_numpy(emb.params["weight"]))
    ids = rng.integers(0, V, (T, B))
    dy = rng.standard_normal((T, B, H)).astype(np.float32)
    y, _ = layer(ids, embedding=emb)
    assert _folded(layer)
    layer.backward(dy)
    yt, _ = t_lstm(t_emb(torch.from_numpy(ids)))
    yt.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(y, yt.detach().numpy(), atol=1e-5)
    for k, v in list(t_lstm.named_parameters()) + [("embedding", t_emb.weight)]:
        g = v.grad.numpy()
        mine = emb.grads["weight"] if k == "embedding" else layer.grads[k]
        np.testing.assert_allclose(mine, g, atol=1e-5 * np.abs(g).max(), err_msg=k)


def test_sum_rows_by_id_both_ways():
    rng = np.random.default_rng(0)
    d = rng.standard_normal((300, 4))
    for V, ids in ((7, rng.integers(0, 7, 300)), (20000, rng.integers(0, 20000, 300))):
        want = np.zeros((V, 4))
        np.add.at(want, ids, d)
        np.testing.assert_allclose(sum_rows_by_id(ids, d, V), want, atol=1e-12)


@pytest.mark.parametrize("ids, embedding, match", [
    (np.zeros((3, 4)), Embedding(5, 6), "integer token ids"),
    (np.full((3, 4), 5), Embedding(5, 6), r"out of range \[0, 5\)"),
    (np.zeros((3, 4), int), Embedding(5, 7), "input_size=6; make them equal"),
    (np.zeros((3, 4, 2), int), Embedding(5, 6), r"token ids must be 2-D \(T, B\)"),
    (np.zeros((0, 4), int), Embedding(5, 6), "no time steps"),
])
def test_bad_token_input_says_what_is_wrong(ids, embedding, match):
    with pytest.raises(ValueError, match=match):
        rnnkit.LSTM(6, 9)(ids, embedding=embedding)


def test_embedding_must_be_an_embedding():
    with pytest.raises(TypeError, match="rnnkit.layers.Embedding"):
        rnnkit.LSTM(6, 9)(np.zeros((3, 4), int), embedding=np.zeros((5, 6)))


def test_token_input_reorders_with_the_batch():
    ids = np.arange(12).reshape(3, 4) % 5
    tok = TokenInput(ids, np.arange(30.0).reshape(5, 6))
    np.testing.assert_array_equal(tok.take(np.array([2, 0, 3, 1])).dense(), tok.dense()[:, [2, 0, 3, 1]])
    assert frame.backward_order(np.array([1, 0, 2, 3]), tok, "dE", (np.eye(4),))[0] == "dE"


def test_token_inputs_give_the_embedding_gradient_without_the_input_gradient():
    rng = np.random.default_rng(7)
    ids = rng.integers(0, 5, (6, 7))
    grads = []
    for input_grad in (True, False):
        layer, emb = rnnkit.LSTM(6, 9, seed=1), Embedding(5, 6, seed=2)
        y, _ = layer(ids, embedding=emb)
        assert layer.backward(np.ones_like(y), input_grad=input_grad)[0] is None
        grads.append(emb.grads["weight"])
    np.testing.assert_array_equal(grads[0], grads[1])
    assert np.abs(grads[1]).max() > 0


# -- one-hot vectors (OneHot): the table is W_ih itself -------------------------------------------------
@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("lengths", [None, [8, 3, 6, 8, 1]])
def test_folded_one_hot_vectors_match_the_layer_on_the_one_hot_matrix(kind, bidirectional, lengths):
    folded, plain = _both_ways(kind, V=6, one_hot=True, lengths=lengths, bidirectional=bidirectional, num_layers=2)
    assert _folded(folded[-1]) and folded[-1]._cache["layers"][0][1][0].x.weight is None
    _assert_same(folded, plain, 2e-6)


def test_one_hot_backward_with_input_grad_still_returns_no_input_gradient():
    layer = rnnkit.LSTM(6, 4, seed=0)
    y, _ = layer(np.random.default_rng(0).integers(0, 6, (8, 5)), embedding=OneHot(6))
    dx, _ = layer.backward(np.ones_like(y))                  # input_grad=True: tokens have none
    assert dx is None and np.abs(layer.grads["weight_ih_l0"]).max() > 0


def test_token_rnn_without_embedding_folds_its_one_hot_input_and_matches_the_plain_pass():
    """``TokenRNN(embedding_dim=0)`` (the seeds' one-hot model) against the same
    network run on ``eye(V)[ids]`` by hand: logits and every gradient."""
    from rnnkit.losses import softmax_cross_entropy
    from rnnkit.models import TokenRNN

    net = TokenRNN(11, 8, num_layers=2, cell="lstm", embedding_dim=0, seed=0)
    ids = np.random.default_rng(0).integers(0, 11, (6, 9))
    targets = np.random.default_rng(1).integers(0, 11, (6, 9))
    logits, _ = net(ids)
    assert _folded(net.rnn)
    _, d = softmax_cross_entropy(logits, targets)
    net.backward(d)
    got = {k: v.copy() for k, v in net.named_grads().items()}
    h, _ = net.rnn(np.eye(11, dtype=np.float32)[ids])
    np.testing.assert_allclose(logits, net.head(h), atol=2e-6)
    net.rnn.backward(net.head.backward(d))
    for k, v in net.named_grads().items():
        np.testing.assert_allclose(got[k], v, atol=2e-6 * max(1.0, np.abs(v).max()), err_msg=k)


def test_one_hot_rejects_what_an_embedding_rejects():
    layer = rnnkit.LSTM(5, 4, seed=0)
    with pytest.raises(ValueError, match="token id out of range"):
        layer(np.array([[0, 5]]), embedding=OneHot(5))
    with pytest.raises(ValueError, match="integer token ids"):
        layer(np.zeros((2, 3)), embedding=OneHot(5))
    with pytest.raises(ValueError, match="input_size=5"):
        layer(np.zeros((2, 3), np.int64), embedding=OneHot(7))
