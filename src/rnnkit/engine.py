"""The engine: one place that chooses which time loop runs a layer's pass.

    forward(cell, p, x, state0, mask, rmask, reverse)  -> (hs, state_T, cache)
    backward(cell, p, cache, dhs, dstate_T)            -> (dx, dstate_0, grads)

:class:`rnnkit.Recurrent` calls these for each layer and direction.  Three
loops compute the same thing (``tests/engine/`` holds them to each other, to
PyTorch and to finite differences):

* :mod:`rnnkit.loops.reference`: any cell, any dtype, step by step through the
  cell's readable ``step`` / ``step_back`` (:mod:`rnnkit.cells`);
* :mod:`rnnkit.loops.rows`: batch-major, each step's elementwise work in one
  compiled float32 kernel; lengths packed, any mask, recurrent dropout;
* :mod:`rnnkit.loops.columns`: the state as columns and the whole sequence in
  one compiled call, products through NumPy's own ``cblas_sgemm``.

:func:`choose_loop` says which one runs; a cache remembers the loop that made
it, and :func:`backward` hands it back to that loop.
"""
from __future__ import annotations

import numpy as np

from . import kernels
from .cells import ElmanCell, GRUCell, LSTMCell
from .loops import reference

LOOPS = ("reference", "rows", "columns")
MIN_BATCH = 4    # inference below it: the batch-major loop is faster (B is the kernels' inner loop)


def compiled_family(cell):
    """The family of compiled kernels (:mod:`rnnkit.kernels`) that computes
    ``cell``'s equations: ``"lstm"``, ``"gru"`` (reset after only),
    ``"elman"``, or ``None`` (the cell runs on the reference loop).  Exact
    types: a subclass may change the equations."""
    if type(cell) is LSTMCell:
        return "lstm"
    if type(cell) is GRUCell and cell.reset_after:
        return "gru"
    if type(cell) is ElmanCell:
        return "elman"
    return None


def _from_lengths(mask):
    """Whether ``mask`` ``(T, B)`` is ``t < length_b`` for some lengths."""
    T = mask.shape[0]
    return np.array_equal(mask, np.arange(T)[:, None] < mask.sum(axis=0))


def choose_loop(cell, dtype, mask, rmask, B, keep_cache):
    """The loop that runs a pass, one of :data:`LOOPS`.

    * ``"reference"`` when no compiled kernels serve: the cell has none
      (:func:`compiled_family`: the GRU with the reset before the product, the
      simplified GRU, the projected and layer-normalised cells), the arrays
      are not float32 (float64 keeps NumPy's correctly rounded functions, so
      that gradient checks and the PyTorch twin test exact arithmetic), numba
      is not installed, or ``RNNKIT_KERNELS=numpy`` (:func:`rnnkit.kernels.available`).
    * ``"columns"`` for an LSTM or reset-after GRU when NumPy's
      ``cblas_sgemm`` was found (:func:`rnnkit.kernels.blas.sgemm`; not with
      ``RNNKIT_BLAS_LOOP=off``), there is no recurrent dropout, any mask comes
      from lengths and only in a training pass (``keep_cache``; inference with
      lengths measured faster batch-major, whose work shrinks with the live
      rows), and the pass trains or has at least :data:`MIN_BATCH` sequences
      (inference of one to three sequences runs faster batch-major).
    * ``"rows"`` otherwise (Elman cells, recurrent dropout, masks that are not
      lengths, small inference batches).
    """
    family = compiled_family(cell)
    if family is None or not kernels.available(dtype):
        return "reference"
    from .kernels import blas
    if (family in ("lstm", "gru") and rmask is None and blas.sgemm() is not None
            and (mask is None or (keep_cache and _from_lengths(mask)))
            and (keep_cache or B >= MIN_BATCH)):
        return "columns"
    return "rows"


