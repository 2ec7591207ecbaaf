"""The LSTM with projections (``proj_size``): finite differences, the PyTorch
twin (``nn.LSTM(proj_size=P)``), conversion both ways, model files, and the
refusals (ONNX, bad sizes, layers without projections)."""
import itertools

import numpy as np
import pytest

import rnnkit
from _layer_gradcheck import gradcheck_layer
from rnnkit.io import load, save

torch = pytest.importorskip("torch")
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

from rnnkit.interop import from_torch, to_torch  # noqa: E402

T, B, D, H, P = 5, 3, 3, 5, 2
TOL = {np.float64: dict(rtol=1e-10, atol=1e-10), np.float32: dict(rtol=1e-5, atol=1e-5)}
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}


# -- finite differences ---------------------------------------------------------------------
@pytest.mark.parametrize("bidirectional,num_layers,mixed", list(itertools.product([False, True], [1, 2],
                                                                                  [False, True])))
def test_gradients_match_central_differences(bidirectional, num_layers, mixed):
    layer = rnnkit.LSTM(D, H, num_layers=num_layers, bidirectional=bidirectional, proj_size=P,
                        dtype=np.float64, init="torch", seed=0)
    lengths = np.array([T, 2, 1]) if mixed else None
    dx, _ = gradcheck_layer(layer, T, B, lengths)
    if mixed:                                   # padded steps get no gradient
        assert np.all(dx[2:, 1] == 0) and np.all(dx[1:, 2] == 0)


def test_gradients_match_with_fixed_dropout_masks():
    layer = rnnkit.LSTM(D, H, num_layers=2, bidirectional=True, proj_size=P, dropout=0.3, recurrent_dropout=0.3,
                        dtype=np.float64, init="torch", seed=1)
    masks = layer.sample_masks(T, B)
    assert masks["recurrent"][0].shape == (B, P)   # the dropped h is the projected one
    gradcheck_layer(layer, T, B, np.array([T, 2, 4]), masks=masks)


# -- PyTorch twin -----------------------------------------------------------------------------

def twin_run(dtype, bidirectional, num_layers, mixed, batch_first=False, bias=True, seed=0, T=6, B=4, D=5, H=7, P=3):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    module = torch.nn.LSTM(D, H, num_layers=num_layers, bias=bias, batch_first=batch_first,
                           bidirectional=bidirectional, proj_size=P, dtype=TORCH_DTYPE[dtype])
    layer = from_torch(module)
    assert type(layer.cell).__name__ == "ProjectedLSTMCell" and layer.dtype == dtype
    x = rng.standard_normal((B, T, D) if batch_first else (T, B, D)).astype(dtype)
    lengths = np.array([T, 3, 1, T - 1]) if mixed else np.full(B, T)
    K = num_layers * (2 if bidirectional else 1)
    h0 = rng.standard_normal((K, B, P)).astype(dtype)
    c0 = rng.standard_normal((K, B, H)).astype(dtype)
    R_y = rng.standard_normal((B, T, K // num_layers * P) if batch_first else (T, B, K // num_layers * P)).astype(dtype)
    R_h, R_c = rng.standard_normal((K, B, P)).astype(dtype), rng.standard_normal((K, B, H)).astype(dtype)

    # torch side
    xt = torch.tensor(x, requires_grad=True)
    h0t, c0t = torch.tensor(h0, requires_grad=True), torch.tensor(c0, requires_grad=True)
    packed = pack_padded_sequence(xt, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False)
    out, (hn_t, cn_t) = module(packed, (h0t, c0t))
    yt, _ = pad_packed_sequence(out, batch_first=batch_first, total_length=T)
    loss = (yt * torch.tensor(R_y)).sum() + (hn_t * torch.tensor(R_h)).sum() + (cn_t * torch.tensor(R_c)).sum()
    loss.backward()

    # rnnkit side
    y, (hn, cn) = layer(x, (h0, c0), lengths=lengths if mixed else None)
    dx, (dh0, dc0) = layer.backward(R_y, (R_h, R_c))

    tol = TOL[dtype]
    assert y.dtype == dtype and dx.dtype == dtype and hn.shape == (K, B, P) and cn.shape == (K, B, H)
    np.testing.assert_allclose(y, yt.detach().numpy(), **tol)
    np.testing.assert_allclose(hn, hn_t.detach().numpy(), **tol)
    np.testing.assert_allclose(cn, cn_t.detach().numpy(), **tol)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **tol)
    np.testing.assert_allclose(dh0, h0t.grad.numpy(), **tol)
    np.testing.assert_allclose(dc0, c0t.grad.numpy(), **tol)
    names = dict(module.named_parameters())
    assert set(names) == set(layer.grads)
    for name, p in names.items():
        np.testing.assert_allclose(layer.grads[name], p.grad.numpy(), err_msg=name, **tol)


@pytest.mark.parametrize("dtype,bidirectional,num_layers,mixed",
                         list(itertools.product([np.float64, np.float32], [False, True], [1, 2], [False, True])),
                         ids=lambda v: getattr(v, "__name__", str(v)))
def test_matches_torch_outputs_states_and_gradients(dtype, bidirectional, num_layers, mixed):
    twin_run(dtype, bidirectional, num_layers, mixed)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda v: v.__name__)
