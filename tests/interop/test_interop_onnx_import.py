import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

from onnx import TensorProto, helper  # noqa: E402

from rnnkit.interop import from_onnx, to_onnx  # noqa: E402
from rnnkit.interop.onnx_import import UnsupportedOnnxError  # noqa: E402
from rnnkit.recurrent import GRU, LSTM  # noqa: E402


class _Net(torch.nn.Module):
    def __init__(self, kind, V=10, E=4, H=8):
        super().__init__()
        self.emb = torch.nn.Embedding(V, E)
        self.rnn = kind(E, H, num_layers=2, batch_first=True, bidirectional=True)
        self.out = torch.nn.Linear(2 * H, V)

    def forward(self, ids):
        y, _ = self.rnn(self.emb(ids))
        return torch.softmax(self.out(y), -1)


def _train_briefly(net, steps=10):
    """A few Adam steps on a next-token task so the weights are not at init."""
    g = torch.Generator().manual_seed(0)
    seq = torch.randint(0, 10, (8, 13), generator=g)
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(steps):
        p = net(seq[:, :-1])
        loss = torch.nn.functional.nll_loss(torch.log(p).reshape(-1, 10), seq[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return loss.item()


@pytest.mark.parametrize("kind", [torch.nn.LSTM, torch.nn.GRU, torch.nn.RNN])
def test_model_trained_in_torch_and_exported_gives_the_same_outputs(tmp_path, kind):
    torch.manual_seed(0)
    net = _Net(kind)
    before = [p.detach().clone() for p in net.parameters()]
    _train_briefly(net)
    assert all(not torch.equal(a, b) for a, b in zip(before, net.parameters()))
    net.eval()
    path = tmp_path / "net.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(2, 5, dtype=torch.long),), str(path), dynamo=False,
                          input_names=["ids"], output_names=["probs"], dynamic_axes={"ids": {0: "B", 1: "T"}})
    graph = from_onnx(path)
    assert [type(l).__name__ for l in graph.layers.values()] == [kind.__name__] * 2
    ids = np.random.default_rng(1).integers(0, 10, (3, 9))
    with torch.no_grad():
        want = net(torch.from_numpy(ids)).numpy()
    got = graph.run({"ids": ids})["probs"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layer", [LSTM(3, 5, num_layers=2, bidirectional=True, seed=0),
                                   GRU(3, 5, reset_after=False, bidirectional=True, seed=1),
                                   GRU(3, 5, batch_first=True, seed=2)])
def test_rnnkit_onnx_rnnkit_round_trip_with_lengths(layer):
    layer.eval()
    model = to_onnx(layer)
    graph = from_onnx(model)
    lengths = np.array([6, 3, 1], np.int32)
    x = np.random.default_rng(0).standard_normal((3, 6, 3) if layer.batch_first else (6, 3, 3)).astype(np.float32)
    got = graph.run({"x": x, "lengths": lengths})
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"x": x, "lengths": lengths})
    for name, r in zip(graph.output_names, ref):
        np.testing.assert_allclose(got[name], r, rtol=1e-5, atol=1e-5, err_msg=name)
    reconverted = list(graph.layers.values())[0]
    assert type(reconverted) is type(layer)
    if isinstance(layer, GRU):
        assert reconverted.reset_after == layer.reset_after
        np.testing.assert_array_equal(reconverted.params["weight_hh_l0"], layer.params["weight_hh_l0"])


def _graph_with(op, **attrs):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    node = helper.make_node(op, ["x"], ["y"], **attrs)
    return helper.make_model(helper.make_graph([node], "g", [x], [y]))


def test_unsupported_operators_are_named():
    with pytest.raises(UnsupportedOnnxError, match="cannot import: Conv"):
        from_onnx(_graph_with("Conv"))


def test_unsupported_recurrent_options_are_named():
    W = np.zeros((1, 12, 2), np.float32)
    R = np.zeros((1, 12, 3), np.float32)
    inits = [onnx.numpy_helper.from_array(W, "W"), onnx.numpy_helper.from_array(R, "R")]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 1, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    node = helper.make_node("LSTM", ["x", "W", "R"], ["y"], hidden_size=3, clip=1.0)
    with pytest.raises(UnsupportedOnnxError, match="clip"):
        from_onnx(helper.make_model(helper.make_graph([node], "g", [x], [y], inits)))


def test_a_file_that_is_not_onnx_is_reported(tmp_path):
    p = tmp_path / "x.onnx"
    p.write_bytes(b"\x00not onnx at all" * 3)
    with pytest.raises(ValueError, match="not a readable ONNX model"):
        from_onnx(p)


