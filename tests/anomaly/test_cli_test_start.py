"""``rnnkit anomaly`` never scores the rows it was fitted on: ``--test-start``, the default test
part after the training rows, detect.json with numbers; one detector per sensor with ``--jobs``."""
import json

import numpy as np
import pytest

from conftest import cli_fails, run_cli

TINY = ["--epochs", 2, "--hidden", 4, "--window", 8]


def write(path, n=300, dated=False, columns=1):
    """A noisy sine with a spike at row 60 (in the training part) and one at row 250, labelled."""
    t = np.arange(n)
    rng = np.random.default_rng(1)
    x = np.sin(2 * np.pi * t[:, None] / 20 + np.arange(columns)) + 0.05 * rng.normal(size=(n, columns))
    lab = np.zeros(n, int)
    for a in (60, 250):
        x[a:a + 3, -1] += 4
        lab[a:a + 3] = 1
    times = [f"2020-01-01T{h // 60:02d}:{h % 60:02d}" for h in t] if dated else [str(i) for i in t]
    names = ",".join(f"v{j}" for j in range(columns))
    path.write_text(f"time,{names},label\n" + "".join(
        f"{s},{','.join(f'{v:.4f}' for v in row)},{b}\n" for s, row, b in zip(times, x, lab)))
    return path


def fit(tmp_path, capsys, *extra, csv=None):
    csv = csv or write(tmp_path / "a.csv")
    rc, out, err = run_cli(["anomaly", "fit", csv, "--label-col", "label", *TINY, "--out", tmp_path / "run", *extra],
                           capsys)
    assert rc == 0, err
    return tmp_path / "run", csv


def test_detect_scores_only_after_the_training_rows_of_the_same_file(tmp_path, capsys):
    run, csv = fit(tmp_path, capsys, "--train-size", 200)
    rc, out, err = run_cli(["anomaly", "detect", run, csv, "--label-col", "label"], capsys)
    assert rc == 0, err
    assert "training rows: scoring from row 200" in out
    rep = json.loads((run / "detect.json").read_text())
    assert rep["test_start"] == {"row": 200, "time": 200} and rep["scored_rows"] == 100
    assert rep["event"]["events"] == 1                               # the spike at 60 was training data
    assert all(i["start"] >= 200 for i in rep["intervals"])
    scores = (run / "scores.csv").read_text().splitlines()
    assert scores[1].startswith("200,") and len(scores) == 101


def test_detect_json_writes_interval_bounds_as_numbers(tmp_path, capsys):
    run, csv = fit(tmp_path, capsys, "--train-size", 200)
    run_cli(["anomaly", "detect", run, csv], capsys)
    for i in json.loads((run / "detect.json").read_text())["intervals"]:
        assert all(isinstance(i[k], int) for k in ("start", "end", "start_time", "end_time", "steps"))
        assert isinstance(i["peak_score"], float)


def test_dated_times_stay_text_and_test_start_takes_a_time(tmp_path, capsys):
    csv = write(tmp_path / "d.csv", dated=True)
    run, _ = fit(tmp_path, capsys, "--test-start", "2020-01-01T03:20", csv=csv)      # row 200
    rc, out, err = run_cli(["anomaly", "detect", run, csv, "--test-start", "2020-01-01T04:00"], capsys)
    assert rc == 0, err
    rep = json.loads((run / "detect.json").read_text())
    assert rep["test_start"] == {"row": 240, "time": "2020-01-01T04:00"}
    assert all(isinstance(i["start_time"], str) for i in rep["intervals"])


def test_test_start_inside_the_training_rows_is_refused(tmp_path, capsys):
    run, csv = fit(tmp_path, capsys, "--test-start", 200)
    line = cli_fails(capsys, "anomaly", "detect", run, csv, "--test-start", 150)
    assert "would score rows the detector was fitted on (rows 0 .. 199" in line and "pass 200 or later" in line


def test_another_file_is_scored_from_its_first_row(tmp_path, capsys):
    run, _ = fit(tmp_path, capsys, "--train-size", 200)
    other = write(tmp_path / "b.csv", n=150)
    rc, out, err = run_cli(["anomaly", "score", run, other, "--out", tmp_path / "s.csv"], capsys)
    assert rc == 0, err
    assert len((tmp_path / "s.csv").read_text().splitlines()) == 151


@pytest.mark.parametrize("extra,says", [(["--train-size", 100, "--test-start", 200], "pass one of them"),
                                        (["--test-start", 0], "leaves no rows to fit on"),
                                        (["--test-start", "x"], "no row of")])
def test_bad_test_start_on_fit_is_one_line(tmp_path, capsys, extra, says):
    csv = write(tmp_path / "a.csv")
    line = cli_fails(capsys, "anomaly", "fit", csv, "--label-col", "label", *TINY, "--out", tmp_path / "r", *extra)
    assert says in line
    assert not (tmp_path / "r").exists()


def test_stream_alerts_only_in_the_test_part(tmp_path, capsys):
    run, csv = fit(tmp_path, capsys, "--train-size", 200)
    rc, out, err = run_cli(["anomaly", "detect", run, csv, "--stream"], capsys)
    assert rc == 0, err
    alerts = [int(l.split("t=")[1].split()[0]) for l in out.splitlines() if l.startswith("ALERT")]
    assert alerts and min(alerts) >= 200


