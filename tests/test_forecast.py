"""Forecaster: transforms undone exactly, windows, strategies, covariates, intervals, files, bad input."""
import logging

import numpy as np
import pytest

from rnnkit.forecast import Forecaster, SeasonalNaive, backtest, mase, read_csv
from rnnkit.forecast.transforms import TargetTransform


def seasonal(n=120, m=12, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 20 + 0.1 * t + 5 * np.sin(2 * np.pi * t / m) + 0.3 * rng.normal(size=n)


@pytest.mark.parametrize("scaler,d,D", [("standard", 0, 0), ("minmax", 1, 0), ("log", 1, 1), ("standard", 2, 1)])
def test_transform_inverse_recovers_future_values(scaler, d, D):
    y = seasonal()[:, None]
    tt = TargetTransform(scaler, d, D, 12).fit(y[:90])
    w = tt.transform(y)
    back = tt.inverse_forecast(y[:90], w[90 - tt.lost:])
    np.testing.assert_allclose(back, y[90:], rtol=1e-10)


def test_scaler_is_fitted_on_training_part_only():
    y = np.r_[np.zeros(50), 100 * np.ones(50)][:, None] + np.arange(100)[:, None] * 0.01
    tt = TargetTransform("minmax").fit(y[:50])
    assert tt.scaler_.scale_[0] == pytest.approx(0.49)


def test_direct_forecaster_beats_seasonal_naive_on_clean_sine():
    y = seasonal(160)
    f = Forecaster(lookback=12, horizon=3, hidden_size=16, epochs=40, diff=1, interval="insample", random_state=0)
    r = backtest(f, y, 120, season=12, baselines=False)     # ETS refits per origin: slow, left out
    snaive = np.array([SeasonalNaive(12).predict(3, y[:o]) for o in r["origins"]])
    assert r["metrics"]["rnn"]["MASE"] < mase(r["actuals"], snaive, y[:120], 12)
    assert f.loss_curve_[-1] < 0.2 * f.loss_curve_[0]


def test_recursive_and_multivariate_shapes_and_interval_order():
    y = np.stack([seasonal(100), seasonal(100, seed=1)], axis=1)
    f = Forecaster(lookback=8, horizon=4, strategy="recursive", hidden_size=8, epochs=3).fit(y)
    p, (lo, hi) = f.predict(y, return_interval=True)
    assert p.shape == lo.shape == hi.shape == (4, 2)
    assert np.all(lo <= hi)


def test_known_future_covariate_is_used_for_the_horizon():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 1))
    y = 3 * x[:, 0] + 0.05 * rng.normal(size=200)   # target is driven by the same-step covariate
    f = Forecaster(lookback=4, horizon=2, hidden_size=8, epochs=30, interval="insample", random_state=0)
    f.fit(y[:150], future_covariates=x[:150])
    p = f.predict(y[:150], future_covariates=x[:152])
    assert np.abs(p[:, 0] - y[150:152]).max() < 1.0
    with pytest.raises(ValueError, match="future covariates need"):
        f.predict(y[:150], future_covariates=x[:150])


def test_past_covariates_direct_only():
    y, x = seasonal(80), seasonal(80, seed=3)
    Forecaster(lookback=6, horizon=2, hidden_size=4, epochs=1).fit(y, past_covariates=x)
    with pytest.raises(ValueError, match="past-only covariates"):
        Forecaster(lookback=6, horizon=2, strategy="recursive", epochs=1).fit(y, past_covariates=x)


def test_save_load_round_trip_predicts_the_same(tmp_path):
    y = seasonal(80)
    f = Forecaster(lookback=6, horizon=3, hidden_size=4, epochs=2, diff=1, scaler="log").fit(y)
    f.save(tmp_path / "m.rnnkit")
    g = Forecaster.load(tmp_path / "m.rnnkit")
    np.testing.assert_allclose(g.predict(y, return_interval=True)[1], f.predict(y, return_interval=True)[1])


