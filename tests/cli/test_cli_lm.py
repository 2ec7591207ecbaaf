"""``rnnkit lm train|sample|eval`` end to end on tiny data; bad input gives one
line naming the file and the fix, a non-zero exit, no traceback, nothing lost;
a run killed with SIGKILL resumes to the same weights and curve."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import cli_fails
from rnnkit.cli import main
from rnnkit.io.files import read_file
from rnnkit.runs import RunDir

TEXT = "def add(a, b):\n    return a + b\n\nclass Point:\n    x = 0\n    y = 0\n" * 30
TINY = ["--level", "char", "--hidden", "16", "--layers", "1", "--embed", "8", "--seq-len", "8", "--batch", "4",
        "--no-progress"]


@pytest.fixture
def data(tmp_path):
    p = tmp_path / "train.txt"
    p.write_text(TEXT, encoding="utf-8")
    return p


def run_ok(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def fails(capsys, *argv):
    return cli_fails(capsys, *argv)


def arrays(run):
    return read_file(os.path.join(run, "checkpoint.npz"))[1]


def test_train_sample_eval_end_to_end(capsys, tmp_path, data):
    out = tmp_path / "run"
    run_ok(capsys, "lm", "train", "--data", data, *TINY, "--steps", "30", "--eval-every", "10", "--out", out)
    for name in ("config.json", "metrics.jsonl", "checkpoint.npz", "loss.png"):
        assert (out / name).exists()
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["data"]["source"] == "files" and len(cfg["data"]["sha256"]) == 64
    metrics = RunDir(out).read_metrics()
    assert [m["step"] for m in metrics if "loss" in m] == list(range(1, 31))
    assert sum("val_loss" in m for m in metrics) == 3
    text = run_ok(capsys, "lm", "sample", out, "--length", "50", "--prime", "def ", "--seed", "1", "--top-k", "5")
    assert text.startswith("def ") and text == run_ok(capsys, "lm", "sample", out, "--length", "50", "--prime",
                                                      "def ", "--seed", "1", "--top-k", "5")
    ev = json.loads(run_ok(capsys, "lm", "eval", out, "--data", data, "--json"))
    assert ev["bits_per_char"] == pytest.approx(ev["nats_per_token"] / np.log(2))
    assert "bits/char" in run_ok(capsys, "lm", "eval", out, "--data", data)


def test_same_seed_gives_same_loss_curve(capsys, tmp_path, data):
    curves = []
    for name in ("a", "b"):
        run_ok(capsys, "lm", "train", "--data", data, *TINY, "--steps", "12", "--seed", "5", "--out", tmp_path / name)
        curves.append([m["loss"] for m in RunDir(tmp_path / name).read_metrics() if "loss" in m])
    assert curves[0] == curves[1] and len(curves[0]) == 12


def test_sigkill_then_resume_matches_uninterrupted_run(capsys, tmp_path, data):
    args = ["lm", "train", "--data", str(data), *TINY, "--hidden", "48", "--steps", "300", "--eval-every", "50",
            "--checkpoint-every", "10", "--seed", "2"]
    run_ok(capsys, *args, "--out", tmp_path / "full")
    killed = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, "-m", "rnnkit", *args, "--out", str(killed)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = killed / "metrics.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 25:
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    step = read_file(killed / "checkpoint.npz")[0]["meta"]["step"]
    assert 0 < step < 300
    run_ok(capsys, "lm", "train", "--resume", "--no-progress", "--out", killed)
    a, b = arrays(tmp_path / "full"), arrays(killed)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert RunDir(tmp_path / "full").read_metrics() == RunDir(killed).read_metrics()


def test_empty_binary_and_non_utf8_files(capsys, tmp_path):
    empty, binary, latin = tmp_path / "empty.txt", tmp_path / "blob.bin", tmp_path / "latin.txt"
    empty.write_text("")
    binary.write_bytes(bytes(range(256)) * 4)
    latin.write_bytes("café crème\n".encode("latin-1") * 50)
    assert "empty.txt is empty" in fails(capsys, "lm", "train", "--data", empty, *TINY, "--out", tmp_path / "r")
    assert not (tmp_path / "r").exists()                 # the refused first run left no empty RUN_DIR
    assert "blob.bin looks binary" in fails(capsys, "lm", "train", "--data", binary, *TINY, "--out", tmp_path / "r")
    line = fails(capsys, "lm", "train", "--data", latin, *TINY, "--out", tmp_path / "r")
    assert "latin.txt is not UTF-8" in line and "--level byte" in line
    run_ok(capsys, "lm", "train", "--data", latin, *TINY, "--level", "byte", "--steps", "2", "--out", tmp_path / "b")


def test_vocabulary_mismatches(capsys, tmp_path, data):
    out = tmp_path / "run"
    run_ok(capsys, "lm", "train", "--data", data, *TINY, "--unknown", "error", "--steps", "3", "--out", out)
    other = tmp_path / "other.txt"
    other.write_text("Zebra Quokka ~~~\n" * 5)
    line = fails(capsys, "lm", "eval", out, "--data", other)
    assert "other.txt" in line and "not in the model's vocabulary" in line
    cfg_path = out / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["model"]["vocab"]["tokens"] = cfg["model"]["vocab"]["tokens"][:-1]
    cfg_path.write_text(json.dumps(cfg))
    line = fails(capsys, "lm", "sample", out)
    assert "checkpoint.npz does not fit this model" in line


def test_corrupted_checkpoint_and_missing_checkpoint(capsys, tmp_path, data):
    out = tmp_path / "run"
    run_ok(capsys, "lm", "train", "--data", data, *TINY, "--steps", "3", "--out", out)
    ck = out / "checkpoint.npz"
    raw = ck.read_bytes()
    ck.write_bytes(raw[: len(raw) // 2])
    assert "checkpoint.npz" in fails(capsys, "lm", "sample", out)
    assert "checkpoint.npz" in fails(capsys, "lm", "train", "--resume", "--out", out)
    assert ck.read_bytes() == raw[: len(raw) // 2]            # the error left the file as it was
    fresh = tmp_path / "fresh"
    line = fails(capsys, "lm", "train", "--resume", "--out", fresh)
    assert "nothing to resume" in line and "without --resume" in line


def test_existing_checkpoint_is_not_overwritten_and_unwritable_dir(capsys, tmp_path, data):
    out = tmp_path / "run"
    run_ok(capsys, "lm", "train", "--data", data, *TINY, "--steps", "3", "--out", out)
    before = (out / "checkpoint.npz").read_bytes()
    assert "--resume" in fails(capsys, "lm", "train", "--data", data, *TINY, "--steps", "3", "--out", out)
    assert (out / "checkpoint.npz").read_bytes() == before
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    line = fails(capsys, "lm", "train", "--data", data, *TINY, "--out", blocker / "run")
    assert "cannot write to run directory" in line and "--out" in line


def test_resume_with_new_settings_records_them_in_config(capsys, tmp_path, data):
    out = tmp_path / "run"
    run_ok(capsys, "lm", "train", "--data", data, *TINY, "--steps", "4", "--out", out)
    assert RunDir(out).read_config()["model"]["record_gradflow"] is False
    run_ok(capsys, "lm", "train", "--resume", "--no-progress", "--steps", "6", "--record-gradflow", "--out", out)
    cfg = RunDir(out).read_config()["model"]
    assert cfg["record_gradflow"] is True and cfg["steps"] == 6
    assert any("dh_norms" in m for m in RunDir(out).read_metrics())


def test_grad_norm_is_logged_with_clipping_off(capsys, tmp_path, data):
    run_ok(capsys, "lm", "train", "--data", data, *TINY, "--clip", "0", "--steps", "3", "--out", tmp_path / "r")
    rows = [m for m in RunDir(tmp_path / "r").read_metrics() if "loss" in m]
    assert len(rows) == 3 and all(m["grad_norm"] > 0 for m in rows)


def test_a_byte_order_mark_is_not_a_token(capsys, tmp_path, data):
    run_ok(capsys, "lm", "train", "--data", data, *TINY, "--unknown", "error", "--steps", "2", "--out", tmp_path / "r")
    bom = tmp_path / "bom.txt"
    bom.write_bytes(b"\xef\xbb\xbf" + data.read_bytes())    # the same text saved by Notepad
    assert "nats/token" in run_ok(capsys, "lm", "eval", tmp_path / "r", "--data", bom)
