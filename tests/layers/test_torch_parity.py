"""PyTorch twin: same weights, same inputs; outputs, final states and every
gradient agree to ~1e-10 in float64 and 1e-5 in float32.  Mixed lengths go
through ``pack_padded_sequence(enforce_sorted=False)``.  Float32 runs on every
loop of the engine that serves the cell (float64 runs on the reference loop,
the only one that computes in float64)."""
import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

from rnnkit.interop import from_torch  # noqa: E402

T, B, D, H = 6, 4, 5, 7
TOL = {np.float64: dict(rtol=1e-10, atol=1e-10), np.float32: dict(rtol=1e-5, atol=1e-5)}
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}
MODULES = {
    "rnn_tanh": lambda **kw: torch.nn.RNN(D, H, nonlinearity="tanh", **kw),
    "rnn_relu": lambda **kw: torch.nn.RNN(D, H, nonlinearity="relu", **kw),
    "lstm": lambda **kw: torch.nn.LSTM(D, H, **kw),
    "gru": lambda **kw: torch.nn.GRU(D, H, **kw),
}


def twin_run(kind, dtype, batch_first, bias, bidirectional, num_layers, mixed, seed=0, T=T):
    """Run one twin comparison (on whichever loop :func:`rnnkit.engine.choose_loop` gives)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    module = MODULES[kind](num_layers=num_layers, bias=bias, batch_first=batch_first,
                           bidirectional=bidirectional, dtype=TORCH_DTYPE[dtype])
    layer = from_torch(module)
    assert layer.dtype == dtype
    x = rng.standard_normal((B, T, D) if batch_first else (T, B, D)).astype(dtype)
    lengths = np.array([T, 3, 1, T - 1]) if mixed else np.full(B, T)
    K = num_layers * (2 if bidirectional else 1)
    is_lstm = kind == "lstm"
    h0 = rng.standard_normal((K, B, H)).astype(dtype)
    c0 = rng.standard_normal((K, B, H)).astype(dtype)
    out_shape = (B, T, layer.output_size) if batch_first else (T, B, layer.output_size)
    R_y = rng.standard_normal(out_shape).astype(dtype)
    R_h, R_c = rng.standard_normal((K, B, H)).astype(dtype), rng.standard_normal((K, B, H)).astype(dtype)

    # torch side
    xt = torch.tensor(x, requires_grad=True)
    h0t, c0t = torch.tensor(h0, requires_grad=True), torch.tensor(c0, requires_grad=True)
    packed = pack_padded_sequence(xt, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False)
    out, hn_t = module(packed, (h0t, c0t) if is_lstm else h0t)
    yt, _ = pad_packed_sequence(out, batch_first=batch_first, total_length=T)
    loss = (yt * torch.tensor(R_y)).sum()
    if is_lstm:
        loss = loss + (hn_t[0] * torch.tensor(R_h)).sum() + (hn_t[1] * torch.tensor(R_c)).sum()
    else:
        loss = loss + (hn_t * torch.tensor(R_h)).sum()
    loss.backward()

    # rnnkit side
    y, hn = layer(x, (h0, c0) if is_lstm else h0, lengths=lengths if mixed else None)
    dx, dh0 = layer.backward(R_y, (R_h, R_c) if is_lstm else R_h)

    tol = TOL[dtype]
    assert y.dtype == dtype and dx.dtype == dtype
    np.testing.assert_allclose(y, yt.detach().numpy(), **tol)
    if is_lstm:
        np.testing.assert_allclose(hn[0], hn_t[0].detach().numpy(), **tol)
        np.testing.assert_allclose(hn[1], hn_t[1].detach().numpy(), **tol)
        np.testing.assert_allclose(dh0[0], h0t.grad.numpy(), **tol)
        np.testing.assert_allclose(dh0[1], c0t.grad.numpy(), **tol)
    else:
        np.testing.assert_allclose(hn, hn_t.detach().numpy(), **tol)
        np.testing.assert_allclose(dh0, h0t.grad.numpy(), **tol)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **tol)
    names = dict(module.named_parameters())
    assert set(names) == set(layer.grads)
    for name, p in names.items():
        np.testing.assert_allclose(layer.grads[name], p.grad.numpy(), err_msg=name, **tol)


COMPILED = {"rnn_tanh": ("rows",), "rnn_relu": ("rows",), "lstm": ("rows", "columns"), "gru": ("rows", "columns")}
GRID = [(kind, dtype, loop, *rest)
        for kind, dtype, *rest in itertools.product(MODULES, [np.float64, np.float32], [False, True], [True, False],
                                                    [False, True], [1, 2], [False, True])
        for loop in (("reference",) + (COMPILED[kind] if dtype == np.float32 else ()))]


@pytest.mark.parametrize("kind,dtype,loop,batch_first,bias,bidirectional,num_layers,mixed", GRID,
                         ids=lambda v: getattr(v, "__name__", str(v)))
def test_matches_torch_outputs_states_and_gradients(kind, dtype, loop, batch_first, bias, bidirectional,
                                                    num_layers, mixed, monkeypatch):
    from rnnkit import engine

    monkeypatch.setattr(engine, "choose_loop", lambda *args: loop)
    ran = []
    real = engine.backward
    monkeypatch.setattr(engine, "backward", lambda cell, p, cache, *a, **k: ran.append(cache.loop) or real(cell, p, cache, *a, **k))
    twin_run(kind, dtype, batch_first, bias, bidirectional, num_layers, mixed)
    assert ran and set(ran) == {loop}


@pytest.mark.parametrize("kind", list(MODULES))
def test_float64_parity_holds_on_longer_sequences(kind):
    twin_run(kind, np.float64, False, True, True, 2, True, seed=3, T=40)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", list(MODULES))
def test_to_torch_gives_a_module_with_the_same_options_weights_and_outputs(kind, dtype):
    import rnnkit
    from rnnkit.interop import to_torch

    cls = {"rnn_tanh": rnnkit.RNN, "rnn_relu": rnnkit.RNN, "lstm": rnnkit.LSTM, "gru": rnnkit.GRU}[kind]
    extra = {"nonlinearity": kind[4:]} if kind.startswith("rnn") else {}
    layer = cls(D, H, num_layers=2, bidirectional=True, batch_first=True, dtype=dtype, seed=0, **extra)
    module = to_torch(layer)
    assert module.batch_first and module.bidirectional and module.num_layers == 2
    assert next(module.parameters()).dtype == TORCH_DTYPE[dtype]
    x = np.random.default_rng(0).standard_normal((3, T, D)).astype(dtype)
    y, _ = layer(x)
    yt, _ = module(torch.tensor(x))
    np.testing.assert_allclose(y, yt.detach().numpy(), **TOL[dtype])
    back = from_torch(module)
    assert type(back) is cls and back.dtype == dtype
    for k, v in layer.params.items():
        np.testing.assert_array_equal(back.params[k], v)


def test_to_torch_refuses_options_torch_lacks():
    import rnnkit
    from rnnkit.interop import to_torch

    with pytest.raises(ValueError, match="reset_after=False has no torch equivalent"):
        to_torch(rnnkit.GRU(3, 4, reset_after=False))
    with pytest.raises(ValueError, match="merge_mode='sum'"):
        to_torch(rnnkit.LSTM(3, 4, bidirectional=True, merge_mode="sum"))
    with pytest.raises(ValueError, match="no PyTorch equivalent"):
        to_torch(rnnkit.SimpleGRU(3, 4))
    with pytest.raises(ValueError, match="LayerNormLSTM has no PyTorch equivalent"):
        to_torch(rnnkit.LayerNormLSTM(3, 4))
