"""Target transforms fitted on the training part only, undone on output.

Order applied: ``log`` (when ``scaler="log"``), then differencing ``d`` times
(``z_t = y_t − y_{t−1}``), then seasonal differencing with period ``m``
(``w_t = z_t − z_{t−m}``), then scaling (``"standard"``: ``(w−μ)/σ``;
``"minmax"``: ``(w−min)/(max−min)``; ``"log"``: standard after the log).
Inverse for forecasts: unscale, then ``z_{n+k} = w_{n+k} + z_{n+k−m}`` and
``y_{n+k} = z_{n+k} + y_{n+k−1}`` step by step from the known history.
"""
from __future__ import annotations

import numpy as np

SCALERS = ("standard", "minmax", "log", "none")


class Scaler:
    """Per-column affine scaler ``(x − shift) / scale``; fitted once, on training data."""

    def __init__(self, kind="standard"):
        if kind not in SCALERS:
            raise ValueError(f"unknown scaler {kind!r}; use one of {SCALERS}")
        self.kind = kind

    def fit(self, x):
        x = np.asarray(x, np.float64)
        if self.kind == "minmax":
            lo, hi = x.min(axis=0), x.max(axis=0)
            self.shift_, self.scale_ = lo, hi - lo
        elif self.kind == "none":
            self.shift_, self.scale_ = np.zeros(x.shape[1:]), np.ones(x.shape[1:])   # () for a 1-D series
        else:
            self.shift_, self.scale_ = x.mean(axis=0), x.std(axis=0)
        self.scale_ = np.where(self.scale_ > 1e-12, self.scale_, 1.0)
        return self

    def transform(self, x):
        return (np.asarray(x, np.float64) - self.shift_) / self.scale_

    def inverse(self, x):
        return np.asarray(x, np.float64) * self.scale_ + self.shift_


class TargetTransform:
    """log → difference (``d``) → seasonal difference (``D`` at ``m``) → scale."""

    def __init__(self, scaler="standard", d=0, D=0, m=1):
        self.scaler, self.d, self.D, self.m = scaler, int(d), int(D), int(m)
        if self.d < 0 or self.D < 0:
            raise ValueError("differencing orders must be >= 0")
        if self.D and self.m < 2:
            raise ValueError("seasonal differencing needs a season length m >= 2")

    @property
    def lost(self):
        """Leading steps consumed by differencing."""
        return self.d + self.D * self.m

    def _pre(self, y):
        y = np.asarray(y, np.float64)
        if self.scaler == "log":
            if (y <= 0).any():
                raise ValueError("scaler 'log' needs strictly positive targets; use 'standard' or 'minmax'")
            y = np.log(y)
        return y

    def _diff(self, y):
        for _ in range(self.d):
            y = y[1:] - y[:-1]
        for _ in range(self.D):
            y = y[self.m:] - y[: -self.m]
        return y

    def fit(self, y):
        w = self._diff(self._pre(y))
        if len(w) < 2:
            raise ValueError("series too short for the requested differencing")
        self.scaler_ = Scaler("standard" if self.scaler == "log" else self.scaler).fit(w)
        return self

    def transform(self, y):
        """``(T, C)`` → ``(T − lost, C)`` scaled; row ``i`` belongs to time ``i + lost``."""
        return self.scaler_.transform(self._diff(self._pre(y)))

    def inverse_forecast(self, history, w_future):
        """Undo the transform for ``w_future`` ``(h, C)`` following ``history`` ``(T, C)``
        (or ``(h,)`` after ``(T,)``, a single series)."""
        history, w_future = np.asarray(history, np.float64), np.asarray(w_future, np.float64)
        if history.ndim == 1:
            return self.inverse_forecast(history[:, None], w_future.reshape(-1, 1))[:, 0]
        w = self.scaler_.inverse(w_future)
        y = self._pre(history)
        # levels[k]: the series after k of the differencing steps, the last ones appended
        levels = [y]
        for _ in range(self.d):
            levels.append(levels[-1][1:] - levels[-1][:-1])
        for _ in range(self.D):
            levels.append(levels[-1][self.m:] - levels[-1][: -self.m])
        out = []
        for k in range(len(w)):
            val = w[k]
            # climb back up: seasonal levels first (applied last), then regular
            for lvl in range(len(levels) - 2, -1, -1):
                seasonal = lvl >= self.d
                lag = self.m if seasonal else 1
                val = val + levels[lvl][-lag]
                levels[lvl + 1] = np.vstack([levels[lvl + 1], (val - levels[lvl][-lag])[None]])
            levels[0] = np.vstack([levels[0], val[None]])
            out.append(val)
        out = np.array(out)
        return np.exp(out) if self.scaler == "log" else out
