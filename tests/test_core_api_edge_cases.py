"""The core Python API where a PyTorch user leans on it: copies of models, the
cache a backward pass reads, gate statistics with lengths, dropout masks, the
losses' masks, the optimizers' arguments, and one-line errors for misuse."""
import copy
import pickle

import numpy as np
import pytest

from rnnkit.diagnostics import forget_gate_mean, gate_activations, gate_metrics, gate_saturation, step_metrics
from rnnkit.data.batching import pad
from rnnkit.layers import Dense, Dropout, Embedding
from rnnkit.models.token_rnn import TokenRNN
from rnnkit.optim import SGD, Adam, clip_grad_norm, clip_grad_value
from rnnkit.recurrent import GRU, LSTM, RNN
from rnnkit.diagnostics.adding import adding_problem

RNG = np.random.default_rng(0)


def _x(T=5, B=2, D=3, dtype=np.float32):
    return np.random.default_rng(1).standard_normal((T, B, D)).astype(dtype)


def _grads(layer, x, dy=None, **kw):
    y, _ = layer(x, **kw)
    layer.backward(np.ones_like(y) if dy is None else dy)
    return {k: v.copy() for k, v in layer.grads.items()}


def test_a_model_copies_and_pickles_after_a_token_pass():
    net = TokenRNN(10, 8, embedding_dim=4, seed=0)
    net.forward(RNG.integers(0, 10, (3, 5)))
    twin = copy.deepcopy(net)
    again = pickle.loads(pickle.dumps(net))
    ids = RNG.integers(0, 10, (2, 4))
    ref = net.forward(ids, keep_cache=False)[0]
    for other in (twin, again):
        np.testing.assert_array_equal(other.forward(ids, keep_cache=False)[0], ref)


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_an_inference_pass_or_a_step_between_forward_and_backward_leaves_the_cache(cls, dtype):
    x = _x(dtype=dtype)
    ref = _grads(cls(3, 4, dtype=dtype, seed=0), x)
    layer = cls(3, 4, dtype=dtype, seed=0)
    y, _ = layer(x)
    layer(_x(T=7, B=3, dtype=dtype), keep_cache=False)       # another shape, no cache
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


def test_gate_statistics_leave_padded_steps_out():
    layer = LSTM(3, 4, forget_bias=30.0, seed=0)
    layer(_x(T=10, B=4))
    assert gate_saturation(layer)["f"] == {"low": 0.0, "high": 1.0}
    layer(_x(T=10, B=4), lengths=[10, 5, 2, 1])
    assert gate_saturation(layer)["f"] == {"low": 0.0, "high": 1.0}
    assert np.all(forget_gate_mean(layer) > 0.999)
    g = gate_metrics(layer)
    assert min(g["forget_gate_mean"]["l0"]) > 0.999


def test_gate_activations_are_copies_that_later_passes_leave_alone():
    layer = LSTM(3, 4, seed=0)
    layer(_x())
    kept = gate_activations(layer)["f"]
    before = kept.copy()
    layer(_x() * 3)
    np.testing.assert_array_equal(kept, before)


def test_diagnostics_know_a_subclass_of_a_layer():
    class MyLSTM(LSTM):
        pass

    layer = MyLSTM(3, 4, seed=0)
    layer(_x())
    assert sorted(gate_activations(layer)) == ["f", "g", "i", "o"]
    assert forget_gate_mean(layer).shape == (5,) and set(gate_metrics(layer)) == {"gate_saturation",
                                                                                  "forget_gate_mean"}


def test_gradient_norms_of_an_earlier_pass_are_not_reported_as_current():
    layer = LSTM(3, 4, seed=0)
    layer.record_grad_norms = True
    _grads(layer, _x())
    assert layer.grad_norms_
    layer.record_grad_norms = False
    _grads(layer, _x())
    assert layer.grad_norms_ == {} and "dh_norms" not in step_metrics(layer)


