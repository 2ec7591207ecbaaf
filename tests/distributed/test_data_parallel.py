"""One model trained by two MPI processes (``mpiexec -n 2``): the same weights as one
process on the whole batch, rank 0 alone writing, a run resumed with another number
of processes, a killed rank stopping the job with its last checkpoint intact.

Launched through ``mpiexec`` in subprocesses with timeouts; skipped, with the reason,
only where MPI is not installed (the test extra installs mpi4py and MPICH).
"""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from _launch import FIT_SCRIPT, MPIEXEC, TEXT, TINY, env, mpiexec_args, need_mpi, rank_pid, rnnkit, run
from rnnkit.io.files import read_file
from rnnkit.runs import RunDir

pytestmark = pytest.mark.usefixtures("mpi")


@pytest.fixture
def mpi():
    need_mpi()


@pytest.fixture
def data(tmp_path):
    p = tmp_path / "train.txt"
    p.write_text(TEXT, encoding="utf-8")
    return p


def fitted(tmp_path, model, n):
    """Weights, losses and carried state of ``mpi_fit.py MODEL`` as one process (``n`` None) or ``n`` ranks."""
    out = tmp_path / f"{model}-{n}.npz"
    cmd = [sys.executable, FIT_SCRIPT, model, out]
    done = run(cmd if n is None else mpiexec_args(n, *cmd))
    assert done.returncode == 0, done.stderr
    with np.load(out) as f:
        return {k: f[k] for k in f.files}


def checkpoint(run_dir):
    return read_file(os.path.join(run_dir, "checkpoint.npz"))


@pytest.mark.parametrize("model", ["lm", "classifier"])
def test_two_ranks_reach_the_weights_of_one_process_on_the_whole_batch_in_float64(tmp_path, model):
    one, two = fitted(tmp_path, model, None), fitted(tmp_path, model, 2)
    assert int(one["size"]) == 1 and int(two["size"]) == 2
    keys = [k for k in one if k.startswith(("w/", "x/"))]
    assert keys and keys == [k for k in two if k.startswith(("w/", "x/"))]
    for k in keys:                                       # 20 updates; the LM's carried state (x/) too
        np.testing.assert_allclose(two[k], one[k], rtol=0, atol=1e-6, err_msg=k)
    np.testing.assert_allclose(two["losses"], one["losses"], rtol=0, atol=1e-6)


@pytest.mark.parametrize("model", ["tagger", "seq2seq", "one_to_many"])
def test_two_ranks_weigh_a_loss_per_token_by_each_ranks_tokens(tmp_path, model):
    one, two = fitted(tmp_path, model, None), fitted(tmp_path, model, 2)
    for k in [k for k in one if k.startswith("w/")]:     # float32: the two ranks' sums round differently
        np.testing.assert_allclose(two[k], one[k], rtol=0, atol=1e-5, err_msg=k)
    np.testing.assert_allclose(two["losses"], one["losses"], rtol=1e-5)


def test_only_rank_zero_writes_files_and_prints(tmp_path, data):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    cmd = [sys.executable, "-m", "rnnkit", "lm", "train", "--data", data, *TINY, "--steps", "12",
           "--eval-every", "6", "--checkpoint-every", "4", "--out", "run"]
    # two ranks in two working directories: rank 0 in a/, rank 1 in b/
    done = run([MPIEXEC, "-n", "1", "-wdir", a, *cmd, ":", "-n", "1", "-wdir", b, *cmd])
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(b)) == []
    assert {"config.json", "metrics.jsonl", "checkpoint.npz", "loss.png", "samples.txt"} <= set(os.listdir(a / "run"))
    assert done.stdout.count("saved to run") == 1 and done.stderr == ""
    metrics = RunDir(a / "run").read_metrics()
    assert [m["step"] for m in metrics if "loss" in m] == list(range(1, 13))
    assert checkpoint(a / "run")[0]["meta"]["step"] == 12


