"""Edge cases of the series commands (forecast, anomaly), report, export, gradflow
and hello: each test is named after the behaviour that failed before its fix."""
import json
import os

import numpy as np
import pytest

from conftest import cli_fails, cli_refused, run_cli
from rnnkit.cli import main

TINY = ["--lookback", 4, "--epochs", 1, "--hidden", 4]
TINY_A = ["--epochs", 1, "--hidden", 4, "--window", 8]


def series_csv(path, n=60, header="date,y,x,f", dates=None, extra=""):
    """A small seasonal series with a covariate ``x`` and a feature ``f``."""
    t = np.arange(n)
    y = 10 + 3 * np.sin(2 * np.pi * t / 12) + 0.02 * t
    dates = dates or [f"{i}" for i in t]
    path.write_text(header + "\n" + "".join(f"{d},{float(a)!r},{float(np.cos(i / 5))!r},{i % 7}\n"
                                            for i, (d, a) in enumerate(zip(dates, y))) + extra)
    return path


def anomaly_csv(path, n=120):
    t = np.arange(n)
    z = np.sin(2 * np.pi * t / 20) + 0.05 * np.random.default_rng(0).normal(size=n)
    z[100] += 5
    path.write_text("time,v,label\n" + "".join(f"{i},{float(a)!r},{int(i == 100)}\n" for i, a in enumerate(z)))
    return path




def dates(n, fmt):
    import datetime
    d0 = datetime.date(1999, 12, 20)                    # across a year end
    return [fmt(d0 + datetime.timedelta(days=i)) for i in range(n)]


@pytest.fixture
def forecast_run(tmp_path, capsys):
    csv = series_csv(tmp_path / "s.csv")
    rc, _, err = run_cli(["forecast", "train", csv, "--target", "y", *TINY, "--out", tmp_path / "run"], capsys)
    assert rc == 0, err
    return tmp_path / "run", csv


@pytest.fixture
def anomaly_run(tmp_path, capsys):
    csv = anomaly_csv(tmp_path / "a.csv")
    rc, _, err = run_cli(["anomaly", "fit", csv, "--label-col", "label", *TINY_A, "--out", tmp_path / "arun"],
                         capsys)
    assert rc == 0, err
    return tmp_path / "arun", csv


# 1. timestamps are parsed, not compared as strings ------------------------------------------
@pytest.mark.parametrize("fmt", [lambda d: f"{d.year}-{d.month}-{d.day}",
                                 lambda d: d.strftime("%d/%m/%Y"),
                                 lambda d: d.strftime("%m/%d/%Y"),
                                 lambda d: f"{d.year}-{d.month}-{d.day} 9:05"])
def test_dates_without_padding_or_day_first_are_not_compared_as_strings(tmp_path, capsys, fmt):
    csv = series_csv(tmp_path / "s.csv", dates=dates(60, fmt))
    rc, out, err = run_cli(["forecast", "train", csv, "--target", "y", *TINY, "--out", tmp_path / "r"], capsys)
    assert rc == 0, err


def test_unsorted_parsed_dates_still_refused(tmp_path, capsys):
    d = dates(60, lambda d: f"{d.year}-{d.month}-{d.day}")
    d[20], d[21] = d[21], d[20]
    csv = series_csv(tmp_path / "s.csv", dates=d)
    line = cli_fails(capsys, "forecast", "train", csv, "--target", "y", *TINY, "--out", tmp_path / "r")
    assert "not increasing" in line and "data row 22" in line


def test_time_column_of_labels_is_taken_in_file_order_with_a_warning(tmp_path, capsys, caplog):
    csv = series_csv(tmp_path / "s.csv", dates=[f"notadate{i}" for i in range(60)])
    with caplog.at_level("WARNING", logger="rnnkit"):
        rc, _, err = run_cli(["forecast", "train", csv, "--target", "y", *TINY, "--out", tmp_path / "r"], capsys)
    assert rc == 0, err
    assert any("'date'" in r.getMessage() and "'notadate0'" in r.getMessage() and "file order" in r.getMessage()
               for r in caplog.records)


def test_anomaly_uses_parsed_timestamps_too(tmp_path, capsys):
    t = dates(120, lambda d: f"{d.year}-{d.month}-{d.day}")
    z = np.sin(np.arange(120) / 3)
    p = tmp_path / "a.csv"
    p.write_text("date,v\n" + "".join(f"{a},{float(b)!r}\n" for a, b in zip(t, z)))
    rc, _, err = run_cli(["anomaly", "fit", p, *TINY_A, "--out", tmp_path / "r"], capsys)
    assert rc == 0, err


