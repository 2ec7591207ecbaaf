"""AnomalyDetector: lean streaming step equals layer.step, streaming equals batch, thresholds, evaluation."""
import numpy as np
import pytest

from rnnkit import LSTM
from rnnkit.anomaly import (AnomalyDetector, DynamicThreshold, LeanLSTM, event_scores, ewma, intervals,
                            point_scores, telemanom_epsilon)
from rnnkit.forecast import Forecaster


def series(n=1200, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    x = np.sin(2 * np.pi * t / 40) + 0.05 * rng.normal(size=n)
    lab = np.zeros(n, bool)
    return x, lab


def with_anomalies(n=1200):
    x, lab = series(n)
    x[900:906] += 3.0            # spike
    lab[900:906] = True
    x[1050:1120] += 1.5          # level shift
    lab[1050:1120] = True
    return x, lab


@pytest.mark.parametrize("layers,dtype,proj", [(1, np.float64, 0), (2, np.float64, 0), (1, np.float32, 0),
                                               (2, np.float64, 5)])
def test_lean_lstm_step_equals_layer_step(layers, dtype, proj):
    rng = np.random.default_rng(0)
    lstm = LSTM(3, 8, layers, dtype=dtype, seed=1, proj_size=proj)
    for p in lstm.params.values():
        p += dtype(0.1) * rng.normal(size=p.shape).astype(dtype)   # non-zero biases too
    lean = LeanLSTM(lstm)
    st, ls = None, lean.zero_state()
    for x in rng.normal(size=(20, 3)).astype(dtype):
        y, st = lstm.step(x, st)
        yl, ls = lean.step(x, ls)
        tol = 1e-12 if dtype == np.float64 else 1e-5
        np.testing.assert_allclose(yl, y, atol=tol)
        np.testing.assert_allclose(ls[-1][1], st[1][-1], atol=tol)


@pytest.mark.parametrize("kind,threshold", [("forecast", "dynamic"), ("forecast", "static"), ("forecast", "robust"),
                                            ("reconstruction", "dynamic"), ("reconstruction", "robust")])
def test_streaming_flags_the_same_points_as_batch(kind, threshold):
    x, lab = with_anomalies()
    d = AnomalyDetector(kind=kind, threshold=threshold, hidden_size=8, window=16, epochs=3,
                        dyn_window=200, refresh=20).fit(x[:800])
    batch = d.detect(x)
    rows = list(d.stream(x))
    flags = np.array([r[4] for r in rows])
    np.testing.assert_allclose([r[2] for r in rows], batch["smoothed"], atol=1e-12)
    np.testing.assert_allclose([r[3] for r in rows], batch["threshold"], atol=1e-12)
    np.testing.assert_array_equal(flags, batch["flags"])
    assert flags.any()
    alerts = [r[0] for r in rows if r[5]]
    assert alerts == [s for s, _ in batch["intervals"]]


def test_forecast_detector_finds_spike_and_level_shift():
    x, lab = with_anomalies()
    d = AnomalyDetector(hidden_size=16, window=32, epochs=8, random_state=0).fit(x[:800])
    r = d.detect(x)
    ev = event_scores(r["flags"], lab, early=5)
    assert ev["detected"] == 2, ev
    assert d.loss_curve_[-1] < 0.5 * d.loss_curve_[0]


def test_save_load_gives_same_detection(tmp_path):
    x, _ = with_anomalies(600)
    d = AnomalyDetector(hidden_size=4, window=8, epochs=1).fit(x[:300])
    d.save(tmp_path / "d.rnnkit")
    e = AnomalyDetector.load(tmp_path / "d.rnnkit")
    np.testing.assert_array_equal(e.detect(x)["threshold"], d.detect(x)["threshold"])


def test_intervals_and_event_scores_by_hand():
    flags = np.array([0, 1, 1, 0, 0, 0, 1, 0, 0, 0], bool)
    labels = np.array([0, 0, 1, 1, 0, 0, 0, 0, 1, 1], bool)
    assert intervals(flags) == [(1, 2), (6, 6)]
    assert intervals(flags, gap=3) == [(1, 6)] and intervals(flags, gap=2) == [(1, 2), (6, 6)]
    ev = event_scores(flags, labels, early=2)
    # early=2: event (2,3) caught by the flag at 1 (lead 1); event (8,9) by the flag at 6 = 8-2 (lead 2)
    assert ev["lead_times"] == [1, 2]
    assert ev["precision"] == 1.0 and ev["recall"] == 1.0
    ev0 = event_scores(flags, labels, early=0)
    # early=0: the flag at 2 hits (2,3) at onset; (8,9) is missed; alert (6,6) is false
    assert ev0["lead_times"] == [0, None] and ev0["precision"] == 0.5 and ev0["recall"] == 0.5
    pt = point_scores(flags, labels)
    assert pt["precision"] == pytest.approx(1 / 3) and pt["recall"] == pytest.approx(1 / 4)


def test_ewma_and_dynamic_threshold_are_causal():
    rng = np.random.default_rng(0)
    s = np.abs(rng.normal(size=300))
    a = ewma(s, 5)
    np.testing.assert_allclose(ewma(s[:100], 5), a[:100])
    thr = DynamicThreshold(s[:50], window=100, refresh=10).run(s[50:])
    s2 = s.copy()
    s2[200:] = 100.0                    # the future changes; past thresholds must not
    thr2 = DynamicThreshold(s2[:50], window=100, refresh=10).run(s2[50:])
    np.testing.assert_array_equal(thr[:151], thr2[:151])


def test_telemanom_epsilon_separates_an_outlier_run():
    s = np.r_[np.full(200, 1.0) + 0.01 * np.sin(np.arange(200)), np.full(5, 10.0)]
    eps = telemanom_epsilon(s)
    assert 1.1 < eps < 10.0


@pytest.mark.parametrize("x,kwargs,match", [
    (np.ones(200), {}, "constant"),
    (np.sin(np.arange(20.0)), dict(window=16), "fewer than 2"),
    (np.sin(np.arange(200.0)), dict(kind="vae"), "kind must be"),
])
def test_detector_bad_input(x, kwargs, match):
    with pytest.raises(ValueError, match=match):
        AnomalyDetector(epochs=1, **kwargs).fit(x)


# -- infinite and missing readings, pandas input to streaming ------------------------------------------------
TINY_F = dict(lookback=6, horizon=2, hidden_size=4, epochs=2, random_state=0)
TINY_A = dict(window=8, hidden_size=4, epochs=1, random_state=0)


def _wave(n=120, seed=0):
    t = np.arange(n)
    return np.sin(2 * np.pi * t / 12) + 0.05 * np.random.default_rng(seed).standard_normal(n)


def test_an_infinite_reading_is_refused_not_interpolated():
    x = _wave(200)
    x[150] = np.inf
    with pytest.raises(ValueError, match=r"column 'column 0' holds inf at step 150; replace infinite values"):
        AnomalyDetector(**TINY_A).fit(x)
    d = AnomalyDetector(**TINY_A).fit(_wave(200))
    with pytest.raises(ValueError, match="holds inf at step 150"):
        d.detect(x)
    with pytest.raises(ValueError, match="holds -inf"):
        Forecaster(**TINY_F).fit(np.where(np.arange(120) == 7, -np.inf, _wave()))


def test_stream_reads_a_dataframe_by_rows_and_names_the_column_of_a_missing_point():
    pd = pytest.importorskip("pandas")
    x = np.c_[_wave(200), _wave(200, 1)]
    d = AnomalyDetector(**TINY_A).fit(x)
    frame = pd.DataFrame(x, columns=["temp", "load"])
    streamed = list(d.stream(frame))
    assert len(streamed) == 200
    assert [r[:3] for r in streamed] == [r[:3] for r in d.stream(x)]
    frame.iloc[50, 1] = np.nan
    with pytest.raises(ValueError, match=r"point 50, column 'load': nan is missing or not finite"):
        list(d.stream(frame))
    x[50, 1] = np.nan
    with pytest.raises(ValueError, match=r"point 50, column 1: nan"):
        list(d.stream(x))


# -- bad spans and mismatched labels -------------------------------------------------------------------------
@pytest.mark.parametrize("span", [-1, 0, 0.5])
def test_detector_span_below_one_is_a_value_error(span):
    from rnnkit.anomaly import AnomalyDetector

    with pytest.raises(ValueError, match="span must be"):
        AnomalyDetector(span=span, window=4, epochs=1).fit(np.sin(np.arange(50.0)))


def test_point_scores_with_mismatched_lengths_is_a_value_error():
    from rnnkit.anomaly import event_scores, point_scores

    f, lab = np.zeros(20, bool), np.zeros(20, bool)
    with pytest.raises(ValueError, match="20 steps but labels has 10"):
        point_scores(f, lab[:10])
    with pytest.raises(ValueError, match="20 steps but labels has 10"):
        event_scores(f, lab[:10])
