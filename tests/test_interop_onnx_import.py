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
