import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from rnnkit import io  # noqa: E402
from rnnkit.cli import main  # noqa: E402
from rnnkit.interop import to_onnx  # noqa: E402
from rnnkit.interop.onnx_export import OPSET_MAX, OPSET_MIN  # noqa: E402
from rnnkit.models import TokenRNN  # noqa: E402
from rnnkit.recurrent import GRU, LSTM, RNN, SimpleGRU  # noqa: E402

LAYERS = [
    lambda: RNN(3, 4, num_layers=2, nonlinearity="relu", bidirectional=True, seed=0),
    lambda: RNN(3, 4, bias=False, batch_first=True, seed=1),
    lambda: LSTM(3, 4, num_layers=2, bidirectional=True, init="torch", seed=2),
    lambda: LSTM(3, 4, bidirectional=True, merge_mode="sum", batch_first=True, seed=3),
    lambda: GRU(3, 4, num_layers=2, bidirectional=True, seed=4),
    lambda: GRU(3, 4, reset_after=False, bidirectional=True, merge_mode="mean", seed=5),
    lambda: GRU(3, 4, bidirectional=True, merge_mode="mul", bias=False, init="torch", seed=6),
    lambda: LSTM(3, 4, num_layers=2, bias=False, seed=7),
    lambda: GRU(3, 4, num_layers=2, reset_after=False, batch_first=True, seed=8),
    lambda: GRU(3, 4, reset_after=False, bias=False, seed=9),
    lambda: GRU(3, 4, seed=10),
    lambda: RNN(3, 4, nonlinearity="relu", batch_first=True, seed=11),
]


def _session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _valid(y, lengths, batch_first):
    y = y if batch_first else y.transpose(1, 0, 2)
    return np.concatenate([y[b, :n] for b, n in enumerate(lengths)])


