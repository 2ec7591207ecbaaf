"""How many BLAS threads a layer's pass runs with, where the user chose none.

NumPy's OpenBLAS splits each matrix product over its threads and waits for
all of them.  On a quiet machine two threads make the per-step products of a
mid-sized layer faster; on a busy one (other programs running) a thread that
the operating system deschedules holds up every product for a scheduler slice,
and a training step can run ten times slower than with one thread.  No fixed
number is right on both, so :class:`ThreadTuner` measures:

* per kind of pass (the loop, forward or backward, the shapes), the first
  passes alternate between one thread and all of them (after one untimed
  warm-up pass), then the setting with the lower median time runs;
* the other setting is timed again every :data:`PROBE_EVERY` passes, at once
  when two passes in a row take more than twice their setting's median (the
  machine got busier; one slow pass is noise), and again while it keeps
  beating the chosen one's median, so the choice follows the machine's load
  within a few passes;
* after each pass the thread count is put back, so the caller's own NumPy
  code runs as before.

The user's choice wins: with ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``,
``MKL_NUM_THREADS`` or ``RNNKIT_THREADS`` in the environment, or a BLAS already
limited below the cores the process may use (``threadpoolctl``, or a library
call, before the first pass or around any later one), rnnkit changes nothing; ``RNNKIT_THREADS=N`` runs every pass with N.
Passes whose step products are too small to be threaded (fewer than
:data:`MIN_WORK` multiply-adds) run as they are, and so do passes inside
another tuner's: :class:`rnnkit.training.Trainer` times each training step
as a whole (steps of at least :data:`STEP_MIN_WORK` multiply-adds), so that
on a busy machine the head's, the loss's and the optimizer's products go to
one thread with the layers', and the layers' passes keep the step's count.  The thread count is
process-wide: passes of one process should not run from several Python
threads at once.
"""
from __future__ import annotations

import functools
import os
import statistics
import time
from collections import deque

PROBE_EVERY = 50          # passes of one kind between two timings of the setting not chosen
WARMUP = 3                # timed passes of each setting before the first choice
MIN_WORK = 1 << 17        # multiply-adds of one step's product below which threads do not pay
STEP_MIN_WORK = 1 << 24   # multiply-adds of a training step (3 x parameters x batch) below which it is not tuned
USER_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RNNKIT_THREADS")


class _Blas:
    """The BLAS libraries NumPy loaded (through threadpoolctl) and their default thread count."""

    def __init__(self, libraries, default):
        self.libraries = libraries
        self.default = default
        self.current = default
        self.held = False           # a tuner's pass is running: passes inside it keep its count

    def limited(self):
        """True when someone else (``threadpoolctl.threadpool_limits``, a
        worker of :func:`rnnkit.parallel.run_tasks`) changed the thread count
        since rnnkit last set it: theirs wins for as long as it lasts."""
        return any(lib.num_threads != self.current for lib in self.libraries)

    def set(self, n):
        if n != self.current:
            for lib in self.libraries:
                lib.set_num_threads(n)
            self.current = n


@functools.lru_cache(maxsize=1)
def _blas_or_fixed():
    """``(blas, fixed)``: the libraries to steer and a fixed count from
    ``RNNKIT_THREADS`` (or ``None``), or ``(None, None)`` when the user chose
    threads some other way, threadpoolctl is missing, or there is one core."""
    fixed = os.environ.get("RNNKIT_THREADS")
    if any(os.environ.get(v) for v in USER_VARIABLES if v != "RNNKIT_THREADS"):
        return None, None
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:                                  # an optional nicety, never a failure
        return None, None
    libraries = ThreadpoolController().select(user_api="blas").lib_controllers
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    default = max((lib.num_threads for lib in libraries), default=1)
    if not libraries or (fixed is None and (cores < 2 or default < cores)):
        return None, None                                # one core, or the user limited the BLAS
    if fixed is not None:
        try:
            fixed = max(1, int(fixed))
        except ValueError:
            raise ValueError(f"RNNKIT_THREADS={fixed!r} is not a number of threads; set a positive integer "
                             "or unset it") from None
    return _Blas(libraries, default), fixed


class ThreadTuner:
    """Times the passes of one layer and runs each kind with the faster thread
    count (see the module docstring).  Holds timings only; no threads of its own."""

    def __init__(self):
        self._kinds = {}                                 # key -> {"passes", "times": {n: deque}, "probe"}

    def run(self, key, work, fn, *args, **kwargs):
        """``fn(*args, **kwargs)`` under the thread count chosen for passes of
        ``key``; ``work``: multiply-adds of one step's largest product."""
        blas, fixed = _blas_or_fixed()
        if blas is None or work < MIN_WORK or blas.held or blas.limited():
            return fn(*args, **kwargs)
        n = fixed if fixed is not None else self._choice(key, blas.default)
        blas.set(n)
        blas.held = True
        try:
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            if fixed is None:
                self._record(key, n, time.perf_counter() - start)
        finally:
            blas.held = False
            blas.set(blas.default)
        return out

    def _choice(self, key, most):
        kind = self._kinds.setdefault(key, {"passes": 0, "times": {1: deque(maxlen=5), most: deque(maxlen=5)},
                                            "probe": False, "slow": False})
        kind["passes"] += 1
        times = kind["times"]
        if kind["passes"] <= 1 + 2 * WARMUP:             # warm-up, then alternate
            return most if kind["passes"] % 2 else 1
        best = min(times, key=lambda n: statistics.median(times[n]))
        other = 1 if best == most else most
        if kind["probe"] or kind["passes"] % PROBE_EVERY == 0:
            kind["probe"] = False
            return other
        return best

    def _record(self, key, n, seconds):
        kind = self._kinds[key]
        if kind["passes"] == 1:
            return                                       # the first pass pays for compiling and buffers
        times = kind["times"]
        if kind["passes"] > 1 + 2 * WARMUP:
            best = min(times, key=lambda m: statistics.median(times[m]))
            slow = n == best and seconds > 2 * statistics.median(times[n])
            if slow and kind["slow"]:
                kind["probe"] = True                     # twice slower than usual: time the other setting next
            kind["slow"] = slow
            if n != best and seconds < statistics.median(times[best]):
                kind["probe"] = True                     # the other got faster: time it again until it wins
        times[n].append(seconds)

    def choices(self):
        """``{key: threads}``: the setting each kind of pass runs with now (for diagnostics)."""
        return {key: min(k["times"], key=lambda n: statistics.median(k["times"][n]) if k["times"][n] else float("inf"))
                for key, k in self._kinds.items()}
