"""Launching rnnkit under ``mpiexec`` from a test: skips with the reason when MPI
is not installed, finds a rank's process, and the tiny run shared by the tests."""
import importlib.util
import os
import shutil
import subprocess
import sys

import pytest

# the launcher on PATH, or the one the MPICH wheel put beside this interpreter (a venv not activated)
MPIEXEC = (shutil.which("mpiexec") or shutil.which("mpirun")
           or shutil.which("mpiexec", path=os.path.dirname(sys.executable)))
HERE = os.path.dirname(os.path.abspath(__file__))
FIT_SCRIPT = os.path.join(HERE, "mpi_fit.py")
TEXT = "the cat sat on the mat. the dog sat on the log. a bird sang in the tree. " * 60
TINY = ["--level", "char", "--hidden", "16", "--layers", "1", "--embedding-dim", "8", "--seq-len", "8",
        "--batch-size", "4", "--quiet"]


def need_mpi():
    """Skip, saying what is missing, unless mpiexec and mpi4py are installed (the test extra has both);
    under CI (``CI=true``), where the test extra is installed, a missing one fails instead."""
    if os.environ.get("CI", "").lower() == "true" and (MPIEXEC is None or importlib.util.find_spec("mpi4py") is None):
        pytest.fail("CI installs the test extra (mpi4py, MPICH), but mpiexec or mpi4py is missing")
    if MPIEXEC is None:
        pytest.skip("mpiexec is not installed (pip install 'rnnkit[mpi]' brings MPICH's)")
    if importlib.util.find_spec("mpi4py") is None:
        pytest.skip("mpi4py is not installed (pip install 'rnnkit[mpi]')")


def env():
    """The environment of a launched process: this interpreter's path, one BLAS thread per rank
    (two ranks on a small machine), no MPI variables of an enclosing job."""
    e = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "MV2_", "MPI_"))}
    e.update(PYTHONPATH=os.pathsep.join(sys.path), OPENBLAS_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return e


def mpiexec_args(n, *argv):
    return [MPIEXEC, "-n", str(n), *map(str, argv)]


def run(argv, timeout=180, cwd=None):
    """``argv`` run to its end: ``CompletedProcess`` with text output."""
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout, env=env(),
                          cwd=cwd)


def rnnkit(n, *argv, timeout=180, cwd=None):
    """``rnnkit ARGV`` as one process (``n`` None) or under ``mpiexec -n n``."""
    cmd = [sys.executable, "-m", "rnnkit", *map(str, argv)]
    return run(cmd if n is None else mpiexec_args(n, *cmd), timeout, cwd)


def rank_pid(launcher_pid, rank):
    """The pid of MPI rank ``rank`` among the descendants of ``launcher_pid`` (Linux /proc), or None."""
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(d))
    todo, found = [launcher_pid], []
    while todo:
        pid = todo.pop()
        for c in children.get(pid, []):
            todo.append(c)
            try:
                with open(f"/proc/{c}/environ", "rb") as f:
                    variables = f.read().split(b"\0")
            except OSError:
                continue
            if f"PMI_RANK={rank}".encode() in variables or f"OMPI_COMM_WORLD_RANK={rank}".encode() in variables:
                found.append(c)
    return found[-1] if found else None          # the launcher's proxy holds no rank: its child is the rank
