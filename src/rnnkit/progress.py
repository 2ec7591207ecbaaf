"""Progress a person can follow: a tqdm bar on a terminal; elsewhere (a log
file, CI) plain lines, one as the work starts, then about every 30 seconds and
one at the end::

    lm train: start, 1000 steps
    lm train: step 212/1000 (21%), loss 1.873, tok_s 6,120, 6m55s left
    lm train: done, step 1000/1000 (100%), loss 1.402, tok_s 6,050, in 8m31s

A time-bounded run (``--minutes``) counts seconds: its total is the time given.
"""
from __future__ import annotations

import sys
import time

EVERY = 30.0                     # seconds between two progress lines
_PLURAL = {"step": "steps", "ex": "examples", "s": "seconds", "epoch": "epochs", "forecast": "forecasts"}


def _duration(seconds):
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class LogLines:
    """The tqdm calls rnnkit makes (``update``, ``set_postfix``, ``close``), as log
    lines on ``file`` (default stderr) every ``every`` seconds of ``clock``.

    ``unit``: what ``update`` counts (``"step"``, ``"ex"``, or ``"s"`` for a run
    bounded by time, whose postfix then says the step)."""

    def __init__(self, total, desc, unit="step", initial=0, every=EVERY, file=None, clock=time.monotonic):
        self.total, self.desc, self.unit, self.every = total, desc, unit, every
        self.file, self.clock = file, clock
        self.n = self.n0 = initial
        self.postfix = {}
        self.t0 = self.last = clock()
        self._print(f"start, {total:,} {_PLURAL.get(unit, unit)}" if total else "start")

    def _print(self, text):
        print(f"{self.desc}: {text}", file=self.file or sys.stderr, flush=True)

    def _status(self, left=True):
        share = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        if self.unit == "s":
            parts = [f"{_duration(self.n)}" + (f" of {_duration(self.total)}" if self.total else "") + share]
        else:
            parts = [f"{self.unit} {self.n:,}" + (f"/{self.total:,}" if self.total else "") + share]
        parts += [f"{k} {v}" for k, v in self.postfix.items()]
        elapsed = self.clock() - self.t0
        done = self.n - self.n0
        if done > 0 and elapsed > 0 and self.unit != "s" and not any(k.endswith("_s") for k in self.postfix):
            parts.append(f"{done / elapsed:,.1f} {self.unit}/s")
        if left and self.total and done > 0 and elapsed > 0:
            parts.append(f"{_duration((self.total - self.n) * elapsed / done)} left")
        return ", ".join(parts)

    def update(self, n=1):
        self.n += n
        now = self.clock()
        if now - self.last >= self.every:
            self.last = now
            self._print(self._status())

    def set_postfix(self, **kw):
        self.postfix = {k: v for k, v in kw.items() if v is not None}

    def close(self):
        self._print(f"done, {self._status(left=False)}, in {_duration(self.clock() - self.t0)}")


def progress(total, desc, disable=None, unit="step", initial=0, file=None):
    """A tqdm bar (time left, rate) on a terminal; :class:`LogLines` when ``file``
    (default stderr) is not one; nothing shown with ``disable=True``."""
    file = file or sys.stderr
    if disable:
        from tqdm.auto import tqdm

        return tqdm(total=total, disable=True, unit=unit)
    if not (hasattr(file, "isatty") and file.isatty()):
        return LogLines(total, desc, unit, initial, file=file)          # a log file, a pipe, CI
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, initial=initial, dynamic_ncols=True, leave=True, file=file)
