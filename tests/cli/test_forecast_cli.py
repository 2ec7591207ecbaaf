"""``rnnkit forecast``, end to end on tiny generated CSVs: files written, bad input as one line;
timestamps parsed, column roles, outputs that never overwrite the model or the input, series
too short, full precision, strict JSON."""
import json
import os

import numpy as np
import pytest

from _anomaly_files import TINY_A, dates, fitted_detector
from conftest import cli_fails, cli_refused, run_cli


def write_series(path, n=80, extra=""):
    t = np.arange(n)
    y = 20 + 5 * np.sin(2 * np.pi * t / 12) + 0.05 * t
    path.write_text("time,y,x\n" + "".join(f"{i},{v:.4f},{np.cos(i):.3f}\n" for i, v in zip(t, y)) + extra)
    return path


def test_train_predict_writes_model_csv_and_png(tmp_path, capsys):
    csv = write_series(tmp_path / "s.csv")
    rc, out, err = run_cli(["forecast", "train", csv, "--target", "y", "--lookback", 12, "--horizon", 3,
                        "--epochs", 2, "--hidden", 4, "--out", tmp_path / "run"], capsys)
    assert rc == 0, err
    rc, out, err = run_cli(["forecast", "predict", tmp_path / "run", csv], capsys)
    assert rc == 0, err
    lines = (tmp_path / "run" / "forecast.csv").read_text().splitlines()
    assert lines[0] == "step,time,y,y_lower,y_upper" and len(lines) == 4      # the times continue 0..79
    assert [r.split(",")[1] for r in lines[1:]] == ["80", "81", "82"]
    assert (tmp_path / "run" / "forecast.png").stat().st_size > 1000


def test_future_covariates_need_future_csv(tmp_path, capsys):
    csv = write_series(tmp_path / "s.csv")
    run_cli(["forecast", "train", csv, "--target", "y", "--future", "x", "--lookback", 6, "--horizon", 2,
         "--epochs", 1, "--hidden", 4, "--out", tmp_path / "run"], capsys)
    rc, out, err = run_cli(["forecast", "predict", tmp_path / "run", csv], capsys)
    assert rc == 2 and "--future-csv" in err and "Traceback" not in err
    (tmp_path / "f.csv").write_text("time,x\n80,0.1\n81,0.2\n")
    rc, out, err = run_cli(["forecast", "predict", tmp_path / "run", csv, "--future-csv", tmp_path / "f.csv"], capsys)
    assert rc == 0, err


def test_eval_reports_rnn_and_baselines(tmp_path, capsys):
    csv = write_series(tmp_path / "s.csv")
    rc, out, err = run_cli(["forecast", "eval", csv, "--target", "y", "--lookback", 12, "--horizon", 2,
                        "--epochs", 2, "--hidden", 4, "--season", 12, "--test-size", 10,
                        "--out", tmp_path / "ev"], capsys)
    assert rc == 0, err
    rep = json.loads((tmp_path / "ev" / "backtest.json").read_text())
    assert {"rnn", "naive", "seasonal_naive"} <= set(rep["metrics"])
    assert len(rep["origins"]) == 9 and "MASE" in out and 0 <= rep["interval_coverage"] <= 1


@pytest.mark.parametrize("extra_rows,args,match", [
    ("", ["--lookback", 200], "fewer than lookback"),
    ("80,abc,1\n", [], "not a number"),
    ("79,1,1\n", [], "duplicated timestamp"),
    ("3,1,1\n", [], "not increasing"),
])
def test_bad_input_is_one_line_error(tmp_path, capsys, extra_rows, args, match):
    csv = write_series(tmp_path / "s.csv", extra=extra_rows)
    rc, out, err = run_cli(["forecast", "train", csv, "--target", "y", "--epochs", 1, "--lookback", 6,
                        "--out", tmp_path / "run", *args], capsys)
    assert rc == 2
    assert err.startswith("rnnkit: error:") and match in err and len(err.strip().splitlines()) == 1


