"""``rnnkit forecast``, end to end on tiny generated CSVs: files written, bad input as one line."""
import json

import numpy as np
import pytest

from conftest import run_cli


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
    assert lines[0] == "step,y,y_lower,y_upper" and len(lines) == 4
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