def _recurrent_graph(op, W, R, B, layout, opset=14, lengths=False):
    """One bidirectional ``op`` node (GRU: linear_before_reset=1) taking X, sequence_lens
    (when asked), initial_h (and initial_c) in ``layout``; outputs Y, Y_h (, Y_c)."""
    K, H = W.shape[0], R.shape[-1]
    ins = ["x", "W", "R", "B", "lengths" if lengths else "", "h0"] + (["c0"] if op == "LSTM" else [])
    outs = ["Y", "Y_h"] + (["Y_c"] if op == "LSTM" else [])
    attrs = dict(hidden_size=H, direction="bidirectional", layout=layout)
    if op == "GRU":
        attrs["linear_before_reset"] = 1
    x_shape, s_shape = (["B", "T", W.shape[2]], ["B", K, H]) if layout else (["T", "B", W.shape[2]], [K, "B", H])
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)]
    if lengths:
        inputs.append(helper.make_tensor_value_info("lengths", TensorProto.INT32, ["B"]))
    inputs += [helper.make_tensor_value_info(s, TensorProto.FLOAT, s_shape) for s in ins[5:]]
    outputs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs]
    inits = [onnx.numpy_helper.from_array(a, k) for k, a in (("W", W), ("R", R), ("B", B))]
    graph = helper.make_graph([helper.make_node(op, ins, outs, **attrs)], "g", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def _weights_of(model, op):
    (node,) = [n for n in model.graph.node if n.op_type == op]
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    return [inits[k] for k in node.input[1:4]]


@pytest.mark.parametrize("cls", [GRU, LSTM])
@pytest.mark.parametrize("B", [2, 3])                   # B == num_directions was silently wrong, B != a shape error
def test_layout_1_initial_states_are_batch_major(cls, B):
    from onnx.reference import ReferenceEvaluator

    op, H, T = cls.__name__, 4, 5
    layer = cls(3, H, bidirectional=True, batch_first=True, seed=0).eval()
    W, R, Bias = _weights_of(to_onnx(layer), op)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, 3)).astype(np.float32)
    states = [rng.standard_normal((B, 2, H)).astype(np.float32) for _ in range(2 if op == "LSTM" else 1)]
    feeds = dict(zip(["x", "h0", "c0"], [x] + states))
    got = from_onnx(_recurrent_graph(op, W, R, Bias, layout=1)).run(feeds)
    # the ONNX reference implementation runs layout=1 (onnxruntime's CPU kernels refuse it) ...
    ref = ReferenceEvaluator(_recurrent_graph(op, W, R, Bias, layout=1)).run(None, feeds)
    for name, r in zip(["Y", "Y_h", "Y_c"], ref):
        assert got[name].shape == r.shape
        np.testing.assert_allclose(got[name], r, rtol=1e-5, atol=1e-5, err_msg=name)
    # ... and onnxruntime runs the same node time-major, on the transposed inputs
    tm = [s.transpose(1, 0, 2) for s in states]
    ort_out = ort.InferenceSession(_recurrent_graph(op, W, R, Bias, layout=0).SerializeToString(),
                                   providers=["CPUExecutionProvider"]).run(
        None, dict(zip(["x", "h0", "c0"], [x.transpose(1, 0, 2)] + tm)))
    np.testing.assert_allclose(got["Y"], ort_out[0].transpose(2, 0, 1, 3), rtol=1e-5, atol=1e-5)
    for name, r in zip(["Y_h", "Y_c"], ort_out[1:]):
        np.testing.assert_allclose(got[name], r.transpose(1, 0, 2), rtol=1e-5, atol=1e-5, err_msg=name)
    # and the layer itself, given h0 in its own (K, B, H) layout
    y, h = layer(x, tuple(tm) if op == "LSTM" else tm[0])
    np.testing.assert_allclose(got["Y"].reshape(B, T, -1), y, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got["Y_h"], (h[0] if op == "LSTM" else h).transpose(1, 0, 2), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls", [GRU, LSTM])
def test_zero_sequence_lengths_give_zeros_as_onnxruntime(cls):
    op, H = cls.__name__, 4
    layer = cls(3, H, bidirectional=True, seed=0).eval()
    model = _recurrent_graph(op, *_weights_of(to_onnx(layer), op), layout=0, lengths=True)
    rng = np.random.default_rng(0)
    feeds = {"x": rng.standard_normal((5, 3, 3)).astype(np.float32), "lengths": np.array([5, 0, 2], np.int32)}
    states = ["h0", "c0"] if op == "LSTM" else ["h0"]
    feeds.update({s: rng.standard_normal((2, 3, H)).astype(np.float32) for s in states})
    got = from_onnx(model).run(feeds)
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    for name, r in zip(["Y", "Y_h", "Y_c"], ref):
        np.testing.assert_allclose(got[name], r, rtol=1e-5, atol=1e-5, err_msg=name)
    assert not np.any(got["Y"][:, :, 1]) and not np.any(got["Y_h"][:, 1])


def _reduce_graph(op, opset, axes, keepdims, noop=None):
    """``op`` over ``x`` (2, 3, 4); ``axes`` an input from opset 18 (13 for ReduceSum), else an attribute."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    attrs = {"keepdims": keepdims}
    if noop is not None:
        attrs["noop_with_empty_axes"] = noop
    inits = []
    as_input = opset >= (13 if op == "ReduceSum" else 18)
    if as_input and axes is not None:
        inits.append(onnx.numpy_helper.from_array(np.array(axes, np.int64), "axes"))
    elif axes is not None:
        attrs["axes"] = axes
    node = helper.make_node(op, ["x"] + (["axes"] if inits else []), ["y"], **attrs)
    model = helper.make_model(helper.make_graph([node], "g", [x], [y], inits),
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


@pytest.mark.parametrize("op", ["ReduceMax", "ReduceMin", "ReduceMean", "ReduceProd", "ReduceSum"])
@pytest.mark.parametrize("opset,axes,keepdims,noop", [(18, [1], 0, None), (18, [0, 2], 1, None), (18, None, 0, None),
                                                       (18, None, 1, 1), (13, [-1], 0, None), (11, [1], 1, None)])
def test_reduce_ops_read_their_axes_in_the_form_of_the_opset(op, opset, axes, keepdims, noop):
    if noop is not None and opset < (13 if op == "ReduceSum" else 18):
        pytest.skip("noop_with_empty_axes came with the input form")
    model = _reduce_graph(op, opset, axes, keepdims, noop)
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    # onnx's own reference evaluator: onnxruntime 1.23 (the newest for Python 3.10) fails on ReduceMax over
    # every axis at opset 18, so its answer depends on the Python version
    from onnx.reference import ReferenceEvaluator

    (ref,) = ReferenceEvaluator(model).run(None, {"x": x})
    got = from_onnx(model).run({"x": x})["y"]
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", [torch.nn.GRU, torch.nn.LSTM])
@pytest.mark.parametrize("opset", [9, 10])
def test_slice_with_attribute_bounds_before_opset_10_runs(tmp_path, kind, opset):
    torch.manual_seed(0)
    net = kind(3, 4, num_layers=2).eval()
    path = tmp_path / "net.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(5, 2, 3),), str(path), opset_version=opset, dynamo=False,
                          input_names=["x"], dynamic_axes={"x": {0: "T", 1: "B"}})
    model = onnx.load(str(path))
    assert "Slice" in {n.op_type for n in model.graph.node}
    x = np.random.default_rng(0).standard_normal((6, 3, 3)).astype(np.float32)
    ref = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    graph = from_onnx(model)
    got = graph.run({"x": x})
    for name, r in zip(graph.output_names, ref):
        np.testing.assert_allclose(got[name], r, rtol=1e-5, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("dim,parts", [(7, 3), (6, 3), (5, 2)])
def test_split_into_num_outputs_leaves_the_last_part_smaller_as_onnxruntime(dim, parts):
    outs = [f"y{i}" for i in range(parts)]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, dim])
    node = helper.make_node("Split", ["x"], outs, axis=1, num_outputs=parts)
    model = helper.make_model(helper.make_graph(
        [node], "g", [x], [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs]),
        opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    xv = np.arange(2 * dim, dtype=np.float32).reshape(2, dim)
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": xv})
    got = from_onnx(model).run({"x": xv})
    for name, r in zip(outs, ref):
        np.testing.assert_array_equal(got[name], r)


@pytest.mark.parametrize("opset", [9, 14, 20])
@pytest.mark.parametrize("make", [lambda: torch.nn.LSTM(3, 4), lambda: torch.nn.GRU(3, 4, num_layers=2, batch_first=True),
                                  lambda: torch.nn.RNN(3, 4, bidirectional=True)])
def test_torch_exports_with_fixed_shapes_import_through_expand(make, opset):
    """Without dynamic axes and without h0, torch writes the zero initial state with Expand."""
    import io

    x = torch.randn(5, 2, 3, generator=torch.Generator().manual_seed(0))
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(make().eval(), (x,), f, dynamo=False, input_names=["x"], opset_version=opset)
    model = onnx.load_from_string(f.getvalue())
    assert "Expand" in {n.op_type for n in model.graph.node}
    got = from_onnx(model).run({"x": x.numpy()})
    want = ort.InferenceSession(f.getvalue()).run(None, {"x": x.numpy()})
    for g, w in zip(got.values(), want):
        np.testing.assert_allclose(g, w, atol=1e-6)
