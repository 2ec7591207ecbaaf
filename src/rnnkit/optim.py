"""Optimizers and gradient clipping.

An optimizer holds a dict of live parameter arrays (``model.named_parameters()``)
and updates them in place from a gradient dict with the same keys; its state
is keyed by the same names.  Update rules follow PyTorch's ``torch.optim``
(same defaults, same formulas), so a twin run matches step for step.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from . import kernels


def _fused(*arrays):
    """Whether the compiled update serves: float32 kernels on, every array
    float32, C-contiguous and of one shape."""
    a0 = arrays[0]
    return kernels.available(a0.dtype) and all(
        a.dtype == a0.dtype and a.shape == a0.shape and a.flags.c_contiguous for a in arrays)


def _arrays(grads):
    """The gradient arrays of ``grads``: a dict name -> array, one array, or (as in
    PyTorch) any iterable of arrays (read once); anything else is refused."""
    if isinstance(grads, np.ndarray):
        return [grads]
    out = list(grads.values()) if isinstance(grads, dict) else list(grads)
    if not all(isinstance(g, np.ndarray) for g in out):
        raise TypeError("pass the gradients as a dict name -> array, an array, or a list of arrays "
                        "(e.g. model.named_grads())")
    return out


def _norm(arrays):
    return float(np.sqrt(sum(float(np.vdot(g, g)) for g in arrays)))


def grad_norm(grads):
    """The global L2 norm ``‖g‖`` of all gradients (see :func:`_arrays`; float64 sums)."""
    return _norm(_arrays(grads))


def clip_grad_norm(grads, max_norm):
    """Scale all gradients (a dict name -> array, an array, or an iterable of arrays) by
    ``max_norm / ‖g‖`` when the global L2 norm ``‖g‖``
    exceeds ``max_norm`` (seed 000: ``g ← g·t/‖g‖``).  In place; returns the norm
    before clipping."""
    if max_norm <= 0:
        raise ValueError(f"max_norm must be positive, got {max_norm}")
    arrays = _arrays(grads)
    total = _norm(arrays)
    if total > max_norm:
        scale = max_norm / (total + 1e-6)
        for g in arrays:
            g *= scale
    return total


def clip_grad_value(grads, clip_min, clip_max=None):
    """Clip every gradient element into ``[clip_min, clip_max]`` in place
    (``clip_grad_value(g, 5)`` means ``[-5, 5]``, as in min-char-rnn).  Returns
    the global L2 norm before clipping."""
    if clip_max is None:
        clip_min, clip_max = -abs(clip_min), abs(clip_min)
    if clip_min > clip_max:
        raise ValueError(f"clip range is empty: [{clip_min}, {clip_max}]")
    arrays = _arrays(grads)
    total = _norm(arrays)
    for g in arrays:
        np.clip(g, clip_min, clip_max, out=g)
    return total


def _non_negative(name, value):
    """``value`` unchanged when a number ``>= 0`` (torch.optim's checks), else a one-line ``ValueError``."""
    if not (isinstance(value, numbers.Real) and value >= 0):
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    return value


def _betas(betas):
    """Adam's ``(beta1, beta2)`` as a tuple, each in ``[0, 1)`` as torch.optim requires."""
    try:
        b1, b2 = betas
    except (TypeError, ValueError):
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}") from None
    for i, b in enumerate((b1, b2)):
        if not (isinstance(b, numbers.Real) and 0 <= b < 1):
            raise ValueError(f"betas[{i}] must lie in [0, 1), got {b!r}")
    return b1, b2


class Optimizer:
    """Base: ``step(grads)`` updates each parameter named in ``grads``."""

    def __init__(self, params, lr):
        if not isinstance(params, dict) or not params:
            raise ValueError("pass the parameters as a non-empty dict name -> array, "
                             "e.g. model.named_parameters()")
        if not lr > 0:
            raise ValueError(f"learning rate must be positive, got {lr}")
        self.params = params
        self.lr = float(lr)
        self.state: dict[str, dict[str, np.ndarray]] = {}
        self.steps = 0
        self._scratch: dict[str, np.ndarray] = {}   # per-parameter temporaries (not state)

    def _tmp(self, name, p, k=0):
        """A scratch array shaped like ``p``, kept between steps (not saved)."""
        a = self._scratch.get((name, k))
        if a is None or a.shape != p.shape or a.dtype != p.dtype:
            a = self._scratch[(name, k)] = np.empty_like(p)
        return a

    def step(self, grads):
        if not isinstance(grads, dict):
            raise TypeError(f"step() takes the gradients as a dict keyed like the parameters (e.g. "
                            f"model.named_grads()), got a {type(grads).__name__}")
        unknown = set(grads) - set(self.params)
        if unknown:
            raise KeyError(f"gradients for unknown parameters {sorted(unknown)}; "
                           "build the optimizer over the same named_parameters()")
        for name, g in grads.items():                # all checked before any update
            if np.shape(g) != self.params[name].shape:
                raise ValueError(f"the gradient of {name!r} has shape {np.shape(g)} but the parameter "
                                 f"{self.params[name].shape}; pass one gradient of each parameter's shape")
        self.steps += 1
        for name, g in grads.items():
            self._update(name, self.params[name], g, self.state.setdefault(name, {}))

    def _update(self, name, p, g, s):
        raise NotImplementedError

    def state_dict(self):
        """Arrays and scalars that resume the optimizer exactly."""
        flat = {f"{n}/{k}": v.copy() for n, st in self.state.items() for k, v in st.items()}
        return {"lr": self.lr, "steps": self.steps, "state": flat}

    def load_state_dict(self, d):
        self.lr = float(d["lr"])
        self.steps = int(d["steps"])
        self.state = {}
        for key, v in d["state"].items():
            n, k = key.rsplit("/", 1)
            self.state.setdefault(n, {})[k] = np.array(v)