def test_dropout_masks_drawn_for_another_batch_are_refused():
    layer = GRU(3, 4, recurrent_dropout=0.5, dropout=0.3, num_layers=2, seed=0)
    with pytest.raises(ValueError, match=r"recurrent dropout mask has shape \(3, 4\) but this pass needs \(2, 4\) "
                                         r"\(or \(1, 4\), shared by the batch\); draw the masks with sample_masks\(5, 2\)"):
        layer(_x(), masks=layer.sample_masks(5, 3))
    with pytest.raises(ValueError, match="between dropout mask has shape"):
        layer(_x(), masks=layer.sample_masks(4, 2))
    layer(_x(), masks=layer.sample_masks(5, 2))


@pytest.mark.parametrize("lengths", [None, [5, 3, 2]])
def test_dropout_masks_of_batch_one_are_shared_by_every_sequence(lengths):
    layer = LSTM(3, 4, num_layers=2, dropout=0.5, recurrent_dropout=0.5, seed=0)
    x = _x(B=3)
    shared = layer.sample_masks(5, 1)
    full = {"recurrent": [np.repeat(m, 3, 0) for m in shared["recurrent"]],
            "between": [None if m is None else np.repeat(m, 3, 1) for m in shared["between"]]}
    a = _grads(layer, x, lengths=lengths, masks=shared)
    b = _grads(layer, x, lengths=lengths, masks=full)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_fit_stream_reports_the_norm_before_any_clipping():
    from rnnkit.losses import softmax_cross_entropy
    from rnnkit.optim import grad_norm
    from rnnkit.train import fit_stream

    ids = RNG.integers(0, 6, (2, 9))
    twin = TokenRNN(6, 5, embedding_dim=3, seed=0)
    _, d = softmax_cross_entropy(twin.forward(ids[:, :8])[0], ids[:, 1:])
    twin.backward(d)
    expect = grad_norm(twin.named_grads())
    for kw in ({}, dict(clip_norm=1e-3), dict(clip_value=1e-4, clip_norm=1e-3)):
        net, norms = TokenRNN(6, 5, embedding_dim=3, seed=0), []
        fit_stream(net, ids[:, :8], ids[:, 1:], SGD(net.named_parameters(), lr=0.1), k1=8,
                   callback=lambda w, loss, n: norms.append(n), **kw)
        assert norms == [pytest.approx(expect, rel=1e-6)], kw


@pytest.mark.parametrize("as_", ["list", "generator", "array"])
def test_clipping_takes_arrays_the_ways_pytorch_takes_tensors(as_):
    g = [np.full(4, 3.0), np.full(4, 4.0)] if as_ != "array" else [np.full(8, 3.0)]
    given = {"list": list, "generator": lambda a: (x for x in a), "array": lambda a: a[0]}[as_](g)
    before = np.sqrt(sum((a ** 2).sum() for a in g))
    assert clip_grad_norm(given, 1.0) == pytest.approx(before)
    assert np.sqrt(sum((a ** 2).sum() for a in g)) == pytest.approx(1.0, rel=1e-5)     # clipped in place
    h = [np.array([5.0, -5.0])]
    given = {"list": list, "generator": lambda a: (x for x in a), "array": lambda a: a[0]}[as_](h)
    assert clip_grad_value(given, 1.0) == pytest.approx(np.sqrt(50)) and h[0].tolist() == [1.0, -1.0]
    with pytest.raises(TypeError, match="dict name -> array, an array, or a list of arrays"):
        clip_grad_norm([1.0, 2.0], 1.0)


def test_misuse_gets_one_line_errors_that_name_the_fix():
    import torch

    p = {"w": np.zeros(3)}
    with pytest.raises(TypeError, match="dict keyed like the parameters"):
        Adam(p).step([np.ones(3)])
    with pytest.raises(RuntimeError, match="Dense.backward\\(\\) needs a forward pass first"):
        Dense(3, 2).backward(np.ones((1, 2)))
    with pytest.raises(RuntimeError, match="Embedding.backward\\(\\) needs a forward pass first"):
        Embedding(5, 3).backward(np.ones((1, 3)))
    for bad in (5, -6, 1.5, True):
        with pytest.raises(ValueError, match=r"padding_idx must be an integer in \[-5, 5\)"):
            Embedding(5, 3, padding_idx=bad)
    assert Embedding(5, 3, padding_idx=-1).padding_idx == 4          # from the end, as in PyTorch
    with pytest.raises(NotImplementedError, match="proj_size is an LSTM option"):
        GRU(3, 4, proj_size=2)
    with pytest.raises(ValueError, match="T must be >= 2"):
        adding_problem(4, 1, 0)
    with pytest.raises(ValueError, match="not a NumPy dtype"):
        LSTM(3, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match="Dropout needs floating-point input"):
        Dropout(0.5)(np.ones((2, 3), np.int64))
    layer = LSTM(3, 4, seed=0)
    layer(_x())
    with pytest.raises(ValueError, match="dy is None"):
        layer.backward(None)


