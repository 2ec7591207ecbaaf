"""``rnnkit report RUN_DIR``: a self-contained HTML page about a training run."""
from __future__ import annotations


def register(sub):
    p = sub.add_parser("report", help="write RUN_DIR/report.html from a training run's files",
                       description="Render config, losses, gradient norms and clipping, gradient flow, gate "
                                   "saturation, samples and timings from RUN_DIR into one offline HTML page.")
    p.add_argument("run_dir", help="a training run directory (rnnkit lm train --out ...)")
    p.set_defaults(func=run)


def run(args):
    from ..diagnostics.report import write_report

    print(f"wrote {write_report(args.run_dir)}")
    return 0
