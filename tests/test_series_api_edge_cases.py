"""Forecasting and anomaly detection from Python at their edges: MASE where it is
undefined or for several series, backtests and detectors on missing or infinite
values, pandas input to streaming, the exported transforms on 1-D series, and
scikit-learn's clone."""
import numpy as np
import pytest

from rnnkit.anomaly import AnomalyDetector
from rnnkit.forecast import Forecaster, Scaler, TargetTransform
from rnnkit.forecast.backtest import backtest
from rnnkit.forecast.metrics import mase, mase_scale

TINY_F = dict(lookback=6, horizon=2, hidden_size=4, epochs=2, random_state=0)
TINY_A = dict(window=8, hidden_size=4, epochs=1, random_state=0)


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


def test_exported_transforms_take_a_single_series():
    y = np.arange(1, 40, dtype=float) ** 1.1
    np.testing.assert_array_equal(Scaler("none").fit(y).transform(y), y)
    t = TargetTransform("standard", d=1).fit(y[:30])
    w = t.transform(y)[29:38]
    np.testing.assert_allclose(t.inverse_forecast(y[:30], w), y[30:39], atol=1e-9)


def test_estimators_clone_and_refuse_bool_sizes():
    from sklearn.base import clone

    for est in (Forecaster(**TINY_F), AnomalyDetector(**TINY_A)):
        twin = clone(est.set_params(hidden_size=5))
        assert twin.get_params() == est.get_params() and twin is not est
        with pytest.raises(ValueError, match="has no parameter 'hiden_size'"):
            est.set_params(hiden_size=5)
    with pytest.raises(ValueError, match="lookback must be an integer >= 1, got True"):
        Forecaster(lookback=True, horizon=1, epochs=1).fit(_wave())
    with pytest.raises(ValueError, match="must hold numbers"):
        Forecaster(**TINY_F).fit(["a", "b", "c"])


def test_mase_of_several_series_leaves_out_those_where_it_is_undefined():
    train = np.c_[np.arange(30.0), np.tile([1.0, 2.0, 3.0], 10)]
    y, f = np.array([[30.0, 1.0], [31.0, 2.0]]), np.array([[32.0, 1.0], [33.0, 2.0]])
    assert mase(y, f, train, 3) == pytest.approx(2.0 / 3.0)      # the periodic column has no scale
