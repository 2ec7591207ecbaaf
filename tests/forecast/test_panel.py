"""One forecaster per series: wide and long tables, the same models for any number of
workers or joblib backend (Dask included), files, one-line errors."""
import numpy as np
import pytest

from rnnkit.forecast import Forecaster, ForecasterPanel, backtest, fit_panel
from rnnkit.parallel import task_seeds

pd = pytest.importorskip("pandas")

TINY = dict(lookback=6, horizon=3, hidden_size=4, epochs=2, interval="insample")


def wide(n=48, k=3):
    t = np.arange(n)
    cols = {f"s{j}": 10 + j + np.sin(2 * np.pi * t / 12 + j) + 0.1 * np.random.default_rng(j).normal(size=n)
            for j in range(k)}
    return pd.DataFrame(cols, index=pd.date_range("2020-01-01", periods=n, freq="MS"))


def long(frame):
    out = frame.rename_axis("date").reset_index().melt(id_vars="date", var_name="store", value_name="sales")
    return out.sample(frac=1.0, random_state=0)              # rows in no particular order


def forecasts(panel, data):
    return {i: np.asarray(f) for i, f in panel.predict(data).items()}


def test_each_series_gets_its_own_model_and_seed():
    frame = wide()
    panel = fit_panel(frame, n_jobs=1, random_state=5, **TINY)
    assert list(panel) == ["s0", "s1", "s2"] and len(panel) == 3
    seeds = task_seeds(5, 3)
    for j, (sid, model) in enumerate(panel.items()):
        assert model.random_state == seeds[j]
        alone = Forecaster(**TINY, random_state=seeds[j]).fit(frame[sid].to_numpy())
        np.testing.assert_array_equal(model.predict(frame[sid].to_numpy()), alone.predict(frame[sid].to_numpy()))


def test_two_workers_fit_the_same_models_as_one():
    frame = wide()
    one = fit_panel(frame, n_jobs=1, **TINY)
    two = fit_panel(frame, n_jobs=2, **TINY)
    pd.testing.assert_frame_equal(one.predict(frame), two.predict(frame))


def test_a_dask_cluster_fits_the_same_models_as_one_worker():
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster
    from joblib import parallel_config

    frame = wide(k=4)
    one = fit_panel(frame, n_jobs=1, **TINY)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster):
        with parallel_config(backend="dask"):
            on_dask = fit_panel(frame, **TINY)
    pd.testing.assert_frame_equal(one.predict(frame), on_dask.predict(frame))
    for sid in frame:
        np.testing.assert_array_equal(one[sid].loss_curve_, on_dask[sid].loss_curve_)


def test_wide_frame_forecast_continues_the_dates():
    frame = wide()
    f = fit_panel(frame, **TINY).predict(frame)
    assert list(f.columns) == ["s0", "s1", "s2"] and f.shape == (3, 3)
    assert f.index[0] == pd.Timestamp("2024-01-01")


def test_long_table_gives_the_models_of_the_wide_one():
    frame = wide()
    by_wide = fit_panel(frame, **TINY)
    by_long = fit_panel(long(frame), id_col="store", time_col="date", **TINY)
    assert sorted(by_long) == ["s0", "s1", "s2"]
    f = by_long.predict(long(frame))
    assert list(f.columns) == ["store", "date", "sales"] and len(f) == 9
    assert f["date"].iloc[0] == pd.Timestamp("2024-01-01")
    # the seed follows the series' position: the long table lists them in another order
    order = list(by_long)
    for sid in frame:
        got = f.loc[f["store"] == sid, "sales"].to_numpy()
        want = Forecaster(**TINY, random_state=task_seeds(0, 3)[order.index(sid)]).fit(frame[sid].to_numpy())
        np.testing.assert_allclose(got, want.predict(frame[sid].to_numpy()))
    assert by_wide["s0"].horizon == by_long["s0"].horizon


def test_arrays_and_dicts_of_series_of_different_lengths():
    frame = wide()
    a = frame.to_numpy()
    f = fit_panel(a, **TINY).predict(a)
    assert isinstance(f, np.ndarray) and f.shape == (3, 3)
    d = {"short": a[:30, 0], "long": a[:, 1]}
    fd = fit_panel(d, **TINY).predict(d)
    assert set(fd) == {"short", "long"} and fd["short"].shape == (3,)


def test_a_later_start_in_a_wide_table_is_not_filled_in():
    frame = wide()
    frame.iloc[:20, 1] = np.nan
    panel = fit_panel(frame, **TINY)
    alone = Forecaster(**TINY, random_state=task_seeds(0, 3)[1]).fit(frame["s1"].to_numpy()[20:])
    np.testing.assert_array_equal(panel["s1"].predict(frame["s1"].to_numpy()[20:]),
                                  alone.predict(frame["s1"].to_numpy()[20:]))


def test_save_and_load_a_panel_directory(tmp_path):
    frame = wide()
    panel = fit_panel(long(frame), id_col="store", time_col="date", **TINY)
    panel.save(tmp_path / "run", meta={"source": "test"})
    back = ForecasterPanel.load(tmp_path / "run")
    assert list(back) == list(panel) and back.id_col == "store" and back.meta == {"source": "test"}
    pd.testing.assert_frame_equal(back.predict(long(frame)), panel.predict(long(frame)))


@pytest.mark.parametrize("kw, says", [
    (dict(id_col="shop"), r"id_col='shop' is not a column of the table; its columns are \['date', 'store', 'sales'\]"),
    (dict(id_col="store", target="units"), "target='units' is not a column"),
    (dict(id_col="store"), r"one value column, found \['date', 'sales'\]; name it with target="),
])
def test_bad_long_table_columns_are_one_line_errors(kw, says):
    with pytest.raises(ValueError, match=says) as e:
        fit_panel(long(wide()), **kw, **TINY)
    assert "\n" not in str(e.value)


def test_a_series_that_cannot_be_fitted_is_named():
    d = {"ok": wide()["s0"].to_numpy(), "tiny": np.arange(5.0)}
    with pytest.raises(ValueError, match=r"series 'tiny': series has 5 step\(s\), fewer than"):
        fit_panel(d, **TINY)


def test_duplicated_times_in_a_long_table_are_refused():
    table = long(wide())
    table = pd.concat([table, table.iloc[:1]])
    with pytest.raises(ValueError, match="twice; keep one row per series and time"):
        fit_panel(table, id_col="store", time_col="date", **TINY)


def test_predict_needs_every_series_of_the_panel():
    frame = wide()
    panel = fit_panel(frame, **TINY)
    with pytest.raises(ValueError, match=r"lacks series \['s2'\]"):
        panel.predict(frame[["s0", "s1"]])


def test_backtest_refits_are_the_same_for_one_and_two_workers():
    y = wide()["s0"].to_numpy()
    model = Forecaster(**TINY)
    one = backtest(model, y, 36, step=3, baselines=False, refit=True, n_jobs=1)
    two = backtest(model, y, 36, step=3, baselines=True, refit=True, n_jobs=2)
    np.testing.assert_array_equal(one["forecasts"]["rnn"], two["forecasts"]["rnn"])
    assert one["origins"] == [36, 39, 42, 45]
    first = Forecaster(**TINY).fit(y[:39]).predict(y[:39])          # the refit at the second origin
    np.testing.assert_array_equal(one["forecasts"]["rnn"][1, :, 0], first)
    assert not hasattr(model, "rnn_")                               # the copies were fitted, not the model