@pytest.mark.parametrize("first, then", [(2, None), (None, 2)], ids=["2-then-1", "1-then-2"])
def test_a_run_resumes_with_another_number_of_processes(tmp_path, data, first, then):
    args = ["lm", "train", "--data", data, *TINY, "--eval-every", "10", "--checkpoint-every", "10", "--seed", "3"]
    whole = rnnkit(None, *args, "--steps", "30", "--out", tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr
    split = tmp_path / "split"
    done = rnnkit(first, *args, "--steps", "20", "--out", split)
    assert done.returncode == 0, done.stderr
    done = rnnkit(then, "lm", "train", "--resume", "--steps", "30", "--quiet", "--out", split)
    assert done.returncode == 0, done.stderr
    (_, a), (_, b) = checkpoint(tmp_path / "whole"), checkpoint(split)
    assert a.keys() == b.keys()
    for k in a:                                          # float32: the sums of two ranks round differently
        np.testing.assert_allclose(b[k], a[k], rtol=1e-4, atol=1e-5, err_msg=k)
    steps = [m["step"] for m in RunDir(split).read_metrics() if "loss" in m]
    assert steps == list(range(1, 31))


def wait_for_lines(path, n, proc, limit=90):
    deadline = time.time() + limit
    while time.time() < deadline and proc.poll() is None:
        if path.exists() and len(path.read_text().splitlines()) >= n:
            return True
        time.sleep(0.01)
    return False


def started(tmp_path, data, out, steps):
    args = [sys.executable, "-m", "rnnkit", "lm", "train", "--data", data, *TINY, "--hidden", "48", "--steps", steps,
            "--eval-every", "50", "--checkpoint-every", "10", "--seed", "2", "--out", out]
    return subprocess.Popen(mpiexec_args(2, *args), env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the rank's process through /proc")
def test_a_killed_rank_stops_the_job_and_resume_continues_to_the_same_weights(tmp_path, data):
    whole = started(tmp_path, data, tmp_path / "whole", 120)
    assert whole.wait(timeout=240) == 0, whole.stderr.read()
    killed = tmp_path / "killed"
    proc = started(tmp_path, data, killed, 120)
    try:
        assert wait_for_lines(killed / "metrics.jsonl", 25, proc), "the run finished before it could be killed"
        os.kill(rank_pid(proc.pid, 1), signal.SIGKILL)
        t0 = time.time()
        proc.wait(timeout=60)                            # the launcher stops rank 0 too: nothing hangs
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0 and time.time() - t0 < 60
    assert "Traceback" not in proc.stderr.read()
    step = checkpoint(killed)[0]["meta"]["step"]         # intact: it reads, checksums and all
    assert 0 < step < 120 and step % 10 == 0
    done = rnnkit(2, "lm", "train", "--resume", "--quiet", "--out", killed)
    assert done.returncode == 0, done.stderr
    (_, a), (_, b) = checkpoint(tmp_path / "whole"), checkpoint(killed)
    for k in a:                                          # the same two ranks, the same sums: bit for bit
        np.testing.assert_array_equal(b[k], a[k], err_msg=k)
    assert RunDir(tmp_path / "whole").read_metrics() == RunDir(killed).read_metrics()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the rank's process through /proc")
def test_a_rank_stopped_by_sigterm_says_so_in_one_line(tmp_path, data):
    out = tmp_path / "run"
    proc = started(tmp_path, data, out, 400)
    try:
        assert wait_for_lines(out / "metrics.jsonl", 15, proc), "the run finished before it could be stopped"
        os.kill(rank_pid(proc.pid, 1), signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("rnnkit: error: rank 1: stopped by signal 15 (SIGTERM)") and "--resume" in lines[0]
    assert checkpoint(out)[0]["meta"]["step"] >= 10


def test_a_batch_that_does_not_split_over_the_ranks_is_refused_once(tmp_path, data):
    done = rnnkit(2, "lm", "train", "--data", data, *TINY, "--batch-size", "3", "--steps", "5",
                  "--out", tmp_path / "run")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("rnnkit: error: batch_size (--batch-size)=3 does not split over 2 processes")
    assert not (tmp_path / "run").exists()               # refused before anything was written


def test_a_failure_on_rank_zero_alone_stops_every_rank_with_one_line(tmp_path, data):
    out = tmp_path / "run"
    assert rnnkit(None, "lm", "train", "--data", data, *TINY, "--steps", "4", "--out", out).returncode == 0
    done = rnnkit(2, "lm", "train", "--data", data, *TINY, "--steps", "8", "--out", out, timeout=60)
    assert done.returncode == 2                          # rank 0 alone sees the run's checkpoint
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "already exists; pass --resume" in lines[0], done.stderr
    assert checkpoint(out)[0]["meta"]["step"] == 4


def test_ranks_fitting_different_text_are_refused_on_every_rank(tmp_path):
    done = run(mpiexec_args(2, sys.executable, FIT_SCRIPT, "lm", tmp_path / "x.npz", "--other-text-on-rank-1"),
               timeout=60)
    assert done.returncode == 3, done.stderr                  # every rank raised, none waits for the others
    # each rank prints its own line (the two may interleave)
    assert done.stderr.count("refused: the 2 processes were given different settings or training text (text:") == 2
    assert not (tmp_path / "x.npz").exists()


def test_divergence_stops_every_rank_with_one_line(tmp_path, data):
    done = rnnkit(2, "lm", "train", "--data", data, *TINY, "--steps", "50", "--lr", "1e4", "--clip", "0",
                  "--out", tmp_path / "run", timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rnnkit: error: training diverged at step"), done.stderr


def test_a_timed_run_stops_every_rank_at_the_same_step(tmp_path, data):
    out = tmp_path / "run"
    done = rnnkit(2, "lm", "train", "--data", data, *TINY, "--minutes", "0.04", "--checkpoint-every", "0",
                  "--out", out, timeout=120)
    assert done.returncode == 0, done.stderr            # rank 0's clock ends the run for both ranks
    step = checkpoint(out)[0]["meta"]["step"]
    assert step > 0 and f"step {step}" in done.stdout
