"""The fault battery: every command driven with malformed input and faults (a
diverging run, links where outputs go, a full disk, a second writer, files
that lie, the wrong kind of run, broken data).  Each case must end in exit
status 2 with one ``rnnkit: error:`` line on stderr and no traceback, and leave
every file that existed before it unchanged.

``pytest -s`` prints the tally (cases, clean errors, tracebacks, silent wrong
results, messy errors, files lost); ``RNNKIT_BATTERY_REPORT=path`` also writes
it there as JSON.
"""
import contextlib
import json
import os
import shutil

import numpy as np
import pytest

from _faults import (ANOMALY, EST_TINY, FORECAST, LM_TINY, add_array, changed, disk_full, ok, outcome, poison,
                     rewrite_header, run_rnnkit, snapshot, write_classify_csv, write_series, write_tags, write_text,
                     write_ts)
from rnnkit.runs import RunDir

TALLY = {"cases": 0, "clean": 0, "traceback": 0, "silent": 0, "messy": 0, "files_lost": 0, "off_topic": 0}


@pytest.fixture(scope="module")
def w(tmp_path_factory):
    """The world every case starts from: data files and small trained runs."""
    root = tmp_path_factory.mktemp("world")
    p = {"root": root, "text": write_text(root / "t.txt"), "csv": write_classify_csv(root / "c.csv"),
         "tags": write_tags(root / "tags.jsonl"), "series": write_series(root / "s.csv"),
         "mix_ts": write_ts(root / "mix.ts", dims=(1, 2, 1)),
         "label7": write_series(root / "l7.csv", label_at=50, label=7)}
    (root / "empty.txt").write_text("")
    (root / "blob.bin").write_bytes(bytes(range(256)) * 8)
    (root / "inf.csv").write_text("time,y\n" + "".join(f"{i},{'inf' if i == 5 else i % 7}\n" for i in range(60)))
    (root / "no_y.csv").write_text("time,z\n" + "".join(f"{i},{i}\n" for i in range(60)))
    p.update(empty=root / "empty.txt", blob=root / "blob.bin", inf=root / "inf.csv", no_y=root / "no_y.csv")
    runs = [("lm", ["lm", "train", "--data", p["text"], *LM_TINY, "--steps", "4", "--checkpoint-every", "2"]),
            ("clf", ["classify", "train", "--data", p["csv"], *EST_TINY, "--epochs", "1"]),
            ("tag", ["tag", "train", "--data", p["tags"], *EST_TINY, "--epochs", "1"]),
            ("fc", [*FORECAST, "--data", p["series"], "--target", "y", "--lookback", "8", "--hidden", "4",
                    "--epochs", "1"]),
            ("det", [*ANOMALY, "--data", p["series"], "--columns", "y", "--label-col", "label",
                     "--window", "8", "--hidden", "4", "--epochs", "1", "--train-size", "0.8"])]
    for name, argv in runs:
        ok([*argv, "--out", root / name])
        p[name] = root / name
    for argv in (["export", "onnx", p["clf"], root / "clf.onnx"],
                 ["classify", "predict", p["clf"], "--data", p["csv"], "--output", root / "pred.txt"],
                 ["forecast", "predict", p["fc"], "--data", p["series"]],
                 ["anomaly", "score", p["det"], "--data", p["series"]],
                 ["report", p["lm"]]):
        ok(argv)
    from rnnkit.models import SequenceClassifier
    clf = SequenceClassifier(hidden_size=4, epochs=1).fit([np.array([1, 2]), np.array([2, 1])], [0, 1])
    p["clf_file"] = clf.save(root / "clf.rnnkit")
    return p


def cp(w, t, name):
    """A copy of the world's run ``name`` in the case's folder ``t``, to change."""
    return shutil.copytree(w[name], t / name, symlinks=True)


