"""Old option spellings, kept for one release (docs/conventions.md): each works as
its new name does, is hidden from ``--help``, and leaves one note on stderr, printed
when the command has succeeded (a failing command keeps its one-line error)."""
from __future__ import annotations

import argparse
import sys

REMOVED_IN = "0.3"


def note(namespace, old, new):
    """Keep the one-line deprecation note of ``old`` (an option or a positional
    argument) in the parsed arguments, for :func:`print_notes`."""
    notes = vars(namespace).setdefault("_deprecation_notes", [])
    line = f"rnnkit: note: {old} is deprecated, use {new} (the old spelling goes in rnnkit {REMOVED_IN})"
    if line not in notes:
        notes.append(line)


def print_notes(namespace):
    """Print the notes :func:`note` kept, one line each, on stderr."""
    for line in getattr(namespace, "_deprecation_notes", ()):
        print(line, file=sys.stderr)


class _Old(argparse.Action):
    def __init__(self, option_strings, dest, new=None, **kw):
        self.new = new
        super().__init__(option_strings, dest, **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        note(namespace, option_string, self.new)
        setattr(namespace, self.dest, self.const if self.nargs == 0 else values)


def old_spelling(parser, old, action):
    """Accept ``old`` as a deprecated spelling of the option ``action`` (same
    destination, type, choices and number of values)."""
    flag = action.nargs == 0
    parser.add_argument(old, dest=action.dest, action=_Old, new=action.option_strings[0], help=argparse.SUPPRESS,
                        default=argparse.SUPPRESS, nargs=0 if flag else action.nargs,
                        const=action.const if flag else None, type=None if flag else action.type,
                        choices=None if flag else action.choices, metavar=action.metavar)


def renamed(parser, new, old, **kw):
    """Add the option ``new`` (``kw`` as for ``add_argument``) and its old spelling ``old``."""
    action = parser.add_argument(new, **kw)
    old_spelling(parser, old, action)
    return action


def data_argument(parser, what="CSV file with a header row"):
    """``--data FILE``, and the positional FILE of rnnkit 0.1 (deprecated); read with :func:`data_path`."""
    parser.add_argument("--data", metavar="FILE", help=f"{what} (required)")
    parser.add_argument("csv", nargs="?", default=None, help=argparse.SUPPRESS)


def data_path(args):
    """The data file of :func:`data_argument`, with the note for the positional
    form; ``args.csv`` is set to it too (idempotent)."""
    if args.csv is not None and args.csv != args.data:
        if args.data is not None:
            raise ValueError(f"the data file is given twice ({args.csv} and --data {args.data}); pass --data only")
        note(args, f"the positional data file ({args.csv})", "--data FILE")
        args.data = args.csv
    if args.data is None:
        raise ValueError("the data file is missing; pass it with --data FILE")
    args.csv = args.data
    return args.data
