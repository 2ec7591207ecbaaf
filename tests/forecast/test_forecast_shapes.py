"""Data in the shapes people hold it (issue 20): a 1-D series gives a 1-D forecast, a 2-D one
stays 2-D; pandas Series/DataFrames in, pandas out with the index continued; the detector
keeps the index; ``forecast predict`` writes the future timestamps and dates the plot's axis."""
import subprocess
import sys

import numpy as np
import pytest

from conftest import run_cli
from rnnkit.anomaly import AnomalyDetector
from rnnkit.forecast import Forecaster, backtest

pd = pytest.importorskip("pandas")

H = 3


def series(n=60):
    t = np.arange(n)
    return 10 + 3 * np.sin(2 * np.pi * t / 12) + 0.02 * t


def tiny(**kw):
    return Forecaster(lookback=6, horizon=H, hidden_size=4, epochs=2, random_state=0, **kw)


@pytest.fixture(scope="module")
def fitted():
    return tiny().fit(series())


# -- 1-D in, 1-D out; 2-D unchanged -----------------------------------------------------------------------
def test_1d_series_gives_1d_forecast_and_intervals(fitted):
    y = series()
    f = fitted.predict(y)
    assert f.shape == (H,)
    p, (lo, hi) = fitted.predict(y, return_interval=True)
    assert p.shape == lo.shape == hi.shape == (H,)
    np.testing.assert_allclose(p, f)
    assert np.all(lo <= p) and np.all(p <= hi)
    assert isinstance(fitted.score(y[:-H], y[-H:]), float)


def test_2d_series_stays_2d(fitted):
    y = series()
    f = fitted.predict(y[:, None])
    assert f.shape == (H, 1)
    np.testing.assert_allclose(f[:, 0], fitted.predict(y))
    p, (lo, hi) = fitted.predict(y[:, None], return_interval=True)
    assert p.shape == lo.shape == hi.shape == (H, 1)
    two = np.stack([series(), series()[::-1]], axis=1)
    m = tiny().fit(two)
    assert m.predict(two).shape == (H, 2)
    _, (lo, hi) = m.predict(two, return_interval=True)
    assert lo.shape == hi.shape == (H, 2)


def test_backtest_of_a_1d_series_keeps_3d_arrays():
    y = series()
    r = backtest(tiny(), y, 45, baselines=False)
    n = len(r["origins"])
    assert r["forecasts"]["rnn"].shape == r["actuals"].shape == r["interval"]["lower"].shape == (n, H, 1)
    r2 = backtest(tiny(), pd.Series(y), 45, baselines=False)
    np.testing.assert_allclose(r2["forecasts"]["rnn"], r["forecasts"]["rnn"])


# -- pandas in, pandas out -------------------------------------------------------------------------------
@pytest.mark.parametrize("freq, want", [("MS", ["2025-01-01", "2025-02-01", "2025-03-01"]),
                                        ("ME", ["2025-01-31", "2025-02-28", "2025-03-31"]),
                                        ("D", ["2020-03-01", "2020-03-02", "2020-03-03"])])
def test_series_with_datetime_index_continues_its_frequency(freq, want):
    start = "2020-01-01"
    idx = pd.date_range(start, periods=60, freq=freq)
    s = pd.Series(series(), index=idx, name="sales")
    m = tiny().fit(s)
    f = m.predict(s)
    assert isinstance(f, pd.Series) and f.name == "sales"
    assert list(f.index.strftime("%Y-%m-%d")) == want
    np.testing.assert_allclose(f.to_numpy(), m.predict(series()))
    p, (lo, hi) = m.predict(s, return_interval=True)
    assert isinstance(lo, pd.Series) and lo.index.equals(p.index) and hi.index.equals(p.index)


def test_inferred_frequency_without_freq_attribute():
    idx = pd.DatetimeIndex(list(pd.date_range("2021-01-01", periods=60, freq="D")))    # freq None
    assert idx.freq is None
    f = tiny().fit(series()).predict(pd.Series(series(), index=idx))
    assert list(f.index) == list(pd.date_range("2021-03-02", periods=H, freq="D"))


def test_dataframe_in_dataframe_out():
    idx = pd.date_range("2020-01-01", periods=60, freq="MS", name="month")
    df = pd.DataFrame({"a": series(), "b": series()[::-1].copy()}, index=idx)
    m = tiny().fit(df)
    f = m.predict(df)
    assert isinstance(f, pd.DataFrame) and list(f.columns) == ["a", "b"] and f.shape == (H, 2)
    assert f.index.name == "month" and f.index[0] == pd.Timestamp("2025-01-01")
    np.testing.assert_allclose(f.to_numpy(), m.predict(df.to_numpy()))
    one = df[["a"]]
    assert isinstance(m.predict(df), pd.DataFrame) and tiny().fit(one).predict(one).shape == (H, 1)


def test_range_index_continues_the_integers():
    s = pd.Series(series(), index=pd.RangeIndex(100, 160))
    f = tiny().fit(s).predict(s)
    assert list(f.index) == [160, 161, 162]
    s2 = pd.Series(series())
    assert list(tiny().fit(s2).predict(s2).index) == [60, 61, 62]


