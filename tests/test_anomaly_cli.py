"""``rnnkit anomaly``, end to end on a tiny generated CSV."""
import json

import numpy as np

from conftest import run_cli


def write(path, n=300):
    t = np.arange(n)
    x = np.sin(2 * np.pi * t / 20) + 0.05 * np.random.default_rng(1).normal(size=n)
    lab = np.zeros(n, int)
    x[240:244] += 4
    lab[240:244] = 1
    path.write_text("time,v,label\n" + "".join(f"{i},{a:.4f},{b}\n" for i, a, b in zip(t, x, lab)))
    return path



def test_fit_detect_stream_and_batch_agree(tmp_path, capsys):
    csv = write(tmp_path / "a.csv")
    rc, out, err = run_cli(["anomaly", "fit", csv, "--label-col", "label", "--train-size", 200, "--epochs", 3,
                        "--hidden", 8, "--window", 16, "--out", tmp_path / "run"], capsys)
    assert rc == 0, err
    rc, out_b, err = run_cli(["anomaly", "detect", tmp_path / "run", csv, "--label-col", "label"], capsys)
    assert rc == 0, err
    batch = (tmp_path / "run" / "scores.csv").read_text()
    rc, out_s, err = run_cli(["anomaly", "detect", tmp_path / "run", csv, "--label-col", "label", "--stream"], capsys)
    assert rc == 0, err
    stream = (tmp_path / "run" / "scores.csv").read_text()
    flags = lambda text: [l.split(",")[4] for l in text.splitlines()[1:]]  # noqa: E731
    assert flags(batch) == flags(stream)
    rep = json.loads((tmp_path / "run" / "detect.json").read_text())
    assert rep["event"]["events"] == 1
    alerts = [l for l in out_s.splitlines() if l.startswith("ALERT")]
    assert len(alerts) == len(rep["intervals"])
    assert (tmp_path / "run" / "detect.png").stat().st_size > 1000
    rc, out, err = run_cli(["anomaly", "score", tmp_path / "run", csv, "--out", tmp_path / "s.csv"], capsys)
    assert rc == 0 and (tmp_path / "s.csv").read_text().startswith("time,score,smoothed,threshold,flag")


def test_bad_inputs_are_one_line(tmp_path, capsys):
    p = tmp_path / "c.csv"
    p.write_text("time,v\n" + "".join(f"{i},1\n" for i in range(100)))
    rc, out, err = run_cli(["anomaly", "fit", p, "--epochs", 1, "--out", tmp_path / "r"], capsys)
    assert rc == 2 and "constant" in err and len(err.strip().splitlines()) == 1
    p.write_text("time,v\n" + "".join(f"{i},{np.sin(i)}\n" for i in range(20)))
    rc, out, err = run_cli(["anomaly", "fit", p, "--epochs", 1, "--window", 32, "--out", tmp_path / "r"], capsys)
    assert rc == 2 and "window" in err
    p.write_text("time,v\n1,1\n1,2\n")
    rc, out, err = run_cli(["anomaly", "fit", p, "--out", tmp_path / "r"], capsys)
    assert rc == 2 and "duplicated" in err
