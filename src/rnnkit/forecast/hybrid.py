"""The exponential-smoothing / LSTM hybrid (after Smyl's ES-RNN, winner of M4, 2020).

One series ``z`` ``(n,)`` (the target after an optional log, standardised: see
:class:`HybridNet`) is smoothed by additive Holt-Winters with season ``m``::

    p_t     = l_{t−1} + φ b_{t−1}                     prior level
    e_t     = z_t − s_t − p_t                         one-step error
    l_t     = p_t + α e_t                             = α (z_t − s_t) + (1 − α)(l_{t−1} + φ b_{t−1})
    b_t     = φ b_{t−1} + α β e_t                     = β (l_t − l_{t−1}) + (1 − β) φ b_{t−1}   (trend only)
    s_{t+m} = γ (z_t − l_t) + (1 − γ) s_t                                                   (m > 1 only)

``α = σ(a)``, ``β = σ(c)``, ``γ = σ(g)`` (logistic), and the start ``l_{−1}``,
``b_{−1}``, ``s_0 … s_{m−1}`` are parameters too, all learned with the network.
``φ = 1`` (Holt's linear trend) unless the trend is damped (Gardner & McKenzie
1985): then ``φ = 0.8 + 0.18 σ(d)`` ∈ (0.8, 0.98) is learned too, and the trend's
``k``-step share is ``K_k = φ + φ² + … + φ^k`` instead of ``k``.
On a log series the additive season and level are Holt-Winters' multiplicative
ones.  For a window ending at ``t`` (lookback ``L``, horizon ``h``)::

    x_{t,j} = z_τ − s_τ − l_t                 τ = t−L+1+j, j = 0…L−1     (N, L, 1)
    ŵ_t     = Dense(LSTM(x_t)[-1])                                        (N, h)
    ẑ_{t+k} = l_t + K_k b_t + s_{σ(t,k)} + ŵ_{t,k}                        k = 1…h
    σ(t,k)  = t + 1 + ((k − 1) mod m)          (the latest season known at t)

so the network sees the series de-seasonalised and normalised by its level, and
predicts what the smoothing's own forecast misses.  Loss (``w_{t,k}`` the same
expression with the actual ``z_{t+k}``)::

    E = mean_{t,k} (ŵ_{t,k} − w_{t,k})²  +  λ · mean_t e_t²

The second term is Holt-Winters' own one-step fit, which keeps the smoothing a
forecaster of its own where the network has little to add.  Every gradient is
written by hand: the network's BPTT (:mod:`rnnkit.recurrent`) gives ``dE/dx``,
the windows give ``dE/dl_t``, ``dE/db_t``, ``dE/ds_τ``, and
:meth:`Smoothing.backward` runs the recursion backwards to ``α, β, γ`` and the start.
"""
from __future__ import annotations

import numpy as np

from ..layers import Dense
from ..losses import mse
from ..module import Module
from ..registry import build_layer

ES_WEIGHT = 1.0          # λ: weight of the smoothing's one-step loss
PHI_MIN, PHI_SPAN = 0.8, 0.18     # a damped trend's φ = PHI_MIN + PHI_SPAN σ(d)


def _logit(p):
    return float(np.log(p / (1 - p)))


def _sigmoid(a):
    return float(1.0 / (1.0 + np.exp(-a)))