def link_out(path, t):
    """Replace ``path`` (if any) by a symbolic link to a file outside, which must stay as it is."""
    outside = t / "outside.txt"
    outside.write_text("a file the command must never change")
    if os.path.lexists(path):
        os.replace(path, t / ("moved-" + os.path.basename(path)))
    os.symlink(outside, path)
    return path


def linked_plot_dir(t):
    """A new output folder whose ``gradflow.png`` is a link to a file outside."""
    (t / "gf").mkdir()
    link_out(t / "gf" / "gradflow.png", t)
    return t / "gf"


def poisoned(w, t, name, file="checkpoint.npz"):
    """A copy of run ``name`` whose ``file`` holds a NaN weight (checksums valid)."""
    run = cp(w, t, name)
    poison(run / file)
    return run


@contextlib.contextmanager
def locked(path):
    with RunDir(path).lock():
        yield


def header(change, digest=False):
    return lambda path: rewrite_header(path, change, digest)


def lookback(v):
    def change(h):
        h["config"]["params"]["lookback"] = v
        return h
    return change


def config(path, change):
    cfg = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps(change(cfg)))
    return path


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def pickled(path):
    return add_array(path, "evil", np.array([{"run": "code"}], dtype=object), checksum=False)


# (name, argv(w, t), says: a word the message must hold, context(w, t) or None)
CASES = [
    # -- divergence
    ("lm lr 1000", lambda w, t: ["lm", "train", "--data", w["text"], *LM_TINY, "--steps", "20", "--lr", "1000",
                                  "--out", t / "run"], "diverged", None),
    ("lm lr 1e20, checkpoint every step", lambda w, t: ["lm", "train", "--data", w["text"], *LM_TINY, "--steps", "20",
                                                         "--lr", "1e20", "--checkpoint-every", "1", "--out", t / "run"],
     "diverged", None),
    ("classify lr 1e30 no clip", lambda w, t: ["classify", "train", "--data", w["csv"], *EST_TINY, "--epochs", "3",
                                               "--lr", "1e30", "--clip", "0", "--out", t / "run"], "diverged", None),
    ("tag lr 1e30 no clip", lambda w, t: ["tag", "train", "--data", w["tags"], *EST_TINY, "--epochs", "3",
                                          "--lr", "1e30", "--clip", "0", "--out", t / "run"], "diverged", None),
    ("forecast lr 1000", lambda w, t: [*FORECAST, "--data", w["series"], "--target", "y", "--lookback", "8",
                                       "--hidden", "4", "--epochs", "3", "--lr", "1000", "--out", t / "run"],
     "diverged", None),
    ("forecast eval lr 1e30", lambda w, t: ["forecast", "eval", "--data", w["series"], "--target", "y",
                                            "--lookback", "8",
                                            "--hidden", "4", "--epochs", "2", "--lr", "1e30", "--out", t / "run"],
     "diverged", None),
    ("anomaly lr 1e30", lambda w, t: [*ANOMALY, "--data", w["series"], "--columns", "y", "--window", "8",
                                      "--hidden", "4", "--epochs", "3", "--lr", "1e30", "--out", t / "run"],
     "diverged", None),
    ("anomaly reconstruction lr 1000", lambda w, t: [*ANOMALY, "--data", w["series"], "--columns", "y",
                                                     "--kind", "reconstruction", "--window", "8", "--hidden", "4",
                                                     "--epochs", "3", "--lr", "1000", "--out", t / "run"],
     "diverged", None),
    # -- links where outputs go
    ("lm resume, loss.png a link", lambda w, t: ["lm", "train", "--resume", "--steps", "6", "--quiet", "--out",
                                                 link_out(cp(w, t, "lm") / "loss.png", t).parent],
     "symbolic link", None),
    ("lm resume, samples.txt a link", lambda w, t: ["lm", "train", "--resume", "--steps", "6", "--quiet", "--out",
                                                    link_out(cp(w, t, "lm") / "samples.txt", t).parent],
     "symbolic link", None),
    ("forecast predict, forecast.png a link", lambda w, t: ["forecast", "predict",
                                                            link_out(cp(w, t, "fc") / "forecast.png", t).parent,
                                                            "--data", w["series"]], "symbolic link", None),
    ("classify predict --output a link", lambda w, t: ["classify", "predict", w["clf"], "--data", w["csv"],
                                                       "--output", link_out(t / "p.txt", t)], "symbolic link", None),
    ("export onnx onto a link", lambda w, t: ["export", "onnx", w["clf"], link_out(t / "m.onnx", t)],
     "symbolic link", None),
    ("anomaly detect --report a link", lambda w, t: ["anomaly", "detect", w["det"], "--data", w["series"],
                                                     "--output", t / "s.csv", "--plot", t / "d.png",
                                                     "--report", link_out(t / "r.json", t)], "symbolic link", None),
    ("report, report.html a link", lambda w, t: ["report", link_out(cp(w, t, "lm") / "report.html", t).parent],
     "symbolic link", None),
    ("gradflow, gradflow.png a link", lambda w, t: ["gradflow", "--T", "4", "--steps", "2", "--hidden", "4",
                                                    "--cells", "lstm", "--no-extras", "--out", linked_plot_dir(t)],
     "symbolic link", None),
    # -- a full disk
    ("export onnx over an export, disk full", lambda w, t: ["export", "onnx", w["clf"], w["root"] / "clf.onnx"],
     "no space left", lambda w, t: disk_full()),
    ("classify predict over an output, disk full", lambda w, t: ["classify", "predict", w["clf"], "--data", w["csv"],
                                                                 "--output", w["root"] / "pred.txt"],
     "no space left", lambda w, t: disk_full()),
    ("lm resume, disk full", lambda w, t: ["lm", "train", "--resume", "--steps", "6", "--quiet", "--out", w["lm"]],
     "no space left", lambda w, t: disk_full()),
    ("forecast predict over its outputs, disk full", lambda w, t: ["forecast", "predict", w["fc"],
                                                                   "--data", w["series"]],
     "no space left", lambda w, t: disk_full()),
    ("anomaly score over its output, disk full", lambda w, t: ["anomaly", "score", w["det"], "--data", w["series"]],
     "no space left", lambda w, t: disk_full()),
    ("report over a report, disk full", lambda w, t: ["report", w["lm"]], "no space left", lambda w, t: disk_full()),
    ("classify train, disk full", lambda w, t: ["classify", "train", "--data", w["csv"], *EST_TINY, "--epochs", "1",
                                                "--out", t / "run"], "no space left", lambda w, t: disk_full()),
    # -- a second writer
    ("lm resume while another writes", lambda w, t: ["lm", "train", "--resume", "--steps", "6", "--quiet",
                                                     "--out", w["lm"]], "in use", lambda w, t: locked(w["lm"])),
    ("classify resume while another writes", lambda w, t: ["classify", "train", "--resume", "--epochs", "2",
                                                           "--quiet", "--out", w["clf"]], "in use",
     lambda w, t: locked(w["clf"])),
    ("forecast eval into a run being written", lambda w, t: ["forecast", "eval", "--data", w["series"], "--target", "y",
                                                             "--lookback", "8", "--hidden", "4", "--epochs", "1",
                                                             "--out", t / "busy"], "in use",
     lambda w, t: locked(t / "busy")),
    ("anomaly fit into a folder being written", lambda w, t: [*ANOMALY, "--data", w["series"], "--columns", "y",
                                                              "--window", "8", "--epochs", "1", "--out", t / "busy"],
     "in use", lambda w, t: locked(t / "busy")),
    ("gradflow into a folder being written", lambda w, t: ["gradflow", "--T", "4", "--steps", "2", "--cells", "lstm",
                                                           "--no-extras", "--out", t / "busy"], "in use",
     lambda w, t: locked(t / "busy")),
    # -- files that lie
    ("forecaster with lookback edited to -3", lambda w, t: ["forecast", "predict", header(lookback(-3))(
        cp(w, t, "fc") / "model.rnnkit").parent, "--data", w["series"]], "checksum mismatch for the header", None),
    ("forecaster with lookback edited, checksum forged", lambda w, t: ["forecast", "predict", header(
        lookback(-3), digest=True)(cp(w, t, "fc") / "model.rnnkit").parent, "--data", w["series"]],
     "lookback must be", None),
    ("forecaster with another valid lookback", lambda w, t: ["forecast", "predict", header(lookback(4))(
        cp(w, t, "fc") / "model.rnnkit").parent, "--data", w["series"]], "checksum mismatch for the header", None),
    ("header sha256 a list", lambda w, t: ["forecast", "predict", header(
        lambda h: dict(h, sha256=list(h["sha256"])))(cp(w, t, "fc") / "model.rnnkit").parent, "--data", w["series"]],
     "malformed rnnkit header", None),
    ("header root a list", lambda w, t: ["anomaly", "score", header(lambda h: [h])(
        cp(w, t, "det") / "model.rnnkit").parent, "--data", w["series"], "--output", t / "o.csv"],
     "malformed rnnkit header", None),
    ("pickled object in a model file", lambda w, t: ["export", "onnx", pickled(
        shutil.copy(w["clf_file"], t / "m.rnnkit")), t / "m.onnx"], "pickled Python object", None),
    ("classify checkpoint with NaN weights", lambda w, t: ["classify", "predict", poisoned(w, t, "clf"),
                                                           "--data", w["csv"]], "NaN or infinite", None),
    ("lm checkpoint with NaN weights: sample", lambda w, t: ["lm", "sample", poisoned(w, t, "lm")],
     "NaN or infinite", None),
    ("lm checkpoint with NaN weights: resume", lambda w, t: ["lm", "train", "--resume", "--steps", "6", "--quiet",
                                                             "--out", poisoned(w, t, "lm")], "NaN or infinite", None),
    ("forecaster with NaN weights", lambda w, t: ["forecast", "predict", poisoned(w, t, "fc", "model.rnnkit"),
                                                  "--data", w["series"]], "NaN or infinite", None),
    ("lm checkpoint truncated", lambda w, t: ["lm", "sample", truncate(cp(w, t, "lm") / "checkpoint.npz").parent],
     "corrupted", None),
    ("lm config.json with seq_len -3", lambda w, t: ["lm", "sample", config(cp(w, t, "lm"), lambda c: {
        **c, "model": {**c["model"], "seq_len": -3}})], "seq_len must be", None),
    ("classify config.json a list", lambda w, t: ["classify", "predict", config(cp(w, t, "clf"), lambda c: [c]),
                                                  "--data", w["csv"]], "not an object", None),
    # -- the wrong kind of run, and the smaller items
    ("anomaly labels 0/1/7", lambda w, t: ["anomaly", "detect", w["det"], "--data", w["label7"], "--label-col",
                                           "label", "--output", t / "o.csv", "--plot", t / "o.png", "--report",
                                           t / "o.json"], "holds 7", None),
    ("classify predict on an lm run", lambda w, t: ["classify", "predict", w["lm"], "--data", w["csv"]],
     "holds a 'lm' run", None),
    ("classify resume on an lm run", lambda w, t: ["classify", "train", "--resume", "--quiet", "--out", w["lm"]],
     "holds a 'lm' run", None),
    ("tag eval on a classify run", lambda w, t: ["tag", "eval", w["clf"], "--data", w["tags"]],
     "holds a 'classify' run", None),
    ("seq2seq predict on a classify run", lambda w, t: ["seq2seq", "predict", w["clf"], "--data", w["csv"]],
     "holds a 'classify' run", None),
    ("lm eval on a classify run", lambda w, t: ["lm", "eval", w["clf"], "--data", w["text"]], "language model", None),
    (".ts mixing dimension counts", lambda w, t: ["classify", "train", "--data", w["mix_ts"], *EST_TINY,
                                                  "--out", t / "run"], "line 5", None),
    ("min-count with --unknown error", lambda w, t: ["lm", "train", "--data", w["text"], *LM_TINY, "--level", "word",
                                                     "--min-count", "2", "--unknown", "error", "--out", t / "run"],
     "min_count", None),
    # -- broken data and paths
    ("lm train on an empty file", lambda w, t: ["lm", "train", "--data", w["empty"], *LM_TINY, "--out", t / "run"],
     "empty", None),
    ("lm train on a missing file", lambda w, t: ["lm", "train", "--data", t / "nope.txt", *LM_TINY, "--out", t / "run"],
     "no such file", None),
    ("classify train on a binary file", lambda w, t: ["classify", "train", "--data", w["blob"], *EST_TINY,
                                                      "--out", t / "run"], "blob.bin", None),
    ("forecast train with an infinite cell", lambda w, t: [*FORECAST, "--data", w["inf"], "--lookback", "8",
                                                           "--epochs", "1", "--out", t / "run"], "not a finite", None),
    ("forecast predict without the target column", lambda w, t: ["forecast", "predict", w["fc"], "--data", w["no_y"],
                                                                 "--output", t / "f.csv", "--plot", t / "f.png"],
     "no column 'y'", None),
    ("export onnx of a forecaster", lambda w, t: ["export", "onnx", w["fc"], t / "m.onnx"], "forecaster", None),
    ("export onnx onto its own model file", lambda w, t: ["export", "onnx", w["clf_file"], w["clf_file"]],
     "must not be overwritten", None),
    ("classify train into a trained run", lambda w, t: ["classify", "train", "--data", w["csv"], *EST_TINY,
                                                        "--out", w["clf"]], "--resume", None),
    ("report of a missing folder", lambda w, t: ["report", t / "missing"], "does not exist", None),
    ("gradflow --out a file", lambda w, t: ["gradflow", "--T", "4", "--steps", "2", "--out", w["text"]],
     "is a file", None),
    ("lm sample with a negative length", lambda w, t: ["lm", "sample", w["lm"], "--length", "-3"], "--length", None),
]


