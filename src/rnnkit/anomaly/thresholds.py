"""Smoothing and thresholds for per-step anomaly scores.

``ewma(e, span)``: ``s_t = α e_t + (1 − α) s_{t−1}``, ``α = 2/(span+1)``, ``s_0 = e_0``
(causal, so streaming and batch agree).

Static threshold: the ``q``-quantile of the smoothed training scores, ``q`` in
``(0, 1]`` (``q = 1``: their maximum).

Dynamic threshold (non-parametric, after Hundman et al. 2018, "telemanom"): on a
window ``s`` of recent smoothed scores with mean ``μ`` and deviation ``σ``, try
``ε_z = μ + zσ`` for ``z`` in ``z_range`` and keep the ``z`` maximising

    (Δμ/μ + Δσ/σ) / (|s_a| + |E_seq|²)

where ``Δμ, Δσ`` are the drops in mean and deviation when the points above
``ε_z`` (``s_a``, forming ``|E_seq|`` contiguous runs) are removed.  When no ``z``
leaves points above, ``ε = μ + z_max σ``.  Here the window is the trailing
``window`` scores *before* the current step (starting with the training tail), and
``ε`` is recomputed every ``refresh`` steps, so the threshold at ``t`` depends on
the past only; telemanom's pruning step is not applied.

A spike's scores, once in the window, inflate ``μ`` and ``σ`` for ``window`` steps:
the plain rule then lets a following anomaly through (blinded).  With
``exclude_flagged=True`` a score above the threshold (a flagged point) is left out
of the window, so flagged points do not raise it; the window then holds the last
``window`` unflagged scores.

Robust threshold (:class:`RobustThreshold`): ``ε = median + z · 1.4826 · MAD`` of
the same trailing window, recomputed every ``refresh`` steps.  The median and the
MAD move by at most a few ranks for a few extreme scores, so a spike cannot
blind it; a lasting change (a new regime) is absorbed once it fills about half
of the window.
"""
from __future__ import annotations

import numpy as np

Z_RANGE = tuple(np.arange(2.5, 12.0, 0.5))


def ewma(e, span, s0=None):
    a = 2.0 / (span + 1.0)
    out = np.empty(len(e))
    s = e[0] if s0 is None and len(e) else s0
    for t, v in enumerate(e):
        s = a * v + (1 - a) * s
        out[t] = s
    return out


def static_threshold(train_scores, q=0.99):
    """The ``q``-quantile of ``train_scores``, ``q`` in ``(0, 1]``: ``q = 1`` is their
    maximum (a point is flagged when its score is *above* the threshold)."""
    if not 0 < q <= 1:
        raise ValueError(f"quantile must be in (0, 1], got {q}")
    return float(np.quantile(train_scores, q))


def _runs(mask):
    if not mask.any():
        return 0
    return int(mask[0]) + int(np.count_nonzero(mask[1:] & ~mask[:-1]))


def telemanom_epsilon(s, z_range=Z_RANGE):
    s = np.asarray(s, float)
    mu, sd = s.mean(), s.std()
    if sd <= 0:
        return float(mu + 1e-12 + abs(mu) * 1e-9)
    best, best_eps = -np.inf, mu + z_range[-1] * sd
    for z in z_range:
        eps = mu + z * sd
        above = s > eps
        n_above = int(above.sum())
        if n_above == 0:
            continue
        below = s[~above]
        dmu = (mu - below.mean()) / mu if mu > 0 else 0.0
        dsd = (sd - below.std()) / sd
        val = (dmu + dsd) / (n_above + _runs(above) ** 2)
        if val > best:
            best, best_eps = val, eps
    return float(best_eps)


def robust_epsilon(s, z=6.0):
    """``median + z · 1.4826 · MAD`` of ``s`` (1.4826·MAD estimates σ for normal data)."""
    s = np.asarray(s, float)
    med = np.median(s)
    mad = 1.4826 * np.median(np.abs(s - med))
    if mad <= 0:
        mad = s.std() or abs(med) * 1e-9 + 1e-12
    return float(med + z * mad)


class DynamicThreshold:
    """Causal telemanom threshold: ``update(s_t)`` returns ``max(ε_t, floor)`` for
    step ``t`` (computed from the scores before it), then records ``s_t`` (unless it
    is above that threshold and ``exclude_flagged``)."""

    def __init__(self, history, window=500, refresh=50, z_range=Z_RANGE, exclude_flagged=False, floor=-np.inf):
        self.window, self.refresh, self.z_range = int(window), int(refresh), z_range
        self.exclude_flagged, self.floor = bool(exclude_flagged), float(floor)
        self.buf = list(np.asarray(history, float)[-self.window:])
        self.count = 0
        self.eps = self._epsilon() if len(self.buf) > 1 else np.inf

    def _epsilon(self):
        return telemanom_epsilon(self.buf, self.z_range)

    def update(self, s):
        if self.count and self.count % self.refresh == 0:
            self.eps = self._epsilon()
        thr = max(self.eps, self.floor)
        s = float(s)
        if not (self.exclude_flagged and s > thr):
            self.buf.append(s)
        if len(self.buf) > self.window:
            del self.buf[0]
        self.count += 1
        return thr

    def run(self, scores):
        return np.array([self.update(s) for s in scores])


class RobustThreshold(DynamicThreshold):
    """Causal ``median + z · 1.4826 · MAD`` threshold over the trailing ``window``
    scores, recomputed every ``refresh`` steps; same interface as
    :class:`DynamicThreshold`."""

    def __init__(self, history, window=500, refresh=50, z=6.0, floor=-np.inf):
        self.z = float(z)
        super().__init__(history, window, refresh, floor=floor)

    def _epsilon(self):
        return robust_epsilon(self.buf, self.z)