def test_constant_series_and_missing_values(tmp_path, capsys, caplog):
    p = tmp_path / "c.csv"
    p.write_text("time,y\n" + "".join(f"{i},5\n" for i in range(40)))
    rc, out, err = run_cli(["forecast", "train", p, "--lookback", 4, "--epochs", 1, "--out", tmp_path / "r"], capsys)
    assert rc == 2 and "constant" in err
    csv = write_series(tmp_path / "s.csv")
    lines = csv.read_text().splitlines()
    lines[6] = "5,,0.1"
    csv.write_text("\n".join(lines) + "\n")
    with caplog.at_level("WARNING", logger="rnnkit"):
        rc, out, err = run_cli(["forecast", "train", csv, "--target", "y", "--lookback", 6, "--epochs", 1,
                            "--out", tmp_path / "r"], capsys)
    assert rc == 0 and "1 missing value(s); filled by linear interpolation" in caplog.text


def test_predict_with_wrong_file_is_clear(tmp_path, capsys):
    csv = write_series(tmp_path / "s.csv")
    (tmp_path / "bad.rnnkit").write_bytes(b"not a zip")
    rc, out, err = run_cli(["forecast", "predict", tmp_path / "bad.rnnkit", csv], capsys)
    assert rc == 2 and "not a readable rnnkit file" in err


# -- timestamps are parsed, not compared as strings ----------------------------------------------------------
TINY = ["--lookback", 4, "--epochs", 1, "--hidden", 4]


def series_csv(path, n=60, header="date,y,x,f", dates=None, extra=""):
    """A small seasonal series with a covariate ``x`` and a feature ``f``."""
    t = np.arange(n)
    y = 10 + 3 * np.sin(2 * np.pi * t / 12) + 0.02 * t
    dates = dates or [f"{i}" for i in t]
    path.write_text(header + "\n" + "".join(f"{d},{float(a)!r},{float(np.cos(i / 5))!r},{i % 7}\n"
                                            for i, (d, a) in enumerate(zip(dates, y))) + extra)
    return path


@pytest.fixture
def forecast_run(tmp_path, capsys):
    csv = series_csv(tmp_path / "s.csv")
    rc, _, err = run_cli(["forecast", "train", csv, "--target", "y", *TINY, "--out", tmp_path / "run"], capsys)
    assert rc == 0, err
    return tmp_path / "run", csv


@pytest.fixture
def anomaly_run(tmp_path, capsys):
    return fitted_detector(tmp_path, capsys)


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


# -- training into an --out that holds a model ---------------------------------------------------------------
def test_forecast_train_does_not_replace_a_trained_model(forecast_run, capsys):
    run, csv = forecast_run
    before = (run / "model.rnnkit").read_bytes()
    line = cli_fails(capsys, "forecast", "train", csv, "--target", "y", *TINY, "--seed", 3, "--out", run)
    assert "already holds" in line and "choose a new --out" in line
    assert (run / "model.rnnkit").read_bytes() == before


def test_forecast_eval_does_not_replace_a_trained_model(forecast_run, capsys):
    run, csv = forecast_run
    line = cli_fails(capsys, "forecast", "eval", csv, "--target", "y", *TINY, "--test-size", 5, "--out", run)
    assert "would replace" in line


# -- column roles, CSV headers and rows ----------------------------------------------------------------------
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


@pytest.mark.parametrize("header, extra, says", [
    ("date,y,y,f", "", "'y' appears twice"),
    ("date,y,,f", "", "column 3 of the header has no name"),
    ("date,y,x,f", "60,1,2,3,4\n", "line 62 has 5 fields but the header has 4"),
])
def test_bad_csv_header_or_long_row_is_refused(tmp_path, capsys, header, extra, says):
    csv = series_csv(tmp_path / "s.csv", header=header, extra=extra)
    line = cli_fails(capsys, "forecast", "train", csv, *TINY, "--out", tmp_path / "r")
    assert says in line and "s.csv" in line


