"""What the commands share about their arguments: ``argparse`` types for the
numeric options (a bad value is refused at parse time with one line that names
the option and what it takes), and the check of an export's output path."""
from __future__ import annotations

import argparse
import math
import os


def _parse(text, kind):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _checked(kind, ok, says, doc):
    def parse(text):
        value = _parse(text, kind)
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{text} {says}")
        return value
    parse.__doc__ = doc
    return parse


positive_int = _checked(int, lambda v: v >= 1, "is not a positive integer (1 or more)", "An integer >= 1.")
count = _checked(int, lambda v: v >= 0, "is negative; pass 0 or more", "An integer >= 0.")
positive_float = _checked(float, lambda v: v > 0, "is not above 0", "A finite number > 0.")
nonnegative_float = _checked(float, lambda v: v >= 0, "is negative; pass 0 or more", "A finite number >= 0.")


def refuse_changed(options, config_path):
    """``--resume`` goes on as the run was configured: each ``(dest, given,
    saved)`` with ``given`` set (not ``None``) and unlike ``saved`` is refused in
    one line naming the option, the run's value and ``config_path``."""
    for dest, given, saved in options:
        if given is None or saved is None or given == saved:
            continue
        flag = "--" + dest.replace("_", "-")
        shown = flag if given is True else f"{flag} {given}"
        was = f"the run's setting ({flag} {'on' if saved else 'off'})" if isinstance(saved, bool) else f"the run's {saved}"
        raise ValueError(f"{shown} differs from {was} in {config_path}; a resumed run keeps its "
                         f"settings: drop {flag}, or train a new run with another --out")


def check_export_output(model, out):
    """Refuse an output that would overwrite the input (the model file, or any
    file in the run directory but an earlier ``.onnx`` export), a directory, or
    a file in a missing folder."""
    from ..io.files import check_output

    if os.path.isdir(model):
        protect = [(os.path.join(model, name), "one of the run directory's saved files")
                   for name in os.listdir(model) if not name.lower().endswith((".onnx", ".safetensors"))]
    else:
        protect = [(model, "the input model file")]
    check_output(out, "output", protect=protect)
