"""Scheduled sampling (Bengio, Vinyals, Jaitly and Shazeer 2015): a decoder
trained on the true previous token (teacher forcing) is fed, more and more
often as training goes on, a token drawn from its own prediction instead.

At update ``i`` (the updates done so far: the optimizer's step count, which a
checkpoint keeps, so a resumed run goes on along its schedule) each input
token after ``<bos>`` is the true one with probability ``ε_i`` and the model's
own with probability ``1 − ε_i``; ``ε_i`` decays as in the paper (§2.4)::

    linear            ε_i = max(ε_min, k − c·i)          k = 1, c = 1e-3
    exponential       ε_i = max(ε_min, k^i)              k = 0.999   (k < 1)
    inverse_sigmoid   ε_i = max(ε_min, k / (k + exp(i/k)))   k = 100 (k >= 1)

``ε_min`` (``min``) is 0 unless given.  A schedule is written as a string,
``"NAME"`` or ``"NAME:key=value,..."`` (keys ``k``, ``c``, ``min``), e.g.
``"linear:c=0.002,min=0.25"`` or ``"inverse_sigmoid:k=200"``; ``None`` or
``"none"``: teacher forcing throughout.

The model's token at step ``t`` is drawn from its output distribution
``softmax(logits_t)`` as at inference (no dropout) in a pass without
gradients before the training pass (:func:`mixed_inputs`); the training pass
then runs on those inputs, so its gradient is that of teacher forcing on them
(the draw itself, discrete, passes no gradient, as in the paper).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

DEFAULTS = {"linear": {"k": 1.0, "c": 1e-3}, "exponential": {"k": 0.999}, "inverse_sigmoid": {"k": 100.0}}


class Schedule(NamedTuple):
    """A teacher-forcing schedule (see the module docstring)."""

    kind: str
    k: float
    c: float = 0.0
    min: float = 0.0

    def probability(self, i):
        """``ε_i``, the probability of feeding the true previous token at update ``i``."""
        if self.kind == "linear":
            eps = self.k - self.c * i
        elif self.kind == "exponential":
            eps = self.k ** i
        else:
            eps = self.k / (self.k + math.exp(min(i / self.k, 700.0)))
        return float(min(1.0, max(self.min, eps)))


def parse_schedule(spec):
    """The :class:`Schedule` a string names, or ``None`` for teacher forcing
    (``None``, ``""``, ``"none"``); a one-line ``ValueError`` otherwise."""
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", "none")):
        return None
    usage = ("write a schedule as NAME or NAME:key=value,... with NAME one of "
             f"{', '.join(DEFAULTS)} and keys k, c (linear), min; e.g. 'linear:c=0.001,min=0.2'")
    if not isinstance(spec, str):
        raise ValueError(f"sampling_schedule must be a string or None, got {spec!r}; {usage}")
    kind, _, rest = spec.strip().partition(":")
    if kind not in DEFAULTS:
        raise ValueError(f"unknown sampling schedule {kind!r}; {usage}")
    values = dict(DEFAULTS[kind], min=0.0)
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, eq, text = item.partition("=")
        if not eq or key.strip() not in values:
            raise ValueError(f"sampling schedule {spec!r}: {item!r} is not one of "
                             f"{', '.join(k + '=...' for k in values)}; {usage}")
        try:
            values[key.strip()] = float(text)
        except ValueError:
            raise ValueError(f"sampling schedule {spec!r}: {key.strip()}={text!r} is not a number") from None
    k, c, low = values["k"], values.get("c", 0.0), values["min"]
    if not all(math.isfinite(v) for v in (k, c, low)) or not 0.0 <= low <= 1.0:
        raise ValueError(f"sampling schedule {spec!r}: min must lie in [0, 1] and every value be finite")
    if kind == "linear" and not (k > 0 and c > 0):
        raise ValueError(f"sampling schedule {spec!r}: linear needs k > 0 and c > 0 (ε_i = k − c·i)")
    if kind == "exponential" and not 0 < k < 1:
        raise ValueError(f"sampling schedule {spec!r}: exponential needs 0 < k < 1 (ε_i = k^i)")
    if kind == "inverse_sigmoid" and not k >= 1:
        raise ValueError(f"sampling schedule {spec!r}: inverse_sigmoid needs k >= 1 (ε_i = k/(k + exp(i/k)))")
    return Schedule(kind, k, c, low)


def mixed_inputs(step, state, x, p_teacher, rng):
    """Decoder input ids ``x`` ``(B, T)`` (``<bos>``, then the true tokens) with
    each token after the first replaced, with probability ``1 − p_teacher``, by
    one drawn from the model's prediction at the step before.  ``step(tokens,
    state) -> (log-probabilities (B, C), state)`` is the decoder's inference
    step; ``rng`` a ``numpy.random.Generator``.  ``p_teacher >= 1``: ``x``
    itself, and nothing is drawn."""
    if p_teacher >= 1.0:
        return x
    x = x.copy()
    B, T = x.shape
    for t in range(T - 1):
        logp, state = step(x[:, t], state)                          # (B, C)
        own = rng.random(B) >= p_teacher                            # (B,) feed the model's token
        if own.any():
            cum = np.cumsum(np.exp(logp[own]), axis=1)              # (n, C) inverse-CDF draw
            u = rng.random(int(own.sum()))[:, None] * cum[:, -1:]
            x[own, t + 1] = np.minimum((cum < u).sum(axis=1), logp.shape[1] - 1)
    return x