def test_per_sensor_runs_give_the_same_results_for_one_or_two_jobs(tmp_path, capsys):
    csv = write(tmp_path / "m.csv", columns=2)
    reports = []
    for jobs in (1, 2):
        out_dir = tmp_path / f"run{jobs}"
        rc, out, err = run_cli(["anomaly", "fit", csv, "--label-col", "label", *TINY, "--per-sensor", "--jobs", jobs,
                                "--train-size", 200, "--out", out_dir], capsys)
        assert rc == 0, err
        rc, out, err = run_cli(["anomaly", "detect", out_dir, csv, "--label-col", "label", "--jobs", jobs], capsys)
        assert rc == 0, err
        reports.append(((out_dir / "scores.csv").read_text(), json.loads((out_dir / "detect.json").read_text())))
    assert reports[0] == reports[1]
    scores, rep = reports[0]
    assert scores.splitlines()[0] == ("time,score_v0,smoothed_v0,threshold_v0,flag_v0,score_v1,smoothed_v1,"
                                      "threshold_v1,flag_v1,flag,label")
    assert set(rep["sensors"]) == {"v0", "v1"} and rep["test_start"]["row"] == 200
    line = cli_fails(capsys, "anomaly", "detect", tmp_path / "run1", csv, "--stream")
    assert "drop --stream" in line


def test_jobs_without_per_sensor_is_refused(tmp_path, capsys):
    csv = write(tmp_path / "a.csv")
    line = cli_fails(capsys, "anomaly", "fit", csv, *TINY, "--jobs", 2, "--out", tmp_path / "r")
    assert "add --per-sensor" in line


def test_a_file_of_training_rows_only_is_refused_unless_in_sample(tmp_path, capsys):
    run, csv = fit(tmp_path, capsys)                                 # fitted on every row
    line = cli_fails(capsys, "anomaly", "detect", run, csv)
    assert "every row of" in line and "--in-sample" in line
    rc, out, err = run_cli(["anomaly", "detect", run, csv, "--in-sample"], capsys)
    assert rc == 0, err
    assert json.loads((run / "detect.json").read_text())["scored_rows"] == 300


def test_per_sensor_refuses_training_controls_it_would_ignore(tmp_path, capsys):
    csv = write(tmp_path / "m.csv", columns=2)
    line = cli_fails(capsys, "anomaly", "fit", csv, *TINY, "--per-sensor", "--early-stopping", 3,
                     "--out", tmp_path / "r")
    assert "not available with --per-sensor" in line


# -- anomaly warn: predictive alerts from the command line ------------------------------------------------
def drift_csv(path):
    from rnnkit.anomaly import degradation_series

    x, lab, n = degradation_series("drift", n=1200, train=500, events=2, seed=0)
    path.write_text("time,v,label\n" + "".join(f"{i},{a:.4f},{int(b)}\n" for i, (a, b) in enumerate(zip(x, lab))))
    return path


def test_warn_prints_predictive_alerts_and_lead_times_after_the_test_start(tmp_path, capsys):
    csv = drift_csv(tmp_path / "d.csv")
    rc, out, err = run_cli(["anomaly", "warn", "--data", csv, "--label-col", "label", "--test-start", 500,
                            "--limits=-1.6,1.6", "--horizon", 10, "--lookback", 20, "--epochs", 2, "--hidden", 4,
                            "--report", tmp_path / "w.json"], capsys)
    assert rc == 0, err
    warns = [l for l in out.splitlines() if l.startswith("WARN")]
    assert warns and "limit of 'v' crossed" in warns[0]
    rep = json.loads((tmp_path / "w.json").read_text())
    assert rep["test_start"] == {"row": 500, "time": 500} and rep["lower"] == [-1.6] and rep["upper"] == [1.6]
    assert all(a["time"] >= 500 for a in rep["alerts"])
    assert rep["event"]["events"] == 2 and "false_per_1000" in rep
    assert "median lead" in out


@pytest.mark.parametrize("extra,says", [([], "needs a test part"),
                                        (["--test-start", 500, "--limits=1,2,3"], "is not LOWER,UPPER"),
                                        (["--test-start", 500, "--limits=,"], "neither side"),
                                        (["--test-start", 40], "needs more than lookback + horizon")])
def test_warn_refuses_bad_settings_in_one_line(tmp_path, capsys, extra, says):
    csv = drift_csv(tmp_path / "d.csv")
    line = cli_fails(capsys, "anomaly", "warn", "--data", csv, "--epochs", 1, *extra)
    assert says in line


def test_warn_report_is_strict_json_with_an_open_side_as_null(tmp_path, capsys):
    csv = drift_csv(tmp_path / "d.csv")
    rc, out, err = run_cli(["anomaly", "warn", "--data", csv, "--label-col", "label", "--test-start", 500,
                            "--limits=,1.6", "--horizon", 10,
                            "--lookback", 20, "--epochs", 2, "--hidden", 4, "--report", tmp_path / "w.json"], capsys)
    assert rc == 0, err
    text = (tmp_path / "w.json").read_text()
    assert "Infinity" not in text and "NaN" not in text
    rep = json.loads(text)
    assert rep["lower"] == [None] and rep["upper"] == [1.6]
