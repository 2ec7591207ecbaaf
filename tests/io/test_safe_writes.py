"""Writes that escape or destroy: no command writes through a symbolic link, a
full disk leaves every earlier file as it was and says which file and what to
do, leftovers of killed writes are removed at the next start, and one writer
at a time works in a run directory."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from _faults import (EST_TINY, FORECAST, LM_TINY, changed, disk_full, ok, one_error, snapshot, write_classify_csv,
                     write_series, write_text)
from rnnkit.io.files import atomic_write, atomic_write_text, read_file
from rnnkit.runs import RunBusyError, RunDir

ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))



@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm")
    data = write_text(root / "t.txt")
    ok(["lm", "train", "--data", data, *LM_TINY, "--steps", "4", "--out", root / "run"])
    return root


def copy_run(src, dst):
    import shutil
    shutil.copytree(src, dst, symlinks=True)
    return dst


# -- links ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["loss.png", "samples.txt", "metrics.jsonl", "config.json"])
def test_a_resumed_run_refuses_to_write_through_a_link_and_changes_nothing(lm_run, tmp_path, name):
    run = copy_run(lm_run / "run", tmp_path / "run")
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    os.replace(run / name, tmp_path / "moved")
    os.symlink(outside, run / name)
    before = snapshot(tmp_path)
    line = one_error(["lm", "train", "--resume", "--steps", "6", "--quiet", "--out", run])
    assert name in line and "symbolic link" in line
    assert changed(before, snapshot(tmp_path)) == [] and outside.read_text() == "keep me"


def test_forecast_predict_refuses_a_linked_plot_in_its_run(tmp_path):
    series = write_series(tmp_path / "s.csv")
    ok([*FORECAST, "--data", series, "--target", "y", "--lookback", "8", "--hidden", "4",
                       "--epochs", "1", "--out", tmp_path / "run"])
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(b"not yours")
    os.symlink(outside, tmp_path / "run" / "forecast.png")
    line = one_error(["forecast", "predict", tmp_path / "run", "--data", series])
    assert "forecast.png" in line and "symbolic link" in line and outside.read_bytes() == b"not yours"
    assert not (tmp_path / "run" / "forecast.csv").exists()          # refused before anything was written


def test_the_run_directory_write_probe_never_follows_a_link(tmp_path):
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    (tmp_path / "run").mkdir()
    os.symlink(outside, tmp_path / "run" / ".write-test")
    RunDir(tmp_path / "run")
    assert outside.read_text() == "keep me" and os.path.islink(tmp_path / "run" / ".write-test")


def test_outputs_given_on_the_command_line_are_never_written_through_links(tmp_path):
    csv = write_classify_csv(tmp_path / "c.csv")
    ok(["classify", "train", "--data", csv, *EST_TINY, "--epochs", "1", "--out", tmp_path / "run"])
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    os.symlink(outside, tmp_path / "pred.txt")
    os.symlink(outside, tmp_path / "model.onnx")
    assert "symbolic link" in one_error(["classify", "predict", tmp_path / "run", "--data", csv,
                                         "--output", tmp_path / "pred.txt"])
    assert "symbolic link" in one_error(["export", "onnx", tmp_path / "run", tmp_path / "model.onnx"])
    with pytest.raises(ValueError, match="symbolic link"):
        atomic_write_text(tmp_path / "pred.txt", "x")
    assert outside.read_text() == "keep me"


# -- a full disk ------------------------------------------------------------------------------------------
def test_a_full_disk_keeps_an_earlier_onnx_export_and_prediction_file_and_names_them(tmp_path):
    csv = write_classify_csv(tmp_path / "c.csv")
    ok(["classify", "train", "--data", csv, *EST_TINY, "--epochs", "1", "--out", tmp_path / "run"])
    ok(["export", "onnx", tmp_path / "run", tmp_path / "m.onnx"])
    ok(["classify", "predict", tmp_path / "run", "--data", csv, "--output", tmp_path / "p.txt"])
    before = snapshot(tmp_path)
    with disk_full():
        onnx_line = one_error(["export", "onnx", tmp_path / "run", tmp_path / "m.onnx"])
        pred_line = one_error(["classify", "predict", tmp_path / "run", "--data", csv, "--output", tmp_path / "p.txt"])
    for line, name in ((onnx_line, "m.onnx"), (pred_line, "p.txt")):
        assert name in line and "no space left" in line and "free some space" in line
    assert changed(before, snapshot(tmp_path)) == []
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp")]
    import onnx
    onnx.checker.check_model(onnx.load(str(tmp_path / "m.onnx")))


def test_a_full_disk_during_training_keeps_the_last_checkpoint(lm_run, tmp_path):
    run = copy_run(lm_run / "run", tmp_path / "run")
    before = snapshot(run)
    with disk_full():
        line = one_error(["lm", "train", "--resume", "--steps", "8", "--quiet", "--out", run])
    assert "no space left" in line and str(run) in line
    assert changed(before, snapshot(run)) == []
    ok(["lm", "train", "--resume", "--steps", "8", "--quiet", "--out", run])


# -- leftovers of killed writes ------------------------------------------------------------------------------
def test_a_write_killed_mid_way_leaves_a_temporary_file_that_the_next_start_removes(lm_run, tmp_path):
    run = copy_run(lm_run / "run", tmp_path / "run")
    code = textwrap.dedent(f"""
        import time
        from rnnkit.io.files import atomic_write
        def slow(f):
            f.write(b"x" * 4096)
            f.flush()
            time.sleep(60)
        atomic_write({str(run / 'checkpoint.npz')!r}, slow, suffix=".npz")
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], env=ENV)
    try:
        deadline = time.time() + 30
        while time.time() < deadline and not [f for f in os.listdir(run) if f.startswith(".tmp-")]:
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    left = [f for f in os.listdir(run) if f.startswith(".tmp-")]
    assert len(left) == 1 and left[0].startswith(f".tmp-{proc.pid}-")
    (run / ".tmp-k2j3h4.npz").write_bytes(b"an older rnnkit's leftover")
    mine = run / f".tmp-{os.getpid()}-inflight.npz"                  # a live writer's: kept
    mine.write_bytes(b"in flight")
    ok(["lm", "train", "--resume", "--steps", "6", "--quiet", "--out", run])
    assert [f for f in os.listdir(run) if f.startswith(".tmp-")] == [mine.name]
    assert read_file(run / "checkpoint.npz")[0]["meta"]["step"] == 6


