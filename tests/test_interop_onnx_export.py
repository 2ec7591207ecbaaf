import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from rnnkit import io  # noqa: E402
from rnnkit.cli import main  # noqa: E402
from rnnkit.interop import to_onnx  # noqa: E402
from rnnkit.models.token_rnn import TokenRNN  # noqa: E402
from rnnkit.recurrent import GRU, LSTM, RNN, SimpleGRU  # noqa: E402

LAYERS = [
    lambda: RNN(3, 4, num_layers=2, nonlinearity="relu", bidirectional=True, seed=0),
    lambda: RNN(3, 4, bias=False, batch_first=True, seed=1),
    lambda: LSTM(3, 4, num_layers=2, bidirectional=True, init="torch", seed=2),
    lambda: LSTM(3, 4, bidirectional=True, merge_mode="sum", batch_first=True, seed=3),
    lambda: GRU(3, 4, num_layers=2, bidirectional=True, seed=4),
    lambda: GRU(3, 4, reset_after=False, bidirectional=True, merge_mode="mean", seed=5),
    lambda: GRU(3, 4, bidirectional=True, merge_mode="mul", bias=False, init="torch", seed=6),
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
