"""The training-control options every train command shares (:mod:`rnnkit.callbacks`):
``--early-stopping PATIENCE``, ``--min-delta``, ``--validation-fraction``,
``--lr-schedule {none,step,cosine,plateau}``, ``--lr-step-size``, ``--lr-gamma``,
``--lr-patience``."""
from __future__ import annotations

import argparse

from ..callbacks import SCHEDULES
from ._args import count, nonnegative_float, positive_int


def fraction(text):
    """argparse type: a number in (0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not in (0, 1); pass a fraction such as 0.1")
    return value


def add_control_args(p, unit="epochs", validation="a held-out share of the training data",
                     validation_fraction=0.1):
    """The options, in their own help group; ``unit``: what patience and step
    sizes count (``"epochs"``, or ``"validations"`` / ``"steps"``)."""
    step_unit = "steps" if unit == "validations" else unit
    g = p.add_argument_group("training controls")
    g.add_argument("--early-stopping", type=count, default=0, metavar="PATIENCE",
                   help=f"stop after PATIENCE {unit} without a lower validation loss (on {validation}) and "
                        "restore the best weights; 0: off")
    g.add_argument("--min-delta", type=nonnegative_float, default=0.0,
                   help="a validation loss lower by at most this much is no improvement")
    g.add_argument("--validation-fraction", type=fraction, default=validation_fraction,
                   help="share of the training data held out for validation when no validation data is given")
    g.add_argument("--lr-schedule", choices=SCHEDULES, default="none",
                   help=f"learning-rate schedule: step (times --lr-gamma every --lr-step-size {step_unit}), "
                        "cosine (annealed to 0 over the run), plateau (times --lr-gamma after --lr-patience "
                        f"{unit} without a lower validation loss)")
    g.add_argument("--lr-step-size", type=positive_int, default=None,
                   help=f"{step_unit} between decays of --lr-schedule step (default: a third of the run)")
    g.add_argument("--lr-gamma", type=fraction, default=0.1, help="decay factor of the step and plateau schedules")
    g.add_argument("--lr-patience", type=count, default=2,
                   help=f"{unit} without improvement before --lr-schedule plateau lowers the rate")


def controls(args, total, base_lr, interval="epoch"):
    """The callbacks of the options: ``total`` epochs (or steps) in the run, the
    model's ``base_lr``."""
    from ..callbacks import training_controls

    return training_controls(args.early_stopping or None, args.lr_schedule, epochs=total, interval=interval,
                             min_delta=args.min_delta, step_size=args.lr_step_size, gamma=args.lr_gamma,
                             lr_patience=args.lr_patience, base_lr=base_lr)


def settings(args):
    """The options as a JSON-able dict for the run's config.json."""
    return {k: getattr(args, k) for k in ("early_stopping", "min_delta", "validation_fraction", "lr_schedule",
                                          "lr_step_size", "lr_gamma", "lr_patience")}
