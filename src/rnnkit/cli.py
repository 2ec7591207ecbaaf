"""The ``rnnkit`` command.  Errors reach the user as one line, never a traceback."""
from __future__ import annotations

import argparse
import importlib
import sys

# sub-command modules under rnnkit.commands, each with register(subparsers)
COMMANDS = ["hello", "lm", "classify", "tag", "seq2seq", "forecast", "anomaly", "export", "gradflow", "report"]


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's defaults formatter: an option's help ends with ``(default: X)``,
    unless it says its default already or has none to say (``None``, ``False``)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """argparse, with a refused command line reported as one line (not usage plus
    error), naming the command and where its options are listed: the innermost
    sub-command's own ``--help``, unknown options included.  A command group
    given no action lists its actions.  Sub-commands are made from the same class."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Help)
        super().__init__(*args, **kwargs)

    def error(self, message):
        if message.startswith("the following arguments are required: ") and self._subparsers is not None \
                and message.split(": ", 1)[1] in ("COMMAND", "ACTION"):
            self.print_help(sys.stderr)                  # `rnnkit lm`: the actions, one line each
            self.exit(2)
        command = self.prog.removeprefix("rnnkit").strip()
        self.exit(2, f"rnnkit: error: {command + ': ' if command else ''}{message} (see {self.prog} --help)\n")

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if getattr(namespace, "_leaf_parser", None) is None:      # the innermost parser sets it first
            namespace._leaf_parser = self
        return namespace, extras

    def parse_args(self, args=None, namespace=None):
        namespace, extras = self.parse_known_args(args, namespace)
        if extras:                                       # reported by the sub-command that was given them
            namespace._leaf_parser.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace


def build_parser():
    parser = _Parser(prog="rnnkit", description="Recurrent neural networks in NumPy: train, apply, export and "
                                                "inspect recurrent models.  `rnnkit COMMAND --help` lists a "
                                                "command's options, each with its default.")
    from . import __version__
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"rnnkit.commands.{name}").register(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    if not (sys.argv[1:] if argv is None else argv):     # `rnnkit` alone: the commands, one line each
        parser.print_help()
        return 0
    args = parser.parse_args(argv)
    from .distributed import launched_rank, refuse_single_process_command
    refusal = refuse_single_process_command(args._leaf_parser.prog)
    if refusal is not None:                              # one line, from rank 0 only
        if launched_rank() == 0:
            print(f"rnnkit: error: {refusal}", file=sys.stderr)
        return 2
    try:
        rc = int(args.func(args) or 0)
        if rc == 0:
            from .commands._dialect import print_notes
            print_notes(args)                            # old option spellings: one line each
        return rc
    except KeyboardInterrupt:
        print("rnnkit: interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, LookupError, OSError, NotImplementedError, RuntimeError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"rnnkit: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
