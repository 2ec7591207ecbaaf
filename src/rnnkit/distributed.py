"""One model trained by several processes: data parallelism over MPI.

    mpirun -n 4 rnnkit lm train --batch-size 32 ...     # each process: 8 of the 32 streams

Every process (rank) holds the whole model and the same optimizer state.  At
each step every rank runs the forward pass and BPTT on its own contiguous
share of the batch (streams ``r*B/K .. (r+1)*B/K`` of the language model, a
slice of a sequence estimator's mini-batch), then one ``Allreduce`` (sum) of
one flat buffer gives every rank the gradient of the whole batch's mean loss::

    g = sum_r (n_r / N) g_r        g_r: gradient of the mean loss over rank r's n_r terms
                                   N = sum_r n_r: the batch's tokens (or sequences)

The same buffer carries the loss (``sum_r (n_r/N) loss_r``) and a flag for a
carried state that is not finite, so clipping sees the global norm and the
divergence check the global loss on every rank alike: every rank makes the
update one process would make on the whole batch (to rounding).  Weights,
optimizer state and the data order come from rank 0 at the start; rank 0 alone
writes files.

``mpi4py`` is imported only when the process was started by an MPI launcher
with more than one process (``mpiexec`` sets ``PMI_SIZE``, Open MPI's
``OMPI_COMM_WORLD_SIZE``, MVAPICH's ``MV2_COMM_WORLD_SIZE``) or when a
communicator is passed: ``import rnnkit`` never imports it.
"""
from __future__ import annotations

import contextlib
import json
import os
import time
import zlib

import numpy as np

from .training import finite_state

SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE")
_WORLD = []                # the launched world, detected once: [World or None]


def launched_size():
    """The number of processes the MPI launcher started, from its environment
    variables; 1 when this process was not started by one."""
    for name in SIZE_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 1


RANK_VARIABLES = ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "MV2_COMM_WORLD_RANK")
DISTRIBUTED_COMMANDS = ("rnnkit lm train",)   # the commands that train one model over the ranks


def launched_rank():
    """This process's rank among :func:`launched_size`'s, from the launcher's
    environment variables (0 when not started by one); no mpi4py needed."""
    for name in RANK_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 0


def refuse_single_process_command(command):
    """Under an MPI launcher, the one-line refusal of a ``command`` (``"rnnkit
    classify train"``) that runs as one process, or ``None``: K copies of it
    would race for the same files.  Only rank 0 should print it."""
    if launched_size() <= 1 or command in DISTRIBUTED_COMMANDS:
        return None
    return (f"`{command}` runs as one process, and under mpirun {launched_size()} copies would write the same "
            f"files; run it without mpirun (only {', '.join(DISTRIBUTED_COMMANDS)} trains over MPI ranks; from "
            "Python, every rank calling the estimators' fit trains one model)")


def world(comm=None):
    """The :class:`World` this process trains in, or ``None`` (one process).

    ``comm``: an mpi4py communicator to train over (``None``: ``COMM_WORLD``
    when an MPI launcher started more than one process).  A communicator of
    one process is ``None`` too: that is the single-process path."""
    if comm is not None:
        w = World(comm)
        return w if w.size > 1 else None
    if not _WORLD:
        size = launched_size()
        if size <= 1:
            _WORLD.append(None)
        else:
            try:
                from mpi4py import MPI
            except ImportError:
                raise RuntimeError(f"this process is one of {size} started by an MPI launcher, but mpi4py is not "
                                   "installed; pip install 'rnnkit[mpi]', or run without mpirun") from None
            _WORLD.append(World(MPI.COMM_WORLD))
    return _WORLD[0]


def is_root(comm=None):
    """Whether this process is the one that writes: rank 0 under MPI, or the only one.
    ``LanguageModel.fit(text, run=RunDir(...) if is_root() else None)``."""
    w = world(comm)
    return w is None or w.root


class DistributedError(RuntimeError):
    """A failure every rank raises together (a setup step failed on one rank or
    more, or the ranks disagree); ``rank``: the first rank it happened on."""

    def __init__(self, message, rank=0):
        super().__init__(message)
        self.rank = rank