@pytest.mark.parametrize("make", LAYERS)
def test_layer_matches_onnxruntime_with_variable_lengths(make):
    layer = make().eval()
    model = to_onnx(layer)
    onnx.checker.check_model(model)
    ops = {n.op_type for n in model.graph.node}
    assert type(layer).__name__ in ops
    lengths = np.array([6, 2, 4], np.int32)
    x = np.random.default_rng(0).standard_normal((3, 6, 3) if layer.batch_first else (6, 3, 3)).astype(np.float32)
    y, h = layer(x, lengths=lengths)
    got = _session(model).run(None, {"x": x, "lengths": lengths})
    np.testing.assert_allclose(_valid(got[0], lengths, layer.batch_first), _valid(y, lengths, layer.batch_first),
                               rtol=1e-5, atol=1e-5)
    for a, b in zip(got[1:], h if isinstance(h, tuple) else (h,)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_gru_reset_convention_is_marked():
    for reset_after in (True, False):
        m = to_onnx(GRU(2, 3, reset_after=reset_after))
        (node,) = [n for n in m.graph.node if n.op_type == "GRU"]
        attrs = {a.name: a.i for a in node.attribute if a.name == "linear_before_reset"}
        assert attrs["linear_before_reset"] == int(reset_after)


@pytest.mark.parametrize("embedding_dim,cell", [(5, "lstm"), (0, "gru"), (4, "rnn")])
def test_token_rnn_logits_and_softmax_match(embedding_dim, cell):
    net = TokenRNN(9, hidden_size=6, num_layers=2, cell=cell, embedding_dim=embedding_dim, seed=1).eval()
    model = to_onnx(net)
    ops = [n.op_type for n in model.graph.node]
    assert "Gather" in ops and "MatMul" in ops and "Softmax" in ops
    ids = np.random.default_rng(0).integers(0, 9, (3, 7))
    lengths = np.full(3, 7, np.int32)
    logits, probs, *_ = _session(model).run(None, {"ids": ids, "lengths": lengths})
    want, _ = net(ids)
    np.testing.assert_allclose(logits, want, rtol=1e-5, atol=1e-5)
    e = np.exp(want - want.max(-1, keepdims=True))
    np.testing.assert_allclose(probs, e / e.sum(-1, keepdims=True), rtol=1e-5, atol=1e-6)


def test_simplified_gru_has_no_onnx_operator():
    with pytest.raises(ValueError, match="SimpleGRU.*no ONNX operator"):
        to_onnx(SimpleGRU(2, 3))


def test_export_command_writes_a_checked_model(tmp_path, capsys):
    src = io.save(TokenRNN(7, hidden_size=4, cell="lstm", embedding_dim=3, seed=0), tmp_path / "m.npz")
    out = tmp_path / "m.onnx"
    assert main(["export", "onnx", str(src), str(out)]) == 0
    onnx.checker.check_model(onnx.load(str(out)))
    assert main(["export", "onnx", str(tmp_path / "missing.npz"), str(out)]) == 2
    assert "missing.npz" in capsys.readouterr().err
    assert main(["export", "onnx", str(tmp_path), str(out)]) == 2
    assert "not a training run directory" in capsys.readouterr().err


STATEFUL = [
    lambda dt: LSTM(3, 4, num_layers=2, bidirectional=True, seed=0, dtype=dt),
    lambda dt: GRU(3, 4, num_layers=2, reset_after=False, batch_first=True, seed=1, dtype=dt),
    lambda dt: GRU(3, 4, bidirectional=True, bias=False, seed=2, dtype=dt),
    lambda dt: RNN(3, 4, num_layers=2, nonlinearity="relu", bidirectional=True, batch_first=True, seed=3, dtype=dt),
]


def _inputs(layer, dtype):
    rng = np.random.default_rng(5)
    n, H = layer.num_layers * layer.num_directions, layer.hidden_size
    x = rng.standard_normal((3, 6, 3) if layer.batch_first else (6, 3, 3)).astype(dtype)
    h0 = rng.standard_normal((n, 3, H)).astype(dtype)
    state = (h0, rng.standard_normal((n, 3, H)).astype(dtype)) if isinstance(layer, LSTM) else h0
    return x, state


def _feeds(x, state, lengths):
    feeds = {"x": x, "lengths": lengths}
    if isinstance(state, tuple):
        feeds.update(h0=state[0], c0=state[1])
    else:
        feeds["h0"] = state
    return feeds


@pytest.mark.parametrize("make", STATEFUL)
def test_nonzero_initial_states_are_graph_inputs(make):
    layer = make(np.float32).eval()
    model = to_onnx(layer, initial_states=True)
    names = [i.name for i in model.graph.input]
    assert names == ["x", "lengths", "h0"] + (["c0"] if isinstance(layer, LSTM) else [])
    lengths = np.array([6, 2, 4], np.int32)
    x, state = _inputs(layer, np.float32)
    y, h = layer(x, state, lengths=lengths)
    y_zero, _ = layer(x, lengths=lengths)
    assert np.abs(y - y_zero).max() > 1e-2                 # the initial state changes the outputs
    got = _session(model).run(None, _feeds(x, state, lengths))
    np.testing.assert_allclose(_valid(got[0], lengths, layer.batch_first), _valid(y, lengths, layer.batch_first),
                               rtol=1e-5, atol=1e-5)
    for a, b in zip(got[1:], h if isinstance(h, tuple) else (h,)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_token_rnn_takes_initial_states():
    net = TokenRNN(9, hidden_size=5, num_layers=2, cell="lstm", embedding_dim=4, seed=3).eval()
    rng = np.random.default_rng(0)
    state = (rng.standard_normal((2, 2, 5)).astype(np.float32), rng.standard_normal((2, 2, 5)).astype(np.float32))
    ids = rng.integers(0, 9, (2, 6))
    got = _session(to_onnx(net, initial_states=True)).run(
        None, {"ids": ids, "lengths": np.full(2, 6, np.int32), "h0": state[0], "c0": state[1]})
    want, (h, c) = net(ids, state)
    np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[3], c, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("make", STATEFUL)
def test_float64_model_exports_as_a_float32_graph_by_default(make):
    layer = make(np.float64).eval()
    model = to_onnx(layer, initial_states=True)
    assert {i.type.tensor_type.elem_type for i in model.graph.input if i.name != "lengths"} == {onnx.TensorProto.FLOAT}
    assert {t.data_type for t in model.graph.initializer if t.data_type in (1, 11)} == {onnx.TensorProto.FLOAT}
    lengths = np.array([6, 2, 4], np.int32)
    x, state = _inputs(layer, np.float64)
    y, h = layer(x, state, lengths=lengths)                 # float64 reference
    f32 = tuple(s.astype(np.float32) for s in state) if isinstance(state, tuple) else state.astype(np.float32)
    got = _session(model).run(None, _feeds(x.astype(np.float32), f32, lengths))
    np.testing.assert_allclose(_valid(got[0], lengths, layer.batch_first), _valid(y, lengths, layer.batch_first),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("make", STATEFUL)
def test_float64_graph_on_request_is_double_throughout(make):
    from rnnkit.interop import from_onnx

    layer = make(np.float64).eval()
    model = to_onnx(layer, initial_states=True, dtype="float64")
    onnx.checker.check_model(model)
    assert {i.type.tensor_type.elem_type for i in model.graph.input if i.name != "lengths"} == {onnx.TensorProto.DOUBLE}
    assert {o.type.tensor_type.elem_type for o in model.graph.output} == {onnx.TensorProto.DOUBLE}
    assert {t.data_type for t in model.graph.initializer if t.data_type in (1, 11)} == {onnx.TensorProto.DOUBLE}
    # onnxruntime's CPU RNN/LSTM/GRU kernels are float32-only; rnnkit's importer runs the double graph
    lengths = np.array([6, 2, 4], np.int32)
    x, state = _inputs(layer, np.float64)
    y, h = layer(x, state, lengths=lengths)
    got = from_onnx(model).run(_feeds(x, state, lengths))
    assert got["y"].dtype == np.float64
    np.testing.assert_allclose(_valid(got["y"], lengths, layer.batch_first), _valid(y, lengths, layer.batch_first),
                               rtol=1e-12, atol=1e-12)


def test_export_dtype_must_be_a_float():
    with pytest.raises(ValueError, match="float32 or float64"):
        to_onnx(GRU(2, 3), dtype="int32")


def test_export_command_float64_and_initial_state_flags(tmp_path, capsys):
    src = io.save(GRU(2, 3, num_layers=2, dtype=np.float64, seed=0), tmp_path / "g.npz")
    assert main(["export", "onnx", str(src), str(tmp_path / "g.onnx"), "--float64", "--initial-state"]) == 0
    assert "inputs: x, lengths, h0" in capsys.readouterr().out
    m = onnx.load(str(tmp_path / "g.onnx"))
    assert m.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE


OPSET_LAYERS = [   # Squeeze (K=1), Split + Squeeze (sum), Transpose + Reshape (concat), Slice (initial states)
    lambda: GRU(3, 4, num_layers=2, batch_first=True, seed=0),
    lambda: LSTM(3, 4, bidirectional=True, merge_mode="sum", seed=1),
    lambda: RNN(3, 4, num_layers=2, bidirectional=True, seed=2),
]


@pytest.fixture(scope="module")
def pooled_classifiers():
    from rnnkit.models.classifier import SequenceClassifier

    rng = np.random.default_rng(0)
    X = [rng.standard_normal((int(rng.integers(2, 7)), 3)) for _ in range(12)]
    y = [i % 3 for i in range(12)]
    return {p: SequenceClassifier(cell="gru", hidden_size=4, pooling=p, bidirectional=True, epochs=1,
                                  random_state=0).fit(X, y) for p in ("last", "mean", "max")}


def _check_and_compare(model, feeds):
    """onnx.checker, then onnxruntime against rnnkit's importer on ``feeds``."""
    from rnnkit.interop import from_onnx

    onnx.checker.check_model(model)
    ref = _session(model).run(None, feeds)
    got = from_onnx(model).run(feeds)
    for o, r in zip(model.graph.output, ref):
        np.testing.assert_allclose(got[o.name], r, rtol=1e-5, atol=1e-5, err_msg=o.name)
    return ref


@pytest.mark.parametrize("opset", range(OPSET_MIN, OPSET_MAX + 1))
def test_every_supported_opset_writes_its_own_operator_forms(opset, pooled_classifiers):
    lengths = np.array([6, 2, 4], np.int32)
    for make in OPSET_LAYERS:
        layer = make().eval()
        x, state = _inputs(layer, np.float32)
        y, h = layer(x, state, lengths=lengths)
        got = _check_and_compare(to_onnx(layer, opset=opset, initial_states=True), _feeds(x, state, lengths))
        np.testing.assert_allclose(_valid(got[0], lengths, layer.batch_first), _valid(y, lengths, layer.batch_first),
                                   rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(got[1], h[0] if isinstance(h, tuple) else h, rtol=1e-5, atol=1e-5)
    x = np.random.default_rng(1).standard_normal((3, 6, 3)).astype(np.float32)
    for pooling, est in pooled_classifiers.items():
        if pooling != "last" and opset < 11:
            with pytest.raises(ValueError, match=f"{pooling} pooling needs ONNX opset 11"):
                to_onnx(est, opset=opset)
            continue
        probs = _check_and_compare(to_onnx(est, opset=opset), {"x": x, "lengths": lengths})[1]
        want = est.predict_proba([x[b, :n] for b, n in enumerate(lengths)])
        np.testing.assert_allclose(probs, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("opset", [OPSET_MIN - 1, OPSET_MAX + 1, 0, "14", 14.0, None])
def test_opsets_outside_the_supported_range_are_refused_up_front(opset):
    with pytest.raises(ValueError, match=f"ONNX export writes opsets {OPSET_MIN} to {OPSET_MAX}"):
        to_onnx(GRU(2, 3), opset=opset)
