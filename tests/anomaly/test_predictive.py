"""Predictive early alerts: the crossing time is read off the forecast path or its interval,
an alert names its bound and column, nothing is flagged before the start, bad settings are refused."""
import numpy as np
import pytest

from rnnkit.anomaly import EarlyWarning, degradation_series, event_scores, false_alerts_per_1000


class LineForecaster:
    """A stand-in forecaster: the path goes on from the last value with the last step's slope;
    its interval is ±0.5 around it."""

    def __init__(self, horizon):
        self.horizon = horizon

    def predict(self, history, return_interval=False):
        h = np.asarray(history, float)
        h = h[:, None] if h.ndim == 1 else h
        k = np.arange(1, self.horizon + 1)[:, None]
        p = h[-1] + (h[-1] - h[-2]) * k
        return p, (p - 0.5, p + 0.5)


def stubbed(trigger="point", horizon=10, limits=(-1.05, 1.05), every=1, columns=1):
    w = EarlyWarning(horizon=horizon, lookback=3, diff=0, limits=limits, trigger=trigger, every=every)
    w._check_params()
    w.forecaster_ = LineForecaster(horizon)
    w.lower_, w.upper_ = w._band(np.zeros((10, columns)))
    w.n_features_ = columns
    return w


def test_point_trigger_reports_steps_to_the_crossing_of_the_forecast_path():
    x = np.r_[np.zeros(20), 0.1 * np.arange(1, 16)]          # a ramp from step 20: 0.1, 0.2, ... 1.5
    r = stubbed().warn(x)
    # at step 20 the path is 0.1 + 0.1 k: above 1.05 first at k = 10, i.e. 10 steps ahead
    assert np.isnan(r["crossing_in"][19]) and r["crossing_in"][20] == 10
    assert r["crossing_in"][25] == 5 and r["crossing_in"][29] == 1
    assert r["crossing_in"][30] == 0                          # x_30 = 1.1 is outside already
    assert r["alerts"] == [{"time": 20, "end": 34, "crossing_in": 10, "expected_crossing": 30, "bound": "upper",
                            "column": 0}]


def test_interval_trigger_warns_earlier_than_the_path():
    x = np.r_[np.zeros(20), 0.1 * np.arange(1, 16)]
    point, interval = stubbed("point", horizon=5).warn(x), stubbed("interval", horizon=5).warn(x)
    assert interval["alerts"][0]["time"] < point["alerts"][0]["time"]


def test_lower_bound_and_column_are_named():
    x = np.c_[np.zeros(40), np.r_[np.zeros(20), -0.2 * np.arange(1, 21)]]
    a = stubbed(limits=([-1.05, -1.05], None), columns=2).warn(x)["alerts"][0]
    assert (a["bound"], a["column"], a["crossing_in"]) == ("lower", 1, 5)


def test_nothing_is_flagged_before_start_and_origins_every_k_steps_hold():
    x = np.r_[np.zeros(20), 0.1 * np.arange(1, 16)]
    r = stubbed(every=4).warn(x, start=18)
    assert not r["flags"][:18].any()
    # origins 18, 22, 26, ...: the decision at 22 (8 steps ahead) holds at 23..25
    assert list(r["crossing_in"][22:26]) == [8, 8, 8, 8]


def test_learned_band_is_the_widened_training_quantiles():
    x = np.linspace(0, 1, 1001)
    w = EarlyWarning(band_quantiles=(0.0, 1.0), margin=0.1)
    lo, hi = w._band(x[:, None])
    assert lo[0] == pytest.approx(-0.1) and hi[0] == pytest.approx(1.1)


@pytest.mark.parametrize("kwargs,match", [(dict(trigger="path"), "trigger must be"),
                                          (dict(limits=(2.0, 1.0)), "lower < upper"),
                                          (dict(limits=5), "limits must be a pair"),
                                          (dict(band_quantiles=(0.9, 0.1)), "band_quantiles"),
                                          (dict(horizon=0), "horizon must be")])
def test_bad_early_warning_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EarlyWarning(epochs=1, **kwargs).fit(np.sin(np.arange(300.0)))


def test_early_warning_alerts_before_a_slow_drift_crosses_the_limit():
    x, labels, n = degradation_series("drift", n=2000, train=800, events=2, seed=1)
    w = EarlyWarning(horizon=20, lookback=50, hidden_size=16, epochs=6, limits=(-1.6, 1.6)).fit(x[:n])
    r = w.warn(x, start=n)
    ev = event_scores(r["flags"][n:], labels[n:], early=20, gap=20)
    assert ev["detected"] == ev["events"] == 2
    assert all(v >= 0 for v in ev["lead_times"])             # never after the reading itself leaves the band
    assert false_alerts_per_1000(r["flags"][n:], labels[n:], early=20, gap=20) < 5
    assert all(0 <= a["crossing_in"] <= 20 for a in r["alerts"])


def test_generated_faults_are_labelled_from_the_first_reading_outside_the_limit():
    for kind in ("drift", "degradation"):
        x, labels, n = degradation_series(kind, seed=0)
        assert not labels[:n].any()
        onsets = np.flatnonzero(np.diff(labels.astype(int)) == 1) + 1
        assert len(onsets) == 4
        assert all(abs(x[a]) > 1.6 for a in onsets)
