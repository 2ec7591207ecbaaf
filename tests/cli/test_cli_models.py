"""End-to-end ``rnnkit classify|tag|seq2seq`` on tiny files: train, eval, predict, resume."""
import csv
import json
import random

import numpy as np

from conftest import cli_fails
from rnnkit.cli import main
from rnnkit.runs import RunDir


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def write_text_csv(path, n=160, seed=0):
    """Label 'yes' when the text starts with 'a'."""
    rnd = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for _ in range(n):
            s = "".join(rnd.choice("abcd") for _ in range(rnd.randint(2, 8)))
            w.writerow([s, "yes" if s[0] == "a" else "no"])
    return path


def write_ts(path, n=40, seed=0, dims=2):
    """Two classes: a rising or a falling series (plus noise), variable length."""
    rng = np.random.default_rng(seed)
    lines = ["# tiny test set", "@problemName Tiny", "@timeStamps false", "@univariate false",
             f"@dimensions {dims}", "@equalLength false", "@classLabel true up down", "@data"]
    for i in range(n):
        lab = "up" if i % 2 else "down"
        T = int(rng.integers(6, 12))
        trend = np.linspace(0, 1, T) * (1 if lab == "up" else -1)
        chans = [trend + 0.1 * rng.normal(size=T) for _ in range(dims)]
        lines.append(":".join(",".join(f"{v:.4f}" for v in c) for c in chans) + f":{lab}")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_tags(path, n=120, seed=0):
    rnd = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(n):
            toks = [rnd.choice(["the", "mr", "smith", "went", "to", "rome", "paris", "and"]) for _ in range(rnd.randint(3, 7))]
            tags = ["B-PER" if t == "smith" else "B-LOC" if t in ("rome", "paris") else "O" for t in toks]
            f.write(json.dumps({"tokens": toks, "tags": tags}) + "\n")
    return path


def write_sort_tsv(path, n=300, seed=0):
    rnd = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        f.write("source\ttarget\n")
        for _ in range(n):
            s = "".join(rnd.choice("0123") for _ in range(rnd.randint(1, 3)))
            f.write(f"{s}\t{''.join(sorted(s))}\n")
    return path


# -- the three commands, end to end -------------------------------------------------------------------
def test_classify_text_train_eval_predict(tmp_path, capsys):
    data = write_text_csv(tmp_path / "train.csv")
    code, out, _ = run_cli(capsys, "classify", "train", "--data", data, "--out", tmp_path / "run", "--epochs", 6,
                           "--hidden", 16, "--quiet", "--val", data)
    assert code == 0 and "run saved" in out
    for name in ("config.json", "metrics.jsonl", "checkpoint.npz", "loss.png"):
        assert (tmp_path / "run" / name).exists()
    metrics = RunDir(tmp_path / "run", create=False).read_metrics()
    assert [m["step"] for m in metrics] == list(range(1, 7)) and "val_accuracy" in metrics[-1]
    code, out, _ = run_cli(capsys, "classify", "eval", tmp_path / "run", "--data", data)
    assert code == 0 and float(out.split()[1]) > 0.9        # majority class is 0.75
    code, out, _ = run_cli(capsys, "classify", "predict", tmp_path / "run", "--data", data)
    lines = out.splitlines()
    assert len(lines) == 160 and lines[0].split("\t")[0] in ("yes", "no")


def test_classify_series_from_ts_and_npz(tmp_path, capsys):
    ts = write_ts(tmp_path / "tiny_TRAIN.ts")
    code, _, _ = run_cli(capsys, "classify", "train", "--data", ts, "--out", tmp_path / "run", "--epochs", 8,
                         "--hidden", 8, "--pooling", "mean", "--quiet")
    assert code == 0
    code, out, _ = run_cli(capsys, "classify", "eval", tmp_path / "run", "--data", write_ts(tmp_path / "t.ts", seed=1))
    assert code == 0 and float(out.split()[1]) >= 0.9
    X = np.random.default_rng(0).normal(size=(3, 5, 2))
    np.savez(tmp_path / "x.npz", X=X)
    code, out, _ = run_cli(capsys, "classify", "predict", tmp_path / "run", "--data", tmp_path / "x.npz")
    assert code == 0 and len(out.splitlines()) == 3


