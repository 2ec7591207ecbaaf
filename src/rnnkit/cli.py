"""The ``rnnkit`` command.  Errors reach the user as one line, never a traceback."""
from __future__ import annotations

import argparse
import importlib
import sys

# sub-command modules under rnnkit.commands, each with register(subparsers)
COMMANDS = ["hello", "lm", "classify", "tag", "seq2seq", "forecast", "anomaly", "export", "gradflow", "report"]


class _Parser(argparse.ArgumentParser):
    """argparse, with a refused command line reported as one line (not usage plus
    error), naming the command and where its options are listed.  Sub-commands
    are made from the same class."""

    def error(self, message):
        command = self.prog.removeprefix("rnnkit").strip()
        self.exit(2, f"rnnkit: error: {command + ': ' if command else ''}{message} (see {self.prog} --help)\n")


def build_parser():
    parser = _Parser(prog="rnnkit", description="Recurrent neural networks in NumPy.")
    from . import __version__
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"rnnkit.commands.{name}").register(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("rnnkit: interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, LookupError, OSError, NotImplementedError, RuntimeError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"rnnkit: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