def test_future_covariates_as_dataframe():
    y = pd.Series(series(80))
    x = pd.DataFrame({"x": np.cos(np.arange(80 + H))})
    m = tiny().fit(y[:70], future_covariates=x[:70])
    f = m.predict(y[:70], future_covariates=x[:70 + H])
    assert list(f.index) == [70, 71, 72]


def test_detector_scores_keep_the_index():
    idx = pd.date_range("2020-01-01", periods=80, freq="h")
    s = pd.Series(series(80), index=idx)
    d = AnomalyDetector(window=5, hidden_size=4, epochs=1).fit(s)
    e, sm = d.score(s)
    assert isinstance(e, pd.Series) and e.index.equals(idx) and sm.index.equals(idx)
    np.testing.assert_allclose(e.to_numpy(), d.score(s.to_numpy())[0])
    r = d.detect(pd.DataFrame({"v": s}))
    assert all(r[k].index.equals(idx) for k in ("score", "smoothed", "threshold", "flags"))
    assert isinstance(d.detect(s.to_numpy())["score"], np.ndarray)


def test_pandas_is_not_imported_by_rnnkit():
    code = "import sys, rnnkit, rnnkit.forecast, rnnkit.anomaly; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# -- command line: future timestamps and a date axis ---------------------------------------------------
def _csv(path, dates, header="date,y"):
    path.write_text(header + "\n" + "".join(f"{d},{float(v)!r}\n" for d, v in zip(dates, series(len(dates)))))
    return path


@pytest.mark.parametrize("dates, want", [
    ([f"{2020 + i // 12}-{i % 12 + 1:02d}-01" for i in range(48)], ["2024-01-01", "2024-02-01", "2024-03-01"]),
    ([str(d.date()) for d in pd.date_range("2020-01-01", periods=48, freq="D")],
     ["2020-02-18", "2020-02-19", "2020-02-20"]),
    ([f"{2020 + i // 12}-{i % 12 + 1:02d}" for i in range(48)], ["2024-01", "2024-02", "2024-03"]),
])
def test_cli_forecast_csv_has_the_future_dates(tmp_path, capsys, monkeypatch, dates, want):
    import matplotlib.dates as mdates

    import rnnkit.forecast.plot as plot

    csv = _csv(tmp_path / "s.csv", dates)
    rc, _, err = run_cli(["forecast", "train", csv, "--target", "y", "--lookback", 6, "--horizon", H,
                          "--epochs", 1, "--hidden", 4, "--out", tmp_path / "run"], capsys)
    assert rc == 0, err
    figs = []
    save = plot.save_figure
    monkeypatch.setattr(plot, "save_figure", lambda fig, path, **kw: (figs.append(fig), save(fig, path, **kw)))
    rc, out, err = run_cli(["forecast", "predict", tmp_path / "run", csv], capsys)
    assert rc == 0, err
    lines = (tmp_path / "run" / "forecast.csv").read_text().splitlines()
    assert lines[0] == "step,date,y,y_lower,y_upper"
    assert [r.split(",")[1] for r in lines[1:]] == want
    assert (tmp_path / "run" / "forecast.png").stat().st_size > 1000
    ax = figs[0].axes[0]
    assert isinstance(ax.xaxis.get_major_formatter(), mdates.ConciseDateFormatter)
    lo, hi = ax.get_xlim()
    assert mdates.num2date(hi).year >= int(want[-1][:4]) and mdates.num2date(lo).year <= int(dates[0][:4])


def test_cli_without_a_time_column_keeps_the_plain_header(tmp_path, capsys):
    csv = tmp_path / "s.csv"
    csv.write_text("y\n" + "".join(f"{float(v)!r}\n" for v in series(40)))
    rc, _, err = run_cli(["forecast", "train", csv, "--lookback", 6, "--horizon", H, "--epochs", 1,
                          "--hidden", 4, "--out", tmp_path / "run"], capsys)
    assert rc == 0, err
    rc, _, err = run_cli(["forecast", "predict", tmp_path / "run", csv], capsys)
    assert rc == 0, err
    assert (tmp_path / "run" / "forecast.csv").read_text().splitlines()[0] == "step,y,y_lower,y_upper"


def test_plot_of_pandas_series_uses_dates(tmp_path, monkeypatch):
    import matplotlib.dates as mdates

    import rnnkit.forecast.plot as plot

    figs = []
    save = plot.save_figure
    monkeypatch.setattr(plot, "save_figure", lambda fig, path, **kw: (figs.append(fig), save(fig, path, **kw)))
    s = pd.Series(series(), index=pd.date_range("2020-01-01", periods=60, freq="MS"))
    m = tiny().fit(s)
    f, (lo, hi) = m.predict(s, return_interval=True)
    path = plot.plot_forecast(str(tmp_path / "f.png"), s, f, lo, hi)
    assert (tmp_path / "f.png").stat().st_size > 1000 and path == str(tmp_path / "f.png")
    assert isinstance(figs[0].axes[0].xaxis.get_major_formatter(), mdates.ConciseDateFormatter)
