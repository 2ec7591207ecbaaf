"""The statistical baselines of the backtest panel (automatic ETS, SARIMA, Theta) and
backtests that take a list of baselines."""
import numpy as np
import pytest

from rnnkit.forecast import SARIMA, AutoETS, Forecaster, Naive, SeasonalNaive, Theta, backtest

pytest.importorskip("statsmodels")


def monthly(n=60, seed=0, slope=0.1):
    t = np.arange(n)
    return 50 + slope * t + 8 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(seed).normal(0, 0.5, n)


def mae(a, b):
    return float(np.mean(np.abs(np.asarray(a).ravel() - np.asarray(b).ravel())))


@pytest.mark.parametrize("make", [lambda: AutoETS(12), lambda: SARIMA(12), lambda: Theta(12)])
def test_seasonal_baselines_beat_naive_on_a_slow_trend_with_a_season(make):
    y = monthly()
    f = make().predict(12, y[:48])
    assert f.shape == (12, 1)
    assert mae(f, y[48:]) < 0.5 * mae(Naive().predict(12, y[:48]), y[48:])


def test_auto_ets_chooses_a_seasonal_form_for_a_seasonal_series_and_none_without():
    y = monthly()
    ets = AutoETS(12)
    ets.predict(6, y)
    assert ets.chosen_.endswith(("A)", "M)")), ets.chosen_
    flat = 10 + np.random.default_rng(1).normal(0, 1, 60)
    ets.predict(6, flat)
    assert ets.chosen_.endswith("N)"), ets.chosen_


def test_sarima_is_the_airline_model_when_seasonal_and_an_auto_order_otherwise():
    s = SARIMA(12)
    s.predict(3, monthly())
    assert s.chosen_ == "(0,1,1)(0,1,1)12"
    rng = np.random.default_rng(2)
    ar = np.zeros(80)
    for t in range(2, 80):                               # a stationary AR(2): no differencing needed
        ar[t] = 1.2 * ar[t - 1] - 0.5 * ar[t - 2] + rng.normal()
    s = SARIMA(1)
    s.predict(3, ar)
    assert s.chosen_.startswith(("(1,0,", "(2,0,")), s.chosen_


def test_baselines_forecast_each_column_of_a_2d_history():
    y = np.c_[monthly(), monthly(seed=1) + 100]
    f = Theta(12).predict(6, y)
    assert f.shape == (6, 2) and f[:, 1].mean() > f[:, 0].mean() + 50


def test_backtest_takes_a_list_of_baselines():
    y = monthly(72)
    model = Forecaster(lookback=6, horizon=3, hidden_size=4, epochs=2, interval="insample")
    r = backtest(model, y, 60, step=3, season=12, baselines=[SeasonalNaive(12), Theta(12)])
    assert list(r["forecasts"]) == ["rnn", "seasonal_naive", "theta"]
    assert r["forecasts"]["theta"].shape == (4, 3, 1)


def test_backtest_refuses_baselines_that_share_a_name():
    model = Forecaster(lookback=6, horizon=3, hidden_size=4, epochs=2)
    with pytest.raises(ValueError, match=r"repeat a name .* give each its own \.name"):
        backtest(model, monthly(), 48, baselines=[Theta(12), Theta(4)])
