"""Which threads a layer's pass or a training step runs with, where the user chose none.

Two ways to use the cores.  NumPy's OpenBLAS splits each matrix product over
its threads and waits for all of them, and its idle threads spin on the cores
for a while after each product.  rnnkit can also split work itself
(:func:`run` on a small pool of its own threads, NumPy's BLAS at one thread):
the column loop's units by unit ranges (:func:`block_ranges`,
:mod:`rnnkit.loops.columns`: each thread keeps its rows of the recurrent
weights in its core's cache and makes their products and gates, and the
threads meet once a step, :mod:`rnnkit.kernels.sync`) or, for small weights,
its sequences by column ranges (which never meet), and large products by
row ranges (:func:`matmul`).
On a quiet machine the split runs the language model's step products at
173-209 GFLOP/s on two cores against about 150 for OpenBLAS's two threads;
on a busy one (other programs running) any thread the operating system
deschedules holds up the others, and a step can run several times slower
than with one thread.  No fixed choice is right everywhere, so
:class:`ThreadTuner` measures three settings (:class:`Setting`): one thread;
OpenBLAS's threads; rnnkit's split (``width`` threads, OpenBLAS at one):

* per kind of pass (the loop, forward or backward, the shapes), the first
  passes take the settings in turn (after one untimed warm-up pass), then the
  setting with the lowest median time runs;
* another setting (in turn) is timed again every :data:`PROBE_EVERY` passes,
  at once when two passes in a row take more than twice their setting's
  median or less than half of it (the machine got busier or quieter; one odd
  pass is noise), and again while it keeps beating the chosen one's median,
  so the choice follows the machine's load within a few passes.  A probe of
  one thread is one pass; of a setting with threads to wake,
  :data:`PROBE_PASSES` passes, timed by the fastest after the first, since
  its first passes after others pay for the waking (on the VM of
  docs/performance.md rnnkit's pool, idle for 10 ms, took 120 µs to start a
  part; a small split pass, P5's inference, took 700, 630, 600, 570 and then
  540 µs after 300 passes on one thread, which took 590; P2's split
  inference took 7.3 ms, but often 12-14 in its third and fourth pass after
  a pause);
* a timing that loses to the chosen setting's median by more than
  :data:`CLEAR_LOSS` doubles the passes until the next one, up to
  ``PROBE_BACKOFF * PROBE_EVERY`` for each setting in turn (a close one puts
  them back to :data:`PROBE_EVERY`): on a quiet machine the language model's step took 75 ms
  split and 132 ms on one thread, and a timing every 50 steps cost 1.1 ms a step;
* after each pass the thread count is put back, so the caller's own NumPy
  code runs as before.

Every setting computes the same bits: OpenBLAS splits a product's output
between threads, not its sums, and the work rnnkit splits is cut the same way
whatever the width (the column loop's products in fixed blocks,
:mod:`rnnkit.kernels.product`; :func:`matmul` by rows), so the tuner's
choice never changes a result.

The user's choice wins: with ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``,
``MKL_NUM_THREADS`` or ``RNNKIT_THREADS`` in the environment, or a BLAS already
limited below the cores the process may use (``threadpoolctl``, or a library
call, before the first pass or around any later one), rnnkit changes nothing
and splits nothing itself; ``RNNKIT_THREADS=N`` runs every pass with rnnkit's
split over N threads (NumPy's BLAS at one).
Passes whose step products are too small to be threaded (fewer than
:data:`MIN_WORK` multiply-adds) run as they are, and so do passes inside
another tuner's: :class:`rnnkit.training.Trainer` times each training step
as a whole (steps of at least :data:`STEP_MIN_WORK` multiply-adds), so that
on a busy machine the head's, the loss's and the optimizer's products go to
one thread with the layers', and the layers' passes keep the step's count.  The thread count is
process-wide: passes of one process should not run from several Python
threads at once.  rnnkit's pool (``cores - 1`` threads, the caller's thread
being the last; more when ``RNNKIT_THREADS`` asks for a wider split, since
the parts of a column-loop pass meet once a step and must all run at once) is
made the first time work is split and lives with the process.
"""
from __future__ import annotations

import functools
import os
import statistics
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np

PROBE_EVERY = 50          # passes of one kind between two timings of the setting not chosen
PROBE_BACKOFF = 8         # ... up to this many times more while the others lose clearly
PROBE_PASSES = 4          # passes of a probe, timed by the fastest after the first
CLEAR_LOSS = 1.25         # a timing this many times the chosen setting's median loses clearly
WARMUP = 3                # timed passes of each setting before the first choice
MIN_WORK = 1 << 17        # multiply-adds of one step's product below which threads do not pay
STEP_MIN_WORK = 1 << 24   # multiply-adds of a training step (3 x parameters x batch) below which it is not tuned
WAYS = ("one", "blas", "split")   # the settings a tuner times (ThreadTuner.run's ways)
USER_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RNNKIT_THREADS")
SPLIT_MIN_WORK = 1 << 22  # multiply-adds of each part of a product that matmul splits
COPY_MIN_WORK = 1 << 16   # elements of each part of a copy, gather or sum that is split


