"""Central differences: one entry of an array (``central_difference``) and an
estimator's hand-written backward pass (``check_estimator_grads``)."""
import numpy as np


def central_difference(f, arr, idx, eps=1e-6):
    """``(f(arr + eps e_idx) - f(arr - eps e_idx)) / 2 eps``, changing ``arr[idx]`` in
    place and putting it back."""
    old = arr[idx]
    arr[idx] = old + eps
    up = f()
    arr[idx] = old - eps
    down = f()
    arr[idx] = old
    return (up - down) / (2 * eps)


def check_estimator_grads(est, data, idx, n_per_param=4, eps=1e-6, seed=0):
    rng = np.random.default_rng(seed)
    est._loss_backward(data, idx)
    analytic = {k: v.copy() for k, v in est.net_.named_grads().items()}
    params = est.net_.named_parameters()
    worst = 0.0
    for name, p in params.items():
        flat = p.reshape(-1)
        for j in rng.choice(flat.size, size=min(n_per_param, flat.size), replace=False):
            old = flat[j]
            flat[j] = old + eps
            up = est._loss_backward(data, idx)
            flat[j] = old - eps
            down = est._loss_backward(data, idx)
            flat[j] = old
            num = (up - down) / (2 * eps)
            ana = analytic[name].reshape(-1)[j]
            err = abs(num - ana) / max(1e-6, abs(num) + abs(ana))
            assert err < 1e-5 or abs(num - ana) < 1e-9, f"{name}[{j}]: numeric {num} vs analytic {ana}"
            worst = max(worst, err)
    return worst
