"""Run directories: what a training run leaves on disk, and how it resumes.

    RUN_DIR/config.json      the run's settings (model and training), JSON
    RUN_DIR/metrics.jsonl    one JSON object per logged step
    RUN_DIR/checkpoint.npz   model weights, optimizer state, step, RNG state
                             (an rnnkit file: no pickle, written atomically)
    RUN_DIR/loss.png         the loss curve
    RUN_DIR/attention.png    an attention seq2seq model's map of one example

A run killed at any moment (even SIGKILL) leaves the last checkpoint intact;
``resume`` reloads it and drops metric lines logged after it, so the curve of
a resumed run is the curve of an uninterrupted one.

One writer at a time: a command that trains into RUN_DIR holds an exclusive
``flock`` on ``RUN_DIR/.rnnkit-lock`` (which holds its pid and command line) while
it runs, and a second one is refused in one line naming the first.  The kernel
releases the lock when its process ends, however it ends, so a killed run
never leaves it stuck; the next writer also removes the temporary files a
killed write left (``.tmp-*``).  Files are never written through symbolic
links (:func:`rnnkit.io.files.refuse_link`).
"""
from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import sys
import tempfile

import numpy as np

from .io.files import atomic_write_text, read_file, refuse_link, remove_stale_temps, save_figure, write_error, \
    write_file

try:
    import fcntl
except ImportError:                      # not POSIX: no run lock
    fcntl = None

CHECKPOINT_KIND = "checkpoint"
LOCK_FILE = ".rnnkit-lock"


class RunBusyError(RuntimeError):
    """Another process is writing into the run directory."""


def finite_or_null(record):
    """``record`` (a dict, list or number, nested) with non-finite floats (a
    diverged loss, an infinite perplexity, an overflowed gradient norm) as
    ``None``, which JSON writes as ``null`` (it has no NaN or Infinity)."""
    if isinstance(record, float):
        return record if math.isfinite(record) else None
    if isinstance(record, dict):
        return {k: finite_or_null(v) for k, v in record.items()}
    if isinstance(record, (list, tuple)):
        return [finite_or_null(v) for v in record]
    return record


def strict_json(obj, **kw):
    """``json.dumps`` of ``obj`` with non-finite floats as ``null`` (strict JSON, which other
    languages' parsers read); ``kw`` as for ``json.dumps``."""
    return json.dumps(finite_or_null(obj), allow_nan=False, **kw)


def _json_line(metrics):
    """One metrics line (strict JSON)."""
    return strict_json(metrics) + "\n"


