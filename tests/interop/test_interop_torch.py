import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rnnkit import io  # noqa: E402
from rnnkit.interop import from_torch, to_torch, token_rnn_from_torch  # noqa: E402
from rnnkit.recurrent import GRU, LSTM, RNN  # noqa: E402

OPTIONS = [
    (torch.nn.RNN, dict(nonlinearity="relu", num_layers=2, bidirectional=True)),
    (torch.nn.RNN, dict(bias=False, batch_first=True)),
    (torch.nn.LSTM, dict(num_layers=2, bidirectional=True, batch_first=True)),
    (torch.nn.LSTM, dict(bias=False)),
    (torch.nn.LSTM, dict(proj_size=2, num_layers=2, bidirectional=True)),
    (torch.nn.GRU, dict(num_layers=3, bidirectional=True)),
    (torch.nn.GRU, dict(batch_first=True, bias=False, num_layers=2)),
]
TOL = {torch.float32: 1e-5, torch.float64: 1e-12}


def _torch_run(module, x, lengths):
    """PyTorch with packed variable-length sequences; outputs zero-padded."""
    pack = torch.nn.utils.rnn.pack_padded_sequence(torch.from_numpy(x), torch.tensor(lengths),
                                                   batch_first=module.batch_first, enforce_sorted=False)
    with torch.no_grad():
        y, h = module(pack)
    y, _ = torch.nn.utils.rnn.pad_packed_sequence(y, batch_first=module.batch_first, total_length=x.shape[1 if module.batch_first else 0])
    h = tuple(t.numpy() for t in h) if isinstance(h, tuple) else h.numpy()
    return y.numpy(), h


def _valid(y, lengths, batch_first):
    y = y if batch_first else y.transpose(1, 0, 2)
    return np.concatenate([y[b, :n] for b, n in enumerate(lengths)])