@pytest.fixture(scope="module")
def tally():
    yield TALLY
    print("\nfault battery: " + ", ".join(f"{k} {v}" for k, v in TALLY.items()))
    if os.environ.get("RNNKIT_BATTERY_REPORT"):
        with open(os.environ["RNNKIT_BATTERY_REPORT"], "w") as f:
            json.dump(TALLY, f, indent=1)


def test_the_battery_has_at_least_forty_cases():
    assert len(CASES) >= 40 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("name, argv, says, context", CASES, ids=[c[0] for c in CASES])
def test_fault(w, tmp_path, tally, name, argv, says, context):
    t = tmp_path
    args = argv(w, t)
    before = snapshot(w["root"], t)
    with (context(w, t) if context else contextlib.nullcontext()):
        rc, out, err, tb = run_rnnkit(args)
    lost = changed(before, snapshot(w["root"], t))
    kind = outcome(rc, err, tb)
    tally["cases"] += 1
    tally[kind] += 1
    tally["files_lost"] += len(lost)
    line = err.strip().splitlines()[-1] if err.strip() else ""
    tally["off_topic"] += kind == "clean" and says not in line
    assert kind == "clean", f"{name}: exit {rc}\nstdout: {out[-500:]}\nstderr: {err[-2000:]}\n{tb or ''}"
    assert says in line, f"{name}: {line}"
    assert lost == [], f"{name}: changed {lost}"
    assert not [f for f in os.listdir(t) if f.startswith(".tmp-")]
