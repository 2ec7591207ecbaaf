"""``rnnkit lm train --record-gradflow`` logs per-step diagnostics into the run's
metrics, and ``rnnkit report`` renders a real language-model run directory; report
and gradflow on ill-shaped run files, diverging cells and bad options."""
import json
import os

import pytest

from conftest import cli_fails, run_cli
from rnnkit.cli import main
from rnnkit.models.language_model import LanguageModel
from rnnkit.runs import RunDir

TEXT = "def add(a, b):\n    return a + b\n\nclass Point:\n    x = 0\n    y = 0\n" * 30
CLIP = 0.4
TINY = ["--level", "char", "--hidden", "16", "--layers", "2", "--embed", "8", "--seq-len", "8", "--batch", "4",
        "--steps", "30", "--eval-every", "10", "--clip", str(CLIP), "--no-progress"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm")
    data = root / "train.txt"
    data.write_text(TEXT, encoding="utf-8")
    for name, extra in (("on", ["--record-gradflow"]), ("off", [])):
        assert main(["lm", "train", "--data", str(data), *TINY, *extra, "--out", str(root / name)]) == 0
    return root


def test_recorded_steps_carry_grad_norms_clipping_and_flow_per_layer(runs):
    rows = [m for m in RunDir(runs / "on").read_metrics() if "loss" in m]
    assert len(rows) == 30
    for m in rows:
        assert m["clipped"] == (m["grad_norm"] > CLIP)
        # measured after clipping: the clipped norm is the threshold, otherwise unchanged
        assert m["grad_norm_clipped"] == pytest.approx(min(m["grad_norm"], CLIP), rel=1e-4)
        assert sorted(m["dh_norms"]) == ["l0", "l1"] and all(len(v) == 8 for v in m["dh_norms"].values())
        assert all(v > 0 for v in m["dh_norms"]["l0"] + m["dh_norms"]["l1"])
        assert set(m["gate_saturation"]["l1"]) == {"i", "f", "o"}
        assert all(0 < f < 1 for f in m["forget_gate_mean"]["l0"]) and len(m["forget_gate_mean"]["l0"]) == 8
        assert m["seconds"] > 0 and m["tokens_per_s"] > 0
    clipped = [m["clipped"] for m in rows]
    assert any(clipped) and not all(clipped)             # this seed has both (first step: 0.38 < 0.4)


def test_recording_off_logs_nothing_extra_and_gives_the_same_losses(runs):
    off = [m for m in RunDir(runs / "off").read_metrics() if "loss" in m]
    on = [m for m in RunDir(runs / "on").read_metrics() if "loss" in m]
    extra = {"dh_norms", "grad_norm_clipped", "clipped", "gate_saturation", "forget_gate_mean", "seconds"}
    assert not extra & set().union(*off)
    assert [m["loss"] for m in off] == [m["loss"] for m in on]   # diagnostics do not touch training
    model = LanguageModel.load(runs / "off")
    assert model.record_gradflow is False and model.net_.rnn.grad_norms_ == {}


def test_report_of_an_lm_run_shows_every_section(runs, capsys):
    assert main(["report", str(runs / "on")]) == 0
    page = (runs / "on" / "report.html").read_text(encoding="utf-8")
    for needle in ("train and validation loss", "global gradient norm (before / after clipping)", "clipping rate",
                   "gradient flow, layer l0: step × lag", "gradient flow, layer l1: step × lag",
                   "share of saturated gate units", "forget gate mean over time t in the window",
                   "tokens/s", "--- sample 0 ---", "checkpoint.npz present"):
        assert needle in page, needle
    n_clipped = sum(m.get("clipped", False) for m in RunDir(runs / "on").read_metrics())
    assert f"clipped on {n_clipped} of 30 logged steps" in page
    assert "absent: " not in page.replace("absent: gradflow.json", "")
    assert "<script" not in page and "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")

    assert main(["report", str(runs / "off")]) == 0          # without diagnostics: says what is missing
    page = (runs / "off" / "report.html").read_text(encoding="utf-8")
    assert "absent: dh_norms" in page and "--record-gradflow" in page


def test_report_of_a_classifier_run_plots_its_validation_metrics(tmp_path, capsys):
    import csv
    data = tmp_path / "t.csv"
    with open(data, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows([[s, "yes" if s[0] == "a" else "no"] for s in ["ab", "ba", "ac", "ca", "ad", "da"] * 4])
    assert main(["classify", "train", "--data", str(data), "--val", str(data), "--out", str(tmp_path / "run"),
                 "--epochs", "2", "--hidden", "4", "--quiet"]) == 0
    assert main(["report", str(tmp_path / "run")]) == 0
    page = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert "validation metrics" in page and "val_accuracy" in page and "absent: validation" not in page


def test_gradflow_of_a_diverging_cell_writes_strict_json_and_its_report(tmp_path, capsys):
    import json
    out = tmp_path / "gf"
    assert main(["gradflow", "--out", str(out), "--T", "12", "--steps", "25", "--hidden", "8", "--batch", "8",
                 "--cells", "rnn_relu", "lstm", "--lr", "1e4", "--clip", "1e9", "--no-extras"]) == 0
    err = capsys.readouterr().err
    assert "RuntimeWarning" not in err and "warning: rnn_relu diverged" in err
    gf = json.loads((out / "gradflow.json").read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    assert gf["record_every"] == 20 and gf["cells"]["rnn_relu"]["steps_run"] < 25
    assert main(["report", str(out)]) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "ill-shaped" not in page and "every 20 steps" in page


def test_report_draws_the_forget_gate_when_a_step_was_padded_in_every_sequence(tmp_path, capsys):
    import numpy as np

    from rnnkit import LSTM
    from rnnkit.diagnostics import gate_metrics

    layer = LSTM(3, 4, seed=0)
    run = RunDir(tmp_path / "run")
    for step in range(3):
        layer(np.random.default_rng(step).standard_normal((6, 2, 3)).astype(np.float32), lengths=[3, 4])
        g = gate_metrics(layer)
        assert np.isnan(g["forget_gate_mean"]["l0"][-1])            # steps 4 and 5: all padded
        run.log(step=step, loss=1.0, **g)
    assert main(["report", str(tmp_path / "run")]) == 0
    page = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert "forget gate mean over time t in the window" in page and "ill-shaped" not in page


# -- report on ill-shaped run files --------------------------------------------------------------------------
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


# -- gradflow: a diverged cell, a length below two -----------------------------------------------------------
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_gradflow_says_a_diverged_cell_stopped_early(tmp_path, capsys):
    rc, out, err = run_cli(["gradflow", "--lr", "1e6", "--T", 5, "--steps", 20, "--hidden", 4, "--batch", 4,
                            "--cells", "rnn_relu", "--no-extras", "--out", tmp_path], capsys)
    assert rc == 0, err
    assert "rnn_relu diverged" in err and "smaller --lr" in err
    assert json.loads((tmp_path / "gradflow.json").read_text())["cells"]["rnn_relu"]["steps_run"] < 20
    assert os.path.exists(tmp_path / "gradflow.png")


def test_gradflow_length_below_two_is_refused_at_parse_time(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["gradflow", "--out", str(tmp_path / "g"), "--T", "1"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--T" in err and "below 2" in err
    assert not (tmp_path / "g").exists()
