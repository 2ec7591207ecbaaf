"""Each optimizer step against its update formula (recomputed here), against
torch.optim over several steps, and clipping on crafted gradients."""
import numpy as np
import pytest

from rnnkit.optim import SGD, Adagrad, Adam, AdamW, RMSProp, clip_grad_norm, clip_grad_value

torch = pytest.importorskip("torch")


def _setup(seed=0):
    rng = np.random.default_rng(seed)
    p = {"w": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}
    gs = [{k: rng.standard_normal(v.shape) for k, v in p.items()} for _ in range(4)]
    return p, gs


def test_sgd_with_momentum_follows_its_formula():
    p, gs = _setup()
    w0 = p["w"].copy()
    opt = SGD(p, lr=0.1, momentum=0.9)
    opt.step(gs[0])
    opt.step(gs[1])
    b1 = gs[0]["w"]
    b2 = 0.9 * b1 + gs[1]["w"]
    np.testing.assert_allclose(p["w"], w0 - 0.1 * b1 - 0.1 * b2, atol=1e-15)


def test_nesterov_uses_the_look_ahead_gradient():
    p, gs = _setup()
    w0 = p["w"].copy()
    opt = SGD(p, lr=0.1, momentum=0.9, nesterov=True)
    opt.step(gs[0])
    b1 = gs[0]["w"]
    np.testing.assert_allclose(p["w"], w0 - 0.1 * (gs[0]["w"] + 0.9 * b1), atol=1e-15)


def test_adagrad_divides_by_the_root_of_summed_squares():
    p, gs = _setup()
    w0 = p["w"].copy()
    opt = Adagrad(p, lr=0.5)
    opt.step(gs[0])
    opt.step(gs[1])
    G1 = gs[0]["w"] ** 2
    w1 = w0 - 0.5 * gs[0]["w"] / (np.sqrt(G1) + 1e-10)
    G2 = G1 + gs[1]["w"] ** 2
    np.testing.assert_allclose(p["w"], w1 - 0.5 * gs[1]["w"] / (np.sqrt(G2) + 1e-10), atol=1e-14)


def test_rmsprop_keeps_a_running_mean_of_squares():
    p, gs = _setup()
    w0 = p["w"].copy()
    RMSProp(p, lr=0.01, alpha=0.9).step(gs[0])
    v = 0.1 * gs[0]["w"] ** 2
    np.testing.assert_allclose(p["w"], w0 - 0.01 * gs[0]["w"] / (np.sqrt(v) + 1e-8), atol=1e-14)


