"""Every train command takes ``--early-stopping PATIENCE`` and ``--lr-schedule``;
the learning rate and the stop reason land in ``metrics.jsonl`` and in ``rnnkit report``."""
import json

import numpy as np
import pytest

from conftest import run_cli


def lines(run):
    return [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("controls")
    rng = np.random.default_rng(0)
    t = np.arange(300)
    y = np.sin(t / 7) + 0.15 * rng.normal(size=300)
    (root / "series.csv").write_text("time,value\n" + "".join(f"{i},{v:.5f}\n" for i, v in enumerate(y)))
    rows = ["text,label"]
    for _ in range(80):                      # labels the text does not predict: the validation loss soon rises
        rows.append(f"{''.join(rng.choice(list('abc'), int(rng.integers(3, 9))))},{rng.choice(['x', 'y'])}")
    (root / "cls.csv").write_text("\n".join(rows) + "\n")
    tags = [json.dumps({"tokens": list(w), "tags": [str(rng.choice(["A", "B"])) for _ in w]})
            for w in ("".join(rng.choice(list("pqr"), int(rng.integers(2, 6)))) for _ in range(60))]
    (root / "tags.jsonl").write_text("\n".join(tags) + "\n")
    (root / "text.txt").write_text("".join(rng.choice(list("abcd \n"), 6000)))
    return root


def test_classify_train_stops_early_logs_the_rate_and_the_reason(data, tmp_path, capsys):
    run = tmp_path / "run"
    rc, out, _ = run_cli(["classify", "train", "--data", data / "cls.csv", "--out", run, "--epochs", "40",
                          "--hidden", "16", "--lr", "0.05", "--early-stopping", "2", "--validation-fraction", "0.25",
                          "--lr-schedule", "step", "--lr-step-size", "2", "--lr-gamma", "0.5", "--quiet"], capsys)
    assert rc == 0 and "early stopping at epoch" in out
    ms = lines(run)
    assert ms[-1]["stop"].startswith("early stopping") and ms[-1]["restored"] is True
    epochs = [m for m in ms if "loss" in m]
    assert [m["lr"] for m in epochs[:4]] == pytest.approx([0.05, 0.05, 0.025, 0.025])
    assert all("val_loss" in m for m in epochs) and len(epochs) < 40
    config = json.loads((run / "config.json").read_text())
    assert config["controls"]["early_stopping"] == 2 and config["controls"]["lr_schedule"] == "step"
    rc, _, _ = run_cli(["classify", "eval", run, "--data", data / "cls.csv"], capsys)
    assert rc == 0


def test_tag_train_takes_the_plateau_schedule_and_its_own_validation_file(data, tmp_path, capsys):
    run = tmp_path / "run"
    rc, _, err = run_cli(["tag", "train", "--data", data / "tags.jsonl", "--val", data / "tags.jsonl", "--out", run,
                          "--epochs", "6", "--hidden", "8", "--lr-schedule", "plateau", "--lr-patience", "0",
                          "--quiet"], capsys)
    assert rc == 0, err
    epochs = [m for m in lines(run) if "loss" in m]
    assert len(epochs) == 6 and all("val_loss" in m and "lr" in m for m in epochs)


def test_forecast_train_and_anomaly_fit_write_metrics_with_the_rate_and_the_stop(data, tmp_path, capsys):
    for argv in (["forecast", "train", data / "series.csv", "--epochs", "60", "--hidden", "8", "--lr", "0.05"],
                 ["anomaly", "fit", data / "series.csv", "--epochs", "60", "--hidden", "8", "--lr", "0.05"]):
        run = tmp_path / argv[0]
        rc, out, err = run_cli([*argv, "--out", run, "--early-stopping", "1", "--lr-schedule", "cosine"], capsys)
        assert rc == 0, err
        ms = lines(run)
        assert "early stopping" in out and ms[-1]["stop"] in out
        rates = [m["lr"] for m in ms if "lr" in m]
        assert rates[0] == pytest.approx(0.05) and rates[-1] < rates[0]


def test_lm_train_stops_on_its_validations_and_the_report_draws_it(data, tmp_path, capsys):
    run = tmp_path / "run"
    rc, out, err = run_cli(["lm", "train", "--data", data / "text.txt", "--level", "char", "--hidden", "16",
                            "--layers", "1", "--seq-len", "16", "--batch", "4", "--steps", "400", "--lr", "0.05",
                            "--eval-every", "10", "--early-stopping", "2", "--lr-schedule", "cosine",
                            "--no-progress", "--out", run], capsys)
    assert rc == 0, err
    ms = lines(run)
    stop = next(m for m in ms if "stop" in m)
    assert stop["best_at"].startswith("step ") and "early stopping at step" in out
    assert max(m["step"] for m in ms) < 400
    rc, _, _ = run_cli(["report", run], capsys)
    page = (run / "report.html").read_text()
    assert rc == 0 and "Learning rate and early stopping" in page and "Stopped early" in page
    assert "scheduled learning rate" in page and "stopped</text>" in page


def test_report_of_an_old_run_says_the_controls_are_absent(tmp_path):
    from rnnkit.diagnostics import write_report

    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "loss": 1.0}\n{"step": 2, "loss": 0.5}\n')
    page = open(write_report(str(tmp_path)), encoding="utf-8").read()
    assert "absent: lr and stop" in page


@pytest.mark.parametrize("argv", [["lm", "train"], ["classify", "train"], ["tag", "train"], ["seq2seq", "train"],
                                  ["forecast", "train"], ["anomaly", "fit"]])
def test_every_train_command_lists_the_controls_in_its_help(argv, capsys):
    with pytest.raises(SystemExit):
        run_cli([*argv, "--help"], capsys)
    text = capsys.readouterr().out
    for option in ("--early-stopping", "--lr-schedule", "--validation-fraction", "--min-delta"):
        assert option in text
