"""Layer-normalised LSTM and GRU: finite differences, a PyTorch twin written
from the equations (``F.layer_norm`` and autograd), the invariance that layer
normalisation gives, and the parameters' names, starts and round trips."""
import itertools

import numpy as np
import pytest

import rnnkit
from _layer_gradcheck import gradcheck_layer
from rnnkit.cells import layer_norm as ln_module
from rnnkit.io import load, save

T, B, D, H = 5, 3, 3, 4
LAYERS = {"lnlstm": rnnkit.LayerNormLSTM, "lngru": rnnkit.LayerNormGRU}


def make(kind, dtype=np.float64, seed=0, **kwargs):
    """A layer whose every parameter is random (gains around 1), so that no
    gain of 1 or bias of 0 hides a term of the backward pass."""
    layer = LAYERS[kind](D, H, dtype=dtype, init="torch", seed=seed, **kwargs)
    rng = np.random.default_rng(seed + 100)
    for name, v in layer.params.items():
        if name.startswith("layernorm_") and "_weight" in name:
            v[...] = rng.uniform(0.5, 1.5, v.shape)
        elif name.startswith("layernorm_"):
            v[...] = rng.uniform(-0.5, 0.5, v.shape)
    return layer


# -- finite differences ---------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("bidirectional,num_layers", list(itertools.product([False, True], [1, 2])))
def test_gradients_match_central_differences_with_lengths(kind, bidirectional, num_layers):
    layer = make(kind, num_layers=num_layers, bidirectional=bidirectional)
    dx, _ = gradcheck_layer(layer, T, B, np.array([T, 2, 1]))
    assert np.all(dx[2:, 1] == 0) and np.all(dx[1:, 2] == 0)     # padded steps get no gradient


@pytest.mark.parametrize("kind", list(LAYERS))
def test_gradients_match_without_bias_and_equal_lengths(kind):
    gradcheck_layer(make(kind, num_layers=2, bidirectional=True, bias=False), T, B)


@pytest.mark.parametrize("kind", list(LAYERS))
def test_gradients_match_with_fixed_dropout_masks(kind):
    layer = make(kind, num_layers=2, bidirectional=True, dropout=0.3, recurrent_dropout=0.3)
    gradcheck_layer(layer, T, B, np.array([T, 2, 4]), masks=layer.sample_masks(T, B))


# -- PyTorch twin from the equations --------------------------------------------------------------
torch = pytest.importorskip("torch")
F = torch.nn.functional


def _torch_layer(kind, p, x, state0, mask):
    """One direction of one layer, as the module docstring of rnnkit.cells.layer_norm writes it."""
    G = 4 if kind == "lnlstm" else 3
    h = state0[0]
    c = state0[1] if kind == "lnlstm" else None
    ys = []
    for t in range(x.shape[0]):
        u = F.layer_norm(x[t] @ p["weight_ih"].T, (G * H,), p["layernorm_ih_weight"], p["layernorm_ih_bias"], 1e-5)
        v = F.layer_norm(h @ p["weight_hh"].T, (G * H,), p["layernorm_hh_weight"], p["layernorm_hh_bias"], 1e-5)
        u, v = u + p["bias_ih"], v + p["bias_hh"]
        m = mask[t][:, None]
        if kind == "lnlstm":
            a_i, a_f, a_g, a_o = (u + v).chunk(4, 1)
            c_new = torch.sigmoid(a_f) * c + torch.sigmoid(a_i) * torch.tanh(a_g)
            cn = F.layer_norm(c_new, (H,), p["layernorm_c_weight"], p["layernorm_c_bias"], 1e-5)
            h_new = torch.sigmoid(a_o) * torch.tanh(cn)
            c = torch.where(m, c_new, c)
        else:
            u_r, u_z, u_n = u.chunk(3, 1)
            v_r, v_z, v_n = v.chunk(3, 1)
            r, z = torch.sigmoid(u_r + v_r), torch.sigmoid(u_z + v_z)
            n = torch.tanh(u_n + r * v_n)
            h_new = (1 - z) * n + z * h
        h = torch.where(m, h_new, h)
        ys.append(h_new * m)
    return torch.stack(ys), (h, c) if kind == "lnlstm" else (h,)


