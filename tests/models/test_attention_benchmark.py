"""``benchmarks/models_attention.py`` runs (a tiny smoke run) and writes only where told."""
import importlib
import json
import os
import sys

BENCH = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks")


def test_tiny_run_reports_every_model_and_band_and_writes_only_where_told(tmp_path, capsys):
    sys.path.insert(0, os.path.abspath(BENCH))
    try:
        bench = importlib.import_module("models_attention")
    finally:
        sys.path.pop(0)
    committed = os.path.join(BENCH, "results", "models_attention.json")
    before = open(committed, "rb").read() if os.path.exists(committed) else None
    results = bench.main(["--tiny", "--attention", "none", "dot", "--test-len", "26", "40"])
    assert list(results["models"]) == ["none", "dot"]
    assert list(results["models"]["dot"]["bands"]) == ["5-25 (trained)", "26-35", "36-40"]
    assert "exact match / token accuracy" in capsys.readouterr().out
    assert (open(committed, "rb").read() if os.path.exists(committed) else None) == before
    bench.main(["--tiny", "--attention", "general", "--out", str(tmp_path / "r.json")])
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["models"]["general"]["reverse_source"] is False and saved["task"] == "copy"