class Setting(NamedTuple):
    """How a pass uses the cores: ``blas`` threads for NumPy's BLAS, ``width``
    threads for the work rnnkit splits itself."""
    blas: int
    width: int


class _Blas:
    """The BLAS libraries NumPy loaded (through threadpoolctl) and their default thread count."""

    def __init__(self, libraries, default):
        self.libraries = libraries
        self.default = default
        self.current = default
        self.width = 1              # rnnkit's own threads for the work it splits (1: none split)
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

    def apply(self, setting):
        self.set(setting.blas)
        self.width = setting.width


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
    """Times the passes of one layer (or the steps of one training loop) and
    runs each kind with the fastest :class:`Setting` (see the module
    docstring).  Holds timings only; no threads of its own."""

    def __init__(self):
        self._kinds = {}                                 # key -> {"passes", "times": {setting: deque}, ...}

    def run(self, key, work, fn, *args, ways=WAYS, **kwargs):
        """``fn(*args, **kwargs)`` under the setting chosen for passes of
        ``key``; ``work``: multiply-adds of one step's largest product;
        ``ways``: the settings worth timing, of ``"one"``, ``"blas"``,
        ``"split"`` (a pass rnnkit splits gains nothing from OpenBLAS's threads
        and a pass it cannot split nothing from the split: timing them would
        only waste passes, and OpenBLAS's spinning threads would slow the
        passes after them)."""
        blas, fixed = _blas_or_fixed()
        if blas is None or work < MIN_WORK or blas.held or blas.limited():
            return fn(*args, **kwargs)
        setting = Setting(1, fixed) if fixed is not None else self._choice(key, blas.default, ways)
        blas.apply(setting)
        blas.held = True
        try:
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            if fixed is None:
                self._record(key, setting, time.perf_counter() - start)
        finally:
            blas.held = False
            blas.apply(Setting(blas.default, 1))
        return out

    def _choice(self, key, most, ways):
        kind = self._kinds.get(key)
        if kind is None:
            named = {"blas": Setting(most, 1), "one": Setting(1, 1), "split": Setting(1, most)}
            settings = [named[w] for w in ("blas", "one", "split") if w in ways]
            kind = self._kinds[key] = {"passes": 0, "times": {s: deque(maxlen=5) for s in settings},
                                       "probe": False, "odd": False, "next": 0, "every": PROBE_EVERY,
                                       "due": PROBE_EVERY, "probing": None, "left": 0, "untimed": False,
                                       "fastest": float("inf"), "medians": {s: float("inf") for s in settings}}
        kind["passes"] += 1
        times = kind["times"]
        settings = list(times)
        if kind["passes"] <= 1 + len(settings) * WARMUP:  # warm-up, then each in turn
            return settings[kind["passes"] % len(settings)]
        if kind["left"] > 0:                             # a probe's next pass
            kind["left"] -= 1
            return kind["probing"]
        best = _best(kind)
        if kind["probe"] or kind["passes"] >= kind["due"]:
            kind["probe"] = False
            others = [s for s in settings if s != best]
            kind["next"] = (kind["next"] + 1) % len(others)
            setting = others[kind["next"]]
            passes = PROBE_PASSES if max(setting) > 1 else 1     # threads to wake first, or none
            kind["probing"], kind["left"], kind["fastest"] = setting, passes - 1, float("inf")
            kind["untimed"] = passes > 1                          # its first pass wakes them
            kind["due"] = kind["passes"] + passes - 1 + kind["every"]
            return setting
        return best

    def _record(self, key, setting, seconds):
        kind = self._kinds[key]
        if kind["passes"] == 1:                          # the first pass pays for compiling and buffers
            return
        if kind["probing"] is not None:
            if kind["untimed"]:
                kind["untimed"] = False
                return
            kind["fastest"] = min(kind["fastest"], seconds)
            if kind["left"] > 0:
                return
            seconds, kind["probing"] = kind["fastest"], None
        times = kind["times"]
        if kind["passes"] > 1 + len(times) * WARMUP:
            best = _best(kind)
            usual = kind["medians"][best]
            if setting == best:
                odd = seconds > 2 * usual or seconds < usual / 2
                if odd and kind["odd"]:                  # the machine got busier or quieter: time another next
                    kind["probe"], kind["every"] = True, PROBE_EVERY
                kind["odd"] = odd
            elif seconds < usual:
                kind["probe"] = True                     # another got faster: time it again until it wins
                kind["next"] = (kind["next"] - 1) % (len(times) - 1)
                kind["every"] = PROBE_EVERY
            else:                                        # a clear loss: time the others less often
                kind["every"] = (min(2 * kind["every"], PROBE_BACKOFF * PROBE_EVERY)
                                 if seconds > CLEAR_LOSS * usual else PROBE_EVERY)
                kind["due"] = kind["passes"] + kind["every"]
        times[setting].append(seconds)
        kind["medians"][setting] = statistics.median(times[setting])

    def choices(self):
        """``{key: Setting}``: the setting each kind of pass runs with now (for diagnostics)."""
        return {key: _best(k) for key, k in self._kinds.items()}

    def timings(self):
        """``{key: {Setting: [seconds, ...]}}``: each kind's recent timings of
        each setting, oldest first (for diagnostics)."""
        return {key: {s: list(ts) for s, ts in k["times"].items()} for key, k in self._kinds.items()}