# -- paths and numeric options named without errno -----------------------------------------------------------
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


# -- series too short, --future-csv too short ----------------------------------------------------------------
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


def test_short_future_csv_counts_its_own_rows(tmp_path, capsys):
    csv = series_csv(tmp_path / "s.csv")
    rc, _, err = run_cli(["forecast", "train", csv, "--target", "y", "--future", "x", *TINY, "--horizon", 3,
                          "--out", tmp_path / "run"], capsys)
    assert rc == 0, err
    fut = tmp_path / "fut.csv"
    fut.write_text("date,x\n60,0.1\n61,0.2\n")
    line = cli_fails(capsys, "forecast", "predict", tmp_path / "run", csv, "--future-csv", fut)
    assert "has 2 row(s)" in line and "3 rows" in line


# -- full precision in the CSVs, no partial output on a bad plot path ----------------------------------------
def test_forecast_and_scores_csv_keep_full_precision(forecast_run, anomaly_run, tmp_path, capsys):
    from rnnkit.forecast import Forecaster
    from rnnkit.forecast.data import read_csv

    run, csv = forecast_run
    rc, _, err = run_cli(["forecast", "predict", run, csv], capsys)
    assert rc == 0, err
    _, y, _ = read_csv(str(csv), columns=["y"])
    want = Forecaster.load(str(run / "model.rnnkit")).predict(y)
    lines = (run / "forecast.csv").read_text().splitlines()
    got = float(lines[1].split(",")[lines[0].split(",").index("y")])
    assert got == want[0, 0]
    arun, acsv = anomaly_run
    rc, _, err = run_cli(["anomaly", "score", arun, acsv], capsys)
    assert rc == 0, err
    cells = [r.split(",")[2] for r in (arun / "scores.csv").read_text().splitlines()[20:30]]
    assert max(len(c) for c in cells) > 8


def test_predict_with_bad_plot_path_writes_nothing(forecast_run, tmp_path, capsys):
    run, csv = forecast_run
    (tmp_path / "afile").write_text("x")
    line = cli_fails(capsys, "forecast", "predict", run, csv, "--plot", tmp_path / "afile" / "f.png")
    assert "--plot" in line and not (run / "forecast.csv").exists()


# -- time columns the old code accepted (regression) ---------------------------------------------------------
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


# -- outputs never overwrite the model, the input or each other ----------------------------------------------
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


def test_plot_format_matplotlib_cannot_write_is_refused_before_writing(forecast_run, anomaly_run, tmp_path,
                                                                       capsys):
    run, csv = forecast_run
    line = cli_fails(capsys, "forecast", "predict", run, csv, "--plot", tmp_path / "x.csv")
    assert "--plot" in line and "'csv'" in line and ".png" in line and not (run / "forecast.csv").exists()
    arun, acsv = anomaly_run
    line = cli_fails(capsys, "anomaly", "detect", arun, acsv, "--plot", tmp_path / "p.csv")
    assert "--plot" in line and not (arun / "scores.csv").exists()


# -- a pandas index next to a date column; the recursive strategy on a short series --------------------------
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


# -- undefined MASE written as strict JSON -------------------------------------------------------------------
def test_forecast_eval_writes_strict_json_when_mase_is_undefined(tmp_path, capsys):
    csv = tmp_path / "per.csv"
    csv.write_text("t,y\n" + "".join(f"{i},{[1, 2, 3, 5, 4, 2][i % 6]}\n" for i in range(60)))
    rc, out, err = run_cli(["forecast", "eval", csv, "--target", "y", "--lookback", 6, "--horizon", 2, "--hidden", 4,
                            "--epochs", 1, "--season", 6, "--test-size", 6, "--out", tmp_path / "r"], capsys)
    assert rc == 0, err
    data = json.loads((tmp_path / "r" / "backtest.json").read_text(),
                      parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert data["metrics"]["naive"]["MASE"] is None               # undefined: the training part repeats exactly
