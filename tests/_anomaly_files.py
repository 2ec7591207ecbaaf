"""A small labelled sensor series and a detector fitted on it, shared by the
anomaly and forecasting command-line tests."""
import datetime

import numpy as np

from conftest import run_cli

TINY_A = ["--epochs", 1, "--hidden", 4, "--window", 8]


def anomaly_csv(path, n=120):
    """A noisy sine with one spike at row 100, labelled, written to ``path``."""
    t = np.arange(n)
    z = np.sin(2 * np.pi * t / 20) + 0.05 * np.random.default_rng(0).normal(size=n)
    z[100] += 5
    path.write_text("time,v,label\n" + "".join(f"{i},{float(a)!r},{int(i == 100)}\n" for i, a in enumerate(z)))
    return path


def dates(n, fmt):
    """``n`` consecutive days from 1999-12-20 (across a year end), each written by ``fmt``."""
    d0 = datetime.date(1999, 12, 20)
    return [fmt(d0 + datetime.timedelta(days=i)) for i in range(n)]


def fitted_detector(tmp_path, capsys):
    """``(run directory, csv)`` of a tiny ``rnnkit anomaly fit`` on :func:`anomaly_csv`."""
    csv = anomaly_csv(tmp_path / "a.csv")
    rc, _, err = run_cli(["anomaly", "fit", csv, "--label-col", "label", *TINY_A, "--train-size", 100,
                          "--out", tmp_path / "arun"],
                         capsys)
    assert rc == 0, err
    return tmp_path / "arun", csv
