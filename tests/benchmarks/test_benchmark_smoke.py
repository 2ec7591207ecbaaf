"""The side-by-side benchmark runs on tiny shapes and rnnkit agrees with torch.

No timing assertions: only that every configuration runs, reports its
figures, and that rnnkit's float32 outputs and gradients match torch's to 1e-5.
Smoke runs write to a temporary folder and leave ``benchmarks/results/`` (the
committed results, one file per script) as it was.
"""
import importlib
import json
import os
import sys

import pytest

torch = pytest.importorskip("torch")

BENCH = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks")
RESULTS = os.path.join(BENCH, "results")


def bench_module(name):
    """A script of ``benchmarks/`` imported as a module (its folder on ``sys.path`` while it imports)."""
    sys.path.insert(0, os.path.abspath(BENCH))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


def committed_results():
    """``{name: bytes}`` of the files in ``benchmarks/results/``."""
    if not os.path.isdir(RESULTS):
        return {}
    return {name: open(os.path.join(RESULTS, name), "rb").read() for name in sorted(os.listdir(RESULTS))}


@pytest.fixture(scope="module", autouse=True)
def results_left_alone():
    """No smoke run here writes into (or next to) the committed results files."""
    before = committed_results()
    yield
    assert committed_results() == before, "a smoke run changed benchmarks/results/"


def test_results_files_are_named_after_their_scripts():
    results = bench_module("_results")
    scripts = {os.path.splitext(f)[0] for f in os.listdir(BENCH) if f.endswith(".py")}
    for name in os.listdir(RESULTS):
        assert name.endswith(".json") and name[:-5] in scripts, f"benchmarks/results/{name} belongs to no script"
    assert results.default_path("compare_torch.py") == os.path.join(results.FOLDER, "compare_torch.json")
    assert os.path.samefile(results.FOLDER, RESULTS)


def test_results_path_convention():
    results = bench_module("_results")
    import argparse
    ap = argparse.ArgumentParser()
    results.add_out_options(ap, "step_breakdown.py")
    default = os.path.join(results.FOLDER, "step_breakdown.json")
    assert results.out_path(ap.parse_args([]), "step_breakdown.py") == default
    assert results.out_path(ap.parse_args([]), "step_breakdown.py", smoke=True) is None
    assert results.out_path(ap.parse_args(["--out", "x.json"]), "step_breakdown.py", smoke=True) == "x.json"
    assert results.out_path(ap.parse_args(["--no-out"]), "step_breakdown.py") is None


def test_a_tiny_run_without_out_writes_nothing(capsys):
    compare_torch = bench_module("compare_torch")
    assert compare_torch.main(["--tiny", "--repeats", "1", "--configs", "P1"]) == 0
    assert "results written" not in capsys.readouterr().err       # and results_left_alone checks the folder


def test_each_library_is_timed_in_a_process_of_its_own(tmp_path):
    compare_torch = bench_module("compare_torch")
    out = tmp_path / "own.json"
    assert compare_torch.main(["--tiny", "--repeats", "2", "--configs", "P2,P6", "--out", str(out)]) == 0
    got = json.loads(out.read_text())
    assert got["info"]["timing"] == "one process per library"
    p2, p6 = got["results"]
    assert p2["timing"] == "one process per library"
    assert {"rnnkit", "torch", "rnnkit_unfolded"} <= set(p2["sides"])
    assert p2["train_ratio"] > 0 and p2["infer_ratio"] > 0 and p6["infer_ratio"] > 0
    assert max(p2["agree"].values()) < 1e-5


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    compare_torch = bench_module("compare_torch")
    out = tmp_path_factory.mktemp("bench") / "tiny.json"
    rc = compare_torch.main(["--tiny", "--repeats", "1", "--in-process", "--out", str(out)])
    assert rc == 0
    return json.loads(out.read_text())


def test_tiny_benchmark_reports_every_configuration(tiny_run):
    ids = [r["id"] for r in tiny_run["results"]]
    assert ids == ["P1", "P2", "P3", "P4", "P5", "P6", "P7"]
    for r in tiny_run["results"]:
        assert r["sides"]["rnnkit"]["infer_s"] > 0 and r["sides"]["torch"]["infer_s"] > 0
        if r["id"] != "P6":
            assert r["sides"]["rnnkit"]["train_s"] > 0 and r["sides"]["torch"]["train_s"] > 0
            assert r["sides"]["rnnkit"]["bytes_per_TBH"] > 0 and r["sides"]["torch"]["bytes_per_TBH"] > 0
    assert "seed003" in tiny_run["results"][0]["sides"]
    p2 = tiny_run["results"][1]["sides"]                     # P2 also times its LSTM without the embedding fold
    assert p2["rnnkit_unfolded"]["train_s"] > 0 and p2["rnnkit_unfolded"]["infer_s"] > 0
    assert tiny_run["info"]["torch_threads"] == tiny_run["info"]["numpy_threads"]