# 2. report on ill-shaped run files ----------------------------------------------------------
@pytest.mark.parametrize("name, text, says", [
    ("metrics.jsonl", '{"step": 1, "loss": 2}\n[1, 2]\n', "1 unreadable or ill-shaped line"),
    ("metrics.jsonl", '{"step": "x", "loss": 2}\n', "1 unreadable line"),
    ("metrics.jsonl", '{"step": 1, "loss": 2, "gate_saturation": {"l0": 3}}\n', "ill-shaped entries in metrics.jsonl"),
    ("gradflow.json", '{"cells": 5}', "gradflow.json unreadable"),
    ("gradflow.json", "[]", "gradflow.json unreadable"),
    ("gradflow.json", "{bad", "gradflow.json unreadable (not valid JSON"),
    ("gradflow.json", '{"cells": {"lstm": {"ratio_init": "x"}}}', "ill-shaped entries in gradflow.json"),
    ("config.json", "[1]", "config.json unreadable (holds a JSON list"),
])
def test_report_on_wrong_shape_json_names_the_file_without_traceback(tmp_path, capsys, name, text, says):
    (tmp_path / name).write_text(text)
    rc, out, err = run_cli(["report", tmp_path], capsys)
    assert rc == 0, err
    assert says in (tmp_path / "report.html").read_text().replace("&#x27;", "'")


def test_report_skips_a_non_utf8_metrics_line(tmp_path, capsys):
    (tmp_path / "metrics.jsonl").write_bytes(b'{"step": 1, "loss": 2}\n\xff\xfe{"a": 1}\n')
    rc, out, err = run_cli(["report", tmp_path], capsys)
    assert rc == 0, err
    assert "1 unreadable or ill-shaped line" in (tmp_path / "report.html").read_text()