class World:
    """The processes training one model: ``rank`` (this one's number),
    ``size`` (``K``), ``root`` (whether this is rank 0, the one that writes)."""

    def __init__(self, comm):
        self.comm = comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.root = self.rank == 0

    def __repr__(self):
        return f"World(rank={self.rank}, size={self.size})"

    # -- sharding --------------------------------------------------------------------------------
    def shard(self, n):
        """This rank's contiguous share ``slice`` of ``n`` items: equal shares
        when ``K`` divides ``n``, else the first ``n mod K`` ranks take one more
        (a rank may get none)."""
        q, extra = divmod(int(n), self.size)
        lo = self.rank * q + min(self.rank, extra)
        return slice(lo, lo + q + (self.rank < extra))

    def check_divides(self, batch_size, name="batch_size"):
        """Refuse a batch that does not split into ``K`` equal shares, in one line."""
        if batch_size % self.size:
            up = -(-batch_size // self.size) * self.size
            ks = [k for k in range(2, batch_size + 1) if batch_size % k == 0 and k <= 64][:6]
            raise ValueError(f"{name}={batch_size} does not split over {self.size} processes; pass a multiple of "
                             f"{self.size} (e.g. {up}), or run {' or '.join(map(str, ks)) or 1} processes")

    # -- agreement ---------------------------------------------------------------------------------
    def agree(self, settings, what="the settings"):
        """Refuse to go on (on every rank) unless every rank passed the same
        JSON-able ``settings``; the message names the first that differs."""
        mine = json.dumps(settings, sort_keys=True, default=str)
        seen = self.comm.allgather(mine)
        if all(s == seen[0] for s in seen):
            return
        r = next(i for i, s in enumerate(seen) if s != seen[0])
        a, b = json.loads(seen[0]), json.loads(seen[r])
        keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k)) if isinstance(a, dict) else []
        which = f" ({keys[0]}: {a.get(keys[0])!r} on rank 0, {b.get(keys[0])!r} on rank {r})" if keys else ""
        raise DistributedError(f"the {self.size} processes were given different {what}{which}; run the same "
                               "command (or script) on every rank", r)

    @contextlib.contextmanager
    def together(self):
        """Run a setup step on every rank and fail on every rank when it failed on
        any (with the first failing rank's message), so that no rank waits
        forever for one that stopped.  Every rank must enter it."""
        error = None
        try:
            yield self
        except Exception as exc:                       # noqa: BLE001 - reported on every rank below
            error = exc
        failed = self.comm.allgather(None if error is None else (type(error).__name__, _one_line(error)))
        first = next((i for i, f in enumerate(failed) if f is not None), None)
        if first is None:
            return
        if first == self.rank and not isinstance(error, DistributedError):
            raise DistributedError(_one_line(error), first) from error
        _, message = failed[first]
        raise DistributedError(message if first == 0 else f"rank {first}: {message}", first)

    # -- moving values -------------------------------------------------------------------------------
    def bcast(self, obj):
        """Rank 0's ``obj`` on every rank (pickled: small values, or once at the start)."""
        return self.comm.bcast(obj, root=0)

    def gather(self, obj):
        """A list of every rank's ``obj`` on rank 0 (``None`` elsewhere)."""
        return self.comm.gather(obj, root=0)

    def gather_streams(self, state, axis=1):
        """The carried state of all ranks' streams joined along the batch
        ``axis`` (a state ``(layers, B/K, H)`` or a tuple of them), on rank 0;
        ``None`` elsewhere."""
        parts = self.gather(state)
        if not self.root:
            return None
        if parts[0] is None:
            return None
        if isinstance(parts[0], tuple):
            return tuple(np.concatenate([p[i] for p in parts], axis=axis) for i in range(len(parts[0])))
        return np.concatenate(parts, axis=axis)

    def fingerprint_agrees(self, arrays):
        """Whether every rank holds bit-identical ``arrays`` (a CRC of their bytes compared)."""
        crc = 0
        for name in sorted(arrays):
            crc = zlib.crc32(np.ascontiguousarray(arrays[name]).view(np.uint8), crc)
        seen = self.comm.allgather(crc)
        return all(c == seen[0] for c in seen)

    def own_random_streams(self, module):
        """Give each rank its own dropout masks: every ``rng`` (a NumPy Generator)
        of ``module`` and its sub-modules is kept on rank 0 and jumped ``r`` times
        on rank ``r`` (independent streams, the same on every run)."""
        for m in _modules(module):
            rng = getattr(m, "rng", None)
            if self.rank and isinstance(rng, np.random.Generator) and hasattr(rng.bit_generator, "jumped"):
                m.rng = np.random.Generator(rng.bit_generator.jumped(self.rank))