def test_tiny_benchmark_rnnkit_matches_torch_to_1e_5(tiny_run):
    for r in tiny_run["results"]:
        for what, err in r["agree"].items():
            assert err < 1e-5, f"{r['id']} {what}: relative difference {err:.2e}"
        if r["id"] != "P6":
            assert set(r["agree"]) == {"output", "grad", "loss"}


def test_unknown_configuration_is_refused(capsys):
    compare_torch = bench_module("compare_torch")
    with pytest.raises(SystemExit) as e:
        compare_torch.main(["--configs", "P9"])
    assert e.value.code == 2
    assert "unknown configuration" in capsys.readouterr().err


def test_lm_step_benchmark_runs_and_starts_from_equal_losses(tmp_path):
    lm_step_vs_torch = bench_module("lm_step_vs_torch")
    out = tmp_path / "lm_step.json"
    assert lm_step_vs_torch.main(["--repeats", "1", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert set(res["ms_per_step"]) == {"rnnkit", "rnnkit_unfolded", "torch"}
    first = res["first_loss"]                                 # equal weights, equal batch: equal first losses
    assert abs(first["rnnkit"] - first["torch"]) < 1e-5 and abs(first["rnnkit"] - first["rnnkit_unfolded"]) < 1e-5


def test_step_breakdown_runs_and_its_loops_compute_what_the_library_does(tmp_path, capsys):
    pytest.importorskip("numba")
    from rnnkit.kernels import blas
    if blas.sgemm() is None:
        pytest.skip("no BLAS callable from compiled code here")
    step_breakdown = bench_module("step_breakdown")
    out = tmp_path / "steps.json"
    assert step_breakdown.main(["--tiny", "--repeats", "1", "--out", str(out)]) == 0
    assert "largest difference: 0.0e+00" in capsys.readouterr().out
    res = json.loads(out.read_text())["us_per_step"]
    assert set(res) == {"P2", "P3", "P5"}
    for r in res.values():
        for part in ("forward", "backward"):
            assert all(r[part][k] > 0 for k in ("whole", "products", "kernels"))


@pytest.mark.skipif(not (sys.platform.startswith("linux") and os.uname().machine == "x86_64"),
                    reason="the onednn-cpu-gomp wheel (a test dependency) is built for x86_64 Linux only")
def test_onednn_products_benchmark_runs_and_its_loop_matches_torch(tmp_path, capsys):
    pytest.importorskip("numba")
    onednn_products = bench_module("onednn_products")
    out = tmp_path / "onednn.json"
    assert onednn_products.main(["--tiny", "--repeats", "1", "--shapes", "P2,P5", "--out", str(out)]) == 0
    res = json.loads(out.read_text())["results"]
    assert set(res) == {"P2", "P5"}
    for r in res.values():
        assert r["products"]["agree"] < 1e-5                   # the packed product computes h @ W_hh.T
        assert all(d < 1e-5 for d in r["inference"]["agree_with_torch"].values())
        assert all(ms > 0 for ms in r["inference"]["ms"].values())


def test_onednn_products_benchmark_refuses_an_unknown_shape(capsys):
    onednn_products = bench_module("onednn_products")
    assert onednn_products.main(["--tiny", "--shapes", "P9"]) == 2
    assert "unknown shape 'P9'" in capsys.readouterr().err


def test_busy_machine_benchmark_runs_every_side_under_load_and_stops_its_competitors(tmp_path):
    busy_machine = bench_module("busy_machine")
    started = []
    real_popen = busy_machine.subprocess.Popen

    def popen(*args, **kwargs):
        started.append(real_popen(*args, **kwargs))
        return started[-1]

    busy_machine.subprocess.Popen = popen
    try:
        out = tmp_path / "busy.json"
        assert busy_machine.main(["--tiny", "--out", str(out)]) == 0
    finally:
        busy_machine.subprocess.Popen = real_popen
    res = json.loads(out.read_text())["results"]["small"]
    assert set(res) == {"rnnkit", "rnnkit_2_threads", "torch"}
    assert all(set(by_load) == {"0", "1"} and by_load["1"]["median_ms"] > 0 for by_load in res.values())
    competitors = [p for p in started if busy_machine.COMPETITOR in p.args]
    assert len(competitors) == 1 and competitors[0].poll() is not None  # the competitor was stopped


def test_every_side_reports_its_spread_and_a_noisy_one_is_flagged(tiny_run):
    compare_torch = bench_module("compare_torch")
    for r in tiny_run["results"]:
        for side, d in r["sides"].items():
            assert all(d[k] >= 0 for k in d if k.endswith("_spread")) and any(k.endswith("_spread") for k in d)
    quiet = [{"id": "P9", "sides": {"rnnkit": {"train_spread": 0.1, "infer_spread": 0.05}}}]
    noisy = [{"id": "P9", "sides": {"rnnkit": {"train_spread": 0.6}, "torch": {"infer_spread": 0.3}}}]
    assert compare_torch.noise_warnings(quiet) == []
    lines = compare_torch.noise_warnings(noisy)
    assert len(lines) == 2 and "P9 rnnkit train samples spread 60%" in lines[0] and "too noisy" in lines[1]
