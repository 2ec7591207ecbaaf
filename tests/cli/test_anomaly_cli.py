"""``rnnkit anomaly``, end to end on a tiny generated CSV; timestamps, spans, columns, training
sizes, missing or infinite cells, and outputs that never overwrite the model or the input."""
import json

import numpy as np
import pytest

from _anomaly_files import TINY_A, anomaly_csv, dates, fitted_detector
from conftest import cli_fails, cli_refused, run_cli


def write(path, n=300):
    t = np.arange(n)
    x = np.sin(2 * np.pi * t / 20) + 0.05 * np.random.default_rng(1).normal(size=n)
    lab = np.zeros(n, int)
    x[240:244] += 4
    lab[240:244] = 1
    path.write_text("time,v,label\n" + "".join(f"{i},{a:.4f},{b}\n" for i, a, b in zip(t, x, lab)))
    return path


def test_fit_detect_stream_and_batch_agree(tmp_path, capsys):
    csv = write(tmp_path / "a.csv")
    rc, out, err = run_cli(["anomaly", "fit", csv, "--label-col", "label", "--train-size", 200, "--epochs", 3,
                        "--hidden", 8, "--window", 16, "--out", tmp_path / "run"], capsys)
    assert rc == 0, err
    rc, out_b, err = run_cli(["anomaly", "detect", tmp_path / "run", csv, "--label-col", "label"], capsys)
    assert rc == 0, err
    batch = (tmp_path / "run" / "scores.csv").read_text()
    rc, out_s, err = run_cli(["anomaly", "detect", tmp_path / "run", csv, "--label-col", "label", "--stream"], capsys)
    assert rc == 0, err
    stream = (tmp_path / "run" / "scores.csv").read_text()
    flags = lambda text: [l.split(",")[4] for l in text.splitlines()[1:]]  # noqa: E731
    assert flags(batch) == flags(stream)
    rep = json.loads((tmp_path / "run" / "detect.json").read_text())
    assert rep["event"]["events"] == 1
    alerts = [l for l in out_s.splitlines() if l.startswith("ALERT")]
    assert len(alerts) == len(rep["intervals"])
    assert (tmp_path / "run" / "detect.png").stat().st_size > 1000
    rc, out, err = run_cli(["anomaly", "score", tmp_path / "run", csv, "--out", tmp_path / "s.csv"], capsys)
    assert rc == 0 and (tmp_path / "s.csv").read_text().startswith("time,score,smoothed,threshold,flag")


def test_bad_inputs_are_one_line(tmp_path, capsys):
    p = tmp_path / "c.csv"
    p.write_text("time,v\n" + "".join(f"{i},1\n" for i in range(100)))
    rc, out, err = run_cli(["anomaly", "fit", p, "--epochs", 1, "--out", tmp_path / "r"], capsys)
    assert rc == 2 and "constant" in err and len(err.strip().splitlines()) == 1
    p.write_text("time,v\n" + "".join(f"{i},{np.sin(i)}\n" for i in range(20)))
    rc, out, err = run_cli(["anomaly", "fit", p, "--epochs", 1, "--window", 32, "--out", tmp_path / "r"], capsys)
    assert rc == 2 and "window" in err
    p.write_text("time,v\n1,1\n1,2\n")
    rc, out, err = run_cli(["anomaly", "fit", p, "--out", tmp_path / "r"], capsys)
    assert rc == 2 and "duplicated" in err


# -- timestamps, an --out that holds a detector, spans, missing points, columns, sizes -----------------------


@pytest.fixture
def anomaly_run(tmp_path, capsys):
    return fitted_detector(tmp_path, capsys)


def test_anomaly_uses_parsed_timestamps_too(tmp_path, capsys):
    t = dates(120, lambda d: f"{d.year}-{d.month}-{d.day}")
    z = np.sin(np.arange(120) / 3)
    p = tmp_path / "a.csv"
    p.write_text("date,v\n" + "".join(f"{a},{float(b)!r}\n" for a, b in zip(t, z)))
    rc, _, err = run_cli(["anomaly", "fit", p, *TINY_A, "--out", tmp_path / "r"], capsys)
    assert rc == 0, err


def test_anomaly_fit_does_not_replace_a_fitted_detector(anomaly_run, capsys):
    run, csv = anomaly_run
    before = (run / "model.rnnkit").read_bytes()
    line = cli_fails(capsys, "anomaly", "fit", csv, *TINY_A, "--out", run)
    assert "already holds" in line and (run / "model.rnnkit").read_bytes() == before


@pytest.mark.parametrize("span", ["-1", "0"])
def test_anomaly_span_below_one_is_refused(tmp_path, capsys, span):
    csv = anomaly_csv(tmp_path / "a.csv")
    line = cli_refused(capsys, "anomaly", "fit", csv, "--span", span, "--out", tmp_path / "r")
    assert "--span" in line


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


def test_anomaly_columns_listed_twice_are_refused(tmp_path, capsys):
    csv = anomaly_csv(tmp_path / "a.csv")
    assert "twice" in cli_fails(capsys, "anomaly", "fit", csv, "--columns", "v,v", *TINY_A, "--out", tmp_path / "r")
    line = cli_fails(capsys, "anomaly", "fit", csv, "--columns", "v,label", "--label-col", "label", *TINY_A,
                     "--out", tmp_path / "r")
    assert "--columns and --label-col" in line


@pytest.mark.parametrize("size, says", [("1.5", "neither a fraction"), ("5000", "more than the 120 rows")])
def test_anomaly_train_size_is_used_or_refused_properly(tmp_path, capsys, size, says):
    csv = anomaly_csv(tmp_path / "a.csv")
    line = cli_fails(capsys, "anomaly", "fit", csv, "--label-col", "label", "--train-size", size, *TINY_A,
                     "--out", tmp_path / "r")
    assert says in line and "constant" not in line


# -- outputs never overwrite the model, the input or each other ----------------------------------------------
def test_detect_with_bad_plot_path_writes_nothing(anomaly_run, tmp_path, capsys):
    run, csv = anomaly_run
    line = cli_fails(capsys, "anomaly", "detect", run, csv, "--plot", tmp_path / "nonexist" / "p.png")
    assert "--plot" in line and "does not exist" in line
    assert not (run / "scores.csv").exists() and not (run / "detect.json").exists()


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


# -- static quantile bounds, a failed fit, infinite cells ----------------------------------------------------
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
