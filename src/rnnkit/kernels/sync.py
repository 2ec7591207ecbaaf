"""Where the threads of one column-loop pass meet once a step.

The whole-sequence loops of :mod:`rnnkit.kernels.lstm` and
:mod:`rnnkit.kernels.gru` split a pass over threads by *units*
(:func:`rnnkit.threads.block_ranges`): each thread keeps its own rows of the
recurrent weights, so that they stay in its core's cache from step to step,
and computes its units' gates and states for the whole batch.  A step needs
the previous step's whole state, so the threads meet once a step:

    each thread, after its part of step k:   count += 1
                                             wait until count ≥ threads · (k + 1)

``count`` is ``sync[0]`` of an int64 array the pass starts at zero; it only
grows, so the barrier needs no reset and no second phase.  The add is an
atomic read-modify-write and the wait an atomic acquire load (LLVM's own
instructions, emitted through numba intrinsics): every write a thread made
before arriving is visible to the others after they leave.  The wait spins
(:data:`SPINS` reads, a few microseconds), then gives the core away
(``sched_yield``, ``SwitchToThread`` on Windows) between reads, so that on a
busy machine a waiting thread does not hold the core its partner needs.

A thread that waits far too long (:data:`GIVE_UP` yields, seconds: a partner
that never started) sets ``sync[1]`` and returns, so that a pass never hangs;
:func:`check` turns that into an error.  On one thread the barrier is the add.
"""
from __future__ import annotations

import ctypes
import functools
import os

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .activations import JIT

SPINS = 2000            # reads of the count before the first yield
GIVE_UP = 1 << 26       # yields after which a partner is taken for lost


def _first_element(context, builder, array_type, array):
    ary = context.make_array(array_type)(context, builder, array)
    return cgutils.get_item_pointer(context, builder, array_type, ary, [ir.Constant(ir.IntType(64), 0)])


@intrinsic
def _atomic_add(typingctx, arr, value):
    """``arr[0] += value`` as one atomic instruction (sequentially consistent); returns the old value."""
    def codegen(context, builder, sig, args):
        return builder.atomic_rmw("add", _first_element(context, builder, sig.args[0], args[0]), args[1],
                                  "seq_cst")
    return types.int64(arr, types.int64), codegen


@intrinsic
def _atomic_read(typingctx, arr):
    """``arr[0]`` as an atomic load with acquire ordering (read anew at every call)."""
    def codegen(context, builder, sig, args):
        return builder.load_atomic(_first_element(context, builder, sig.args[0], args[0]), "acquire", 8)
    return types.int64(arr), codegen


@functools.lru_cache(maxsize=1)
def pause():
    """The operating system's "give the core away" call, as a :mod:`ctypes`
    function of no arguments that the compiled loops call while they wait."""
    fn = ctypes.windll.kernel32.SwitchToThread if os.name == "nt" else ctypes.CDLL(None).sched_yield
    fn.restype = ctypes.c_int
    fn.argtypes = []
    return fn


def new():
    """A pass's sync array, its count at zero."""
    return np.zeros(8, np.int64)        # one cache line: the count, the lost flag, padding


def apart(n):
    """``n`` sync arrays as :func:`new`, for parts that never meet, 128 bytes
    apart so that no two share a cache line."""
    return list(np.zeros((n, 16), np.int64)[:, :8])


@numba.njit(inline="always", **JIT)
def barrier(pause, sync, target):
    """Arrive (add one to ``sync[0]``), then wait until ``sync[0] ≥ target``."""
    _atomic_add(sync, np.int64(1))
    spins = 0
    while _atomic_read(sync) < target:
        spins += 1
        if spins > SPINS:
            pause()
            if spins > SPINS + GIVE_UP:
                sync[1] = 1
                return


def check(sync):
    """Raise when a thread of the pass gave its partners up for lost."""
    if sync[1]:
        raise RuntimeError("a thread of rnnkit's split pass never reached its partners; run with "
                           "RNNKIT_THREADS=1 and report the layer's shapes")
