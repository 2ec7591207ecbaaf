"""``argparse`` types for the commands' numeric options: a bad value is refused
at parse time with one line that names the option and what it takes."""
from __future__ import annotations

import argparse
import math


def _parse(text, kind):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def positive_int(text):
    """An integer >= 1."""
    value = _parse(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer (1 or more)")
    return value


def count(text):
    """An integer >= 0."""
    value = _parse(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative; pass 0 or more")
    return value


def positive_float(text):
    """A finite number > 0."""
    value = _parse(text, float)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not above 0")
    return value


def nonnegative_float(text):
    """A finite number >= 0."""
    value = _parse(text, float)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative; pass 0 or more")
    return value