def test_adam_and_adamw_follow_their_formulas():
    for cls, wd in ((Adam, 0.1), (AdamW, 0.1)):
        p, gs = _setup()
        w = p["w"].copy()
        opt = cls(p, lr=0.01, betas=(0.8, 0.99), weight_decay=wd)
        m = np.zeros_like(w)
        v = np.zeros_like(w)
        for t, g in enumerate(gs[:3], start=1):
            opt.step(g)
            g = g["w"]
            if cls is AdamW:
                w = w * (1 - 0.01 * wd)
            else:
                g = g + wd * w
            m = 0.8 * m + 0.2 * g
            v = 0.99 * v + 0.01 * g * g
            mhat, vhat = m / (1 - 0.8 ** t), v / (1 - 0.99 ** t)
            w = w - 0.01 * mhat / (np.sqrt(vhat) + 1e-8)
        np.testing.assert_allclose(p["w"], w, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("ours,theirs,kw", [
    (SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (Adagrad, torch.optim.Adagrad, dict(lr=0.1)),
    (RMSProp, torch.optim.RMSprop, dict(lr=0.01, momentum=0.5)),
    (Adam, torch.optim.Adam, dict(lr=0.01, weight_decay=0.01)),
    (AdamW, torch.optim.AdamW, dict(lr=0.01)),
])
def test_optimizers_match_torch_optim_step_for_step(ours, theirs, kw):
    p, gs = _setup(1)
    tp = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in p.items()}
    opt, topt = ours(p, **kw), theirs(list(tp.values()), **kw)
    for g in gs:
        opt.step(g)
        for k, t in tp.items():
            t.grad = torch.tensor(g[k])
        topt.step()
    for k in p:
        np.testing.assert_allclose(p[k], tp[k].detach().numpy(), rtol=1e-12, atol=1e-13)


def test_optimizer_state_round_trips_through_state_dict():
    p, gs = _setup()
    q = {k: v.copy() for k, v in p.items()}
    a, b = Adam(p, lr=0.01), Adam(q, lr=0.01)
    a.step(gs[0])
    b.step(gs[0])
    c_params = {k: v.copy() for k, v in p.items()}
    c = Adam(c_params, lr=0.5)
    c.load_state_dict(a.state_dict())
    a.step(gs[1])
    c.step(gs[1])
    for k in p:
        np.testing.assert_array_equal(p[k], c_params[k])


def test_clip_by_norm_rescales_to_the_threshold_and_returns_the_old_norm():
    g = {"a": np.array([3.0, 0.0]), "b": np.array([[0.0, 4.0]])}   # global norm 5
    norm = clip_grad_norm(g, 1.0)
    assert norm == pytest.approx(5.0)
    total = np.sqrt(sum((v ** 2).sum() for v in g.values()))
    assert total == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(g["a"], [0.6, 0.0], rtol=1e-5)
    small = {"a": np.array([0.3, 0.4])}
    assert clip_grad_norm(small, 1.0) == pytest.approx(0.5)
    np.testing.assert_array_equal(small["a"], [0.3, 0.4])           # under the threshold: untouched


def test_clip_by_value_clamps_into_the_range():
    g = {"a": np.array([-9.0, -2.0, 0.5, 7.0])}
    norm = clip_grad_value(g, 5.0)
    assert norm == pytest.approx(np.sqrt(81 + 4 + 0.25 + 49))
    np.testing.assert_array_equal(g["a"], [-5.0, -2.0, 0.5, 5.0])
    h = {"a": np.array([-9.0, 0.5, 7.0])}
    clip_grad_value(h, -1.0, 2.0)
    np.testing.assert_array_equal(h["a"], [-1.0, 0.5, 2.0])


def test_gradients_for_unknown_parameters_are_rejected():
    p, _ = _setup()
    with pytest.raises(KeyError, match="unknown parameters"):
        Adam(p).step({"nope": np.zeros(2)})


@pytest.mark.parametrize("cls,wd", [(Adam, 0.0), (Adam, 0.05), (AdamW, 0.05)])
def test_compiled_adam_update_matches_the_numpy_update_to_the_bit(monkeypatch, cls, wd):
    """float32 Adam runs one compiled pass (``kernels.adam.adam_update``) where
    NumPy would run a dozen; parameters and moments agree to the last bit."""
    pytest.importorskip("numba")
    from rnnkit import kernels

    assert kernels.available(np.float32)

    def run():
        rng = np.random.default_rng(5)
        p = {"w": rng.standard_normal((33, 17)).astype(np.float32), "b": rng.standard_normal(33).astype(np.float32)}
        opt = cls(p, lr=3e-3, betas=(0.85, 0.995), weight_decay=wd)
        for _ in range(4):
            opt.step({k: rng.standard_normal(v.shape).astype(np.float32) for k, v in p.items()})
        return p, opt.state_dict()

    p_fast, s_fast = run()
    monkeypatch.setenv("RNNKIT_KERNELS", "numpy")
    p_ref, s_ref = run()
    for k in p_ref:
        assert p_fast[k].dtype == np.float32
        np.testing.assert_array_equal(p_fast[k], p_ref[k], err_msg=k)
        for moment in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_array_equal(s_fast["state"][f"{k}/{moment}"], s_ref["state"][f"{k}/{moment}"])


@pytest.mark.parametrize("cls", [SGD, Adagrad, RMSProp, Adam, AdamW])
@pytest.mark.parametrize("shape", [(1, 4), (4, 3), (12,)])
def test_a_gradient_of_another_shape_is_refused_before_any_update(cls, shape):
    p, gs = _setup()
    before = {k: v.copy() for k, v in p.items()}
    opt = cls(p, lr=0.1)
    with pytest.raises(ValueError, match=rf"the gradient of 'w' has shape \({shape[0]},"):
        opt.step({"b": gs[0]["b"], "w": np.ones(shape)})
    assert opt.steps == 0 and not opt.state
    for k in p:
        np.testing.assert_array_equal(p[k], before[k])


@pytest.mark.parametrize("cls,kwargs,match", [
    (SGD, dict(momentum=-1), "momentum must be a number >= 0"),
    (SGD, dict(weight_decay=-0.1), "weight_decay must be a number >= 0"),
    (SGD, dict(lr=-0.1), "learning rate must be positive"),
    (Adam, dict(betas=(1.5, 0.9)), r"betas\[0\] must lie in \[0, 1\)"),
    (Adam, dict(betas=(0.9, 1.0)), r"betas\[1\] must lie in \[0, 1\)"),
    (AdamW, dict(betas=(-0.1, 0.9)), r"betas\[0\] must lie in \[0, 1\)"),
    (Adam, dict(eps=-1e-8), "eps must be a number >= 0"),
    (AdamW, dict(weight_decay=-1), "weight_decay must be a number >= 0"),
    (RMSProp, dict(alpha=-0.5), "alpha must be a number >= 0"),
    (RMSProp, dict(momentum=-0.5), "momentum must be a number >= 0"),
    (Adagrad, dict(initial_accumulator_value=-1), "initial_accumulator_value must be a number >= 0"),
    (Adagrad, dict(eps=-1), "eps must be a number >= 0"),
])
def test_hyperparameters_torch_rejects_are_rejected(cls, kwargs, match):
    tcls = {SGD: torch.optim.SGD, Adagrad: torch.optim.Adagrad, RMSProp: torch.optim.RMSprop,
            Adam: torch.optim.Adam, AdamW: torch.optim.AdamW}[cls]
    with pytest.raises(ValueError):
        tcls([torch.zeros(2, requires_grad=True)], **kwargs)
    with pytest.raises(ValueError, match=match):
        cls({"w": np.zeros(2)}, **kwargs)


# -- clipping takes what PyTorch's takes ---------------------------------------------------------------------
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