@pytest.mark.parametrize("kind", list(LAYERS))
def test_matches_a_torch_autograd_twin_of_the_equations(kind):
    layer = make(kind, seed=3)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((T, B, D))
    lengths = np.array([T, 2, 4])
    s0 = [rng.standard_normal((1, B, H)) for _ in layer.state_sizes]
    R_y = rng.standard_normal((T, B, H))
    R_s = [rng.standard_normal((1, B, H)) for _ in layer.state_sizes]
    pair = kind == "lnlstm"

    pt = {k[:-3]: torch.tensor(v, requires_grad=True) for k, v in layer.params.items()}   # strip "_l0"
    xt = torch.tensor(x, requires_grad=True)
    s0t = [torch.tensor(s[0], requires_grad=True) for s in s0]
    mask = torch.tensor(np.arange(T)[:, None] < lengths)
    yt, st = _torch_layer(kind, pt, xt, s0t, mask)
    loss = (yt * torch.tensor(R_y)).sum() + sum((s * torch.tensor(r[0])).sum() for s, r in zip(st, R_s))
    loss.backward()

    y, hn = layer(x, tuple(s0) if pair else s0[0], lengths)
    dx, ds0 = layer.backward(R_y, tuple(R_s) if pair else R_s[0])
    tol = dict(rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(y, yt.detach().numpy(), **tol)
    for mine, theirs in zip(hn if pair else (hn,), st):
        np.testing.assert_allclose(mine[0], theirs.detach().numpy(), **tol)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **tol)
    for mine, theirs in zip(ds0 if pair else (ds0,), s0t):
        np.testing.assert_allclose(mine[0], theirs.grad.numpy(), **tol)
    for k, v in pt.items():
        np.testing.assert_allclose(layer.grads[k + "_l0"], v.grad.numpy(), err_msg=k, **tol)


