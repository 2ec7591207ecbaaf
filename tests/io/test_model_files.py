import copy
import json
import pickle

import numpy as np
import pytest

import rnnkit
from rnnkit import io
from rnnkit.io import ModelFileError
from rnnkit.layers import Dense, Embedding
from rnnkit.models import TokenRNN
from rnnkit.recurrent import GRU, LSTM, RNN, SimpleGRU

LAYERS = [
    lambda: RNN(3, 4, num_layers=2, nonlinearity="relu", bias=False, seed=0),
    lambda: LSTM(3, 4, bidirectional=True, merge_mode="sum", forget_bias=0.5, batch_first=True, seed=1),
    lambda: GRU(3, 4, num_layers=2, reset_after=False, reset_bias=-1.0, dropout=0.2, dtype=np.float64, seed=2),
    lambda: SimpleGRU(3, 4, bidirectional=True, recurrent_dropout=0.1, init="torch", seed=3),
]


@pytest.mark.parametrize("make", LAYERS)
def test_recurrent_layer_round_trip_keeps_options_and_outputs(tmp_path, make):
    layer = make().eval()
    path = io.save(layer, tmp_path / "m.npz")
    back = io.load(path)
    assert type(back) is type(layer) and repr(back) == repr(layer)
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    if layer.batch_first:
        x = x.transpose(1, 0, 2)
    y0, _ = layer(x, lengths=[5, 3])
    y1, _ = back(x, lengths=[5, 3])
    assert y1.dtype == y0.dtype
    np.testing.assert_array_equal(y0, y1)


def test_embedding_dense_and_token_rnn_round_trip(tmp_path):
    emb = Embedding(7, 3, padding_idx=0, seed=0)
    dense = Dense(3, 5, bias=False, seed=1)
    net = TokenRNN(9, hidden_size=6, num_layers=2, cell="gru", embedding_dim=4, seed=2).eval()
    for obj in (emb, dense, net):
        back = io.load(io.save(obj, tmp_path / "x.npz"))
        for k, v in obj.state_dict().items():
            np.testing.assert_array_equal(back.state_dict()[k], v)
    ids = np.array([[1, 2, 3, 4]])
    np.testing.assert_array_equal(net(ids)[0], back(ids)[0])
    assert back.embed.padding_idx is None and io.load(tmp_path / "x.npz").rnn.num_layers == 2


def test_not_a_model_file_is_named(tmp_path):
    p = tmp_path / "a.npz"
    np.savez(p, w=np.zeros(3))
    with pytest.raises(ModelFileError, match="not an rnnkit model file"):
        io.load(p)
    t = tmp_path / "t.txt"
    t.write_text("hello")
    with pytest.raises(ModelFileError, match="truncated or corrupted"):
        io.load(t)


def test_truncated_file_is_reported(tmp_path):
    p = io.save(LSTM(3, 4, seed=0), tmp_path / "m.npz")
    data = open(p, "rb").read()
    open(p, "wb").write(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="truncated or corrupted"):
        io.load(p)


def test_newer_format_version_is_refused(tmp_path):
    p = io.save(GRU(2, 3, seed=0), tmp_path / "m.npz")
    with np.load(p) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(arrays["__rnnkit__"].tobytes())
    header["format_version"] = 99
    arrays["__rnnkit__"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    np.savez(p, **arrays)
    with pytest.raises(ModelFileError, match="newer"):
        io.load(p)


def test_unknown_class_is_refused(tmp_path):
    p = tmp_path / "m.npz"
    io.write_file(p, "model", {"class": "Transformer", "config": {}}, {})
    with pytest.raises(ModelFileError, match="unknown model class 'Transformer'"):
        io.load(p)


def test_loading_weights_into_another_cell_or_size_fails(tmp_path):
    p = io.save(LSTM(3, 4, seed=0), tmp_path / "m.npz")
    with pytest.raises(ModelFileError, match="holds a LSTM, not a GRU"):
        io.load_weights(GRU(3, 4), p)
    with pytest.raises(ModelFileError, match="hidden_size=4 in the file but 5 here"):
        io.load_weights(LSTM(3, 5), p)
    target = LSTM(3, 4, seed=9)
    io.load_weights(target, p)
    np.testing.assert_array_equal(target.params["weight_hh_l0"], io.load(p).params["weight_hh_l0"])


def test_registering_a_new_class(tmp_path):
    class Scale(rnnkit.module.Module):
        def __init__(self, n):
            super().__init__()
            self.n = n
            self.params["w"] = np.ones(n, np.float32)

        def get_config(self):
            return {"n": self.n}

        @classmethod
        def from_config(cls, c):
            return cls(**c)

    io.register("Scale", Scale)
    s = Scale(3)
    s.params["w"][:] = 2
    back = io.load(io.save(s, tmp_path / "s.npz"))
    assert back.n == 3 and back.params["w"].tolist() == [2, 2, 2]


# -- copies and pickles --------------------------------------------------------------------------------------
RNG = np.random.default_rng(0)


def test_a_model_copies_and_pickles_after_a_token_pass():
    net = TokenRNN(10, 8, embedding_dim=4, seed=0)
    net.forward(RNG.integers(0, 10, (3, 5)))
    twin = copy.deepcopy(net)
    again = pickle.loads(pickle.dumps(net))
    ids = RNG.integers(0, 10, (2, 4))
    ref = net.forward(ids, keep_cache=False)[0]
    for other in (twin, again):
        np.testing.assert_array_equal(other.forward(ids, keep_cache=False)[0], ref)
