"""Gradient flow through time at T=100 (adding problem), run by hand (about 14 minutes on 2 shared cores).

    PYTHONPATH=src nice -n 19 python benchmarks/gradflow_experiment.py [OUT_DIR] [rnnkit gradflow options]

Same as ``rnnkit gradflow --out OUT_DIR`` (defaults: T=100, hidden 32, batch 64, 1500 Adam
steps at lr 1e-2, clip 1.0, cells rnn_tanh rnn_relu lstm gru lstm_fb0, then the same without
clipping); then renders the results into OUT_DIR/report.html.
"""
import sys

from rnnkit.cli import main
from rnnkit.diagnostics import write_report

if len(sys.argv) > 1 and sys.argv[1] in ("-h", "--help"):
    print(__doc__)
    sys.exit(main(["gradflow", "--help"]))
out = sys.argv[1] if len(sys.argv) > 1 else "gradflow_out"
code = main(["gradflow", "--out", out, *sys.argv[2:]])
if code == 0:                                  # the experiment's one-line error stands alone otherwise
    print("wrote", write_report(out))
sys.exit(code)
