"""``rnnkit export onnx RUN_DIR OUT.onnx`` end to end: tiny training runs of
``lm``, ``classify`` and ``tag`` exported through the CLI, then run in
onnxruntime and compared with the rnnkit model loaded from the same run; export never
overwrites its input or the files of the run directory."""
import json
import random
import shutil

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from rnnkit.cli import main  # noqa: E402
from rnnkit.commands import _estimator_cli  # noqa: E402
from rnnkit.commands.classify import ClassifyTask  # noqa: E402
from rnnkit.commands.tag import TagTask  # noqa: E402
from rnnkit.data.batching import pad  # noqa: E402
from rnnkit.data.vocab import Vocabulary  # noqa: E402
from rnnkit.interop import from_onnx  # noqa: E402
from rnnkit.models.language_model import LanguageModel  # noqa: E402
from conftest import cli_fails, run_cli  # noqa: E402
from test_cli_models import write_text_csv  # noqa: E402

TEXT = "def add(a, b):\n    return a + b\n\nclass Point:\n    x = 0\n    y = 0\n" * 10
TOL = dict(rtol=1e-5, atol=1e-5)


def ok(capsys, *argv):
    rc, out, err = run_cli(argv, capsys)
    assert rc == 0, err
    return out


def fails(capsys, *argv):
    return cli_fails(capsys, *argv)


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def metadata(path):
    """An ONNX file's ``metadata_props`` as a dict."""
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def valid(a, lengths):
    """The real (unpadded) steps of a batch-first array, concatenated."""
    return np.concatenate([a[b, :n] for b, n in enumerate(lengths)])


# -- language model runs ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lm_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm")
    data = root / "train.txt"
    data.write_text(TEXT, encoding="utf-8")
    runs = {}
    for cell, embed in (("lstm", 6), ("gru", 0), ("rnn", 5)):
        out = root / cell
        assert main(["lm", "train", "--data", str(data), "--level", "char", "--cell", cell, "--hidden", "8",
                     "--layers", "2", "--embed", str(embed), "--seq-len", "8", "--batch", "3", "--steps", "4",
                     "--eval-every", "0", "--no-progress", "--out", str(out)]) == 0
        runs[cell] = out
    return runs


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_language_model_run_exports_and_matches_onnxruntime(lm_runs, cell, tmp_path, capsys):
    run = lm_runs[cell]
    out = ok(capsys, "export", "onnx", run, tmp_path / "lm.onnx")
    assert "wrote" in out and cell.upper() in out
    onnx.checker.check_model(onnx.load(str(tmp_path / "lm.onnx")))
    model = LanguageModel.load(run)
    vocab = Vocabulary.from_config(json.loads(metadata(tmp_path / "lm.onnx")["vocab"]))
    assert vocab == model.vocab_                                           # the graph carries its vocabulary
    ids = np.stack([vocab.encode(TEXT[i:i + 9]) for i in (0, 17, 40)])
    np.testing.assert_array_equal(ids, np.stack([model.encode(TEXT[i:i + 9]) for i in (0, 17, 40)]))
    got = session(tmp_path / "lm.onnx").run(None, {"ids": ids, "lengths": np.full(3, 9, np.int32)})
    want, state = model.net_(ids)
    np.testing.assert_allclose(got[0], want, **TOL)                        # logits
    e = np.exp(want - want.max(-1, keepdims=True))
    np.testing.assert_allclose(got[1], e / e.sum(-1, keepdims=True), **TOL)  # probs
    for a, b in zip(got[2:], state if isinstance(state, tuple) else (state,)):
        np.testing.assert_allclose(a, b, **TOL)                            # h_n (and c_n)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_language_model_exports_with_its_carried_state_as_initial_state(lm_runs, cell, tmp_path, capsys):
    run = lm_runs[cell]
    ok(capsys, "export", "onnx", run, tmp_path / "lm.onnx", "--initial-state")
    model = LanguageModel.load(run)
    state = model.state_                                                   # (L, 3, H) from training
    parts = state if isinstance(state, tuple) else (state,)
    assert np.abs(parts[0]).max() > 0.01                                   # a real, nonzero state
    ids = np.random.default_rng(1).integers(0, len(model.vocab_), (3, 5))
    feeds = {"ids": ids, "lengths": np.full(3, 5, np.int32), "h0": parts[0]}
    if cell == "lstm":
        feeds["c0"] = parts[1]
    got = session(tmp_path / "lm.onnx").run(None, feeds)
    want, _ = model.net_(ids, state)
    zero, _ = model.net_(ids)
    assert np.abs(want - zero).max() > 1e-3                                # the state matters here
    np.testing.assert_allclose(got[0], want, **TOL)


