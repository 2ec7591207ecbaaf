"""Float64 central-difference check of a recurrent layer's hand-written BPTT:
every entry of every parameter, of the input and of each initial state."""
import numpy as np

from _gradcheck import central_difference

EPS = 1e-6


def _check(analytic, f, arr, name):
    """Every entry of ``arr``; returns the largest error relative to ``1e-7 + 1e-5·|numeric|``."""
    worst = 0.0
    for idx in np.ndindex(arr.shape):
        num = central_difference(f, arr, idx, EPS)
        bound = 1e-7 + 1e-5 * abs(num)
        err = abs(num - analytic[idx])
        assert err <= bound, f"{name}{idx}: numeric {num:.10g} vs analytic {analytic[idx]:.10g}"
        worst = max(worst, err / bound)
    return worst


def gradcheck_layer(layer, T, B, lengths=None, masks=None, seed=0):
    """Check ``layer`` (float64) on a random ``x`` ``(T, B, D)`` and random initial
    states under the loss ``L = Σ y∘R_y + Σ_j state_j∘R_j``; ``masks`` (as
    ``layer.sample_masks`` draws them) are held fixed.  Returns ``(dx, worst)``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, B, layer.input_size))
    K = layer.num_layers * layer.num_directions
    sizes = layer.state_sizes
    s0 = [rng.standard_normal((K, B, S)) * 0.5 for S in sizes]
    R_y = rng.standard_normal((T, B, layer.output_size))
    R_s = [rng.standard_normal((K, B, S)) for S in sizes]
    pair = len(sizes) > 1
    masks = masks if masks is not None else layer.sample_masks(T, B)

    def loss():
        y, hn = layer.forward(x, tuple(s0) if pair else s0[0], lengths, masks=masks)
        hn = hn if pair else (hn,)
        return float((y * R_y).sum() + sum((s * r).sum() for s, r in zip(hn, R_s)))

    loss()
    dx, ds0 = layer.backward(R_y, tuple(R_s) if pair else R_s[0])
    ds0 = ds0 if pair else (ds0,)
    grads = {k: v.copy() for k, v in layer.grads.items()}
    assert set(grads) == set(layer.params)
    worst = max(_check(grads[name], loss, p, name) for name, p in layer.params.items())
    worst = max(worst, _check(dx, loss, x, "x"))
    for j, a in enumerate(s0):
        worst = max(worst, _check(ds0[j], loss, a, f"state0[{j}]"))
    return dx, worst
