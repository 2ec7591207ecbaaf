"""Gradient flow through time at T=100 (adding problem), by hand: a few minutes on 2 cores.

    PYTHONPATH=src python benchmarks/gradflow_experiment.py [OUT_DIR]

Same as ``rnnkit gradflow --out OUT_DIR`` (defaults: T=100, 150 Adam steps, clip 1.0,
plus the no-clipping and LSTM forget-bias-0 comparisons); then renders the
results into OUT_DIR/report.html.
"""
import sys

from rnnkit.cli import main
from rnnkit.diagnostics import write_report

out = sys.argv[1] if len(sys.argv) > 1 else "gradflow_out"
code = main(["gradflow", "--out", out])
print("wrote", write_report(out))
sys.exit(code)
