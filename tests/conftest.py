import os

import numpy as np
import pytest

import rnnkit

# every cell the layers offer, by a readable id -> (layer class, extra kwargs)
CELLS = {
    "rnn_tanh": (rnnkit.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (rnnkit.RNN, {"nonlinearity": "relu"}),
    "lstm": (rnnkit.LSTM, {}),
    "gru": (rnnkit.GRU, {"reset_after": True}),
    "gru_reset_before": (rnnkit.GRU, {"reset_after": False}),
    "simple_gru": (rnnkit.SimpleGRU, {}),
}


def make_layer(cell, D, H, **kwargs):
    cls, extra = CELLS[cell]
    return cls(D, H, **extra, **kwargs)


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RNNKIT_THREADS")


@pytest.fixture(autouse=True)
def _thread_settings_restored():
    """Put the thread variables back after each test: starting a Dask LocalCluster
    sets OMP/OPENBLAS/MKL_NUM_THREADS=1 in this process's environment (its
    workers' setting), which would turn rnnkit's thread policy off for every
    later test."""
    before = {k: os.environ.get(k) for k in THREAD_VARIABLES}
    yield
    for k, v in before.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def run_cli(argv, capsys):
    """``rnnkit`` in-process on ``argv`` (items turned into strings): ``(exit code, stdout, stderr)``."""
    from rnnkit.cli import main

    rc = main([str(a) for a in argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def cli_fails(capsys, *argv):
    """Run ``rnnkit`` expecting failure: exactly one ``rnnkit: error:`` line, no
    traceback, non-zero exit.  Returns that line."""
    rc, _, err = run_cli(argv, capsys)
    assert rc != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rnnkit: error:"), err
    assert "Traceback" not in err
    return lines[0]


def cli_refused(capsys, *argv):
    """Run ``rnnkit`` expecting the parser to refuse a command line: exit 2,
    one ``rnnkit: error:`` line, no traceback.  Returns that line."""
    from rnnkit.cli import main

    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and err.count("\n") == 0 and err.startswith("rnnkit: error:"), err
    return err


def small_input(T=5, B=2, D=3, dtype=np.float32):
    """A seeded ``(T, B, D)`` input for a layer."""
    return np.random.default_rng(1).standard_normal((T, B, D)).astype(dtype)


def pass_grads(layer, x, dy=None, **kw):
    """A copy of ``layer.grads`` after a forward pass on ``x`` and a backward pass of ``dy`` (ones)."""
    y, _ = layer(x, **kw)
    layer.backward(np.ones_like(y) if dy is None else dy)
    return {k: v.copy() for k, v in layer.grads.items()}