def test_tag_train_eval_predict(tmp_path, capsys):
    data = write_tags(tmp_path / "t.jsonl")
    code, _, _ = run_cli(capsys, "tag", "train", "--data", data, "--out", tmp_path / "run", "--epochs", 5,
                         "--hidden", 16, "--quiet")
    assert code == 0
    code, out, _ = run_cli(capsys, "tag", "eval", tmp_path / "run", "--data", data)
    assert code == 0 and "f1" in out
    assert float(out.split("f1")[1].split()[0]) > 0.9
    conll = tmp_path / "t.conll"
    conll.write_text("mr O\nsmith B-PER\nwent O\n\nto O\nrome B-LOC\n")
    code, out, _ = run_cli(capsys, "tag", "predict", tmp_path / "run", "--data", conll)
    assert code == 0 and out.splitlines() == ["O B-PER O", "O B-LOC"]


def test_seq2seq_train_eval_predict_with_beam(tmp_path, capsys):
    data = write_sort_tsv(tmp_path / "s.tsv")
    code, _, _ = run_cli(capsys, "seq2seq", "train", "--data", data, "--out", tmp_path / "run", "--epochs", 12,
                         "--hidden", 32, "--quiet")
    assert code == 0
    code, out, _ = run_cli(capsys, "seq2seq", "eval", tmp_path / "run", "--data", data)
    assert code == 0 and float(out.split()[1]) > 0.8
    src = tmp_path / "q.jsonl"
    src.write_text(json.dumps({"source": "310"}) + "\n" + json.dumps({"source": "2"}) + "\n")
    code, out, _ = run_cli(capsys, "seq2seq", "predict", tmp_path / "run", "--data", src, "--beam", 3)
    assert code == 0 and out.splitlines() == ["013", "2"]


def test_resume_continues_the_same_loss_curve(tmp_path, capsys):
    data = write_text_csv(tmp_path / "train.csv", n=60)
    common = ["--data", data, "--hidden", 8, "--quiet", "--seed", 3]
    assert run_cli(capsys, "classify", "train", "--out", tmp_path / "full", "--epochs", 4, *common)[0] == 0
    assert run_cli(capsys, "classify", "train", "--out", tmp_path / "part", "--epochs", 2, *common)[0] == 0
    assert run_cli(capsys, "classify", "train", "--out", tmp_path / "part", "--epochs", 4, "--resume",
                   "--quiet")[0] == 0
    full = [m["loss"] for m in RunDir(tmp_path / "full", create=False).read_metrics()]
    part = [m["loss"] for m in RunDir(tmp_path / "part", create=False).read_metrics()]
    assert len(full) == 4 and part == full


# -- predict's output and resuming a run ---------------------------------------------------------------------
def test_predict_output_never_overwrites_the_run_or_the_input(capsys, tmp_path):
    data, run = text_run(tmp_path, capsys)
    before = (run / "checkpoint.npz").read_bytes()
    for out in (run / "checkpoint.npz", run / "config.json", data):
        line = cli_fails(capsys, "classify", "predict", str(run), "--data", str(data), "--output", str(out))
        assert "--output" in line
    assert (run / "checkpoint.npz").read_bytes() == before
    assert main(["classify", "predict", str(run), "--data", str(data), "--output", str(tmp_path / "p.txt")]) == 0
    assert len((tmp_path / "p.txt").read_text().splitlines()) == 4


def test_predict_output_never_overwrites_any_file_the_run_saved(capsys, tmp_path):
    data, run = text_run(tmp_path, capsys)
    png = (run / "loss.png").read_bytes()
    assert "loss.png" in cli_fails(capsys, "classify", "predict", str(run), "--data", str(data), "--output",
                                   str(run / "loss.png"))
    assert (run / "loss.png").read_bytes() == png


def test_resume_names_a_flag_the_run_had_off(capsys, tmp_path):
    data, run = text_run(tmp_path, capsys)
    line = cli_fails(capsys, "classify", "train", "--out", str(run), "--resume", "--epochs", "2", "--bidirectional")
    assert "--bidirectional differs from the run's setting (--bidirectional off)" in line


def text_run(tmp_path, capsys):
    """``(data file, run directory)`` of a one-epoch text classifier."""
    data = tmp_path / "c.csv"
    data.write_text("text,label\ngood,1\nbad,0\nnice,1\nawful,0\n")
    run = tmp_path / "run"
    assert main(["classify", "train", "--data", str(data), "--out", str(run), "--epochs", "1", "--quiet"]) == 0
    capsys.readouterr()
    return data, run
