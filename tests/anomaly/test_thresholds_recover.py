"""Thresholds that recover: one spike does not blind the robust threshold (or the dynamic one
leaving flagged points out), so a level shift that follows is still caught."""
import numpy as np
import pytest

from rnnkit.anomaly import AnomalyDetector, DynamicThreshold, RobustThreshold, event_scores, intervals


def spike_then_shift(n=1500, seed=0):
    """Smoothed-score-like series: noise around 0.1, a huge 5-step spike at 600, then a
    moderate 80-step rise (what a level shift does to forecast errors) at 800."""
    rng = np.random.default_rng(seed)
    s = 0.1 + 0.02 * np.abs(rng.normal(size=n))
    s[600:605] = [5.0, 8.0, 6.0, 3.0, 1.5]
    s[800:880] += 0.4
    labels = np.zeros(n, bool)
    labels[600:605] = labels[800:880] = True
    return s, labels


def test_robust_threshold_catches_a_level_shift_after_a_spike():
    s, labels = spike_then_shift()
    thr = RobustThreshold(s[:300], window=500, refresh=50).run(s[300:])
    flags = s[300:] > thr
    ev = event_scores(flags, labels[300:])
    assert ev["detected"] == 2 and ev["lead_times"] == [0, 0], ev
    assert thr[750 - 300] < 2 * thr[590 - 300]                     # after the spike, as before it


def test_plain_telemanom_is_blinded_by_a_spike_but_not_when_leaving_flagged_points_out():
    s, labels = spike_then_shift()
    plain = DynamicThreshold(s[:300], window=500, refresh=50).run(s[300:])
    assert event_scores(s[300:] > plain, labels[300:])["detected"] == 1      # the shift is missed
    dropping = DynamicThreshold(s[:300], window=500, refresh=50, exclude_flagged=True).run(s[300:])
    assert event_scores(s[300:] > dropping, labels[300:])["detected"] == 2


def test_thresholds_with_a_floor_never_go_below_it():
    s, _ = spike_then_shift()
    for tracker in (RobustThreshold(s[:300], 200, 20, floor=0.5), DynamicThreshold(s[:300], 200, 20, floor=0.5)):
        assert tracker.run(s[300:]).min() >= 0.5


def test_default_detector_catches_spike_and_the_level_shift_after_it():
    t = np.arange(1600)
    x = np.sin(2 * np.pi * t / 50) + 0.05 * np.random.default_rng(0).standard_normal(t.size)
    x[1000:1003] += 4.0
    x[1150:1230] += 0.6
    labels = np.zeros(t.size, bool)
    labels[1000:1003] = labels[1150:1230] = True
    d = AnomalyDetector(hidden_size=16, window=32, epochs=8, random_state=0).fit(x[:800])
    assert d.threshold == "robust"
    r = d.detect(x)
    ev = event_scores(r["flags"][800:], labels[800:], early=0, gap=d.merge_gap)
    assert ev["detected"] == 2, ev
    rows = list(d.stream(x))                                     # streaming flags the same points
    np.testing.assert_array_equal([row[4] for row in rows], r["flags"])


@pytest.mark.parametrize("kwargs,match", [(dict(threshold="median"), "threshold must be"),
                                          (dict(robust_z=0), "robust_z must be"),
                                          (dict(exclude_flagged="yes"), "exclude_flagged must be")])
def test_bad_threshold_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AnomalyDetector(epochs=1, window=4, **kwargs).fit(np.sin(np.arange(60.0)))


def test_intervals_of_robust_flags_are_the_two_events():
    s, _ = spike_then_shift()
    flags = s > RobustThreshold(s[:300], 500, 50).run(s)
    assert [(a, b) for a, b in intervals(flags, 20) if a >= 300] == [(600, 604), (800, 879)]
