"""A fitted early warning saved and loaded warns exactly as before (alerts, lead times, band,
settings); a wrong, corrupt or mismatched file is refused in one line naming it; the CLI's
``anomaly warn --save`` writes one and ``--model`` warns with it without fitting."""
import json

import numpy as np
import pytest

from conftest import cli_fails, run_cli
from rnnkit.anomaly import AnomalyDetector, EarlyWarning, degradation_series, event_scores
from rnnkit.io import ModelFileError, read_file, write_file


@pytest.fixture(scope="module")
def drift():
    return degradation_series("drift", n=900, train=400, events=2, seed=0)


def fitted(x, n, **kw):
    return EarlyWarning(**{"horizon": 10, "lookback": 20, "hidden_size": 6, "epochs": 2, **kw}).fit(x[:n])


@pytest.mark.parametrize("kw,name", [({}, "w.rnnkit"),                                     # learned band
                                     ({"limits": (None, 1.6), "trigger": "interval", "every": 3}, "w.safetensors")])
def test_a_saved_and_loaded_warning_gives_the_same_alerts_and_lead_times(drift, tmp_path, kw, name):
    x, labels, n = drift
    w = fitted(x, n, **kw)
    v = EarlyWarning.load(w.save(tmp_path / name))
    a, b = w.warn(x, start=n), v.warn(x, start=n)
    assert a["alerts"] and a["alerts"] == b["alerts"]
    for k in ("flags", "crossing_in", "bound", "column", "lower", "upper"):
        np.testing.assert_array_equal(a[k], b[k])
    assert v.get_params() == w.get_params() and repr(v) == repr(w) and v.n_features_ == 1
    lead = [event_scores(r["flags"][n:], labels[n:], early=10, gap=20)["lead_times"] for r in (a, b)]
    assert lead[0] == lead[1]


def test_an_unbounded_side_is_kept_as_infinite(drift, tmp_path):
    x, _, n = drift
    v = EarlyWarning.load(fitted(x, n, limits=(None, 1.6)).save(tmp_path / "w.rnnkit"))
    assert v.lower_.tolist() == [-np.inf] and v.upper_.tolist() == [1.6]
    assert v.get_params()["limits"] == (None, 1.6)


def test_the_file_holds_the_forecasters_arrays_under_one_prefix(drift, tmp_path):
    x, _, n = drift
    header, arrays = read_file(fitted(x, n).save(tmp_path / "w.rnnkit"), "early-warning")
    assert header["format_version"] >= 2 and header["kind"] == "early-warning"
    assert arrays and all(k.startswith("forecaster.") for k in arrays)
    assert header["config"]["forecaster"]["n_targets"] == 1


def test_an_unfitted_warning_cannot_be_saved(tmp_path):
    with pytest.raises(Exception, match="not fitted"):
        EarlyWarning().save(tmp_path / "w.rnnkit")
    assert not (tmp_path / "w.rnnkit").exists()


def test_a_wrong_or_corrupt_file_is_refused_naming_it(tmp_path):
    series = np.sin(np.arange(120) / 4)[:, None]
    det = AnomalyDetector(window=5, hidden_size=3, epochs=1).fit(series).save(tmp_path / "det.rnnkit")
    with pytest.raises(ModelFileError, match=r"det.rnnkit: holds a 'anomaly-detector', not a 'early-warning'"):
        EarlyWarning.load(det)
    (tmp_path / "junk.rnnkit").write_text("not a model")
    with pytest.raises(ModelFileError, match=r"junk.rnnkit: not a readable rnnkit file"):
        EarlyWarning.load(tmp_path / "junk.rnnkit")
    with pytest.raises(ModelFileError, match="no such file"):
        EarlyWarning.load(tmp_path / "missing.rnnkit")