class Smoothing(Module):
    """Additive Holt-Winters smoothing with learned coefficients and start (the
    module docstring's equations).  ``m``: season length (1: no season);
    ``trend``: carry ``b_t``; ``damped``: damp it by a learned ``φ`` (with a trend
    only).  Parameters (float64): ``alpha``, ``beta`` (trend), ``gamma`` (season),
    ``phi`` (damped) as logits ``(1,)``, ``level0`` ``(1,)``, ``trend0`` ``(1,)``
    (trend), ``season0`` ``(m,)`` (season)."""

    def __init__(self, m=1, trend=False, alpha=0.3, beta=0.05, gamma=0.1, damped=False, phi=0.95):
        super().__init__()
        self.m, self.trend = int(m), bool(trend)
        self.damped = self.trend and bool(damped)
        p = self.params
        p["alpha"] = np.array([_logit(alpha)])
        p["level0"] = np.zeros(1)
        if self.trend:
            p["beta"] = np.array([_logit(beta)])
            p["trend0"] = np.zeros(1)
        if self.damped:
            p["phi"] = np.array([_logit((phi - PHI_MIN) / PHI_SPAN)])
        if self.m > 1:
            p["gamma"] = np.array([_logit(gamma)])
            p["season0"] = np.zeros(self.m)
        self.zero_grad()
        self._cache = None

    def start_from(self, z):
        """Set the start from the first seasons of ``z`` (classical decomposition:
        season means of the first two seasons less their level, their slope)."""
        m, p = self.m, self.params
        k = max(m, 1)
        first = z[:k].mean()
        if self.m > 1:
            two = z[: 2 * m] if len(z) >= 2 * m else z[:m]
            idx = (two - np.convolve(two, np.ones(m) / m, "same"))
            season = np.array([idx[j::m].mean() for j in range(m)])
            p["season0"][:] = season - season.mean()
        slope = (z[k: 2 * k].mean() - first) / k if len(z) >= 2 * k else 0.0
        if self.trend:
            p["trend0"][0] = slope
        p["level0"][0] = first - (slope * (k + 1) / 2 if self.trend else 0.0)
        return self

    def coefficients(self):
        """``(α, β, γ)`` as numbers (``β = 0`` without trend, ``γ = 0`` without season)."""
        p = self.params
        return (_sigmoid(p["alpha"][0]), _sigmoid(p["beta"][0]) if self.trend else 0.0,
                _sigmoid(p["gamma"][0]) if self.m > 1 else 0.0)

    @property
    def phi(self):
        """The trend's damping ``φ`` (1 without damping)."""
        return PHI_MIN + PHI_SPAN * _sigmoid(self.params["phi"][0]) if self.damped else 1.0

    def trend_steps(self, h):
        """``K_k = φ + … + φ^k`` for ``k = 1 … h`` and ``dK_k/dφ``: ``(h,)`` each
        (``k`` and zeros without damping)."""
        k = np.arange(1, h + 1)
        if not self.damped:
            return k.astype(np.float64), np.zeros(h)
        powers = self.phi ** np.arange(0, h + 1)                # φ^0 … φ^h
        return np.cumsum(powers[1:]), np.cumsum(k * powers[:-1])

    def forward(self, z, keep_cache=True):
        """``z`` ``(n,)`` -> ``level (n,), trend (n,), season (n + m,), err (n,)``;
        ``season[τ]`` is ``s_τ`` (known at ``τ − m``), ``trend`` zeros without a trend."""
        z = np.asarray(z, np.float64)
        n, m = len(z), self.m
        a, b_, g = self.coefficients()
        zl = z.tolist()
        S = [0.0] * (n + m)
        if m > 1:
            S[:m] = self.params["season0"].tolist()
        l = float(self.params["level0"][0])
        b = float(self.params["trend0"][0]) if self.trend else 0.0
        lev, tr, err = [0.0] * n, [0.0] * n, [0.0] * n
        ab, phi = a * b_, self.phi
        for t in range(n):
            p = l + phi * b
            e = zl[t] - S[t] - p
            l = p + a * e
            if self.trend:
                b = phi * b + ab * e
            if m > 1:
                S[t + m] = g * (zl[t] - l) + (1 - g) * S[t]
            lev[t], tr[t], err[t] = l, b, e
        out = np.array(lev), np.array(tr), np.array(S), np.array(err)
        if keep_cache:
            self._cache = (zl, out)
        return out

    __call__ = forward

    def backward(self, dlevel, dtrend, dseason, derr, dphi=0.0):
        """The gradients w.r.t. the outputs of the last forward pass (same shapes), and
        ``dE/dφ`` from outside the recursion (the forecasts' ``K_k``), -> ``self.grads``:
        the recursion run backwards (``# backprop into ...``)."""
        zl, (lev, tr, S, err) = self._cache
        n, m = len(zl), self.m
        a, b_, g = self.coefficients()
        phi = self.phi
        trend0 = float(self.params["trend0"][0]) if self.trend else 0.0
        dl_next = dlevel.tolist()            # dE/dl_t from the windows; the recursion adds to it
        db_next = dtrend.tolist()
        dS = dseason.tolist()
        de_out = derr.tolist()
        da = db = dg = 0.0
        gl = gb = 0.0                        # dE/dl_t, dE/db_t carried from step t+1
        S_list = S.tolist()
        for t in range(n - 1, -1, -1):
            Gl = dl_next[t] + gl
            Gb = db_next[t] + gb
            if m > 1:                        # backprop through s_{t+m} = γ (z_t − l_t) + (1 − γ) s_t
                gs = dS[t + m]
                l_t = lev[t]
                Gl -= g * gs
                dS[t] += (1 - g) * gs
                dg += gs * (zl[t] - l_t - S_list[t])
            e = err[t]
            # backprop into l_t = p + α e and b_t = b_{t−1} + α β e, with e = z_t − s_t − p
            Ge = a * Gl + (a * b_ * Gb if self.trend else 0.0) + de_out[t]
            da += Gl * e + (b_ * e * Gb if self.trend else 0.0)
            if self.trend:
                db += a * e * Gb
            dp = Gl - Ge                     # de/dp = −1
            dS[t] -= Ge
            # backprop into p = l_{t−1} + φ b_{t−1} and the φ b_{t−1} of b_t
            gl = dp
            gb = phi * (dp + Gb) if self.trend else 0.0
            if self.damped:
                dphi += (dp + Gb) * (tr[t - 1] if t else trend0)
        G = self.grads
        G["alpha"][0] = da * a * (1 - a)
        G["level0"][0] = gl
        if self.trend:
            G["beta"][0] = db * b_ * (1 - b_)
            G["trend0"][0] = gb
        if self.damped:
            q = (phi - PHI_MIN) / PHI_SPAN
            G["phi"][0] = dphi * PHI_SPAN * q * (1 - q)
        if m > 1:
            G["gamma"][0] = dg * g * (1 - g)
            G["season0"][:] = dS[:m]