def _modules(module):
    """``module`` and its sub-modules, depth first."""
    yield module
    for _, child in module.children():
        yield from _modules(child)


def _one_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class GradientAllreduce:
    """The :class:`rnnkit.training.Trainer`'s ``reduce``: every rank's gradient
    of its share's mean loss -> the gradient of the whole batch's mean loss,
    with one ``Allreduce`` of one flat buffer per step (see the module docstring).

    Arguments:
        world: the :class:`World`.
        params: the optimizer's parameters ``{name: array}`` (the buffer's layout,
            the same on every rank).
        share: ``share(batch) -> (n, N)``: the terms of this rank's mean loss and
            of the whole batch's (tokens, or sequences).

    ``seconds``: the wall time spent in the all-reduce, summed over steps
    (waiting for the slowest rank included); ``steps``: how many.
    """

    def __init__(self, world, params, share):
        self.world, self.share = world, share
        self.names = sorted(params)
        self.shapes = [params[k].shape for k in self.names]
        self.sizes = [int(params[k].size) for k in self.names]
        dtype = np.result_type(*[params[k].dtype for k in self.names]) if self.names else np.float64
        self.buffer = np.zeros(sum(self.sizes) + 2, dtype)        # gradients, loss, non-finite-state flag
        self.seconds, self.steps = 0.0, 0

    @property
    def nbytes(self):
        return self.buffer.nbytes

    def __call__(self, batch, loss, grads, state):
        """Make ``grads`` (in place) the whole batch's; returns ``(loss, state_finite)``,
        both the whole batch's (the same on every rank)."""
        from mpi4py import MPI

        n, total = self.share(batch)
        w = n / total if total else 0.0
        buf, off = self.buffer, 0
        for name, size in zip(self.names, self.sizes):
            seg = buf[off:off + size]
            g = grads.get(name)
            if n and g is not None:
                np.multiply(g.reshape(-1), w, out=seg, casting="unsafe")
            else:                                        # no share of this batch: nothing to add
                seg[:] = 0
            off += size
        buf[-2] = float(loss) * w if n else 0.0
        buf[-1] = 0.0 if (not n or finite_state(state)) else 1.0
        t0 = time.perf_counter()
        self.world.comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        self.seconds += time.perf_counter() - t0
        self.steps += 1
        off = 0
        for name, shape, size in zip(self.names, self.shapes, self.sizes):
            seg = buf[off:off + size].reshape(shape)
            if name in grads and grads[name].shape == shape:
                np.copyto(grads[name], seg, casting="unsafe")
            else:
                grads[name] = seg.copy()
            off += size
        return float(buf[-2]), bool(buf[-1] == 0)


def allreduce_model(nbytes, ranks, bandwidth_gbit, latency_s=5e-6):
    """Seconds of a ring all-reduce of ``nbytes`` over ``ranks`` processes on
    links of ``bandwidth_gbit`` Gbit/s with ``latency_s`` per message:
    ``2 (K-1) latency + 2 (K-1)/K * bytes / bandwidth`` (reduce-scatter, then all-gather)."""
    if ranks <= 1:
        return 0.0
    k = ranks
    return 2 * (k - 1) * latency_s + 2 * (k - 1) / k * nbytes / (bandwidth_gbit * 1e9 / 8)


def step_model(compute_s, nbytes, ranks, bandwidth_gbit, latency_s=5e-6):
    """Seconds per step of data-parallel training: the step's compute split over
    ``ranks`` (``compute_s / K``), then the all-reduce of the gradients (not overlapped)."""
    return compute_s / ranks + allreduce_model(nbytes, ranks, bandwidth_gbit, latency_s)


def speedup(compute_s, nbytes, ranks, bandwidth_gbit, latency_s=5e-6):
    """The modelled speed-up of ``ranks`` processes over one."""
    return compute_s / step_model(compute_s, nbytes, ranks, bandwidth_gbit, latency_s)


def efficiency(compute_s, nbytes, ranks, bandwidth_gbit, latency_s=5e-6):
    """Speed-up per rank (1: perfect scaling)."""
    return speedup(compute_s, nbytes, ranks, bandwidth_gbit, latency_s) / ranks


__all__ = ["World", "world", "is_root", "launched_size", "DistributedError", "GradientAllreduce", "allreduce_model",
           "step_model", "speedup", "efficiency"]
