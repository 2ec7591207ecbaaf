"""Bad input to ``rnnkit classify|tag|seq2seq``: one line naming the file and the
fix, a non-zero exit, no traceback, nothing already saved lost; and a training
run killed with SIGKILL resumes."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import cli_fails
from rnnkit.cli import main
from rnnkit.runs import RunDir

from test_cli_models import write_tags, write_text_csv, write_ts


def fails(capsys, *argv):
    return cli_fails(capsys, *argv)


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("textrun")
    data = write_text_csv(d / "train.csv", n=40)
    assert main(["classify", "train", "--data", str(data), "--out", str(d / "run"), "--epochs", "1",
                 "--hidden", "4", "--quiet"]) == 0
    return d


@pytest.mark.parametrize("content,expect", [
    (b"", "is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "looks binary"),
    ("text,label\ncafé,yes\n".encode("latin-1"), "not valid utf-8"),
    (b"words,category\nab,yes\n", "lacks column"),
])
def test_bad_training_file_is_named_with_a_fix(tmp_path, capsys, content, expect):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    line = fails(capsys, "classify", "train", "--data", bad, "--out", tmp_path / "new" / "run", "--quiet")
    assert str(bad) in line and expect in line.lower()
    assert not (tmp_path / "new").exists()               # the refused first run made no directories


def test_unknown_label_at_eval_names_file_and_label(text_run, tmp_path, capsys):
    data = tmp_path / "eval.csv"
    data.write_text("text,label\nabc,maybe\n")
    line = fails(capsys, "classify", "eval", text_run / "run", "--data", data)
    assert str(data) in line and "'maybe'" in line and "not seen in training" in line


def test_vocabulary_that_does_not_match_the_checkpoint(text_run, tmp_path, capsys):
    import shutil
    run = tmp_path / "run"
    shutil.copytree(text_run / "run", run)
    cfg = json.loads((run / "config.json").read_text())
    cfg["extra"]["vocab"]["tokens"] = cfg["extra"]["vocab"]["tokens"] + ["z", "y"]
    cfg["model"]["learned"]["spec"]["n_in"] += 2
    (run / "config.json").write_text(json.dumps(cfg))
    line = fails(capsys, "classify", "predict", run, "--data", text_run / "train.csv")
    assert "checkpoint.npz" in line and "does not match the vocabulary" in line


def test_series_with_the_wrong_number_of_channels(tmp_path, capsys):
    ts = write_ts(tmp_path / "a.ts", n=10, dims=2)
    assert main(["classify", "train", "--data", str(ts), "--out", str(tmp_path / "run"), "--epochs", "1",
                 "--hidden", "4", "--quiet"]) == 0
    other = write_ts(tmp_path / "b.ts", n=4, dims=3)
    line = fails(capsys, "classify", "eval", tmp_path / "run", "--data", other)
    assert str(other) in line and "trained on 2 features" in line


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_checkpoint_is_refused(text_run, tmp_path, capsys, damage):
    import shutil
    run = tmp_path / "run"
    shutil.copytree(text_run / "run", run)
    ck = run / "checkpoint.npz"
    raw = bytearray(ck.read_bytes())
    if damage == "truncate":
        ck.write_bytes(raw[: len(raw) // 2])
    else:
        raw[len(raw) // 2] ^= 0xFF
        ck.write_bytes(raw)
    line = fails(capsys, "classify", "eval", run, "--data", text_run / "train.csv")
    assert "checkpoint.npz" in line and ("corrupted" in line or "truncated" in line)


def test_unwritable_run_dir(text_run, tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    line = fails(capsys, "classify", "train", "--data", text_run / "train.csv", "--out", blocker / "run", "--quiet")
    assert str(blocker / "run") in line and "writable --out" in line


def test_training_again_into_a_run_keeps_its_checkpoint(text_run, capsys):
    ck = text_run / "run" / "checkpoint.npz"
    before = ck.read_bytes()
    line = fails(capsys, "classify", "train", "--data", text_run / "train.csv", "--out", text_run / "run", "--quiet")
    assert "--resume" in line and ck.read_bytes() == before


def test_tag_file_with_misaligned_tags(tmp_path, capsys):
    bad = tmp_path / "t.jsonl"
    bad.write_text(json.dumps({"tokens": ["a", "b"], "tags": ["O"]}) + "\n")
    line = fails(capsys, "tag", "train", "--data", bad, "--out", tmp_path / "run", "--quiet")
    assert str(bad) in line and "one tag per token" in line


def test_sigkill_mid_training_then_resume(tmp_path):
    data = write_tags(tmp_path / "t.jsonl", n=400)
    run = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    cmd = [sys.executable, "-m", "rnnkit", "tag", "train", "--data", str(data), "--out", str(run), "--epochs", "200",
           "--hidden", "24", "--quiet"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and len(RunDir(run, create=False).read_metrics() if run.exists() else []) < 2:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    done = len(RunDir(run, create=False).read_metrics())
    assert 2 <= done < 200, "the run should have been killed mid-way"
    resume = [sys.executable, "-m", "rnnkit", "tag", "train", "--out", str(run), "--epochs", str(done + 2),
              "--resume", "--quiet"]
    res = subprocess.run(resume, env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    steps = [m["step"] for m in RunDir(run, create=False).read_metrics()]
    assert steps == list(range(1, done + 3))
    assert main(["tag", "eval", str(run), "--data", str(data)]) == 0


def test_utf16_training_table_trains_with_its_encoding(tmp_path, capsys):
    data = tmp_path / "u16.tsv"
    rows = "".join(f"{w}\t{'yes' if w[0] == 'a' else 'no'}\n" for w in ["ab", "ba", "ac", "ca", "ad", "da"] * 4)
    data.write_bytes(("text\tlabel\n" + rows).encode("utf-16"))
    line = fails(capsys, "classify", "train", "--data", data, "--out", tmp_path / "r0", "--quiet")
    assert "u16.tsv is UTF-16 text" in line and "--encoding utf-16" in line and not (tmp_path / "r0").exists()
    assert main(["classify", "train", "--data", str(data), "--encoding", "utf-16", "--out", str(tmp_path / "run"),
                 "--epochs", "1", "--hidden", "4", "--quiet"]) == 0
    assert main(["classify", "eval", str(tmp_path / "run"), "--data", str(data), "--encoding", "utf-16"]) == 0


def test_ts_training_file_reads_in_the_given_encoding(tmp_path, capsys):
    ts = write_ts(tmp_path / "a.ts", n=10)
    lat = tmp_path / "lat.ts"
    lat.write_bytes(("# Café\n" + ts.read_text()).encode("latin-1"))
    assert "not valid utf-8" in fails(capsys, "classify", "train", "--data", lat, "--out", tmp_path / "r0", "--quiet")
    assert main(["classify", "train", "--data", str(lat), "--encoding", "latin-1", "--out", str(tmp_path / "run"),
                 "--epochs", "1", "--hidden", "4", "--quiet"]) == 0


@pytest.mark.parametrize("task,cols", [("classify", ("text", "label")), ("seq2seq", ("source", "target"))])
def test_json_null_fields_are_refused_not_read_as_none(tmp_path, capsys, task, cols):
    data = tmp_path / "null.jsonl"
    data.write_text("".join(json.dumps({cols[0]: s, cols[1]: t}) + "\n"
                            for s, t in [("ab", "x"), ("cd", "y"), (None, "x")]))
    line = fails(capsys, task, "train", "--data", data, "--out", tmp_path / "run", "--quiet")
    assert f"null.jsonl example 3: '{cols[0]}' is null" in line