class SGD(Optimizer):
    """``b ← μ b + (1 − τ) g`` (``b = g`` at first), ``p ← p − lr·(g + μ b)`` with
    Nesterov or ``p ← p − lr·b`` without; plain SGD when ``momentum=0``."""

    def __init__(self, params, lr=0.01, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(params, lr)
        momentum, weight_decay = _non_negative("momentum", momentum), _non_negative("weight_decay", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum needs momentum > 0 and dampening 0")
        self.momentum, self.dampening, self.nesterov, self.weight_decay = momentum, dampening, nesterov, weight_decay

    def _update(self, name, p, g, s):
        if self.weight_decay:
            g = g + self.weight_decay * p
        if self.momentum:
            if "momentum" not in s:
                s["momentum"] = np.array(g, copy=True)
            else:
                s["momentum"] *= self.momentum
                s["momentum"] += (1 - self.dampening) * g
            b = s["momentum"]
            g = g + self.momentum * b if self.nesterov else b
        p -= self.lr * g


class Adagrad(Optimizer):
    """``G ← G + g²``; ``p ← p − lr·g / (√G + ε)`` (the seeds' case study)."""

    def __init__(self, params, lr=0.01, eps=1e-10, initial_accumulator_value=0.0, weight_decay=0.0):
        super().__init__(params, lr)
        eps, weight_decay = _non_negative("eps", eps), _non_negative("weight_decay", weight_decay)
        initial_accumulator_value = _non_negative("initial_accumulator_value", initial_accumulator_value)
        self.eps, self.init_acc, self.weight_decay = eps, initial_accumulator_value, weight_decay

    def _update(self, name, p, g, s):
        if self.weight_decay:
            g = g + self.weight_decay * p
        if "sum" not in s:
            s["sum"] = np.full_like(p, self.init_acc)
        s["sum"] += g * g
        p -= self.lr * g / (np.sqrt(s["sum"]) + self.eps)


class RMSProp(Optimizer):
    """``v ← α v + (1 − α) g²``; ``p ← p − lr·g / (√v + ε)``, or with momentum
    ``b ← μ b + g / (√v + ε)``, ``p ← p − lr·b``."""

    def __init__(self, params, lr=0.01, alpha=0.99, eps=1e-8, momentum=0.0, weight_decay=0.0):
        super().__init__(params, lr)
        alpha, eps = _non_negative("alpha", alpha), _non_negative("eps", eps)
        momentum, weight_decay = _non_negative("momentum", momentum), _non_negative("weight_decay", weight_decay)
        self.alpha, self.eps, self.momentum, self.weight_decay = alpha, eps, momentum, weight_decay

    def _update(self, name, p, g, s):
        if self.weight_decay:
            g = g + self.weight_decay * p
        if "square_avg" not in s:
            s["square_avg"] = np.zeros_like(p)
        v = s["square_avg"]
        v *= self.alpha
        v += (1 - self.alpha) * g * g
        step = g / (np.sqrt(v) + self.eps)
        if self.momentum:
            if "momentum" not in s:
                s["momentum"] = np.zeros_like(p)
            s["momentum"] *= self.momentum
            s["momentum"] += step
            step = s["momentum"]
        p -= self.lr * step


class Adam(Optimizer):
    """``m ← β1 m + (1−β1) g``, ``v ← β2 v + (1−β2) g²``,
    ``p ← p − lr·m̂ / (√v̂ + ε)`` with ``m̂ = m/(1−β1^t)``, ``v̂ = v/(1−β2^t)``.
    ``weight_decay`` adds ``λp`` to the gradient (L2, as PyTorch's Adam)."""

    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        betas, eps, weight_decay = _betas(betas), _non_negative("eps", eps), _non_negative("weight_decay", weight_decay)
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay

    def _update(self, name, p, g, s):
        b1, b2 = self.betas
        if self.weight_decay:
            if self.decoupled:
                p *= 1 - self.lr * self.weight_decay
            else:
                g = g + self.weight_decay * p
        if "exp_avg" not in s:
            s["exp_avg"] = np.zeros_like(p)
            s["exp_avg_sq"] = np.zeros_like(p)
            s["step"] = np.zeros((), dtype=np.int64)
        s["step"] += 1
        t = int(s["step"])
        m, v = s["exp_avg"], s["exp_avg_sq"]
        if _fused(p, g, m, v):                           # one compiled pass, the same arithmetic to the bit
            from .kernels import adam                    # imports numba: only when it serves
            f = np.float32
            adam.adam_update(p, g, m, v, f(b1), f(1 - b1), f(b2), f(1 - b2), f(math.sqrt(1 - b2 ** t)),
                             f(self.eps), f(self.lr / (1 - b1 ** t)))
            return
        a, c = self._tmp(name, p), self._tmp(name, p, 1)   # the same arithmetic, no temporaries
        m *= b1
        m += np.multiply(g, 1 - b1, out=a)
        v *= b2
        np.multiply(g, 1 - b2, out=a)
        v += np.multiply(a, g, out=a)
        denom = np.sqrt(v, out=a)
        denom /= math.sqrt(1 - b2 ** t)
        denom += self.eps
        step = np.multiply(m, self.lr / (1 - b1 ** t), out=c)
        step /= denom
        p -= step


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p ← p (1 − lr·λ)`` before the Adam step."""

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)


OPTIMIZERS = {"sgd": SGD, "adagrad": Adagrad, "rmsprop": RMSProp, "adam": Adam, "adamw": AdamW}