# -- classify and tag runs ------------------------------------------------------------------------------
def write_series_npz(path, n=24, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(4, 9, n)
    X = rng.normal(2.0, 3.0, (n, 8, 2))
    X[np.arange(8)[None, :] >= lengths[:, None]] = 0.0
    y = np.array(["up" if i % 2 else "down" for i in range(n)])
    np.savez(path, X=X, y=y, lengths=lengths)
    return path


def write_tags(path, n=30, seed=0):
    rnd = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(n):
            toks = [rnd.choice(["the", "mr", "smith", "went", "to", "rome"]) for _ in range(rnd.randint(3, 7))]
            tags = ["B-PER" if t == "smith" else "B-LOC" if t == "rome" else "O" for t in toks]
            f.write(json.dumps({"tokens": toks, "tags": tags}) + "\n")
    return path


CLASSIFY = [
    ("text", "lstm", "last", ["--layers", "2", "--bidirectional"]),
    ("text", "gru", "mean", []),
    ("series", "rnn", "max", ["--bidirectional"]),
    ("series", "lstm", "last", []),
]


@pytest.mark.parametrize("kind,cell,pooling,extra", CLASSIFY)
def test_classifier_run_exports_and_matches_onnxruntime(tmp_path, capsys, kind, cell, pooling, extra):
    data = write_text_csv(tmp_path / "d.csv") if kind == "text" else write_series_npz(tmp_path / "d.npz")
    run = tmp_path / "run"
    ok(capsys, "classify", "train", "--data", data, "--out", run, "--epochs", "1", "--hidden", "6",
       "--embedding", "5", "--cell", cell, "--pooling", pooling, "--quiet", *extra)
    ok(capsys, "export", "onnx", run, tmp_path / "c.onnx")
    m = onnx.load(str(tmp_path / "c.onnx"))
    onnx.checker.check_model(m, full_check=True)                          # strict shape inference too
    est, ex = _estimator_cli.load(ClassifyTask(), str(run))
    props = metadata(tmp_path / "c.onnx")
    assert json.loads(props["classes"]) == [str(c) for c in est.classes_]
    assert (json.loads(props["vocab"]) == ex["vocab"]) if kind == "text" else "vocab" not in props
    X, _ = ClassifyTask().load_xy(str(data), ex, est)
    seqs = [np.asarray(s) for s in X[:10]]
    if kind == "text":
        x, lengths = pad(seqs, 0, np.int64)
        feeds = {"ids": x}
    else:
        x, lengths = pad(seqs, 0.0, np.float32)                            # raw features: the graph standardises
        feeds = {"x": x}
    assert len(set(lengths.tolist())) > 1                                  # variable lengths
    logits, probs, *_ = session(tmp_path / "c.onnx").run(None, dict(feeds, lengths=lengths.astype(np.int32)))
    want = est._logits(seqs)                                               # (N, C), also for two classes
    np.testing.assert_allclose(logits, want, **TOL)
    np.testing.assert_allclose(probs, est.predict_proba(seqs), **TOL)
    # and rnnkit's own importer reads the exported graph back (pooling operators included)
    back = from_onnx(tmp_path / "c.onnx").run(dict(feeds, lengths=lengths.astype(np.int32)))
    np.testing.assert_allclose(back["logits"], want, **TOL)


def test_tagger_run_exports_per_step_outputs(tmp_path, capsys):
    data = write_tags(tmp_path / "t.jsonl")
    run = tmp_path / "run"
    ok(capsys, "tag", "train", "--data", data, "--out", run, "--epochs", "1", "--hidden", "6", "--embedding", "5",
       "--cell", "gru", "--layers", "2", "--quiet")
    ok(capsys, "export", "onnx", run, tmp_path / "t.onnx")
    est, ex = _estimator_cli.load(TagTask(), str(run))
    assert Vocabulary.from_config(json.loads(metadata(tmp_path / "t.onnx")["vocab"])) == \
        Vocabulary.from_config(ex["vocab"])
    X, _ = TagTask().load_xy(str(data), ex, est)
    seqs = X[:8]
    ids, lengths = pad(seqs, 0, np.int64)
    logits, probs, *_ = session(tmp_path / "t.onnx").run(None, {"ids": ids, "lengths": lengths.astype(np.int32)})
    want = est.net_(ids, lengths, keep_cache=False)                        # (B, T, C)
    assert logits.shape == want.shape
    np.testing.assert_allclose(valid(logits, lengths), valid(want, lengths), **TOL)
    pred = [est.classes_[p[:n].argmax(-1)] for p, n in zip(probs, lengths)]
    for a, b in zip(pred, est.predict(seqs)):
        np.testing.assert_array_equal(a, b)


# -- what cannot be exported -------------------------------------------------------------------------------
def test_seq2seq_run_is_refused_in_one_line(tmp_path, capsys):
    data = tmp_path / "s.tsv"
    data.write_text("source\ttarget\n" + "".join(f"{s}\t{''.join(sorted(s))}\n" for s in ["ba", "cab", "ab"] * 4))
    ok(capsys, "seq2seq", "train", "--data", data, "--out", tmp_path / "run", "--epochs", "1", "--hidden", "4",
       "--embedding", "3", "--quiet")
    line = fails(capsys, "export", "onnx", tmp_path / "run", tmp_path / "x.onnx")
    assert "seq2seq" in line and "lm, classify and tag" in line
    assert not (tmp_path / "x.onnx").exists()


def test_directory_that_is_not_a_run_is_refused(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hello")
    line = fails(capsys, "export", "onnx", tmp_path, tmp_path / "x.onnx")
    assert "not a training run directory" in line and "config.json" in line


def test_run_without_a_checkpoint_is_refused(lm_runs, tmp_path, capsys):
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    shutil.copy(lm_runs["gru"] / "config.json", fresh / "config.json")
    line = fails(capsys, "export", "onnx", fresh, tmp_path / "x.onnx")
    assert "checkpoint.npz does not exist" in line


def test_forecaster_directory_is_refused(tmp_path, capsys):
    (tmp_path / "model.rnnkit").write_bytes(b"")
    line = fails(capsys, "export", "onnx", tmp_path, tmp_path / "x.onnx")
    assert "forecaster or anomaly detector" in line and "no ONNX export" in line


def test_python_export_refuses_seq2seq_and_unfitted_estimators():
    from rnnkit.interop import to_onnx
    from rnnkit.models import SequenceClassifier
    from rnnkit.models.seq2seq import Seq2Seq

    with pytest.raises(ValueError, match="Seq2Seq models cannot be exported"):
        to_onnx(Seq2Seq())
    with pytest.raises(ValueError, match="not trained yet"):
        to_onnx(SequenceClassifier())


def test_saved_estimator_files_export_and_seq2seq_files_are_refused(tmp_path, capsys):
    from rnnkit.models import Seq2Seq, SequenceTagger

    rng = np.random.default_rng(0)
    X = [rng.integers(0, 5, n) for n in (3, 6, 4, 5)]
    y = [np.where(s > 2, "B", "O") for s in X]
    est = SequenceTagger(hidden_size=4, embedding_dim=3, epochs=1, random_state=0).fit(X, y)
    est.save(tmp_path / "tagger.npz")
    ok(capsys, "export", "onnx", tmp_path / "tagger.npz", tmp_path / "t.onnx")
    ids, lengths = pad(X, 0, np.int64)
    logits, *_ = session(tmp_path / "t.onnx").run(None, {"ids": ids, "lengths": lengths.astype(np.int32)})
    np.testing.assert_allclose(valid(logits, lengths), valid(est.net_(ids, lengths, keep_cache=False), lengths), **TOL)
    s2s = Seq2Seq(hidden_size=4, embedding_dim=3, epochs=1, random_state=0).fit(X, [s[::-1] for s in X])
    s2s.save(tmp_path / "s2s.npz")
    line = fails(capsys, "export", "onnx", tmp_path / "s2s.npz", tmp_path / "s.onnx")
    assert "holds a Seq2Seq" in line


@pytest.mark.parametrize("opset", [9, 11, 18])
def test_export_writes_the_opset_asked_for(lm_runs, tmp_path, capsys, opset):
    out = ok(capsys, "export", "onnx", lm_runs["lstm"], tmp_path / "lm.onnx", "--opset", str(opset))
    assert f"ONNX opset {opset}" in out
    m = onnx.load(str(tmp_path / "lm.onnx"))
    onnx.checker.check_model(m)
    assert {o.version for o in m.opset_import if o.domain in ("", "ai.onnx")} == {opset}
    model = LanguageModel.load(lm_runs["lstm"])
    ids = np.stack([model.encode(TEXT[i:i + 9]) for i in (0, 17)])
    got = session(tmp_path / "lm.onnx").run(None, {"ids": ids, "lengths": np.full(2, 9, np.int32)})
    np.testing.assert_allclose(got[0], model.net_(ids)[0], **TOL)


def test_export_refuses_an_opset_it_does_not_write(lm_runs, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["export", "onnx", str(lm_runs["lstm"]), str(tmp_path / "lm.onnx"), "--opset", "25"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--opset" in err and "7 to 21" in err
    assert not (tmp_path / "lm.onnx").exists()


# -- export never overwrites its input or the run's files ----------------------------------------------------
@pytest.fixture
def model_file(tmp_path):
    import rnnkit
    import rnnkit.io

    path = tmp_path / "model.npz"
    rnnkit.io.save(rnnkit.LSTM(3, 4), str(path))
    return path


def test_export_onto_its_own_input_file_is_refused(model_file, capsys):
    before = model_file.read_bytes()
    line = cli_fails(capsys, "export", "onnx", model_file, model_file)
    assert "is the input model file" in line and model_file.read_bytes() == before


def test_export_into_the_run_directory_s_saved_files_is_refused(tmp_path, capsys):
    pytest.importorskip("onnx")
    run = tiny_lm_run(tmp_path, capsys)
    before = (run / "checkpoint.npz").read_bytes()
    line = cli_fails(capsys, "export", "onnx", run, run / "checkpoint.npz")
    assert "saved files" in line and (run / "checkpoint.npz").read_bytes() == before


def test_export_to_a_directory_says_pass_a_file_name(model_file, tmp_path, capsys):
    (tmp_path / "somedir").mkdir()
    line = cli_fails(capsys, "export", "onnx", model_file, tmp_path / "somedir")
    assert "is a directory; pass a file name" in line and "Errno" not in line


def test_export_never_overwrites_a_file_of_the_run_directory_but_an_earlier_export(tmp_path, capsys):
    pytest.importorskip("onnx")
    run = tiny_lm_run(tmp_path, capsys)
    (run / "notes.txt").write_text("mine")
    (run / "gradflow.json").write_text("{}")
    for name in ("notes.txt", "gradflow.json"):
        assert "saved files" in cli_fails(capsys, "export", "onnx", run, run / name)
    assert (run / "notes.txt").read_text() == "mine" and (run / "gradflow.json").read_text() == "{}"
    for _ in range(2):                                        # an earlier export may be replaced
        rc, _, err = run_cli(["export", "onnx", run, run / "model.onnx"], capsys)
        assert rc == 0, err


def tiny_lm_run(tmp_path, capsys):
    """The directory of a two-step character language model run."""
    data = tmp_path / "train.txt"
    data.write_text("abcabcabd\n" * 20)
    run = tmp_path / "run"
    rc, _, err = run_cli(["lm", "train", "--data", data, "--level", "char", "--hidden", 4, "--seq-len", 4,
                          "--batch", 2, "--steps", 2, "--eval-every", 0, "--no-progress", "--out", run], capsys)
    assert rc == 0, err
    return run