def _best(kind):
    """The setting of a kind of pass whose recent timings have the lowest median."""
    medians = kind["medians"]
    return min(medians, key=medians.get)


# ----------------------------------------------------------------------------- rnnkit's own split
def width():
    """How many threads the work rnnkit splits may use right now: the width of
    the running pass's :class:`Setting`; outside tuned passes (a dense layer
    between two recurrent ones, a pass too small to tune) all of them, so that
    rnnkit's own products never wake OpenBLAS's threads, whose spinning would
    hold up the next split pass; 1 where the user chose thread counts."""
    blas, fixed = _blas_or_fixed()
    if blas is None:
        return 1
    if blas.held:
        return blas.width
    if blas.limited():
        return 1
    return fixed if fixed is not None else blas.default


def _pool(parts):
    """rnnkit's pool, with a thread for every part but the caller's: ``cores - 1``
    threads, or more for a wider split (``RNNKIT_THREADS``), whose parts meet once
    a step and so must all run at once."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return _pool_of(max(1, cores - 1, parts - 1))


@functools.lru_cache(maxsize=None)
def _pool_of(workers):
    return ThreadPoolExecutor(workers, thread_name_prefix="rnnkit")


def run(fn, parts):
    """``fn(*part)`` for every part of ``parts``, the first in the calling
    thread and the others at once on rnnkit's pool; returns their results in
    order.  ``fn`` must release the GIL to gain (numba's ``nogil`` kernels,
    NumPy's products) and the parts must write disjoint memory.  Outside tuned
    passes NumPy's BLAS runs at one thread meanwhile (its idle threads would
    otherwise spin on the cores for a while after each product, and slow the
    split passes that follow)."""
    blas, _ = _blas_or_fixed()
    own = blas is not None and not blas.held and blas.current != 1 and not blas.limited()
    if own:
        blas.set(1)                    # outside tuned passes too: rnnkit never wakes OpenBLAS's threads
    try:
        if len(parts) == 1:
            return [fn(*parts[0])]
        pool = _pool(len(parts))
        futures = [pool.submit(fn, *p) for p in parts[1:]]
        first = fn(*parts[0])
        return [first] + [f.result() for f in futures]
    finally:
        if own:
            blas.set(blas.default)


def block_ranges(size, block, n=None):
    """``[(lo, hi), ...]``: ``size`` rows in at most ``n`` (default
    :func:`width`) contiguous ranges of whole ``block``-row blocks, as even as
    they go: the units of a column-loop pass in blocks of
    :func:`rnnkit.kernels.product.unit_block`, or its columns in groups of
    :data:`rnnkit.kernels.product.GROUP`."""
    n = width() if n is None else n
    blocks = -(-size // block)
    n = max(1, min(n, blocks))
    cuts = [min(size, block * (blocks * i // n)) for i in range(n + 1)]
    return [(cuts[i], cuts[i + 1]) for i in range(n)]


def matmul(a, b, out=None):
    """``a @ b`` for 2-D ``a`` (M, K), ``b`` (K, N), the rows of the result in
    :func:`width` ranges at once (by :func:`run`) when each holds at least
    :data:`SPLIT_MIN_WORK` multiply-adds: the bits of ``np.matmul`` on one
    BLAS thread (each row's sums are the same; OpenBLAS's small-matrix kernels
    start far below that size).  ``out``: a C-contiguous (M, N) array to write into."""
    M, K = a.shape
    N = b.shape[1]
    if out is None:
        out = np.empty((M, N), np.result_type(a, b))
    run(lambda lo, hi: np.matmul(a[lo:hi], b, out=out[lo:hi]), row_ranges(M, K * N))
    return out


def row_ranges(M, work_per_row, min_work=SPLIT_MIN_WORK):
    """``[(lo, hi), ...]``: ``M`` rows in at most :func:`width` even ranges of at
    least ``min_work`` (multiply-adds, or elements copied) each (one range when small)."""
    n = max(1, min(width(), M * work_per_row // min_work, M))
    cuts = [M * i // n for i in range(n + 1)]
    return [(cuts[i], cuts[i + 1]) for i in range(n)]
