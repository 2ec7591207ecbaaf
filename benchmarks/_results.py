"""Where the benchmark scripts write their results: one current file per script.

Convention: ``benchmarks/results/<script>.json``, named after the script
(``compare_torch.py`` -> ``benchmarks/results/compare_torch.json``).  A full run
writes it by default, replacing the committed file; git history keeps the
earlier runs.  ``--out FILE`` writes elsewhere, ``--no-out`` writes nothing, and
a smoke or partial run (``--tiny``, a subset of the configurations, shapes or
series, ``lm_vs_torch.py --steps``) writes nothing unless ``--out`` is given, so
that it never replaces a committed result.
"""
from __future__ import annotations

import json
import os
import sys

FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def default_path(script):
    """``benchmarks/results/<script>.json`` for a script's ``__file__`` or name."""
    return os.path.join(FOLDER, os.path.splitext(os.path.basename(script))[0] + ".json")


def add_out_options(ap, script, aliases=()):
    """``--out FILE.json`` (default: the script's results file) and ``--no-out``."""
    name = os.path.relpath(default_path(script), os.path.dirname(os.path.dirname(FOLDER)))
    ap.add_argument("--out", *aliases, dest="out", metavar="FILE.json", default=None,
                    help=f"write the results as JSON here (default: {name}; smoke and partial runs "
                         "write nothing unless --out is given)")
    ap.add_argument("--no-out", action="store_true", help="write no JSON")


def out_path(args, script, smoke=False):
    """The file to write, or ``None``: ``--no-out``, or a smoke or partial run without ``--out``."""
    if args.no_out:
        return None
    if args.out:
        return args.out
    return None if smoke else default_path(script)


def write(path, data):
    """Write ``data`` as JSON to ``path`` (whole or not at all) and say where; ``None``: nothing."""
    if path is None:
        return None
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)
    print(f"results written to {path}", file=sys.stderr)
    return path