def test_failed_report_keeps_the_previous_report(tmp_path, monkeypatch):
    from rnnkit.diagnostics import report

    (tmp_path / "report.html").write_text("old page")
    monkeypatch.setattr(report, "build_report", lambda run_dir: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        report.write_report(str(tmp_path))
    assert (tmp_path / "report.html").read_text() == "old page"


def test_report_on_a_file_says_it_is_a_file(tmp_path, capsys):
    f = tmp_path / "s.csv"
    f.write_text("a\n1\n")
    line = cli_fails(capsys, "report", f)
    assert "is a file, not a run directory" in line


# 3. export refuses to overwrite its input --------------------------------------------------
@pytest.fixture
def model_file(tmp_path):
    import rnnkit
    import rnnkit.io

    path = tmp_path / "model.npz"
    rnnkit.io.save(rnnkit.LSTM(3, 4), str(path))
    return path


def test_export_onto_its_own_input_file_is_refused(model_file, capsys):
    before = model_file.read_bytes()
    line = cli_fails(capsys, "export", "onnx", model_file, model_file)
    assert "is the input model file" in line and model_file.read_bytes() == before


def test_export_into_the_run_directory_s_saved_files_is_refused(tmp_path, capsys):
    pytest.importorskip("onnx")
    run = tiny_lm_run(tmp_path, capsys)
    before = (run / "checkpoint.npz").read_bytes()
    line = cli_fails(capsys, "export", "onnx", run, run / "checkpoint.npz")
    assert "saved files" in line and (run / "checkpoint.npz").read_bytes() == before


def test_export_to_a_directory_says_pass_a_file_name(model_file, tmp_path, capsys):
    (tmp_path / "somedir").mkdir()
    line = cli_fails(capsys, "export", "onnx", model_file, tmp_path / "somedir")
    assert "is a directory; pass a file name" in line and "Errno" not in line


# 4. training into an --out that holds a model ----------------------------------------------
def test_forecast_train_does_not_replace_a_trained_model(forecast_run, capsys):
    run, csv = forecast_run
    before = (run / "model.rnnkit").read_bytes()
    line = cli_fails(capsys, "forecast", "train", csv, "--target", "y", *TINY, "--seed", 3, "--out", run)
    assert "already holds" in line and "choose a new --out" in line
    assert (run / "model.rnnkit").read_bytes() == before


def test_anomaly_fit_does_not_replace_a_fitted_detector(anomaly_run, capsys):
    run, csv = anomaly_run
    before = (run / "model.rnnkit").read_bytes()
    line = cli_fails(capsys, "anomaly", "fit", csv, *TINY_A, "--out", run)
    assert "already holds" in line and (run / "model.rnnkit").read_bytes() == before


def test_forecast_eval_does_not_replace_a_trained_model(forecast_run, capsys):
    run, csv = forecast_run
    line = cli_fails(capsys, "forecast", "eval", csv, "--target", "y", *TINY, "--test-size", 5, "--out", run)
    assert "would replace" in line


# 5. anomaly span ------------------------------------------------------------------------------
@pytest.mark.parametrize("span", ["-1", "0"])
def test_anomaly_span_below_one_is_refused(tmp_path, capsys, span):
    csv = anomaly_csv(tmp_path / "a.csv")
    line = cli_refused(capsys, "anomaly", "fit", csv, "--span", span, "--out", tmp_path / "r")
    assert "--span" in line


@pytest.mark.parametrize("span", [-1, 0, 0.5])
def test_detector_span_below_one_is_a_value_error(span):
    from rnnkit.anomaly import AnomalyDetector

    with pytest.raises(ValueError, match="span must be"):
        AnomalyDetector(span=span, window=4, epochs=1).fit(np.sin(np.arange(50.0)))


# 6. streaming refuses missing points ----------------------------------------------------------
def test_stream_refuses_a_missing_cell_instead_of_interpolating(anomaly_run, tmp_path, capsys):
    run, csv = anomaly_run
    lines = csv.read_text().splitlines()
    lines[6] = "5,,0"
    gap = tmp_path / "gap.csv"
    gap.write_text("\n".join(lines) + "\n")
    line = cli_fails(capsys, "anomaly", "detect", run, gap, "--stream")
    assert "'v'" in line and "data row 6" in line and "--stream cannot interpolate" in line
    rc, _, err = run_cli(["anomaly", "detect", run, gap], capsys)          # batch mode still interpolates
    assert rc == 0, err


# 7. column roles --------------------------------------------------------------------------------
@pytest.mark.parametrize("args, says", [
    (["--target", "y", "--future", "y"], "given to both --target and --future"),
    (["--target", "y,x", "--past", "x"], "given to both --target and --past"),
    (["--past", "x", "--future", "x"], "given to both --past and --future"),
    (["--target", "y,y"], "--target lists column 'y' twice"),
    (["--past", "y,x,f"], "no target column left"),
    (["--target", ","], "--target ',' names no column"),
])
def test_column_with_two_roles_or_listed_twice_is_refused(tmp_path, capsys, args, says):
    csv = series_csv(tmp_path / "s.csv")
    line = cli_fails(capsys, "forecast", "train", csv, *args, *TINY, "--out", tmp_path / "r")
    assert says in line and "NoneType" not in line


def test_anomaly_columns_listed_twice_are_refused(tmp_path, capsys):
    csv = anomaly_csv(tmp_path / "a.csv")
    assert "twice" in cli_fails(capsys, "anomaly", "fit", csv, "--columns", "v,v", *TINY_A, "--out", tmp_path / "r")
    line = cli_fails(capsys, "anomaly", "fit", csv, "--columns", "v,label", "--label-col", "label", *TINY_A,
                     "--out", tmp_path / "r")
    assert "--columns and --label-col" in line


# 8. CSV headers and rows ----------------------------------------------------------------------
@pytest.mark.parametrize("header, extra, says", [
    ("date,y,y,f", "", "'y' appears twice"),
    ("date,y,,f", "", "column 3 of the header has no name"),
    ("date,y,x,f", "60,1,2,3,4\n", "line 62 has 5 fields but the header has 4"),
])
def test_bad_csv_header_or_long_row_is_refused(tmp_path, capsys, header, extra, says):
    csv = series_csv(tmp_path / "s.csv", header=header, extra=extra)
    line = cli_fails(capsys, "forecast", "train", csv, *TINY, "--out", tmp_path / "r")
    assert says in line and "s.csv" in line


# 9. raw errno messages ----------------------------------------------------------------------------
@pytest.mark.parametrize("cmd", [["forecast", "train", "{csv}", "--target", "y", *TINY],
                                 ["anomaly", "fit", "{csv}", *TINY_A],
                                 ["gradflow", "--steps", 1, "--T", 3, "--cells", "lstm", "--no-extras"]])
def test_out_that_is_a_file_gives_no_errno(tmp_path, capsys, cmd):
    csv = series_csv(tmp_path / "s.csv")
    (tmp_path / "afile").write_text("x")
    argv = [str(csv) if a == "{csv}" else a for a in cmd]
    line = cli_fails(capsys, *argv, "--out", tmp_path / "afile")
    assert "is a file" in line and "Errno" not in line


def test_predict_with_missing_csv_names_the_file(forecast_run, tmp_path, capsys):
    run, _ = forecast_run
    line = cli_fails(capsys, "forecast", "predict", run, tmp_path / "nonexist.csv")
    assert "nonexist.csv: no such file" in line and "Errno" not in line


# 10. numeric options name themselves -------------------------------------------------------------
@pytest.mark.parametrize("argv, option", [
    (["forecast", "train", "s.csv", "--seed", "-1", "--out", "r"], "--seed"),
    (["forecast", "eval", "s.csv", "--step", "0", "--out", "r"], "--step"),
    (["forecast", "eval", "s.csv", "--step", "-1", "--out", "r"], "--step"),
    (["forecast", "eval", "s.csv", "--test-size", "0", "--out", "r"], "--test-size"),
    (["forecast", "train", "s.csv", "--horizon", "0", "--out", "r"], "--horizon"),
    (["forecast", "train", "s.csv", "--lr", "nan", "--out", "r"], "--lr"),
    (["anomaly", "fit", "a.csv", "--merge-gap", "-1", "--out", "r"], "--merge-gap"),
    (["anomaly", "detect", "r", "a.csv", "--early", "-5"], "--early"),
    (["gradflow", "--seed", "-1"], "--seed"),
    (["gradflow", "--lr", "0"], "--lr"),
    (["hello", "--seed", "-1"], "--seed"),
])
def test_bad_numeric_option_is_refused_naming_the_option(capsys, argv, option):
    assert f"argument {option}:" in cli_refused(capsys, *argv)


def test_test_size_below_the_horizon_says_so(tmp_path, capsys):
    csv = series_csv(tmp_path / "s.csv")
    line = cli_fails(capsys, "forecast", "eval", csv, "--target", "y", *TINY, "--horizon", 3, "--test-size", 2,
                     "--out", tmp_path / "r")
    assert "fewer than --horizon 3" in line


# 11. only a too-short series falls back to in-sample intervals --------------------------------------
@pytest.mark.parametrize("kw, says", [({"lr": 0}, "lr must be"), ({"lr": float("nan")}, "lr must be"),
                                      ({"clip": -1}, "clip must be"), ({"diff": -1}, "diff must be")])
def test_bad_training_settings_are_not_reported_as_a_short_series(caplog, kw, says):
    from rnnkit.forecast import Forecaster

    y = np.sin(np.arange(80) / 3)
    with caplog.at_level("WARNING", logger="rnnkit"), pytest.raises(ValueError, match=says):
        Forecaster(lookback=4, epochs=1, hidden_size=4, **kw).fit(y)
    assert "too short" not in caplog.text


# 12. tiny training parts say too short, with the minimum --------------------------------------------
def test_one_row_series_says_too_short_not_constant(tmp_path, capsys):
    p = tmp_path / "one.csv"
    p.write_text("time,y\n0,1.5\n")
    line = cli_fails(capsys, "forecast", "train", p, *TINY, "--out", tmp_path / "r")
    assert "fewer than" in line and "(6)" in line and "constant" not in line


def test_eval_with_almost_everything_held_out_says_too_short(tmp_path, capsys):
    csv = series_csv(tmp_path / "s.csv")
    line = cli_fails(capsys, "forecast", "eval", csv, "--target", "y", *TINY, "--test-size", 59,
                     "--out", tmp_path / "r")
    assert "leaves 1 training step(s)" in line and "at least 6" in line


@pytest.mark.parametrize("size, says", [("1.5", "neither a fraction"), ("5000", "more than the 120 rows")])
def test_anomaly_train_size_is_used_or_refused_properly(tmp_path, capsys, size, says):
    csv = anomaly_csv(tmp_path / "a.csv")
    line = cli_fails(capsys, "anomaly", "fit", csv, "--label-col", "label", "--train-size", size, *TINY_A,
                     "--out", tmp_path / "r")
    assert says in line and "constant" not in line


# 13. --future-csv with too few rows ------------------------------------------------------------------
def test_short_future_csv_counts_its_own_rows(tmp_path, capsys):
    csv = series_csv(tmp_path / "s.csv")
    rc, _, err = run_cli(["forecast", "train", csv, "--target", "y", "--future", "x", *TINY, "--horizon", 3,
                          "--out", tmp_path / "run"], capsys)
    assert rc == 0, err
    fut = tmp_path / "fut.csv"
    fut.write_text("date,x\n60,0.1\n61,0.2\n")
    line = cli_fails(capsys, "forecast", "predict", tmp_path / "run", csv, "--future-csv", fut)
    assert "has 2 row(s)" in line and "3 rows" in line


# 14. full precision in the CSVs -------------------------------------------------------------------------
def test_forecast_and_scores_csv_keep_full_precision(forecast_run, anomaly_run, tmp_path, capsys):
    from rnnkit.forecast import Forecaster
    from rnnkit.forecast.data import read_csv

    run, csv = forecast_run
    rc, _, err = run_cli(["forecast", "predict", run, csv], capsys)
    assert rc == 0, err
    _, y, _ = read_csv(str(csv), columns=["y"])
    want = Forecaster.load(str(run / "model.rnnkit")).predict(y)
    got = float((run / "forecast.csv").read_text().splitlines()[1].split(",")[1])
    assert got == want[0, 0]
    arun, acsv = anomaly_run
    rc, _, err = run_cli(["anomaly", "score", arun, acsv], capsys)
    assert rc == 0, err
    cells = [r.split(",")[2] for r in (arun / "scores.csv").read_text().splitlines()[20:30]]
    assert max(len(c) for c in cells) > 8


# 15. no partial output when the plot path is bad ------------------------------------------------------
def test_predict_with_bad_plot_path_writes_nothing(forecast_run, tmp_path, capsys):
    run, csv = forecast_run
    (tmp_path / "afile").write_text("x")
    line = cli_fails(capsys, "forecast", "predict", run, csv, "--plot", tmp_path / "afile" / "f.png")
    assert "--plot" in line and not (run / "forecast.csv").exists()


def test_detect_with_bad_plot_path_writes_nothing(anomaly_run, tmp_path, capsys):
    run, csv = anomaly_run
    line = cli_fails(capsys, "anomaly", "detect", run, csv, "--plot", tmp_path / "nonexist" / "p.png")
    assert "--plot" in line and "does not exist" in line
    assert not (run / "scores.csv").exists() and not (run / "detect.json").exists()


# 16. Python API errors ------------------------------------------------------------------------------------
def test_forecaster_fit_on_empty_array_is_a_clear_value_error():
    from rnnkit.forecast import Forecaster

    with pytest.raises(ValueError, match="empty"):
        Forecaster().fit(np.array([]))


def test_gate_activations_out_of_range_index_is_a_value_error():
    import rnnkit
    from rnnkit.diagnostics.gates import gate_activations

    lstm = rnnkit.LSTM(3, 4)
    lstm.forward(np.zeros((5, 2, 3)), keep_cache=True)
    with pytest.raises(ValueError, match="layer_index 5 is out of range"):
        gate_activations(lstm, layer_index=5)
    with pytest.raises(ValueError, match="direction 1 is out of range"):
        gate_activations(lstm, direction=1)


def test_forget_gate_mean_of_plain_rnn_is_a_value_error():
    import rnnkit
    from rnnkit.diagnostics.gates import forget_gate_mean

    rnn = rnnkit.RNN(3, 4)
    rnn.forward(np.zeros((5, 2, 3)), keep_cache=True)
    with pytest.raises(ValueError, match="no forget gate"):
        forget_gate_mean(rnn)


def test_gate_activations_of_a_plain_rnn_are_its_hidden_states_as_documented():
    import rnnkit
    from rnnkit.diagnostics.gates import gate_activations

    x = np.random.default_rng(0).standard_normal((5, 3, 2))
    for lengths in (None, [5, 2, 4]):
        rnn = rnnkit.RNN(2, 4, bidirectional=True, dtype=np.float64, seed=0)
        y, _ = rnn.forward(x, lengths=lengths, keep_cache=True)
        for d in (0, 1):
            acts = gate_activations(rnn, direction=d)
            assert list(acts) == ["h"]
            live = y[..., 4 * d:4 * d + 4] != 0                     # padded steps: the output is zero
            np.testing.assert_array_equal(acts["h"][live], y[..., 4 * d:4 * d + 4][live])


def test_point_scores_with_mismatched_lengths_is_a_value_error():
    from rnnkit.anomaly import event_scores, point_scores

    f, lab = np.zeros(20, bool), np.zeros(20, bool)
    with pytest.raises(ValueError, match="20 steps but labels has 10"):
        point_scores(f, lab[:10])
    with pytest.raises(ValueError, match="20 steps but labels has 10"):
        event_scores(f, lab[:10])


# 17. gradflow says when a cell diverged ----------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_gradflow_says_a_diverged_cell_stopped_early(tmp_path, capsys):
    rc, out, err = run_cli(["gradflow", "--lr", "1e6", "--T", 5, "--steps", 20, "--hidden", 4, "--batch", 4,
                            "--cells", "rnn_relu", "--no-extras", "--out", tmp_path], capsys)
    assert rc == 0, err
    assert "rnn_relu diverged" in err and "smaller --lr" in err
    assert json.loads((tmp_path / "gradflow.json").read_text())["cells"]["rnn_relu"]["steps_run"] < 20
    assert os.path.exists(tmp_path / "gradflow.png")


# 17. time columns the old code accepted (regression) ----------------------------------------------
@pytest.mark.parametrize("fmt", [lambda h: f"2024-01-01 {h:02d}:00:00+01",        # PostgreSQL's text output
                                 lambda h: f"2024-01-01 {h:02d}:00:00 UTC",
                                 lambda h: f"2024-01-01T{h:02d}:00-0530"])
def test_hour_only_offset_and_utc_suffix_are_read_as_dates(tmp_path, capsys, caplog, fmt):
    from rnnkit.forecast.data import time_keys

    keys = time_keys([fmt(h) for h in range(3)], "x")
    assert np.diff(keys).tolist() == [3600.0, 3600.0]
    csv = series_csv(tmp_path / "s.csv", n=24, dates=[fmt(h) for h in range(24)])
    with caplog.at_level("WARNING", logger="rnnkit"):
        rc, _, err = run_cli(["forecast", "train", csv, "--target", "y", *TINY, "--out", tmp_path / "r"], capsys)
    assert rc == 0, err
    assert not any("file order" in r.getMessage() for r in caplog.records)   # parsed, not a fallback


def test_hour_only_offsets_are_compared_in_utc():
    from rnnkit.forecast.data import time_keys

    a, b = time_keys(["2024-01-01 00:00:00+01", "2024-01-01 00:00:00 UTC"], "x")
    assert b - a == 3600.0


@pytest.mark.parametrize("label", [lambda i: f"{2000 + i // 4}Q{i % 4 + 1}",
                                   lambda i: f"{2024 + i // 52}-W{i % 52 + 1:02d}",
                                   lambda i: f"{i // 60:02d}:{i % 60:02d}"])
def test_quarter_week_and_time_of_day_columns_train_in_file_order(tmp_path, capsys, caplog, label):
    t = [label(i) for i in range(40)]
    p = tmp_path / "q.csv"
    p.write_text("time,value\n" + "".join(f"{a},{float(np.sin(i / 3))!r}\n" for i, a in enumerate(t)))
    with caplog.at_level("WARNING", logger="rnnkit"):
        rc, _, err = run_cli(["forecast", "train", p, *TINY, "--out", tmp_path / "f"], capsys)
        assert rc == 0, err
        rc, _, err = run_cli(["anomaly", "fit", p, "--window", 3, "--hidden", 4, "--epochs", 1,
                              "--out", tmp_path / "a"], capsys)
        assert rc == 0, err
    msgs = [r.getMessage() for r in caplog.records if "file order" in r.getMessage()]
    assert msgs and all("'time'" in m and repr(t[0]) in m for m in msgs)


def test_label_time_column_still_refuses_the_same_value_twice(tmp_path, capsys):
    t = [f"{2000 + i // 4}Q{i % 4 + 1}" for i in range(40)]
    t[10] = t[9]
    p = tmp_path / "q.csv"
    p.write_text("time,value\n" + "".join(f"{a},{float(np.sin(i / 3))!r}\n" for i, a in enumerate(t)))
    line = cli_fails(capsys, "forecast", "train", p, *TINY, "--out", tmp_path / "f")
    assert "duplicated timestamp" in line and repr(t[9]) in line and "data row 11" in line
    assert not (tmp_path / "f").exists()


# 18. outputs never overwrite the model, the input or each other -------------------------------------
def test_predict_out_onto_the_model_file_is_refused_and_the_model_survives(forecast_run, capsys):
    run, csv = forecast_run
    before = (run / "model.rnnkit").read_bytes()
    line = cli_fails(capsys, "forecast", "predict", run, csv, "--out", run / "model.rnnkit")
    assert "--out" in line and "model file" in line
    assert (run / "model.rnnkit").read_bytes() == before and not (run / "forecast.png").exists()


def test_predict_out_onto_the_input_csv_is_refused(forecast_run, capsys):
    run, csv = forecast_run
    before = csv.read_text()
    line = cli_fails(capsys, "forecast", "predict", run, csv, "--out", csv)
    assert "input CSV" in line and csv.read_text() == before


def test_predict_out_and_plot_naming_the_same_file_are_refused(forecast_run, tmp_path, capsys):
    run, csv = forecast_run
    line = cli_fails(capsys, "forecast", "predict", run, csv, "--out", tmp_path / "x.png", "--plot",
                     tmp_path / "x.png")
    assert "--plot" in line and not (tmp_path / "x.png").exists()


def test_output_through_a_symlink_to_the_model_is_refused(forecast_run, tmp_path, capsys):
    run, csv = forecast_run
    os.symlink(run / "model.rnnkit", tmp_path / "link.csv")
    line = cli_fails(capsys, "forecast", "predict", run, csv, "--out", tmp_path / "link.csv")
    assert "model file" in line


def test_eval_report_onto_the_input_csv_is_refused(tmp_path, capsys):
    (tmp_path / "e").mkdir()
    csv = series_csv(tmp_path / "e" / "backtest.csv")
    before = csv.read_text()
    line = cli_fails(capsys, "forecast", "eval", csv, "--target", "y", *TINY, "--out", tmp_path / "e")
    assert "input CSV" in line and csv.read_text() == before


def test_score_out_onto_the_model_file_is_refused(anomaly_run, capsys):
    run, csv = anomaly_run
    before = (run / "model.rnnkit").read_bytes()
    line = cli_fails(capsys, "anomaly", "score", run, csv, "--out", run / "model.rnnkit")
    assert "model file" in line and (run / "model.rnnkit").read_bytes() == before


def test_detect_outputs_naming_the_same_file_or_the_input_are_refused(anomaly_run, tmp_path, capsys):
    run, csv = anomaly_run
    line = cli_fails(capsys, "anomaly", "detect", run, csv, "--out", tmp_path / "r.json", "--report",
                     tmp_path / "r.json")
    assert "--report output" in line and not (tmp_path / "r.json").exists()
    before = csv.read_text()
    line = cli_fails(capsys, "anomaly", "detect", run, csv, "--report", csv)
    assert "input CSV" in line and csv.read_text() == before


def test_plot_format_matplotlib_cannot_write_is_refused_before_writing(forecast_run, anomaly_run, tmp_path,
                                                                       capsys):
    run, csv = forecast_run
    line = cli_fails(capsys, "forecast", "predict", run, csv, "--plot", tmp_path / "x.csv")
    assert "--plot" in line and "'csv'" in line and ".png" in line and not (run / "forecast.csv").exists()
    arun, acsv = anomaly_run
    line = cli_fails(capsys, "anomaly", "detect", arun, acsv, "--plot", tmp_path / "p.csv")
    assert "--plot" in line and not (arun / "scores.csv").exists()


def test_check_output_protect_refuses_the_same_file():
    from rnnkit.io.files import check_output

    here = os.path.abspath(__file__)
    with pytest.raises(ValueError, match="the model"):
        check_output(os.path.join(os.path.dirname(here), ".", os.path.basename(here)), "--out",
                     [(here, "the model")])
    assert check_output(here + ".other", "--out", [here, None]) == here + ".other"


# 19. a pandas index next to a date column ---------------------------------------------------------
@pytest.mark.parametrize("time_col", [[], ["--time-col", "date"]])
def test_pandas_index_next_to_a_date_column_is_neither_time_nor_value(tmp_path, capsys, time_col):
    from rnnkit.forecast.data import read_csv

    d = dates(80, lambda d: d.strftime("%Y-%m-%d"))
    p = tmp_path / "d.csv"
    p.write_text(",date,value\n" + "".join(f"{i},{a},{float(np.sin(i / 4))!r}\n" for i, a in enumerate(d)))
    times, values, names = read_csv(str(p), *(time_col[1:] or [None]))
    assert times[0] == d[0] and names == ["value"] and values.shape == (80, 1)
    rc, _, err = run_cli(["forecast", "train", p, *time_col, "--lookback", 6, "--horizon", 2, "--hidden", 4,
                          "--epochs", 1, "--out", tmp_path / "f"], capsys)
    assert rc == 0, err
    from rnnkit.io.files import read_file
    assert read_file(str(tmp_path / "f" / "model.rnnkit"))[0]["meta"]["targets"] == ["value"]


def test_pandas_index_alone_is_still_the_time(tmp_path):
    from rnnkit.forecast.data import read_csv

    p = tmp_path / "d.csv"
    p.write_text(",value\n" + "".join(f"{i},{i % 5}\n" for i in range(10)))
    times, values, names = read_csv(str(p))
    assert times[:2] == ["0", "1"] and names == ["value"]


# 20. static quantile bounds agree ----------------------------------------------------------------
def test_static_quantile_one_is_the_training_maximum(tmp_path, capsys):
    from rnnkit.anomaly.thresholds import static_threshold

    assert static_threshold(np.array([1.0, 3.0, 2.0]), 1) == 3.0
    csv = anomaly_csv(tmp_path / "a.csv")
    rc, _, err = run_cli(["anomaly", "fit", csv, "--label-col", "label", *TINY_A, "--threshold", "static",
                          "--quantile", 1, "--out", tmp_path / "r"], capsys)
    assert rc == 0, err
    line = cli_fails(capsys, "anomaly", "fit", csv, *TINY_A, "--quantile", 1.5, "--out", tmp_path / "r2")
    assert "(0, 1]" in line and not (tmp_path / "r2").exists()


def test_failed_anomaly_fit_leaves_no_empty_out_directory(tmp_path, capsys):
    csv = anomaly_csv(tmp_path / "a.csv")
    line = cli_fails(capsys, "anomaly", "fit", csv, *TINY_A, "--window", 70, "--out", tmp_path / "r")
    assert "2 * window + 1" in line and not (tmp_path / "r").exists()


# 21. recursive strategy on a series too short to calibrate ----------------------------------------
def test_recursive_forecast_on_too_short_series_says_the_minimum_length(tmp_path, capsys):
    csv = series_csv(tmp_path / "s.csv", n=8)
    line = cli_fails(capsys, "forecast", "train", csv, "--target", "y", "--lookback", 6, "--horizon", 2,
                     "--strategy", "recursive", "--hidden", 4, "--epochs", 1, "--out", tmp_path / "r")
    assert "fewer than" in line and "(9)" in line and "out of bounds" not in line
    assert not (tmp_path / "r").exists()
    csv = series_csv(tmp_path / "s9.csv", n=9)
    rc, _, err = run_cli(["forecast", "train", csv, "--target", "y", "--lookback", 6, "--horizon", 2,
                          "--strategy", "recursive", "--hidden", 4, "--epochs", 1, "--out", tmp_path / "r9"],
                         capsys)
    assert rc == 0, err


def test_export_never_overwrites_a_file_of_the_run_directory_but_an_earlier_export(tmp_path, capsys):
    pytest.importorskip("onnx")
    run = tiny_lm_run(tmp_path, capsys)
    (run / "notes.txt").write_text("mine")
    (run / "gradflow.json").write_text("{}")
    for name in ("notes.txt", "gradflow.json"):
        assert "saved files" in cli_fails(capsys, "export", "onnx", run, run / name)
    assert (run / "notes.txt").read_text() == "mine" and (run / "gradflow.json").read_text() == "{}"
    for _ in range(2):                                        # an earlier export may be replaced
        rc, _, err = run_cli(["export", "onnx", run, run / "model.onnx"], capsys)
        assert rc == 0, err


def test_gradflow_length_below_two_is_refused_at_parse_time(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["gradflow", "--out", str(tmp_path / "g"), "--T", "1"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--T" in err and "below 2" in err
    assert not (tmp_path / "g").exists()


def tiny_lm_run(tmp_path, capsys):
    """The directory of a two-step character language model run."""
    data = tmp_path / "train.txt"
    data.write_text("abcabcabd\n" * 20)
    run = tmp_path / "run"
    rc, _, err = run_cli(["lm", "train", "--data", data, "--level", "char", "--hidden", 4, "--seq-len", 4,
                          "--batch", 2, "--steps", 2, "--eval-every", 0, "--no-progress", "--out", run], capsys)
    assert rc == 0, err
    return run


# -- infinite cells and undefined MASE from the command line ------------------------------------------
def test_an_infinite_cell_is_named_by_row_and_column_in_batch_and_streaming(tmp_path, capsys):
    csv = anomaly_csv(tmp_path / "a.csv")
    rc, _, err = run_cli(["anomaly", "fit", csv, "--label-col", "label", *TINY_A, "--out", tmp_path / "r"], capsys)
    assert rc == 0, err
    lines = csv.read_text().splitlines()
    lines[51] = "50,inf,0"
    bad = tmp_path / "inf.csv"
    bad.write_text("\n".join(lines) + "\n")
    for extra in ([], ["--stream"]):
        line = cli_fails(capsys, "anomaly", "detect", tmp_path / "r", bad, "--label-col", "label", *extra)
        assert "inf.csv: row 52, column 'v': 'inf' is not a finite number" in line


def test_forecast_eval_writes_strict_json_when_mase_is_undefined(tmp_path, capsys):
    csv = tmp_path / "per.csv"
    csv.write_text("t,y\n" + "".join(f"{i},{[1, 2, 3, 5, 4, 2][i % 6]}\n" for i in range(60)))
    rc, out, err = run_cli(["forecast", "eval", csv, "--target", "y", "--lookback", 6, "--horizon", 2, "--hidden", 4,
                            "--epochs", 1, "--season", 6, "--test-size", 6, "--out", tmp_path / "r"], capsys)
    assert rc == 0, err
    data = json.loads((tmp_path / "r" / "backtest.json").read_text(),
                      parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert data["metrics"]["naive"]["MASE"] is None               # undefined: the training part repeats exactly