def test_atomic_writes_sweep_temporary_files_of_dead_writers_from_their_folder(tmp_path):
    dead = tmp_path / ".tmp-999999999-abc.csv"
    dead.write_text("half")
    atomic_write(tmp_path / "out.csv", lambda f: f.write(b"a,b\n"))
    assert not dead.exists() and (tmp_path / "out.csv").read_bytes() == b"a,b\n"


# -- one writer per run directory ------------------------------------------------------------------------------
def test_a_second_writer_is_refused_in_one_line_naming_the_first(lm_run, tmp_path):
    run = copy_run(lm_run / "run", tmp_path / "run")
    before = snapshot(run)
    with RunDir(run).lock():
        line = one_error(["lm", "train", "--resume", "--steps", "6", "--quiet", "--out", run])
        with pytest.raises(RunBusyError):
            with RunDir(run).lock():
                pass
    assert f"in use by another rnnkit process (pid {os.getpid()}" in line and "another --out" in line
    assert changed(before, snapshot(run)) == []
    ok(["lm", "train", "--resume", "--steps", "6", "--quiet", "--out", run])


def test_a_killed_writer_does_not_leave_its_lock_stuck(lm_run, tmp_path):
    run = copy_run(lm_run / "run", tmp_path / "run")
    code = (f"import time; from rnnkit.runs import RunDir\nwith RunDir({str(run)!r}).lock():\n"
            "    print('held', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], env=ENV, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        assert f"pid {proc.pid}" in one_error(["lm", "train", "--resume", "--steps", "6", "--quiet", "--out", run])
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    ok(["lm", "train", "--resume", "--steps", "6", "--quiet", "--out", run])


def test_two_lm_trainings_into_one_out_cannot_mix_their_files(tmp_path):
    data = write_text(tmp_path / "t.txt")
    cmd = [sys.executable, "-m", "rnnkit", "lm", "train", "--data", str(data), *LM_TINY, "--steps", "400",
           "--checkpoint-every", "5", "--out", str(tmp_path / "run")]
    first = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    metrics = tmp_path / "run" / "metrics.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and first.poll() is None and not (metrics.exists() and metrics.stat().st_size):
        time.sleep(0.02)
    second = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=120)
    assert first.wait(timeout=120) == 0, first.stderr.read()
    assert second.returncode == 2 and second.stderr.count("\n") == 1, second.stderr
    assert f"in use by another rnnkit process (pid {first.pid}" in second.stderr
    steps = [m["step"] for m in RunDir(tmp_path / "run", create=False).read_metrics() if "loss" in m]
    assert steps == list(range(1, 401))
    assert read_file(tmp_path / "run" / "checkpoint.npz")[0]["meta"]["step"] == 400
    assert np.isfinite(read_file(tmp_path / "run" / "checkpoint.npz")[1]["model/head.weight"]).all()
