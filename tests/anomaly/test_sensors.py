"""One detector per sensor: the same detectors and flags for one worker or two (seeds per
task), sensor names from a DataFrame, bad parameters refused before any worker starts."""
import numpy as np
import pytest

from rnnkit.anomaly import AnomalyDetector, detect_sensors, fit_sensors

TINY = dict(window=8, hidden_size=4, epochs=2)


def table(n=300):
    t = np.arange(n)
    x = np.c_[np.sin(t / 5), np.cos(t / 7), np.sin(t / 3)] + 0.05 * np.random.default_rng(0).normal(size=(n, 3))
    x[250, 1] += 4.0
    return x


def test_results_do_not_depend_on_the_number_of_workers():
    x = table()
    one, two = fit_sensors(x, n_jobs=1, **TINY), fit_sensors(x, n_jobs=2, **TINY)
    assert list(one) == list(two) == ["0", "1", "2"]
    r1, r2 = detect_sensors(one, x, n_jobs=1), detect_sensors(two, x, n_jobs=2)
    for name in one:
        np.testing.assert_array_equal(r1[name]["smoothed"], r2[name]["smoothed"])
        np.testing.assert_array_equal(r1[name]["flags"], r2[name]["flags"])
        assert one[name].loss_curve_ == two[name].loss_curve_


def test_each_sensor_gets_its_own_seed_and_its_own_detector():
    x = table()
    ds = fit_sensors(x, n_jobs=1, random_state=3, **TINY)
    assert len({d.random_state for d in ds.values()}) == 3
    alone = AnomalyDetector(**TINY, random_state=ds["1"].random_state).fit(x[:, 1])
    np.testing.assert_array_equal(alone.detect(x[:, 1])["smoothed"], detect_sensors(ds, x)["1"]["smoothed"])


def test_dataframe_columns_name_the_sensors():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(table(), columns=["temp", "load", "rpm"])
    ds = fit_sensors(frame, **TINY)
    assert list(ds) == ["temp", "load", "rpm"]
    res = detect_sensors(ds, frame[["rpm", "temp", "load"]])          # found by name, in any order
    np.testing.assert_array_equal(res["temp"]["smoothed"], ds["temp"].detect(frame["temp"].to_numpy())["smoothed"])
    with pytest.raises(ValueError, match=r"no column for sensor\(s\) \['rpm'\]"):
        detect_sensors(ds, frame[["temp", "load"]])


def test_bad_parameters_and_n_jobs_are_refused_up_front():
    with pytest.raises(ValueError, match="kind must be"):
        fit_sensors(table(), kind="vae", **TINY)
    with pytest.raises(ValueError, match="n_jobs=0"):
        fit_sensors(table(), n_jobs=0, **TINY)
