"""``rnnkit lm train|sample|eval`` refusing what it cannot use: bad options refused at once,
damaged or foreign run files named, resumes that differ from the run refused and changing
nothing, a damaged metrics line losing only itself, an infinite perplexity written as null."""
import json
import os

import pytest

from conftest import cli_fails, cli_refused
from rnnkit.cli import main
from rnnkit.models import LanguageModel
from rnnkit.runs import RunDir
from _lm_tiny import TEXT, TINY, text_file, tiny, trained_run

@pytest.fixture
def data(tmp_path):
    return text_file(tmp_path)


@pytest.fixture
def trained(tmp_path, data, capsys):
    return trained_run(tmp_path, data, capsys)


@pytest.mark.parametrize("option, value, says", [("--seq-len", "0", "not a positive integer"),
                                                  ("--batch", "0", "not a positive integer"),
                                                  ("--lr", "nan", "not a finite number"),
                                                  ("--clip", "-1", "negative"),
                                                  ("--steps", "-5", "not a positive integer"),
                                                  ("--seed", "-1", "negative")])
def test_train_refuses_numbers_no_run_can_use(capsys, tmp_path, data, option, value, says):
    line = cli_refused(capsys, "lm", "train", "--data", data, *TINY, option, value, "--out", tmp_path / "r")
    assert option in line and says in line
    assert not (tmp_path / "r").exists()                  # refused before anything is made


@pytest.mark.parametrize("option, value", [("--top-k", "0"), ("--temperature", "nan"), ("--length", "-5")])
def test_sample_refuses_numbers_it_cannot_use(capsys, trained, option, value):
    assert option in cli_refused(capsys, "lm", "sample", trained, option, value)


def test_a_config_that_is_not_a_json_object_is_named(capsys, trained):
    (trained / "config.json").write_text("[1, 2]")
    line = cli_fails(capsys, "lm", "sample", str(trained))
    assert "config.json" in line and "not an object" in line
    line = cli_fails(capsys, "lm", "train", "--out", str(trained), "--resume", "--no-progress")
    assert "config.json" in line


def test_a_run_directory_that_is_a_file_is_named(capsys, data):
    line = cli_fails(capsys, "lm", "sample", str(data))
    assert "is a file, not a run directory" in line


def test_resume_refuses_options_that_differ_from_the_run_and_changes_nothing(capsys, trained, data):
    before = (trained / "config.json").read_text()
    line = cli_fails(capsys, "lm", "train", "--out", str(trained), "--resume", "--steps", "20", "--hidden", "999",
                     "--no-progress")
    assert "--hidden 999" in line and "the run's 16" in line and "config.json" in line
    assert (trained / "config.json").read_text() == before
    # an option equal to the run's own is fine
    assert main(["lm", "train", "--out", str(trained), "--resume", "--steps", "14", "--hidden", "16",
                 "--no-progress"]) == 0


def test_resume_to_a_step_the_run_passed_is_refused_and_changes_nothing(capsys, trained):
    before = (trained / "config.json").read_text()
    line = cli_fails(capsys, "lm", "train", "--out", str(trained), "--resume", "--steps", "10", "--no-progress")
    assert "at step 12 already" in line
    assert (trained / "config.json").read_text() == before


def test_resume_finds_the_training_text_where_data_now_points(capsys, trained, data, tmp_path):
    moved = tmp_path / "moved.txt"
    os.replace(data, moved)
    assert "no such file" in cli_fails(capsys, "lm", "train", "--out", str(trained), "--resume", "--steps", "14",
                                       "--no-progress")
    assert main(["lm", "train", "--out", str(trained), "--resume", "--steps", "14", "--data", str(moved),
                 "--no-progress"]) == 0
    assert json.loads((trained / "config.json").read_text())["data"]["files"] == [str(moved)]


def test_a_fresh_run_starts_a_new_metrics_log(tmp_path, data, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.jsonl").write_text('{"step": 1, "loss": 99.0}\n')     # left by a run that failed early
    assert main(["lm", "train", "--data", str(data), *TINY, "--steps", "3", "--out", str(out)]) == 0
    steps = [m["step"] for m in RunDir(out).read_metrics() if "loss" in m]
    assert steps == [1, 2, 3] and all(m["loss"] != 99.0 for m in RunDir(out).read_metrics() if "loss" in m)


def test_a_damaged_metrics_line_loses_only_itself_when_resuming(capsys, trained):
    path = trained / "metrics.jsonl"
    lines = path.read_text().splitlines()
    lines[4] = '{"step": 5, "lo'
    path.write_text("\n".join(lines) + "\n")
    assert main(["lm", "train", "--out", str(trained), "--resume", "--steps", "14", "--no-progress"]) == 0
    steps = [m["step"] for m in RunDir(trained).read_metrics() if "loss" in m]
    assert steps == [1, 2, 3, 4] + list(range(6, 15))


def test_utf16_text_is_named_with_the_conversion(capsys, tmp_path):
    p = tmp_path / "u16.txt"
    p.write_bytes(TEXT.encode("utf-16"))
    line = cli_fails(capsys, "lm", "train", "--data", str(p), *TINY, "--steps", "2", "--out", str(tmp_path / "r"))
    assert "UTF-16" in line and "iconv" in line


def test_a_directory_where_the_checkpoint_should_be_is_named(capsys, trained):
    os.unlink(trained / "checkpoint.npz")
    (trained / "checkpoint.npz").mkdir()
    assert "is a directory" in cli_fails(capsys, "lm", "sample", str(trained))


def test_lm_resume_on_a_run_of_another_kind_is_named(capsys, tmp_path):
    csv = tmp_path / "c.csv"
    csv.write_text("text,label\ngood,1\nbad,0\nnice,1\nawful,0\n")
    assert main(["classify", "train", "--data", str(csv), "--out", str(tmp_path / "c"), "--epochs", "1",
                 "--quiet"]) == 0
    capsys.readouterr()
    line = cli_fails(capsys, "lm", "train", "--out", str(tmp_path / "c"), "--resume", "--steps", "5")
    assert "holds no language model" in line


def test_resuming_a_run_made_from_python_needs_the_text(capsys, tmp_path, data):
    run = tmp_path / "py"
    tiny(steps=4).fit(TEXT, run=RunDir(run))
    assert "pass --data" in cli_fails(capsys, "lm", "train", "--out", str(run), "--resume", "--steps", "6",
                                      "--no-progress")
    assert main(["lm", "train", "--out", str(run), "--resume", "--steps", "6", "--data", str(data),
                 "--no-progress"]) == 0
    assert json.loads((run / "config.json").read_text())["data"]["files"] == [str(data)]


def test_eval_json_writes_an_infinite_perplexity_as_null(capsys, monkeypatch, trained, data):
    monkeypatch.setattr(LanguageModel, "_nats", lambda self, ids: 1000.0)
    assert main(["lm", "eval", str(trained), "--data", str(data), "--json"]) == 0
    out = capsys.readouterr().out
    assert "Infinity" not in out and json.loads(out)["perplexity"] is None
