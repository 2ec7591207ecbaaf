"""Forecaster: transforms undone exactly, windows, strategies, covariates, intervals, files, bad input."""
import logging

import numpy as np
import pytest

from rnnkit.forecast import Forecaster, Scaler, SeasonalNaive, backtest, mase, read_csv
from rnnkit.forecast.metrics import mase_scale
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
    assert p.shape == (2,) and np.abs(p - y[150:152]).max() < 1.0          # 1-D y: 1-D forecast
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


# -- MASE where it is undefined or for several series; backtests and transforms at their edges ---------------
TINY_F = dict(lookback=6, horizon=2, hidden_size=4, epochs=2, random_state=0)


def _wave(n=120, seed=0):
    t = np.arange(n)
    return np.sin(2 * np.pi * t / 12) + 0.05 * np.random.default_rng(seed).standard_normal(n)


def test_mase_is_undefined_where_the_seasonal_naive_forecast_is_exact():
    assert np.isnan(mase([5, 6], [4, 4], np.tile([1, 2, 3, 4], 5), 4))     # it was the MAE, 1.5
    train = 2 * np.arange(20.0)
    train[5] = np.nan                                                       # a gap is left out
    assert mase([40, 42], [43, 45], train, 1) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="season length must be an integer >= 1"):
        mase_scale(train, 0)


def test_mase_of_several_series_is_the_mean_of_their_own():
    train = np.c_[np.arange(30.0) * 1000, np.arange(30.0)]
    y = np.array([[30000.0, 30.0], [31000.0, 31.0]])
    f = y + [0.0, 10.0]
    assert mase(y, f, train) == pytest.approx((0.0 + 10.0) / 2)                # pooled, it read 0.0114
    np.testing.assert_allclose(mase_scale(train), [1000.0, 1.0])


def test_backtest_refuses_missing_actuals_and_bad_arguments_in_one_line():
    y = _wave()
    model = Forecaster(**TINY_F)
    y_gap = y.copy()
    y_gap[100] = np.nan
    with pytest.raises(ValueError, match=r"1 missing or infinite value\(s\) \(first at step 100, column 0\)"):
        backtest(model, y_gap, first=80)
    for kw, what in ((dict(first=-20), "first"), (dict(first=40.0), "first"), (dict(first=80, step=0), "step")):
        with pytest.raises(ValueError, match=f"{what} must be an integer >= 1"):
            backtest(model, y, **kw)
    with pytest.raises(ValueError, match="season length must be an integer >= 1"):
        backtest(model, y, first=80, season=0)


def test_exported_transforms_take_a_single_series():
    y = np.arange(1, 40, dtype=float) ** 1.1
    np.testing.assert_array_equal(Scaler("none").fit(y).transform(y), y)
    t = TargetTransform("standard", d=1).fit(y[:30])
    w = t.transform(y)[29:38]
    np.testing.assert_allclose(t.inverse_forecast(y[:30], w), y[30:39], atol=1e-9)


def test_mase_of_several_series_leaves_out_those_where_it_is_undefined():
    train = np.c_[np.arange(30.0), np.tile([1.0, 2.0, 3.0], 10)]
    y, f = np.array([[30.0, 1.0], [31.0, 2.0]]), np.array([[32.0, 1.0], [33.0, 2.0]])
    assert mase(y, f, train, 3) == pytest.approx(2.0 / 3.0)      # the periodic column has no scale


# -- bad settings and empty input; time columns --------------------------------------------------------------
@pytest.mark.parametrize("kw, says", [({"lr": 0}, "lr must be"), ({"lr": float("nan")}, "lr must be"),
                                      ({"clip": -1}, "clip must be"), ({"diff": -1}, "diff must be")])
def test_bad_training_settings_are_not_reported_as_a_short_series(caplog, kw, says):
    from rnnkit.forecast import Forecaster

    y = np.sin(np.arange(80) / 3)
    with caplog.at_level("WARNING", logger="rnnkit"), pytest.raises(ValueError, match=says):
        Forecaster(lookback=4, epochs=1, hidden_size=4, **kw).fit(y)
    assert "too short" not in caplog.text


def test_forecaster_fit_on_empty_array_is_a_clear_value_error():
    from rnnkit.forecast import Forecaster

    with pytest.raises(ValueError, match="empty"):
        Forecaster().fit(np.array([]))


def test_hour_only_offsets_are_compared_in_utc():
    from rnnkit.forecast.data import time_keys

    a, b = time_keys(["2024-01-01 00:00:00+01", "2024-01-01 00:00:00 UTC"], "x")
    assert b - a == 3600.0


def test_pandas_index_alone_is_still_the_time(tmp_path):
    from rnnkit.forecast.data import read_csv

    p = tmp_path / "d.csv"
    p.write_text(",value\n" + "".join(f"{i},{i % 5}\n" for i in range(10)))
    times, values, names = read_csv(str(p))
    assert times[:2] == ["0", "1"] and names == ["value"]