def forward(cell, p, x, state0, mask=None, rmask=None, reverse=False, keep_cache=True, buffers=None, loop=None,
            threads=None):
    """Run ``cell`` over ``x`` ``(T, B, D)`` (or a :class:`rnnkit.tokens.TokenInput`)
    from ``state0`` (tuple of ``(B, ·)``), as :func:`rnnkit.loops.reference.forward`.

    ``p`` holds one direction of one layer (:mod:`rnnkit.cells.base`), ``mask``
    ``(T, B)`` the live steps, ``rmask`` ``(B, S)`` the recurrent dropout mask.
    ``buffers`` (a dict the caller keeps) lends arrays from one pass to the
    next; the caller must no longer need the cache of the pass before.
    ``loop`` forces one of :data:`LOOPS` (tests); by default
    :func:`choose_loop` decides.  ``threads``: a :class:`rnnkit.threads.ThreadTuner`
    that picks the BLAS threads of the pass (``None``: as they are).
    """
    T, B, _ = x.shape
    dtype = p["W_ih"].dtype
    if mask is not None and mask.all():
        mask = None                              # lengths that pad nothing
    chosen = choose_loop(cell, dtype, mask, rmask, B, keep_cache)
    if loop is not None and loop != chosen:
        _check_forced(loop, cell, dtype, mask, rmask, keep_cache)
        chosen = loop
    if chosen == "reference":
        run, args = reference.forward, (cell, p, x, state0, mask, rmask, reverse, keep_cache, buffers)
    elif chosen == "rows":
        from .loops import rows
        run, args = rows.forward, (cell, compiled_family(cell), p, x, state0, mask, rmask, reverse, keep_cache,
                                   buffers)
    else:
        from .loops import columns
        run, args = columns.forward, (cell, compiled_family(cell), p, x, state0, mask, reverse, keep_cache, buffers)
    if threads is None:
        return run(*args)
    return threads.run((chosen, "forward", keep_cache, type(x).__name__, x.shape), _step_work(p, B), run, *args,
                       ways=_ways(chosen))


def _step_work(p, B):
    """Multiply-adds of one step's recurrent product ``(B, S) @ (S, G*H)``."""
    return B * p["W_hh"].size


def _check_forced(loop, cell, dtype, mask, rmask, keep_cache):
    """Refuse a forced ``loop`` that cannot run this pass."""
    if loop not in LOOPS:
        raise ValueError(f"unknown loop {loop!r}; use one of {', '.join(LOOPS)}")
    if loop == "reference":
        return
    family = compiled_family(cell)
    if family is None or not kernels.available(dtype):
        raise ValueError(f"the {loop} loop needs compiled kernels for {type(cell).__name__} at {np.dtype(dtype)}")
    from .kernels import blas
    if loop == "columns" and (family == "elman" or rmask is not None or blas.found() is None
                              or (mask is not None and not (keep_cache and _from_lengths(mask)))):
        raise ValueError("the columns loop runs LSTMs and reset-after GRUs without recurrent dropout, "
                         "with lengths in training passes only, where NumPy's cblas_sgemm is found")


def backward(cell, p, cache, dhs, dstate_T=None, dh_norms=None, buffers=None, need_dx=True, threads=None):
    """BPTT through one :func:`forward` pass, by the loop that made ``cache``.

    ``dhs`` ``(T, B, S)`` is the gradient w.r.t. the outputs (may be ``None``),
    ``dstate_T`` a tuple (entries may be ``None``) w.r.t. the final state.
    Returns ``dx`` ``(T, B, D)`` (for token ids, the embedding's gradient),
    the gradient w.r.t. ``state0`` (tuple) and ``grads`` keyed like ``p``.
    ``dh_norms`` ``(T,)``, if given, receives at each ``t`` the batch mean of
    ``‖dL/dh_t‖₂``.  ``need_dx=False`` skips the input gradient (``None``).
    ``threads`` as in :func:`forward`.
    """
    args = (cell, p, cache, dhs, dstate_T, dh_norms, buffers, need_dx)
    if cache.loop == "reference":
        run = reference.backward
    elif cache.loop == "rows":
        from .loops import rows
        run, args = rows.backward, (cell, compiled_family(cell)) + args[1:]
    else:
        from .loops import columns
        run, args = columns.backward, (cell, compiled_family(cell)) + args[1:]
    if threads is None:
        return run(*args)
    return threads.run((cache.loop, "backward", type(cache.x).__name__, cache.x.shape), _step_work(p, cache.x.shape[1]),
                       run, *args,
                       ways=_ways(cache.loop))


def _ways(loop):
    """The thread settings worth timing for a pass of ``loop`` (:class:`rnnkit.threads.ThreadTuner`):
    the column loop splits its own work; the others lean on OpenBLAS's threads."""
    return ("one", "split") if loop == "columns" else ("one", "blas")
