"""The forecast backtest panel runs at tiny sizes on statsmodels' and generated series.

No figures are asserted (a smoke run of two epochs is no result): only that every model
is scored on every series, the table and the means are written, and the committed
results are left alone.  The full panel needs aeon and sktime (the bench extra)."""
import importlib
import json
import math
import os
import sys

import pytest

pytest.importorskip("statsmodels")

BENCH = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks")
RESULTS = os.path.join(BENCH, "results", "forecast_panel.json")


def bench_module(name):
    sys.path.insert(0, os.path.abspath(BENCH))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


def test_quick_panel_scores_every_model_on_every_series(tmp_path, capsys):
    before = open(RESULTS, "rb").read() if os.path.exists(RESULTS) else None
    panel = bench_module("forecast_panel")
    out = tmp_path / "panel.json"
    assert panel.main(["--quick", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert set(res["series"]) == {"nile", "generated_monthly"}
    for r in res["series"].values():
        assert set(r["metrics"]) == set(panel.MODELS) and not r["errors"]
        for m in r["metrics"].values():
            assert math.isfinite(m["MASE"]) and math.isfinite(m["sMAPE"]) and len(m["MASE_per_origin"]) == 1
    assert set(res["summary"]) == set(panel.MODELS)
    printed = capsys.readouterr().out
    assert printed.count("| **mean** (2 series) |") == 2 and res["markdown"] in printed
    after = open(RESULTS, "rb").read() if os.path.exists(RESULTS) else None
    assert after == before, "a quick run changed benchmarks/results/forecast_panel.json"


def test_the_panel_spans_frequencies_trends_and_seasons():
    panel = bench_module("forecast_panel")
    assert len(panel.PANEL) >= 10
    assert {freq for _, freq, _, _ in panel.PANEL.values()} == {"monthly", "quarterly", "yearly"}
    assert {seasonal for _, _, seasonal, _ in panel.PANEL.values()} == {True, False}
    horizons = {freq: h for _, freq, _, h in panel.PANEL.values() if h != 6 or freq == "yearly"}
    assert horizons == {"monthly": 18, "quarterly": 8, "yearly": 6}          # as M3/M4 forecast them


def test_smape_is_the_m4_definition():
    panel = bench_module("forecast_panel")
    assert panel.smape([100, 100], [110, 90]) == pytest.approx(100 * (10 / 210 + 10 / 190))
    assert panel.smape([0, 1], [0, 1]) == 0.0                       # 0/0 counts as no error


def test_an_unknown_series_is_refused(capsys):
    panel = bench_module("forecast_panel")
    with pytest.raises(SystemExit) as e:
        panel.main(["--series", "air_line"])
    assert e.value.code == 2 and "unknown series ['air_line']" in capsys.readouterr().err