class RunDir:
    """A training run's directory.  ``create=True`` makes it (and checks that it
    is writable); ``create=False`` requires it to exist."""

    # what rnnkit's commands save in a run directory (outputs must not overwrite them)
    SAVED = ("config.json", "metrics.jsonl", "checkpoint.npz", "loss.png", "samples.txt", "report.html",
             "gradflow.json", "model.rnnkit", "attention.png")
    # every file a command writes into a run directory (none may be a symbolic link)
    WRITTEN = SAVED + ("gradflow.png", "gradflow_noclip.png", "forecast.csv", "forecast.png", "backtest.json",
                       "backtest.csv", "backtest.png", "scores.csv", "detect.json", "detect.png")

    def __init__(self, path, create=True):
        self.path = os.fspath(path)
        if os.path.isfile(self.path):
            raise NotADirectoryError(f"{self.path} is a file, not a run directory; "
                                     + ("choose a new --out directory" if create else
                                        "pass the --out directory of a training run"))
        if create:
            try:
                os.makedirs(self.path, exist_ok=True)
                fd, probe = tempfile.mkstemp(prefix=f".tmp-{os.getpid()}-", suffix=".probe", dir=self.path)
                os.close(fd)                               # a new file: never one that exists, nor a link
                os.unlink(probe)
            except OSError as exc:
                raise OSError(f"cannot write to run directory {self.path} ({exc.strerror or exc}); "
                              "choose a writable --out directory") from None
        elif not os.path.isdir(self.path):
            raise FileNotFoundError(f"run directory {self.path} does not exist; pass the --out directory "
                                    "of a training run")

    def file(self, name):
        return os.path.join(self.path, name)

    def refuse_links(self):
        """Refuse to start when a file the commands write here is a symbolic link."""
        for name in self.WRITTEN:
            refuse_link(self.file(name))

    @contextlib.contextmanager
    def lock(self):
        """Hold this run directory's writer lock (see the module docstring) for
        the ``with`` block; a :class:`RunBusyError` when another process holds it.
        Stale temporary files are removed once it is held."""
        if fcntl is None:
            yield self
            return
        path = self.file(LOCK_FILE)
        refuse_link(path)
        made = not os.path.exists(path)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
        except OSError as exc:
            raise write_error(path, exc) from None
        held = True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 400, 0).decode("utf-8", "replace").split("\n")
            os.close(fd)
            pid = holder[0] if holder and holder[0].isdigit() else "unknown"
            what = f": {holder[1]}" if len(holder) > 1 and holder[1] else ""
            raise RunBusyError(f"{self.path} is in use by another rnnkit process (pid {pid}{what}); wait for it "
                               "to finish, or choose another --out") from None
        except OSError:                                  # a file system without locks (some network ones)
            held = False
        try:
            if held:
                started = datetime.datetime.now().isoformat(timespec="seconds")
                command = " ".join(["rnnkit", *sys.argv[1:]])[:200].replace("\n", " ")
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n{command}, started {started}\n".encode("utf-8"), 0)
                remove_stale_temps(self.path, unnamed=True)
            yield self
        except BaseException:
            if made:
                with contextlib.suppress(OSError):
                    os.unlink(path)                      # a failed first run leaves no lock file behind
            raise
        finally:
            os.close(fd)                                 # releases the lock

    # -- config --------------------------------------------------------------------------
    def write_config(self, config):
        atomic_write_text(self.file("config.json"), json.dumps(config, indent=2, sort_keys=True) + "\n")

    def read_config(self, require=()):
        """``config.json`` as a dict; ``require`` names entries that must be in it."""
        path = self.file("config.json")
        try:
            with open(path, encoding="utf-8") as f:
                config = json.load(f)
        except FileNotFoundError:
            raise FileNotFoundError(f"{path} is missing; {self.path} is not a training run directory") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            why = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
            raise ValueError(f"{path} is not valid JSON ({why}); restore it or start a new run") from None
        if not isinstance(config, dict):
            raise ValueError(f"{path} holds a JSON {type(config).__name__}, not an object; restore it or "
                             "start a new run")
        for key in require:
            if not isinstance(config.get(key), dict):
                raise ValueError(f"{path} has no {key!r} section; restore it or start a new run")
        return config

    # -- metrics -------------------------------------------------------------------------
    def log(self, **metrics):
        """Append one JSON line to ``metrics.jsonl`` (flushed at once; NaN and
        infinities written as ``null``; never through a symbolic link)."""
        path = self.file("metrics.jsonl")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
            with os.fdopen(fd, "a", encoding="utf-8") as f:
                f.write(_json_line(metrics))
        except OSError as exc:
            if os.path.islink(path):
                refuse_link(path)
            raise write_error(path, exc) from None

    def reset_metrics(self):
        """Start ``metrics.jsonl`` afresh: a new run in a directory that an
        earlier run left without a checkpoint (failed or killed early) does not
        append to that run's lines."""
        if os.path.exists(self.file("metrics.jsonl")):
            os.unlink(self.file("metrics.jsonl"))

    def read_metrics(self):
        """All readable metric lines (a line cut by a kill, or damaged, is skipped)."""
        out = []
        try:
            with open(self.file("metrics.jsonl"), encoding="utf-8", errors="replace") as f:
                for line in f:
                    try:
                        m = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    if isinstance(m, dict):
                        out.append(m)
        except FileNotFoundError:
            pass
        return out

    def truncate_metrics(self, step):
        """Keep only metric lines with ``step <= step`` (used when resuming)."""
        kept = [m for m in self.read_metrics() if m.get("step", 0) <= step]
        atomic_write_text(self.file("metrics.jsonl"), "".join(_json_line(m) for m in kept))

    # -- checkpoints -----------------------------------------------------------------------
    def save_checkpoint(self, model, optimizer, step, rng=None, config=None, extra=None, **meta):
        """Write weights, optimizer state, ``step`` and the RNG state atomically.
        ``extra`` (``{name: ndarray}``) holds more arrays, e.g. a carried hidden state."""
        arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
        arrays.update({f"extra/{k}": np.asarray(v) for k, v in (extra or {}).items()})
        opt = optimizer.state_dict() if optimizer is not None else None
        if opt is not None:
            arrays.update({f"optim/{k}": v for k, v in opt["state"].items()})
        meta = dict(meta, step=int(step))
        if opt is not None:
            meta["optim"] = {"lr": opt["lr"], "steps": opt["steps"], "class": type(optimizer).__name__}
        if rng is not None:
            meta["rng"] = rng.bit_generator.state
        write_file(self.file("checkpoint.npz"), CHECKPOINT_KIND, config or {}, arrays, meta)

    def has_checkpoint(self):
        return os.path.exists(self.file("checkpoint.npz"))

    def load_checkpoint(self, model=None, optimizer=None, rng=None, extra=None):
        """Read the checkpoint; restore into ``model``, ``optimizer`` and ``rng``
        when given, and fill the dict ``extra`` with the extra arrays.  Returns ``(config, meta)``."""
        header, arrays = read_file(self.file("checkpoint.npz"), kind=CHECKPOINT_KIND)
        meta = header["meta"]
        if extra is not None:
            extra.update({k[len("extra/"):]: v for k, v in arrays.items() if k.startswith("extra/")})
        if model is not None:
            state = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
            try:
                model.load_state_dict(state)
            except (KeyError, ValueError) as exc:
                raise ValueError(f"{self.file('checkpoint.npz')} does not fit this model: {exc}") from None
        if optimizer is not None and "optim" in meta:
            optimizer.load_state_dict({"lr": meta["optim"]["lr"], "steps": meta["optim"]["steps"],
                                       "state": {k[len("optim/"):]: v for k, v in arrays.items()
                                                 if k.startswith("optim/")}})
        if rng is not None and "rng" in meta:
            rng.bit_generator.state = meta["rng"]
        return header["config"], meta

    # -- plots -----------------------------------------------------------------------------
    def plot_losses(self, keys=("loss", "val_loss"), name="loss.png", ylabel="loss (nats)"):
        """Write a PNG of the logged curves named in ``keys`` against ``step``."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        metrics = self.read_metrics()
        fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
        for key in keys:
            pts = [(m["step"], m[key]) for m in metrics if key in m and m[key] is not None]
            if pts:
                xs, ys = zip(*pts)
                ax.plot(xs, ys, label=key, marker="." if len(pts) < 50 else None)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
        fig.tight_layout()
        path = self.file(name)
        try:
            save_figure(fig, path)
        finally:
            plt.close(fig)
        return path


@contextlib.contextmanager
def started_run(path):
    """``RunDir(path)`` for a command that starts a run, as a context: if the
    command fails before anything was written there, the directories this call
    created are removed again, so a refused or interrupted first run leaves no
    empty RUN_DIR behind.  A directory that existed, or holds any file, stays.
    The run's writer lock is held throughout (:meth:`RunDir.lock`), and a file
    the run would write that is a symbolic link is refused before anything runs."""
    made, p = [], os.path.abspath(os.fspath(path))
    while not os.path.lexists(p) and os.path.dirname(p) != p:
        made.append(p)                                   # deepest first
        p = os.path.dirname(p)
    run = RunDir(path)
    try:
        with run.lock():
            run.refuse_links()
            yield run
    except BaseException:
        for d in made:
            try:
                os.rmdir(d)                              # only ever an empty directory
            except OSError:
                break
        raise


def progress(total, desc, disable=None, unit="step", initial=0):
    """A progress bar (time left, rate) on a terminal, plain log lines elsewhere
    (:mod:`rnnkit.progress`); postfix carries loss and throughput."""
    from .progress import progress as bar

    return bar(total, desc, disable, unit, initial)
