"""Many independent models at once, through joblib: the one seam.

Fitting one forecaster per series, one detector per sensor, the refits of a
backtest: each task is independent, so rnnkit hands them to :mod:`joblib` and
lets the user choose where they run::

    from joblib import parallel_config
    with parallel_config(backend="dask"):          # or "ray", "loky" (default)
        models = fit_panel(frame, n_jobs=-1)

rnnkit imports neither Dask nor Ray; whatever backend joblib is configured
with runs the tasks.  Two promises hold for every ``n_jobs`` and backend:

* **one BLAS thread per task** by default (``blas_threads``): workers share
  the machine's cores, and a task's threads would only fight the others'.
  The same limit applies when the tasks run one after another in this process,
  so the products, and the results, are the same however the tasks are spread;
* **seeds per task, not per worker**: :func:`task_seeds` derives one seed for
  each task from the caller's ``random_state``, so a task's result does not
  depend on which worker ran it or what ran there before.
"""
from __future__ import annotations

import numpy as np


def task_seeds(random_state, n):
    """``n`` independent integer seeds derived from ``random_state`` (an int
    or ``None``), one per task, the same for any number of workers."""
    if random_state is not None and not isinstance(random_state, (int, np.integer)):
        raise TypeError(f"random_state must be an integer or None for many tasks, got {type(random_state).__name__}; "
                        "pass an int")
    children = np.random.SeedSequence(random_state).spawn(n)
    return [int(c.generate_state(1, dtype=np.uint32)[0]) for c in children]


def _limited(fn, args, blas_threads):
    """``fn(*args)`` with the BLAS of this process limited to ``blas_threads``."""
    if blas_threads is None:
        return fn(*args)
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=blas_threads, user_api="blas"):
        return fn(*args)


def check_n_jobs(n_jobs):
    """Refuse an ``n_jobs`` that joblib would misread (0, a float, a string)."""
    if n_jobs is None:
        return None
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0:
        raise ValueError(f"n_jobs={n_jobs!r} is not a number of workers; use a positive integer, "
                         "-1 for every core, or None for joblib's configured default")
    return int(n_jobs)


def run_tasks(fn, tasks, n_jobs=None, blas_threads=1, verbose=0):
    """``[fn(*task) for task in tasks]``, spread over ``n_jobs`` joblib workers.

    ``tasks``: a sequence of argument tuples.  ``n_jobs``: as joblib reads it
    (``None``: the enclosing ``joblib.parallel_config``'s, else one; ``-1``:
    every core).  ``fn`` and the tasks must be picklable (a module-level
    function) for process and cluster backends.  ``blas_threads``: BLAS threads
    each task runs with (``None``: as they are).  Results come back in the
    order of ``tasks``; the first task to fail raises its own exception.
    """
    tasks = [tuple(t) for t in tasks]
    n_jobs = check_n_jobs(n_jobs)
    if n_jobs == 1 or len(tasks) <= 1:
        return [_limited(fn, t, blas_threads) for t in tasks]
    from joblib import Parallel, delayed
    return Parallel(n_jobs=n_jobs, verbose=verbose)(delayed(_limited)(fn, t, blas_threads) for t in tasks)