class HybridNet(Module):
    """Smoothing + recurrent layer + dense head for one standardised series.

    Arguments:
        m, trend, damped: the smoothing's season length, trend and damping (:class:`Smoothing`).
        lookback, horizon: ``L`` and ``h``.
        cell, hidden_size, num_layers: the recurrent layer (``build_layer``).
        dtype: the network's dtype (the smoothing is always float64).
        seed: int or ``numpy.random.Generator``.
    """

    def __init__(self, m, trend, lookback, horizon, cell="lstm", hidden_size=32, num_layers=1,
                 dtype=np.float32, seed=None, damped=False):
        super().__init__()
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self.m, self.lookback, self.horizon = int(m), int(lookback), int(horizon)
        self.es = Smoothing(m, trend, damped=damped)
        self.rnn = build_layer(cell, 1, hidden_size, num_layers, batch_first=True, dtype=dtype, seed=rng)
        self.head = Dense(self.rnn.output_size, horizon, dtype=dtype, seed=rng)
        self.head.params["weight"] *= 0.1          # start near the smoothing's own forecast

    # -- windows ---------------------------------------------------------------------------
    def _index(self, ends):
        """Index arrays of the windows ending at ``ends`` ``(N,)``: inputs ``(N, L)``,
        targets ``(N, h)``, their seasons ``(N, h)``, and ``k`` ``(h,)``."""
        L, h, m = self.lookback, self.horizon, max(self.m, 1)
        k = np.arange(1, h + 1)
        inp = ends[:, None] - L + 1 + np.arange(L)             # (N, L)
        out = ends[:, None] + k                                # (N, h)
        sea = ends[:, None] + 1 + (k - 1) % m                  # (N, h)
        return inp, out, sea, k

    def base(self, z, smooth, ends):
        """The smoothing's forecast ``l_t + K_k b_t + s_{σ(t,k)}`` ``(N, h)`` and the network's
        inputs ``x`` ``(N, L, 1)`` for the windows ending at ``ends`` of ``z``."""
        lev, tr, S, _ = smooth
        inp, _, sea, _ = self._index(ends)
        K, _ = self.es.trend_steps(self.horizon)
        x = z[inp] - S[inp] - lev[ends, None]
        return lev[ends, None] + K * tr[ends, None] + S[sea], x[..., None]

    def network(self, x, train=False):
        """``ŵ`` ``(N, h)`` for inputs ``x`` ``(N, L, 1)``."""
        y, _ = self.rnn(x.astype(self.rnn.dtype), keep_cache=train)
        out = self.head(y[:, -1], keep_cache=train)            # (N, h)
        return out.astype(np.float64), y.shape

    # -- training --------------------------------------------------------------------------
    def loss_backward(self, z, ends, backward=True):
        """The loss ``E`` on the windows ending at ``ends`` of the series ``z`` ``(n,)``;
        with ``backward`` the gradients of every parameter are filled."""
        z = np.asarray(z, np.float64)
        smooth = self.es(z)
        _, out_idx, _, _ = self._index(ends)
        base, x = self.base(z, smooth, ends)
        target = z[out_idx] - base                             # w (N, h)
        what, yshape = self.network(x, train=backward)
        loss, g = mse(what, target)                            # g = dE/dŵ
        err = smooth[3]
        loss = float(loss) + ES_WEIGHT * float(np.mean(err ** 2))
        if not backward:
            return loss
        # backprop into the head and the recurrent layer, to the inputs x
        dz = self.head.backward(g.astype(self.head.dtype))
        dy = np.zeros(yshape, self.rnn.dtype)
        dy[:, -1] = dz
        dx, _ = self.rnn.backward(dy)
        dx = np.asarray(dx, np.float64)[..., 0]                # (N, L)
        # backprop into the smoothing: x = z − s − l_t, w = z − base, base = l_t + K_k b_t + s
        n, m = len(z), self.m
        inp, _, sea, _ = self._index(ends)
        K, dK = self.es.trend_steps(self.horizon)
        dlev, dtr, dS = np.zeros(n), np.zeros(n), np.zeros(n + m)
        np.add.at(dlev, ends, g.sum(axis=1) - dx.sum(axis=1))    # dE/dbase = +g (w = z − base); x loses l_t
        np.add.at(dtr, ends, (g * K).sum(axis=1))
        np.add.at(dS, inp, -dx)
        np.add.at(dS, sea, g)
        dphi = float((g * dK * smooth[1][ends, None]).sum())      # K_k depends on φ
        self.es.backward(dlev, dtr, dS, 2 * ES_WEIGHT * err / len(err), dphi)
        return loss

    def forecast_parts(self, z):
        """The smoothing's forecast and the network's correction after the series ``z``
        ``(n,)`` (its last window): ``(h,)`` each; ``ẑ`` is their sum."""
        z = np.asarray(z, np.float64)
        smooth = self.es(z, keep_cache=False)
        ends = np.array([len(z) - 1])
        base, x = self.base(z, smooth, ends)
        what, _ = self.network(x)
        return base[0], what[0]

    def forecast(self, z, weight=1.0):
        """``ẑ`` ``(h,)`` after the series ``z`` ``(n,)``: the smoothing's forecast plus
        ``weight`` times the network's correction (1: the hybrid, 0: the smoothing alone)."""
        base, what = self.forecast_parts(z)
        return base + weight * what