@pytest.mark.parametrize("tdtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("cls,opts", OPTIONS)
def test_torch_to_rnnkit_to_torch_agree_with_variable_lengths(cls, opts, tdtype):
    torch.manual_seed(0)
    m = cls(3, 5, dtype=tdtype, **opts).eval()
    layer = from_torch(m)
    assert layer.dtype == (np.float32 if tdtype == torch.float32 else np.float64)
    lengths = [6, 2, 4]
    shape = (3, 6, 3) if m.batch_first else (6, 3, 3)
    x = np.random.default_rng(1).standard_normal(shape).astype(layer.dtype)
    y_t, h_t = _torch_run(m, x, lengths)
    y_r, h_r = layer(x, lengths=lengths)
    tol = TOL[tdtype]
    np.testing.assert_allclose(_valid(y_r, lengths, m.batch_first), _valid(y_t, lengths, m.batch_first),
                               rtol=tol, atol=tol)
    for a, b in zip(h_r if isinstance(h_r, tuple) else (h_r,), h_t if isinstance(h_t, tuple) else (h_t,)):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    back = to_torch(layer)
    assert type(back) is cls and back.batch_first == m.batch_first and back.bias == m.bias
    y_b, _ = _torch_run(back.eval(), x, lengths)
    np.testing.assert_array_equal(y_b, y_t)


def test_proj_size_converts_both_ways_keeping_weight_hr():
    m = torch.nn.LSTM(3, 5, proj_size=2, num_layers=2)
    layer = from_torch(m)
    assert layer.proj_size == 2 and layer.params["weight_hr_l1"].shape == (2, 5)
    back = to_torch(layer)
    assert back.proj_size == 2 and list(back.state_dict()) == list(m.state_dict())


def test_options_torch_lacks_are_refused():
    with pytest.raises(ValueError, match="reset_after=False"):
        to_torch(GRU(2, 3, reset_after=False))
    with pytest.raises(ValueError, match="merge_mode"):
        to_torch(LSTM(2, 3, bidirectional=True, merge_mode="sum"))


class _Net(torch.nn.Module):
    def __init__(self, kind, V=11, E=4, H=6, L=2):
        super().__init__()
        self.emb = torch.nn.Embedding(V, E)
        self.rnn = kind(E, H, num_layers=L, batch_first=True)
        self.out = torch.nn.Linear(H, V)

    def forward(self, ids):
        y, _ = self.rnn(self.emb(ids))
        return self.out(y)


@pytest.mark.parametrize("kind", [torch.nn.RNN, torch.nn.LSTM, torch.nn.GRU])
def test_whole_model_from_saved_state_dict(tmp_path, kind):
    torch.manual_seed(3)
    net = _Net(kind).eval()
    path = tmp_path / "net.pt"
    torch.save(net.state_dict(), path)
    sd = torch.load(path, weights_only=True)
    ours = token_rnn_from_torch(sd)
    ids = np.random.default_rng(0).integers(0, 11, (2, 7))
    with torch.no_grad():
        want = net(torch.from_numpy(ids)).numpy()
    got, _ = ours(ids)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # and it survives an rnnkit model file
    back = io.load(io.save(ours, tmp_path / "m.npz"))
    np.testing.assert_array_equal(back(ids)[0], got)


def test_whole_model_without_a_linear_head_is_refused():
    sd = {"rnn.weight_ih_l0": np.zeros((4, 3)), "rnn.weight_hh_l0": np.zeros((4, 4))}
    with pytest.raises(ValueError, match="Linear"):
        token_rnn_from_torch(sd)


RNNKIT_LAYERS = [
    lambda dt: RNN(3, 5, num_layers=2, nonlinearity="relu", bidirectional=True, dtype=dt, seed=0),
    lambda dt: RNN(3, 5, bias=False, batch_first=True, dtype=dt, seed=1),
    lambda dt: LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=True, dtype=dt, seed=2),
    lambda dt: LSTM(3, 5, bias=False, dtype=dt, seed=3),
    lambda dt: GRU(3, 5, num_layers=2, bidirectional=True, reset_bias=-1.0, dtype=dt, seed=4),
    lambda dt: GRU(3, 5, bias=False, batch_first=True, dtype=dt, seed=5),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("make", RNNKIT_LAYERS)
def test_rnnkit_to_torch_to_rnnkit_agree_with_variable_lengths(make, dtype):
    layer = make(dtype).eval()                  # rnnkit's own init (orthogonal, forget bias 1, ...)
    m = to_torch(layer).eval()
    assert next(m.parameters()).dtype == (torch.float32 if dtype == np.float32 else torch.float64)
    lengths = [6, 2, 4]
    x = np.random.default_rng(2).standard_normal((3, 6, 3) if layer.batch_first else (6, 3, 3)).astype(dtype)
    y_r, h_r = layer(x, lengths=lengths)
    y_t, h_t = _torch_run(m, x, lengths)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(_valid(y_t, lengths, m.batch_first), _valid(y_r, lengths, m.batch_first),
                               rtol=tol, atol=tol)
    for a, b in zip(h_t if isinstance(h_t, tuple) else (h_t,), h_r if isinstance(h_r, tuple) else (h_r,)):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    back = from_torch(m)
    assert type(back) is type(layer) and back.batch_first == layer.batch_first and back.bias == layer.bias
    assert set(back.params) == set(layer.params)
    for k, v in layer.params.items():
        np.testing.assert_array_equal(back.params[k], v)


def test_proj_size_in_a_whole_model_state_dict_is_refused_clearly():
    torch.manual_seed(0)
    sd = {"emb.weight": torch.zeros(7, 3), "out.weight": torch.zeros(7, 2), "out.bias": torch.zeros(7)}
    sd.update({f"rnn.{k}": v for k, v in torch.nn.LSTM(3, 5, proj_size=2).state_dict().items()})
    with pytest.raises(NotImplementedError, match="proj_size"):
        token_rnn_from_torch(sd)


class _NamedGRU(torch.nn.GRU):
    """A subclass that only adds a buffer: the same forward."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.register_buffer("calls", torch.zeros(()))


class _ScaledLSTM(torch.nn.LSTM):
    def forward(self, x, hx=None):
        y, state = super().forward(x, hx)
        return 2 * y, state


def test_subclass_keeping_forward_converts():
    torch.manual_seed(0)
    module = _NamedGRU(3, 4, num_layers=2, bidirectional=True).eval()
    layer = from_torch(module)
    assert type(layer) is GRU and layer.num_layers == 2 and layer.bidirectional
    x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)
    with torch.no_grad():
        want, h = module(torch.from_numpy(x))
    y, hn = layer(x)
    np.testing.assert_allclose(y, want.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(hn, h.numpy(), rtol=1e-5, atol=1e-5)


def test_subclass_overriding_forward_is_refused_by_name():
    with pytest.raises(TypeError, match="_ScaledLSTM subclasses torch.nn.LSTM but overrides forward"):
        from_torch(_ScaledLSTM(3, 4))


# -- a token model from a state_dict named or ordered otherwise ----------------------------------------------
RNG = np.random.default_rng(0)


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
