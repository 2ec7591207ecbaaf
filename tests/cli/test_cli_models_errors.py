"""Bad input to ``rnnkit classify|tag|seq2seq``: one line naming the file and the
fix, a non-zero exit, no traceback, nothing already saved lost; and a training
run killed with SIGKILL resumes.  Run directories (resuming, a damaged config.json),
options checked at parse time, vocabularies that do not fit the weights, labels."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import cli_fails, cli_refused, run_cli
from rnnkit.cli import main
from rnnkit.runs import RunDir

from test_cli_models import write_tags, write_text_csv, write_ts


def fails(capsys, *argv):
    return cli_fails(capsys, *argv)


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("textrun")
    data = write_text_csv(d / "train.csv", n=40)
    assert main(["classify", "train", "--data", str(data), "--out", str(d / "run"), "--epochs", "1",
                 "--hidden", "4", "--quiet"]) == 0
    return d


@pytest.mark.parametrize("content,expect", [
    (b"", "is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "looks binary"),
    ("text,label\ncafé,yes\n".encode("latin-1"), "not valid utf-8"),
    (b"words,category\nab,yes\n", "lacks column"),
])
def test_bad_training_file_is_named_with_a_fix(tmp_path, capsys, content, expect):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    line = fails(capsys, "classify", "train", "--data", bad, "--out", tmp_path / "new" / "run", "--quiet")
    assert str(bad) in line and expect in line.lower()
    assert not (tmp_path / "new").exists()               # the refused first run made no directories


def test_unknown_label_at_eval_names_file_and_label(text_run, tmp_path, capsys):
    data = tmp_path / "eval.csv"
    data.write_text("text,label\nabc,maybe\n")
    line = fails(capsys, "classify", "eval", text_run / "run", "--data", data)
    assert str(data) in line and "'maybe'" in line and "not seen in training" in line


def test_vocabulary_that_does_not_match_the_checkpoint(text_run, tmp_path, capsys):
    import shutil
    run = tmp_path / "run"
    shutil.copytree(text_run / "run", run)
    cfg = json.loads((run / "config.json").read_text())
    cfg["extra"]["vocab"]["tokens"] = cfg["extra"]["vocab"]["tokens"] + ["z", "y"]
    cfg["model"]["learned"]["spec"]["n_in"] += 2
    (run / "config.json").write_text(json.dumps(cfg))
    line = fails(capsys, "classify", "predict", run, "--data", text_run / "train.csv")
    assert "checkpoint.npz" in line and "does not match the vocabulary" in line


def test_series_with_the_wrong_number_of_channels(tmp_path, capsys):
    ts = write_ts(tmp_path / "a.ts", n=10, dims=2)
    assert main(["classify", "train", "--data", str(ts), "--out", str(tmp_path / "run"), "--epochs", "1",
                 "--hidden", "4", "--quiet"]) == 0
    other = write_ts(tmp_path / "b.ts", n=4, dims=3)
    line = fails(capsys, "classify", "eval", tmp_path / "run", "--data", other)
    assert str(other) in line and "trained on 2 features" in line


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_checkpoint_is_refused(text_run, tmp_path, capsys, damage):
    import shutil
    run = tmp_path / "run"
    shutil.copytree(text_run / "run", run)
    ck = run / "checkpoint.npz"
    raw = bytearray(ck.read_bytes())
    if damage == "truncate":
        ck.write_bytes(raw[: len(raw) // 2])
    else:
        raw[len(raw) // 2] ^= 0xFF
        ck.write_bytes(raw)
    line = fails(capsys, "classify", "eval", run, "--data", text_run / "train.csv")
    assert "checkpoint.npz" in line and ("corrupted" in line or "truncated" in line)


def test_unwritable_run_dir(text_run, tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    line = fails(capsys, "classify", "train", "--data", text_run / "train.csv", "--out", blocker / "run", "--quiet")
    assert str(blocker / "run") in line and "writable --out" in line


def test_training_again_into_a_run_keeps_its_checkpoint(text_run, capsys):
    ck = text_run / "run" / "checkpoint.npz"
    before = ck.read_bytes()
    line = fails(capsys, "classify", "train", "--data", text_run / "train.csv", "--out", text_run / "run", "--quiet")
    assert "--resume" in line and ck.read_bytes() == before


def test_tag_file_with_misaligned_tags(tmp_path, capsys):
    bad = tmp_path / "t.jsonl"
    bad.write_text(json.dumps({"tokens": ["a", "b"], "tags": ["O"]}) + "\n")
    line = fails(capsys, "tag", "train", "--data", bad, "--out", tmp_path / "run", "--quiet")
    assert str(bad) in line and "one tag per token" in line


def test_sigkill_mid_training_then_resume(tmp_path):
    data = write_tags(tmp_path / "t.jsonl", n=400)
    run = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    cmd = [sys.executable, "-m", "rnnkit", "tag", "train", "--data", str(data), "--out", str(run), "--epochs", "200",
           "--hidden", "24", "--quiet"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and len(RunDir(run, create=False).read_metrics() if run.exists() else []) < 2:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    done = len(RunDir(run, create=False).read_metrics())
    assert 2 <= done < 200, "the run should have been killed mid-way"
    resume = [sys.executable, "-m", "rnnkit", "tag", "train", "--out", str(run), "--epochs", str(done + 2),
              "--resume", "--quiet"]
    res = subprocess.run(resume, env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    steps = [m["step"] for m in RunDir(run, create=False).read_metrics()]
    assert steps == list(range(1, done + 3))
    assert main(["tag", "eval", str(run), "--data", str(data)]) == 0


def test_utf16_training_table_trains_with_its_encoding(tmp_path, capsys):
    data = tmp_path / "u16.tsv"
    rows = "".join(f"{w}\t{'yes' if w[0] == 'a' else 'no'}\n" for w in ["ab", "ba", "ac", "ca", "ad", "da"] * 4)
    data.write_bytes(("text\tlabel\n" + rows).encode("utf-16"))
    line = fails(capsys, "classify", "train", "--data", data, "--out", tmp_path / "r0", "--quiet")
    assert "u16.tsv is UTF-16 text" in line and "--encoding utf-16" in line and not (tmp_path / "r0").exists()
    assert main(["classify", "train", "--data", str(data), "--encoding", "utf-16", "--out", str(tmp_path / "run"),
                 "--epochs", "1", "--hidden", "4", "--quiet"]) == 0
    assert main(["classify", "eval", str(tmp_path / "run"), "--data", str(data), "--encoding", "utf-16"]) == 0


def test_ts_training_file_reads_in_the_given_encoding(tmp_path, capsys):
    ts = write_ts(tmp_path / "a.ts", n=10)
    lat = tmp_path / "lat.ts"
    lat.write_bytes(("# Café\n" + ts.read_text()).encode("latin-1"))
    assert "not valid utf-8" in fails(capsys, "classify", "train", "--data", lat, "--out", tmp_path / "r0", "--quiet")
    assert main(["classify", "train", "--data", str(lat), "--encoding", "latin-1", "--out", str(tmp_path / "run"),
                 "--epochs", "1", "--hidden", "4", "--quiet"]) == 0


@pytest.mark.parametrize("task,cols", [("classify", ("text", "label")), ("seq2seq", ("source", "target"))])
def test_json_null_fields_are_refused_not_read_as_none(tmp_path, capsys, task, cols):
    data = tmp_path / "null.jsonl"
    data.write_text("".join(json.dumps({cols[0]: s, cols[1]: t}) + "\n"
                            for s, t in [("ab", "x"), ("cd", "y"), (None, "x")]))
    line = fails(capsys, task, "train", "--data", data, "--out", tmp_path / "run", "--quiet")
    assert f"null.jsonl example 3: '{cols[0]}' is null" in line


# -- run directories: the metrics log, resuming, a damaged config.json ---------------------------------------
CLS_CSV = "text,label\ngood movie,pos\ngreat fun,pos\nloved it,pos\nbad movie,neg\nawful,neg\nhated it,neg\n"
TINY = ["--hidden", "4", "--embedding-dim", "4", "--quiet"]


def train(*argv):
    return main([str(a) for a in ("classify", "train") + argv] + TINY)


@pytest.fixture
def cls_csv(tmp_path):
    path = tmp_path / "cls.csv"
    path.write_text(CLS_CSV)
    return path


@pytest.fixture
def cls_run(tmp_path, cls_csv):
    assert train("--data", cls_csv, "--out", tmp_path / "run", "--epochs", 2) == 0
    return tmp_path / "run"


def test_fresh_run_starts_a_new_metrics_log(tmp_path, cls_csv):
    out = tmp_path / "stale"
    out.mkdir()
    (out / "metrics.jsonl").write_text('{"step": 1, "loss": 99.0}\n')
    assert train("--data", cls_csv, "--out", out, "--epochs", 2) == 0
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2]


def test_failed_resume_leaves_config_unchanged(tmp_path, capsys):
    data = tmp_path / "moved.csv"
    data.write_text(CLS_CSV)
    assert train("--data", data, "--out", tmp_path / "run", "--epochs", 2) == 0
    before = (tmp_path / "run" / "config.json").read_text()
    data.unlink()
    line = cli_fails(capsys, "classify", "train", "--out", tmp_path / "run", "--resume", "--epochs", 4, "--quiet")
    assert str(data) in line and "no such file" in line
    assert (tmp_path / "run" / "config.json").read_text() == before


def test_resume_with_data_pointing_to_the_moved_training_file(tmp_path, cls_csv, capsys):
    data = tmp_path / "old.csv"
    data.write_text(CLS_CSV)
    assert train("--data", data, "--out", tmp_path / "run", "--epochs", 1) == 0
    data.unlink()
    code, out, _ = run_cli(["classify", "train", "--out", tmp_path / "run", "--resume", "--epochs", 2,
                            "--data", cls_csv, "--hidden", 4, "--quiet"], capsys)
    assert code == 0 and "trained 2 epochs" in out
    assert json.loads((tmp_path / "run" / "config.json").read_text())["data"] == str(cls_csv)


@pytest.mark.parametrize("epochs", [1, 2])
def test_resume_to_no_more_epochs_than_done_is_refused(cls_run, capsys, epochs):
    before = (cls_run / "config.json").read_text()
    line = cli_fails(capsys, "classify", "train", "--out", cls_run, "--resume", "--epochs", epochs, "--quiet")
    assert "already trained 2 epochs" in line and "--epochs larger than 2" in line
    assert (cls_run / "config.json").read_text() == before


def test_resume_of_a_finished_run_without_epochs_is_refused(cls_run, capsys):
    line = cli_fails(capsys, "classify", "train", "--out", cls_run, "--resume", "--quiet")
    assert "already trained 2 epochs" in line


@pytest.mark.parametrize("option,value", [("--hidden", 16), ("--lr", 0.5), ("--pooling", "max"),
                                          ("--cell", "gru"), ("--bidirectional", None), ("--level", "word"),
                                          ("--seed", 7), ("--batch-size", 3)])
def test_resume_refuses_an_option_that_differs_from_the_run(cls_run, capsys, option, value):
    before = (cls_run / "config.json").read_text()
    extra = [option] if value is None else [option, value]
    line = cli_fails(capsys, "classify", "train", "--out", cls_run, "--resume", "--epochs", 3, "--quiet", *extra)
    assert option in line and "config.json" in line and "differs" in line
    assert (cls_run / "config.json").read_text() == before


def test_resume_accepts_options_equal_to_the_run(cls_run, capsys):
    code, out, _ = run_cli(["classify", "train", "--out", cls_run, "--resume", "--epochs", 3, "--hidden", 4,
                            "--lr", 0.01, "--pooling", "last", "--quiet"], capsys)
    assert code == 0 and "trained 3 epochs" in out


def test_tag_resume_refuses_unidirectional_for_a_bidirectional_run(tmp_path, capsys):
    data = write_tags(tmp_path / "t.jsonl", n=10)
    assert main(["tag", "train", "--data", str(data), "--out", str(tmp_path / "run"), "--epochs", "1"] + TINY) == 0
    line = cli_fails(capsys, "tag", "train", "--out", tmp_path / "run", "--resume", "--epochs", 2,
                     "--unidirectional", "--quiet")
    assert "--unidirectional" in line


def test_config_that_is_not_an_object_is_refused(cls_run, cls_csv, capsys):
    (cls_run / "config.json").write_text("[1, 2]\n")
    line = cli_fails(capsys, "classify", "predict", cls_run, "--data", cls_csv)
    assert "config.json" in line and "not an object" in line


def test_config_without_extra_is_refused(cls_run, cls_csv, capsys):
    cfg = json.loads((cls_run / "config.json").read_text())
    del cfg["extra"]
    (cls_run / "config.json").write_text(json.dumps(cfg))
    line = cli_fails(capsys, "classify", "predict", cls_run, "--data", cls_csv)
    assert "config.json" in line and "'extra'" in line


def test_resume_with_a_config_that_is_not_an_object_is_refused(cls_run, capsys):
    (cls_run / "config.json").write_text('"text"\n')
    line = cli_fails(capsys, "classify", "train", "--out", cls_run, "--resume", "--epochs", 3, "--quiet")
    assert "config.json" in line and "not an object" in line


# -- options checked at parse time ---------------------------------------------------------------------------
def test_unknown_encoding_is_refused_with_a_suggestion(tmp_path, cls_csv, cls_run, capsys):
    line = cli_refused(capsys, "classify", "train", "--data", cls_csv, "--out", tmp_path / "r", "--encoding",
                          "bogus")
    assert "'bogus'" in line and "utf-8" in line and "latin-1" in line
    line = cli_refused(capsys, "classify", "predict", cls_run, "--data", cls_csv, "--encoding", "bogus")
    assert "'bogus'" in line


@pytest.mark.parametrize("option,value", [("--lr", "nan"), ("--lr", "inf"), ("--lr", "0"), ("--lr", "-1"),
                                          ("--epochs", "0"), ("--hidden", "0"), ("--batch-size", "0"),
                                          ("--layers", "-1"), ("--embedding", "0"), ("--clip", "nan"),
                                          ("--clip", "-1")])
def test_bad_numeric_training_option_is_refused_at_parse_time(tmp_path, cls_csv, capsys, option, value):
    line = cli_refused(capsys, "classify", "train", "--data", cls_csv, "--out", tmp_path / "r", option, value)
    assert option in line and value in line
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("beam", ["0", "-2"])
def test_beam_below_one_is_refused(tmp_path, capsys, beam):
    data = tmp_path / "s.csv"
    data.write_text("source,target\nab,ba\ncd,dc\n")
    line = cli_refused(capsys, "seq2seq", "train", "--data", data, "--out", tmp_path / "r", "--beam", beam)
    assert "--beam" in line and beam in line
    line = cli_refused(capsys, "seq2seq", "predict", tmp_path / "r", "--data", data, "--beam", beam)
    assert "--beam" in line


# -- byte level, vocabularies that do not fit the weights, labels --------------------------------------------
def test_byte_level_classifier_reads_bytes_unseen_in_training(tmp_path, cls_csv, capsys):
    assert train("--data", cls_csv, "--out", tmp_path / "run", "--epochs", 1, "--level", "byte") == 0
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["model"]["learned"]["spec"]["n_in"] == 256
    new = tmp_path / "new.csv"
    new.write_text("text,label\ncafé ~ zz,pos\n", encoding="utf-8")
    capsys.readouterr()
    code, out, _ = run_cli(["classify", "predict", tmp_path / "run", "--data", new], capsys)
    assert code == 0 and len(out.splitlines()) == 1


@pytest.mark.parametrize("change", ["shorten", "lengthen"])
def test_vocabulary_size_that_does_not_fit_the_weights_is_refused(cls_run, cls_csv, capsys, change):
    cfg = json.loads((cls_run / "config.json").read_text())
    toks = cfg["extra"]["vocab"]["tokens"]
    cfg["extra"]["vocab"]["tokens"] = toks[:-2] if change == "shorten" else toks + ["\u2603", "\u2604"]
    (cls_run / "config.json").write_text(json.dumps(cfg))
    line = cli_fails(capsys, "classify", "predict", cls_run, "--data", cls_csv)
    assert "config.json" in line and "vocabulary" in line and "restore" in line


def test_seq2seq_target_vocabulary_that_does_not_fit_is_refused(tmp_path, capsys):
    data = tmp_path / "s.csv"
    data.write_text("source,target\nab,ba\ncd,dc\n")
    assert main(["seq2seq", "train", "--data", str(data), "--out", str(tmp_path / "r"), "--epochs", "1"] + TINY) == 0
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    cfg["extra"]["target_vocab"]["tokens"].append("z")
    (tmp_path / "r" / "config.json").write_text(json.dumps(cfg))
    line = cli_fails(capsys, "seq2seq", "predict", tmp_path / "r", "--data", data)
    assert "target vocabulary" in line and "config.json" in line


def test_cli_refuses_a_single_class_like_fit(tmp_path, capsys):
    one = tmp_path / "one.csv"
    one.write_text("text,label\nhi,1\nho,1\n")
    line = cli_fails(capsys, "classify", "train", "--data", one, "--out", tmp_path / "r", "--quiet")
    assert str(one) in line and "single class" in line
    assert not (tmp_path / "r" / "checkpoint.npz").exists()


def test_unknown_label_message_shows_a_plain_repr(cls_run, tmp_path, capsys):
    data = tmp_path / "e.csv"
    data.write_text("text,label\nfun,weird\n")
    line = cli_fails(capsys, "classify", "eval", cls_run, "--data", data)
    assert "'weird'" in line and "np.str_" not in line


def test_integer_classes_match_string_labels_of_a_ts_file(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 5, 1))
    y = np.arange(8) % 2
    np.savez(tmp_path / "train.npz", X=X, y=y)
    assert train("--data", tmp_path / "train.npz", "--out", tmp_path / "run", "--epochs", 1) == 0
    lines = ["@dimensions 1", "@classLabel true 0 1", "@data"]
    lines += [",".join(f"{v:.3f}" for v in X[i, :, 0]) + f":{y[i]}" for i in range(8)]
    (tmp_path / "e.ts").write_text("\n".join(lines) + "\n")
    code, out, _ = run_cli(["classify", "eval", tmp_path / "run", "--data", tmp_path / "e.ts"], capsys)
    assert code == 0 and "accuracy" in out


def test_two_dimensional_labels_in_npz_name_the_file(tmp_path, capsys):
    np.savez(tmp_path / "y2.npz", X=np.zeros((4, 3, 1)), y=np.zeros((4, 2), int))
    line = cli_fails(capsys, "classify", "train", "--data", tmp_path / "y2.npz", "--out", tmp_path / "r", "--quiet")
    assert "y2.npz" in line and "one label per sequence" in line


def test_seq2seq_cli_excludes_the_target_vocabulary_specials(tmp_path, capsys):
    data = tmp_path / "s.csv"
    data.write_text("source,target\nab,ba\ncd,dc\n")
    assert main(["seq2seq", "train", "--data", str(data), "--out", str(tmp_path / "r"), "--epochs", "1"] + TINY) == 0
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert cfg["model"]["params"]["exclude_ids"] == [0, 1, 2, 3]        # <pad> <unk> <bos> <eos>
    del cfg["model"]["params"]["exclude_ids"]                           # a run saved before the option
    old = tmp_path / "old"
    shutil.copytree(tmp_path / "r", old)
    (old / "config.json").write_text(json.dumps(cfg))
    code, out, _ = run_cli(["seq2seq", "predict", old, "--data", data, "--beam", 2], capsys)
    assert code == 0 and "<" not in out