def test_matches_torch_batch_first_without_bias(dtype):
    twin_run(dtype, True, 2, True, batch_first=True, bias=False, seed=1)


def test_float64_parity_holds_on_longer_sequences():
    twin_run(np.float64, True, 2, True, seed=3, T=40)


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda v: v.__name__)
def test_to_torch_and_back_keeps_options_weights_and_outputs(dtype):
    layer = rnnkit.LSTM(D, H, num_layers=2, bidirectional=True, batch_first=True, proj_size=P, dtype=dtype, seed=0)
    module = to_torch(layer)
    assert module.proj_size == P and module.batch_first and module.bidirectional and module.num_layers == 2
    assert "weight_hr_l1_reverse" in module.state_dict()
    x = np.random.default_rng(0).standard_normal((3, T, D)).astype(dtype)
    y, (hn, cn) = layer(x)
    yt, (hn_t, cn_t) = module(torch.tensor(x))
    np.testing.assert_allclose(y, yt.detach().numpy(), **TOL[dtype])
    np.testing.assert_allclose(hn, hn_t.detach().numpy(), **TOL[dtype])
    np.testing.assert_allclose(cn, cn_t.detach().numpy(), **TOL[dtype])
    back = from_torch(module)
    assert type(back) is rnnkit.LSTM and back.proj_size == P and back.dtype == dtype
    assert list(back.params) == list(layer.params)
    for k, v in layer.params.items():
        np.testing.assert_array_equal(back.params[k], v)


def test_state_dict_names_and_shapes_are_pytorchs():
    layer = rnnkit.LSTM(D, H, num_layers=2, bidirectional=True, proj_size=P)
    module = torch.nn.LSTM(D, H, num_layers=2, bidirectional=True, proj_size=P)
    assert {k: v.shape for k, v in layer.params.items()} == {k: tuple(v.shape) for k, v in module.state_dict().items()}


# -- initialisation ---------------------------------------------------------------------------
def test_default_init_projection_is_glorot_and_recurrent_blocks_have_orthonormal_columns():
    layer = rnnkit.LSTM(D, H, proj_size=P, dtype=np.float64, seed=0)
    W_hr, W_hh = layer.params["weight_hr_l0"], layer.params["weight_hh_l0"]
    assert np.abs(W_hr).max() <= np.sqrt(6.0 / (H + P))
    for g in range(4):                              # each (H, P) gate block: Q^T Q = I
        Q = W_hh[g * H:(g + 1) * H]
        np.testing.assert_allclose(Q.T @ Q, np.eye(P), atol=1e-12)
    np.testing.assert_array_equal(layer.params["bias_ih_l0"][H:2 * H], 1.0)   # forget bias, as the LSTM
    torch_init = rnnkit.LSTM(D, H, proj_size=P, init="torch", seed=0)
    assert all(np.abs(v).max() <= 1 / np.sqrt(H) for v in torch_init.params.values())


# -- files, refusals ----------------------------------------------------------------------------
def test_model_file_keeps_the_projection(tmp_path):
    layer = rnnkit.LSTM(D, H, num_layers=2, proj_size=P, dtype=np.float64, seed=0)
    save(layer, tmp_path / "lstm.rnnkit")
    back = load(tmp_path / "lstm.rnnkit")
    assert back.proj_size == P
    x = np.random.default_rng(1).standard_normal((T, B, D))
    np.testing.assert_array_equal(back(x)[0], layer.eval()(x)[0])


def test_onnx_export_is_refused_in_one_line():
    pytest.importorskip("onnx")
    from rnnkit.interop.onnx_export import to_onnx

    with pytest.raises(ValueError, match="ONNX's LSTM has no projection") as err:
        to_onnx(rnnkit.LSTM(D, H, proj_size=P))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("bad,match", [(H, "proj_size must be smaller than hidden_size"),
                                       (H + 1, "proj_size must be smaller than hidden_size"),
                                       (-1, "proj_size must be an integer >= 0"),
                                       (1.5, "proj_size must be an integer >= 0")])
def test_bad_proj_size_is_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        rnnkit.LSTM(D, H, proj_size=bad)


@pytest.mark.parametrize("cls", [rnnkit.GRU, rnnkit.RNN, rnnkit.SimpleGRU, rnnkit.LayerNormLSTM, rnnkit.LayerNormGRU])
def test_layers_without_projections_refuse_proj_size(cls):
    with pytest.raises(NotImplementedError, match="proj_size is an LSTM option"):
        cls(D, H, proj_size=P)