@pytest.mark.parametrize("kind", list(LAYERS))
def test_float32_agrees_with_float64(kind):
    x = np.random.default_rng(0).standard_normal((T, B, D))
    out = {}
    for dtype in (np.float32, np.float64):
        layer = make(kind, dtype=dtype, num_layers=2, bidirectional=True)
        y, _ = layer(x.astype(dtype), lengths=[T, 2, 1])
        dx, _ = layer.backward(np.ones_like(y))
        out[dtype] = (y, dx, layer.grads)
    np.testing.assert_allclose(out[np.float32][0], out[np.float64][0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out[np.float32][1], out[np.float64][1], rtol=1e-5, atol=1e-5)
    for k, g in out[np.float64][2].items():
        np.testing.assert_allclose(out[np.float32][2][k], g, rtol=1e-4, atol=1e-4, err_msg=k)


# -- what layer normalisation gives ------------------------------------------------------------
@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("weight", ["weight_ih", "weight_hh"])
def test_output_is_invariant_to_scaling_a_normalised_weight(kind, weight, monkeypatch):
    """``LN(α W v) = LN(W v)`` for ``α > 0``: exactly without the ``1e-5`` in the
    variance, up to it with; the plain LSTM's output moves."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, D))
    s0 = rng.standard_normal((2, 4, B, H))      # (state, L*K, B, H); not zero: a zero vector has no scale
    lengths = [T, 2, 4]
    alpha = 5.0

    def scaled_run(layer):
        h0 = tuple(s0) if layer.cell.n_states == 2 else s0[0]
        y, _ = layer(x, h0, lengths=lengths)
        for k in layer.params:
            if k.startswith(weight):
                layer.params[k] *= alpha
        y_scaled, _ = layer(x, h0, lengths=lengths)
        assert np.isfinite(y).all() and np.isfinite(y_scaled).all()
        return y, y_scaled

    y, y_scaled = scaled_run(make(kind, num_layers=2, bidirectional=True))
    np.testing.assert_allclose(y_scaled, y, atol=1e-3)
    monkeypatch.setattr(ln_module, "EPS", 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):   # layer 2 reads layer 1's zeros on padded steps
        y, y_scaled = scaled_run(make(kind, num_layers=2, bidirectional=True))
    np.testing.assert_allclose(y_scaled, y, rtol=1e-12, atol=1e-12)
    y, y_scaled = scaled_run(rnnkit.LSTM(D, H, num_layers=2, bidirectional=True, dtype=np.float64, seed=0))
    assert np.abs(y_scaled - y).max() > 0.1


# -- parameters: names, starts, round trips -----------------------------------------------------
def test_parameter_names_and_shapes():
    lstm = rnnkit.LayerNormLSTM(D, H, num_layers=2, bidirectional=True)
    gru = rnnkit.LayerNormGRU(D, H, bias=False)
    assert {k: v.shape for k, v in lstm.params.items() if k.endswith("_l1_reverse")} == {
        "weight_ih_l1_reverse": (4 * H, 2 * H), "weight_hh_l1_reverse": (4 * H, H),
        "bias_ih_l1_reverse": (4 * H,), "bias_hh_l1_reverse": (4 * H,),
        "layernorm_ih_weight_l1_reverse": (4 * H,), "layernorm_ih_bias_l1_reverse": (4 * H,),
        "layernorm_hh_weight_l1_reverse": (4 * H,), "layernorm_hh_bias_l1_reverse": (4 * H,),
        "layernorm_c_weight_l1_reverse": (H,), "layernorm_c_bias_l1_reverse": (H,)}
    assert list(gru.params) == ["weight_ih_l0", "weight_hh_l0", "layernorm_ih_weight_l0", "layernorm_ih_bias_l0",
                                "layernorm_hh_weight_l0", "layernorm_hh_bias_l0"]


@pytest.mark.parametrize("init", ["default", "torch"])
def test_gains_start_at_one_and_norm_biases_at_zero(init):
    lstm = rnnkit.LayerNormLSTM(D, H, init=init, forget_bias=2.0, seed=0)
    gru = rnnkit.LayerNormGRU(D, H, init=init, reset_bias=-1.0, seed=0)
    for layer in (lstm, gru):
        for k, v in layer.params.items():
            if k.startswith("layernorm_"):
                np.testing.assert_array_equal(v, 1.0 if "_weight" in k else 0.0)
    if init == "default":
        np.testing.assert_array_equal(lstm.params["bias_ih_l0"][H:2 * H], 2.0)    # forget bias
        np.testing.assert_array_equal(gru.params["bias_ih_l0"][:H], -1.0)         # reset bias


@pytest.mark.parametrize("kind", list(LAYERS))
def test_state_dict_and_model_file_round_trip(kind, tmp_path):
    layer = make(kind, num_layers=2, bidirectional=True, seed=5).eval()
    x = np.random.default_rng(5).standard_normal((T, B, D))
    y, _ = layer(x, lengths=[T, 3, 1])

    twin = LAYERS[kind](D, H, num_layers=2, bidirectional=True, dtype=np.float64, seed=9).eval()
    twin.load_state_dict(layer.state_dict())
    np.testing.assert_array_equal(twin(x, lengths=[T, 3, 1])[0], y)

    save(layer, tmp_path / f"{kind}.rnnkit")
    back = load(tmp_path / f"{kind}.rnnkit")
    assert type(back) is type(layer) and list(back.params) == list(layer.params)
    np.testing.assert_array_equal(back(x, lengths=[T, 3, 1])[0], y)


def test_conversions_without_an_equivalent_are_refused():
    from rnnkit.interop import to_torch
    from rnnkit.interop.onnx_export import to_onnx

    with pytest.raises(ValueError, match="LayerNormLSTM has no PyTorch equivalent"):
        to_torch(rnnkit.LayerNormLSTM(D, H))
    pytest.importorskip("onnx")
    with pytest.raises(ValueError, match="LayerNormGRU cannot be exported to ONNX"):
        to_onnx(rnnkit.LayerNormGRU(D, H))
    with pytest.raises(ValueError, match="reset-after GRU only"):
        rnnkit.LayerNormGRU(D, H, reset_after=False)
