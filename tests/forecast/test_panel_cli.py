"""``rnnkit forecast train|predict|eval`` with one model per series: --per-series (wide
files), --id-col (long files), --jobs; the same files for any number of workers."""
import json

import numpy as np

from conftest import cli_fails, run_cli

TINY = ["--lookback", 6, "--horizon", 3, "--epochs", 2, "--hidden", 4]


def write_wide(path, n=60):
    t = np.arange(n)
    path.write_text("date,a,b,c\n" + "".join(
        f"{2020 + i // 12}-{i % 12 + 1:02d},{10 + np.sin(i / 2):.3f},{20 + np.cos(i / 3):.3f},{5 + 0.1 * i:.3f}\n"
        for i in t))
    return path


def write_long(path, n=60):
    rows = [f"{s},{2020 + i // 12}-{i % 12 + 1:02d},{10 + k + np.sin(i / 2 + k):.3f}\n"
            for k, s in enumerate(["north", "south"]) for i in range(k * 3, n)]
    path.write_text("store,date,sales\n" + "".join(rows[::-1]))          # rows in reverse order
    return path


def test_per_series_models_are_the_same_for_one_and_two_workers(tmp_path, capsys):
    csv = write_wide(tmp_path / "w.csv")
    for jobs in (1, 2):
        rc, out, err = run_cli(["forecast", "train", "--data", csv, "--per-series", "--jobs", jobs, *TINY,
                                "--out", tmp_path / f"run{jobs}"], capsys)
        assert rc == 0 and "trained 3 models, one per series" in out, err
        assert run_cli(["forecast", "predict", tmp_path / f"run{jobs}", "--data", csv], capsys)[0] == 0
    one, two = ((tmp_path / f"run{j}" / "forecast.csv").read_text() for j in (1, 2))
    assert one == two
    lines = one.splitlines()
    assert lines[0] == "series,step,time,forecast,lower,upper" and len(lines) == 1 + 3 * 3
    assert lines[1].startswith("a,1,2025-01,")


def test_long_file_gets_one_model_per_id(tmp_path, capsys):
    csv = write_long(tmp_path / "l.csv")
    rc, out, err = run_cli(["forecast", "train", "--data", csv, "--id-col", "store", *TINY,
                            "--out", tmp_path / "run"], capsys)
    assert rc == 0, err
    index = json.loads((tmp_path / "run" / "panel.json").read_text())
    assert index["ids"] == ["south", "north"] and index["meta"]["layout"] == "long"
    assert run_cli(["forecast", "predict", tmp_path / "run", "--data", csv], capsys)[0] == 0
    rows = (tmp_path / "run" / "forecast.csv").read_text().splitlines()[1:]
    assert [r.split(",")[:3] for r in rows[:3]] == [["south", "1", "2025-01"], ["south", "2", "2025-02"],
                                                   ["south", "3", "2025-03"]]


def test_eval_per_series_reports_every_series_and_the_means(tmp_path, capsys):
    csv = write_wide(tmp_path / "w.csv")
    rc, out, err = run_cli(["forecast", "eval", "--data", csv, "--per-series", "--jobs", 2, *TINY,
                            "--test-size", 12, "--out", tmp_path / "ev"], capsys)
    assert rc == 0, err
    report = json.loads((tmp_path / "ev" / "backtest.json").read_text())
    assert set(report["series"]) == {"a", "b", "c"} and report["series"]["a"]["origins"] == 10
    assert all(isinstance(r["season"], int) and r["season"] >= 1 for r in report["series"].values())  # "auto" resolved
    assert set(report["mean"]) == {"rnn", "naive", "seasonal_naive", "ets"}
    assert "MASE per series: a " in out


def test_panel_mistakes_are_one_line_errors(tmp_path, capsys):
    wide, long = write_wide(tmp_path / "w.csv"), write_long(tmp_path / "l.csv")
    line = cli_fails(capsys, "forecast", "train", "--data", long, "--id-col", "shop", *TINY, "--out", tmp_path / "r")
    assert "no id column 'shop'" in line and "pass --id-col one of them" in line
    line = cli_fails(capsys, "forecast", "train", "--data", wide, "--jobs", 2, *TINY, "--out", tmp_path / "r")
    assert "--per-series" in line and "--id-col" in line
    line = cli_fails(capsys, "forecast", "train", "--data", wide, "--per-series", "--past", "c", *TINY,
                     "--out", tmp_path / "r")
    assert "takes no covariates" in line
    line = cli_fails(capsys, "forecast", "train", "--data", wide, "--per-series", "--lookback", 70, "--out",
                     tmp_path / "r")
    assert "series 'a':" in line and "fewer than lookback" in line
    assert not (tmp_path / "r").exists()                  # a failed fit leaves no run directory
