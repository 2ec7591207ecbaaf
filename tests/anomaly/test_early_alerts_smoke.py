"""The early-alerts benchmark runs at tiny size on generated series (no aeon or sktime needed),
scores every method on every case, and leaves the committed results alone."""
import importlib
import json
import os
import sys

BENCH = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks")
RESULTS = os.path.join(BENCH, "results", "early_alerts.json")
METHODS = {"residual robust", "residual telemanom", "band now", "predictive point", "predictive interval"}


def test_tiny_early_alerts_run_scores_every_method(tmp_path, capsys):
    before = open(RESULTS, "rb").read() if os.path.exists(RESULTS) else None
    sys.path.insert(0, os.path.abspath(BENCH))
    try:
        bench = importlib.import_module("early_alerts")
    finally:
        sys.path.pop(0)
    out = tmp_path / "ea.json"
    assert bench.main(["--tiny", "--out", str(out)]) == 0
    assert (open(RESULTS, "rb").read() if os.path.exists(RESULTS) else None) == before
    res = json.loads(out.read_text())
    assert set(res) == {"generated drift", "generated degradation"}
    for rows in res.values():
        assert set(rows) == METHODS
        for r in rows.values():
            assert r["events"] == 2 and len(r["lead_times"]) == 2 and r["false_per_1000"] >= 0
    assert "predictive point" in capsys.readouterr().out