def test_a_token_model_from_torch_with_embedding_size_equal_to_hidden_and_no_head_bias():
    torch = pytest.importorskip("torch")
    from torch import nn

    from rnnkit.interop import token_rnn_from_torch

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.rnn, self.fc = nn.Embedding(11, 6), nn.LSTM(6, 6, batch_first=True), nn.Linear(6, 11, bias=False)

        def forward(self, x):
            return self.fc(self.rnn(self.emb(x))[0])

    class HeadFirst(nn.Module):                       # registered in another order, other names
        def __init__(self):
            super().__init__()
            self.head, self.rnn, self.embed = nn.Linear(6, 11, bias=False), nn.LSTM(6, 6, batch_first=True), nn.Embedding(11, 6)

        def forward(self, x):
            return self.head(self.rnn(self.embed(x))[0])

    class Anonymous(HeadFirst):
        def __init__(self):
            nn.Module.__init__(self)
            self.a, self.rnn, self.b = nn.Linear(6, 11, bias=False), nn.LSTM(6, 6, batch_first=True), nn.Embedding(11, 6)

        def forward(self, x):
            return self.a(self.rnn(self.b(x))[0])

    ids = RNG.integers(0, 11, (2, 5))
    for m, kw in ((M(), {}), (HeadFirst(), {}), (Anonymous(), dict(embedding="b", head="a"))):
        net = token_rnn_from_torch(m.state_dict(), **kw)
        with torch.no_grad():
            ref = m(torch.from_numpy(ids)).numpy()
        np.testing.assert_allclose(net.forward(ids, keep_cache=False)[0], ref, atol=1e-5)
    with pytest.raises(ValueError, match=r"look alike; name them: token_rnn_from_torch\(state_dict, embedding=NAME"):
        token_rnn_from_torch(Anonymous().state_dict())


def test_gradflow_never_reports_a_solved_step_past_the_steps_it_ran():
    from rnnkit.diagnostics.flow import gradflow_experiment

    r = gradflow_experiment(cells=("rnn_tanh",), T=10, hidden=4, batch=8, steps=5, n_test=16,
                            record_every=2)["rnn_tanh"]
    assert r["loss_curve"][-1] < 0.05 and r["steps_run"] == 5   # solved in the last, short block (this seed)
    assert r["solved_step"] is not None and r["solved_step"] <= 5


@pytest.mark.parametrize("kind", ["tagger", "classifier"])
def test_the_estimators_nets_keep_their_training_pass_through_an_inference_pass(kind):
    from rnnkit.models import SequenceClassifier, SequenceTagger

    rng = np.random.default_rng(0)
    X = [rng.integers(0, 5, n) for n in (4, 6, 3)]
    if kind == "tagger":
        est = SequenceTagger(hidden_size=4, epochs=1, random_state=0).fit(X, [list(x % 2) for x in X])
    else:
        est = SequenceClassifier(hidden_size=4, epochs=1, pooling="max", random_state=0).fit(X, [0, 1, 0])
    net = est.net_
    x, n = pad(X, 0, np.int64)
    out = net(x, n)
    net.backward(np.ones_like(out))
    ref = {k: v.copy() for k, v in net.named_grads().items()}
    out = net(x, n)
    net(x[:2, :3], np.minimum(n[:2], 3), keep_cache=False)     # another batch, no cache
    net.backward(np.ones_like(out))
    for k, v in ref.items():
        np.testing.assert_array_equal(net.named_grads()[k], v, err_msg=k)