def test_a_file_whose_parts_do_not_fit_is_refused_naming_it(drift, tmp_path):
    x, _, n = drift
    config, arrays = fitted(x, n)._file_contents()
    config["lower"] = [-1.0, -1.0]                                 # two columns' band, a one-column forecaster
    write_file(tmp_path / "bad.rnnkit", "early-warning", config, arrays)
    with pytest.raises(ModelFileError, match=r"bad.rnnkit: the early-warning file does not fit an? EarlyWarning "
                                             r"\(the band holds 2 lower"):
        EarlyWarning.load(tmp_path / "bad.rnnkit")
    config, arrays = fitted(x, n)._file_contents()
    config["params"]["horizon"] = 5                                # the forecaster looks 10 steps ahead
    write_file(tmp_path / "bad2.rnnkit", "early-warning", config, arrays)
    with pytest.raises(ModelFileError, match=r"bad2.rnnkit: .*does not match the warning's \(horizon 5"):
        EarlyWarning.load(tmp_path / "bad2.rnnkit")


# -- anomaly warn --save / --model ---------------------------------------------------------------------
def drift_csv(path, drift):
    x, lab, _ = drift
    path.write_text("time,v,label\n" + "".join(f"{i},{a:.4f},{int(b)}\n" for i, (a, b) in enumerate(zip(x, lab))))
    return path


FIT = ["--horizon", 10, "--lookback", 20, "--epochs", 2, "--hidden", 4]


def test_warn_saves_the_fitted_warning_and_model_warns_with_it_without_fitting(drift, tmp_path, capsys, monkeypatch):
    csv = drift_csv(tmp_path / "d.csv", drift)
    rc, out1, err = run_cli(["anomaly", "warn", "--data", csv, "--label-col", "label", "--test-start", 400, *FIT,
                             "--save", tmp_path / "w.rnnkit", "--report", tmp_path / "a.json"], capsys)
    assert rc == 0, err
    assert f"saved the early warning to {tmp_path / 'w.rnnkit'}" in out1
    meta = read_file(tmp_path / "w.rnnkit", "early-warning")[0]["meta"]
    assert meta["columns"] == ["v"] and meta["train_rows"] == 400

    monkeypatch.setattr(EarlyWarning, "fit", lambda *a, **k: pytest.fail("--model must not fit"))
    rc, out2, err = run_cli(["anomaly", "warn", "--data", csv, "--label-col", "label", "--model", tmp_path / "w.rnnkit",
                             "--report", tmp_path / "b.json"], capsys)
    assert rc == 0, err
    warns = [line for line in out1.splitlines() if line.startswith("WARN")]
    assert warns and warns == [line for line in out2.splitlines() if line.startswith("WARN")]
    a, b = (json.loads((tmp_path / f).read_text()) for f in ("a.json", "b.json"))
    assert a == b and b["test_start"]["row"] == 400                # from after the rows it was fitted on


@pytest.mark.parametrize("extra,says", [(["--horizon", 5], "drop --horizon"),
                                        (["--columns", "v", "--seed", 1], "drop --seed, --columns"),
                                        (["--test-start", 100], "inside the rows the early warning was fitted on")])
def test_warn_with_a_model_refuses_fitting_options_and_training_rows_in_one_line(drift, tmp_path, capsys, extra,
                                                                                 says):
    csv = drift_csv(tmp_path / "d.csv", drift)
    rc, _, err = run_cli(["anomaly", "warn", "--data", csv, "--test-start", 400, *FIT, "--save",
                          tmp_path / "w.rnnkit"], capsys)
    assert rc == 0, err
    line = cli_fails(capsys, "anomaly", "warn", "--data", csv, "--model", tmp_path / "w.rnnkit", *extra)
    assert says in line


def test_warn_with_a_model_not_saved_by_the_cli_or_another_kind_is_refused(drift, tmp_path, capsys):
    csv = drift_csv(tmp_path / "d.csv", drift)
    x, _, n = drift
    fitted(x, n).save(tmp_path / "plain.rnnkit")                  # from Python: no column names
    assert "no column names" in cli_fails(capsys, "anomaly", "warn", "--data", csv, "--model",
                                          tmp_path / "plain.rnnkit")
    (tmp_path / "junk.rnnkit").write_text("junk")
    assert "junk.rnnkit: not a readable rnnkit file" in cli_fails(capsys, "anomaly", "warn", "--data", csv,
                                                                  "--model", tmp_path / "junk.rnnkit")

