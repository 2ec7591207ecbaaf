"""The decisions behind ``"auto"`` settings, made on the training series alone.

- :func:`detect_season`: the season length ``m`` from a pandas index's frequency
  (monthly 12, quarterly 4, weekly 52, daily 7, hourly 24, business days 5) when
  the series holds at least three seasons, else from the autocorrelation: the
  shortest lag ``m >= 2`` (up to a third of the series) whose local peak of the
  autocorrelation function of the series (differenced when :func:`kpss` finds it
  non-stationary) reaches 80 % of the highest peak, when that exceeds
  ``max(0.3, 2.5/√n)``; else 1 (no season).
- :func:`wants_log`: log when the series is positive and its spread grows with
  its level (Guerrero 1993, restricted to Box-Cox λ ∈ {0, 1}): over blocks of
  one season (at least 4 steps), the standard deviation ``s_i`` and mean ``μ_i``;
  log when ``s_i / μ_i`` varies less than ``s_i`` (smaller coefficient of
  variation across blocks) and the series spans more than 20 % of its level.
- :func:`n_diffs`: the number of differences (0, 1 or 2) after which the KPSS
  test (level stationarity, Kwiatkowski et al. 1992; Bartlett window of
  ``⌊12 (n/100)^¼⌋`` lags) no longer rejects at 5 % (statistic <= 0.463), as R's
  ``forecast::ndiffs``; applied to the seasonally adjusted series.  Written
  here, so statsmodels is not needed.
- :func:`has_drift`: whether a series that needs a difference also drifts (the
  mean of its differences is unlike 0); the hybrid carries a trend only then, as
  ARIMA(0,1,1) with drift is exponential smoothing with a trend, without drift
  simple exponential smoothing.
"""
from __future__ import annotations

import numpy as np

KPSS_CRITICAL_5 = 0.463
FREQ_SEASONS = {"MS": 12, "ME": 12, "M": 12, "BM": 12, "BMS": 12, "SM": 24, "SMS": 24, "QS": 4, "QE": 4, "Q": 4,
                "BQ": 4, "BQS": 4, "W": 52, "D": 7, "B": 5, "h": 24, "H": 24, "bh": 8, "BH": 8}


def season_from_index(index):
    """The season length of a pandas ``DatetimeIndex``'s frequency, or ``None``."""
    freq = getattr(index, "freqstr", None)
    if freq is None and getattr(index, "inferred_freq", None):
        freq = index.inferred_freq
    if not freq:
        return None
    base = freq.split("-")[0].lstrip("0123456789")
    return FREQ_SEASONS.get(base)


def acf(x, max_lag):
    """Sample autocorrelation ``r_0 … r_max_lag`` of ``x`` ``(n,)``."""
    x = np.asarray(x, np.float64) - np.mean(x)
    d = float(x @ x)
    if d == 0:
        return np.zeros(max_lag + 1)
    return np.array([float(x[k:] @ x[: len(x) - k]) / d for k in range(max_lag + 1)])


def kpss(x):
    """The KPSS level-stationarity statistic of ``x`` ``(n,)`` (above 0.463: not
    stationary at 5 %)."""
    x = np.asarray(x, np.float64)
    n = len(x)
    e = x - x.mean()
    s = np.cumsum(e)
    lags = min(int(12 * (n / 100) ** 0.25), n - 1)
    var = float(e @ e) / n
    for j in range(1, lags + 1):
        var += 2 * (1 - j / (lags + 1)) * float(e[j:] @ e[:-j]) / n
    if var <= 0:
        return 0.0
    return float(s @ s) / (n * n * var)


def n_diffs(x, max_d=2):
    """Differences needed for :func:`kpss` to stop rejecting (0 … ``max_d``)."""
    x = np.asarray(x, np.float64)
    for d in range(max_d):
        if len(x) < 8 or np.ptp(x) == 0 or kpss(x) <= KPSS_CRITICAL_5:
            return d
        x = np.diff(x)
    return max_d


def has_drift(x):
    """Whether the first differences of ``x`` have a mean unlike 0: ``|t| > 2`` for
    ``t = mean / (sd / √n)`` with the long-run ``sd`` of :func:`kpss`'s window (a random
    walk needs no trend; a walk with drift does)."""
    d = np.diff(np.asarray(x, np.float64))
    n = len(d)
    if n < 8:
        return False
    e = d - d.mean()
    lags = min(int(4 * (n / 100) ** 0.25), n - 1)
    var = float(e @ e) / n
    for j in range(1, lags + 1):
        var += 2 * (1 - j / (lags + 1)) * float(e[j:] @ e[:-j]) / n
    return bool(var > 0 and abs(d.mean()) / np.sqrt(var / n) > 2)


def detect_season(y, index=None):
    """Season length ``m`` of ``y`` ``(n,)`` (see the module docstring)."""
    y = np.asarray(y, np.float64)
    n = len(y)
    if index is not None:
        m = season_from_index(index)
        if m is not None and n >= 3 * m:
            return m
    x = np.diff(y) if n_diffs(y, 1) else y
    max_lag = len(x) // 3
    if max_lag < 3:
        return 1
    r = acf(x, max_lag)
    peaks = [k for k in range(2, max_lag) if r[k] > r[k - 1] and r[k] >= r[k + 1]]
    if not peaks:
        return 1
    best = max(r[k] for k in peaks)
    if best <= max(0.3, 2.5 / np.sqrt(len(x))):
        return 1
    return min(k for k in peaks if r[k] >= 0.8 * best)         # a season's multiples peak too: the shortest


def wants_log(y, m=1):
    """Whether the series' spread grows with its level (see the module docstring)."""
    y = np.asarray(y, np.float64)
    if (y <= 0).any() or np.ptp(y) < 0.2 * np.abs(y).mean():
        return False
    k = max(m, 4)
    blocks = [y[i: i + k] for i in range(0, len(y) - k + 1, k)]
    if len(blocks) < 3:
        return False
    mu = np.array([b.mean() for b in blocks])
    sd = np.array([np.diff(b).std() if m == 1 else b.std() for b in blocks])
    if (sd <= 0).any():
        return False
    cv = lambda v: v.std() / v.mean()  # noqa: E731
    return bool(cv(sd / mu) < cv(sd))


def seasonally_adjusted(z, m):
    """``z`` less its seasonal means (of the deviations from a centred moving average)."""
    z = np.asarray(z, np.float64)
    if m < 2 or len(z) < 2 * m:
        return z
    trend = np.convolve(z, np.ones(m) / m, "same")
    dev = z - trend
    h = m // 2
    idx = np.array([dev[h + j: len(z) - h: m].mean() if len(dev[h + j: len(z) - h: m]) else 0.0
                    for j in range(m)])
    season = np.roll(idx - idx.mean(), h)         # index j of season belongs to times ≡ j (mod m)
    return z - season[np.arange(len(z)) % m]
