"""The MPI scaling benchmark runs end to end on tiny models and reports every part.

No timing assertions: only that each measurement and the cluster model come back
with their figures, and that the smoke run leaves ``benchmarks/results/`` alone.
Without MPI installed the all-reduce and the two-rank run are reported as skipped.
"""
import importlib
import importlib.util
import json
import os
import shutil
import sys

BENCH = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks")


def bench_module(name):
    sys.path.insert(0, os.path.abspath(BENCH))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


def test_a_tiny_scaling_run_reports_compute_allreduce_throughput_and_the_cluster_model(tmp_path):
    results = os.path.join(BENCH, "results")
    before = sorted(os.listdir(results))
    mpi_scaling = bench_module("mpi_scaling")
    out = tmp_path / "tiny.json"
    assert mpi_scaling.main(["--tiny", "--out", str(out)]) == 0
    assert sorted(os.listdir(results)) == before
    r = json.loads(out.read_text())
    for model in ("readme", "large"):
        assert set(r["compute"][model]["step_s"]) == {"4", "2", "1"}
        rows = r["model"][model]["rows"]
        assert [row["ranks"] for row in rows] == [2, 4, 8, 16, 32, 64]
        assert all(0 < row["weak_10_efficiency"] <= row["weak_100_efficiency"] <= 1 for row in rows)
    assert r["throughput"]["one_process_2_threads"]["tokens_per_s"] > 0
    mpi = shutil.which("mpiexec") and importlib.util.find_spec("mpi4py")
    if mpi:
        assert r["allreduce"]["ranks"] == 2 and r["allreduce"]["latency_s"] > 0
        assert r["throughput"]["two_ranks_1_thread"]["allreduce_s"] > 0
    else:
        assert r["allreduce"].startswith("skipped")