def test_same_random_state_same_model():
    y = seasonal(60)
    a = Forecaster(lookback=5, horizon=2, hidden_size=4, epochs=2, random_state=3).fit(y).predict(y)
    b = Forecaster(lookback=5, horizon=2, hidden_size=4, epochs=2, random_state=3).fit(y).predict(y)
    np.testing.assert_array_equal(a, b)


def test_mase_is_one_for_seasonal_naive_on_periodic_extension():
    y = seasonal(48)
    f = SeasonalNaive(12).predict(12, y[:36])
    assert mase(y[36:], f[:, 0], y[:36], 12) == pytest.approx(
        np.mean(np.abs(y[36:] - y[24:36])) / np.mean(np.abs(y[12:36] - y[:24])))


@pytest.mark.parametrize("kwargs,y,match", [
    (dict(horizon=0), seasonal(50), "horizon must be an integer >= 1"),
    (dict(lookback=40, horizon=5), seasonal(30), "fewer than lookback"),
    (dict(), np.full(50, 3.0), "constant"),
    (dict(scaler="log"), seasonal(50) - 100, "strictly positive"),
])
def test_bad_input_raises_clear_errors(kwargs, y, match):
    with pytest.raises(ValueError, match=match):
        Forecaster(epochs=1, lookback=kwargs.pop("lookback", 5), **kwargs).fit(y)


def test_csv_missing_values_are_interpolated_with_a_warning(tmp_path, caplog):
    p = tmp_path / "s.csv"
    p.write_text("time,y\n1,1.0\n2,\n3,3.0\n")
    with caplog.at_level(logging.WARNING, logger="rnnkit"):
        t, v, names = read_csv(p)
    assert v[:, 0].tolist() == [1.0, 2.0, 3.0] and "interpolation" in caplog.text


@pytest.mark.parametrize("text,match", [
    ("time,y\n1,1\n2,abc\n", "not a number"),
    ("time,y\n1,1\n1,2\n", "duplicated timestamp"),
    ("time,y\n2,1\n1,2\n", "not increasing"),
    ("date,y\n2020-02,1\n2020-01,2\n", "not increasing"),
])
def test_csv_bad_cells_and_timestamps(tmp_path, text, match):
    p = tmp_path / "s.csv"
    p.write_text(text)
    with pytest.raises(ValueError, match=match):
        read_csv(p)


def test_ets_baseline_runs_and_tracks_a_seasonal_series():
    pytest.importorskip("statsmodels")
    from rnnkit.forecast import ETS, Naive

    y = seasonal(96)
    f_ets = ETS(12).predict(12, y[:84])
    f_naive = Naive().predict(12, y[:84])
    assert np.mean(np.abs(f_ets[:, 0] - y[84:])) < 0.5 * np.mean(np.abs(f_naive[:, 0] - y[84:]))


def test_holdout_intervals_cover_about_nominal_on_noise():
    rng = np.random.default_rng(5)
    y = np.sin(np.arange(300) * 2 * np.pi / 12) + 0.5 * rng.normal(size=300)
    f = Forecaster(lookback=12, horizon=1, hidden_size=8, epochs=15, alpha=0.2, random_state=0)
    r = backtest(f, y, 200, season=12, baselines=False)
    assert 0.65 <= r["interval"]["coverage"] <= 0.95, r["interval"]["coverage"]
    assert r["interval"]["nominal"] == pytest.approx(0.8)


def test_holdout_falls_back_to_insample_with_a_warning_on_short_series(caplog):
    y = seasonal(25)   # holdout part 17 steps < lookback + horizon + 1 = 18
    with caplog.at_level("WARNING", logger="rnnkit"):
        f = Forecaster(lookback=12, horizon=5, hidden_size=4, epochs=1).fit(y)
    assert "in-sample residuals" in caplog.text and f.residual_quantiles_.shape == (2, 5, 1)
