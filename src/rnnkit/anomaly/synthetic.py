"""Generated sensor series with slow faults, for testing early alerts.

:func:`degradation_series` makes a noisy cycle ``sin(2πt/period) + noise·ε``
(amplitude 1) whose normal operating band is ``±limit``, and injects ``events``
slow faults after the training part, each followed by a repair (back to normal):

* ``"drift"``: the level ramps linearly (up or down, at random) by
  ``(limit − 1 + 0.4u)/D`` per step, ``u`` uniform in ``[0, 1)``, ``D`` drawn in
  ``[90, 150]`` (so the noise-free peaks reach ``±limit`` within ``D`` steps), and
  keeps ramping 80 steps past that crossing;
* ``"degradation"``: the cycle's amplitude grows exponentially, ``a_t = e^{g(t−s)}``,
  with ``g`` such that it reaches ``limit`` after 150 to 250 steps, and keeps
  growing 80 steps past it (a bearing whose vibration rises).

The label of a fault is the failure, not its slow start: the steps from the first
time the measured value leaves ``±limit`` (during the fault) until the repair.  A detector's
lead time on such an event is how long before the failure it warned.
"""
from __future__ import annotations

import numpy as np

KINDS = ("drift", "degradation")


def degradation_series(kind="drift", n=4000, train=1500, events=4, period=50, noise=0.1, limit=1.6, seed=0):
    """``(x, labels, train)``: the series ``(n,)``, labels ``(n,)`` bool and the
    length of the clean leading part; see the module docstring."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    level, amp = np.zeros(n), np.ones(n)
    lab = np.zeros(n, bool)
    slot = (n - train) // events
    spans = []
    for i in range(events):
        s = train + i * slot + int(rng.integers(20, max(21, slot // 4)))
        if kind == "drift":
            steps = int(rng.integers(90, 151))
            sign = rng.choice([-1.0, 1.0])
            ramp = sign * (limit - 1.0 + 0.4 * rng.random()) / steps * np.arange(n - s)
            cross = s + int(np.argmax(1.0 + np.abs(ramp) > limit))
            end = min(cross + 80, train + (i + 1) * slot)
            level[s:end] = ramp[: end - s]
        else:
            steps = int(rng.integers(150, 251))
            g = np.log(limit) / steps
            grow = np.exp(g * np.arange(n - s))
            cross = s + int(np.argmax(grow > limit))
            end = min(cross + 80, train + (i + 1) * slot)
            amp[s:end] = grow[: end - s]
        spans.append((s, end))
    x = amp * np.sin(2 * np.pi * t / period) + level + noise * rng.normal(size=n)
    for s, end in spans:
        out = np.flatnonzero(np.abs(x[s:end]) > limit)
        if out.size:
            lab[s + out[0]: end] = True
    return x, lab, train
