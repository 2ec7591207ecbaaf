"""Edge cases of the sequence estimators and of ``rnnkit classify|tag|seq2seq``
found by a QA pass: run directories, resuming, option checks, data readers,
labels, and the scikit-learn protocol.  Each test is named after the behaviour."""
import json
import shutil

import numpy as np
import pytest

from conftest import cli_fails, cli_refused, run_cli
from rnnkit.cli import main
from rnnkit.data.series import read_series
from rnnkit.data.tables import read_records
from rnnkit.models import OneToMany, Seq2Seq, SequenceClassifier, SequenceTagger
from rnnkit.models.seq2seq import SHIFT
from rnnkit.models.tagger import bio_f1

from test_cli_models import write_tags

CLS_CSV = "text,label\ngood movie,pos\ngreat fun,pos\nloved it,pos\nbad movie,neg\nawful,neg\nhated it,neg\n"
TINY = ["--hidden", "4", "--embedding", "4", "--quiet"]


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


def vectors(n=12, seed=0, D=2):
    rng = np.random.default_rng(seed)
    X = [rng.normal(size=(int(rng.integers(3, 6)), D)) for _ in range(n)]
    y = np.array([int(x[0, 0] > 0) for x in X])
    y[:2] = [0, 1]
    return X, y


# -- 1. metrics log ---------------------------------------------------------------------------------------
def test_fresh_run_starts_a_new_metrics_log(tmp_path, cls_csv):
    out = tmp_path / "stale"
    out.mkdir()
    (out / "metrics.jsonl").write_text('{"step": 1, "loss": 99.0}\n')
    assert train("--data", cls_csv, "--out", out, "--epochs", 2) == 0
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2]


# -- 2. resuming ---------------------------------------------------------------------------------------------
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


# -- 3. damaged config.json ----------------------------------------------------------------------------------
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


# -- 4, 5. options checked at parse time ---------------------------------------------------------------------
def test_unknown_encoding_is_refused_with_a_suggestion(tmp_path, cls_csv, cls_run, capsys):
    line = cli_refused(capsys, "classify", "train", "--data", cls_csv, "--out", tmp_path / "r", "--encoding",
                          "bogus")
    assert "'bogus'" in line and "utf-8" in line and "latin-1" in line
    line = cli_refused(capsys, "classify", "predict", cls_run, "--data", cls_csv, "--encoding", "bogus")
    assert "'bogus'" in line


def test_unknown_encoding_in_the_reader_is_a_value_error(cls_csv):
    with pytest.raises(ValueError, match="unknown text encoding 'bogus'"):
        read_records(cls_csv, ["text"], "bogus")


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


# -- 6. .ts reader -------------------------------------------------------------------------------------------
def test_ts_value_that_is_not_finite_names_file_and_line(tmp_path):
    path = tmp_path / "inf.ts"
    path.write_text("@dimensions 1\n@classLabel true a b\n@data\n1,2,inf:a\n1,2,3:b\n")
    with pytest.raises(ValueError, match=r"inf\.ts line 4: value inf is not finite"):
        read_series(path)


@pytest.mark.parametrize("value", ["three", "0", ""])
def test_ts_malformed_dimensions_header_names_the_line(tmp_path, value):
    path = tmp_path / "bad.ts"
    path.write_text(f"@dimensions {value}\n@classLabel true a b\n@data\n1,2,3:a\n")
    with pytest.raises(ValueError, match=r"bad\.ts line 1: @dimensions .* not a positive whole number"):
        read_series(path)


# -- 7. byte level -------------------------------------------------------------------------------------------
def test_byte_level_classifier_reads_bytes_unseen_in_training(tmp_path, cls_csv, capsys):
    assert train("--data", cls_csv, "--out", tmp_path / "run", "--epochs", 1, "--level", "byte") == 0
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["model"]["learned"]["spec"]["n_in"] == 256
    new = tmp_path / "new.csv"
    new.write_text("text,label\ncafé ~ zz,pos\n", encoding="utf-8")
    capsys.readouterr()
    code, out, _ = run_cli(["classify", "predict", tmp_path / "run", "--data", new], capsys)
    assert code == 0 and len(out.splitlines()) == 1


# -- 8. vocabulary vs weights --------------------------------------------------------------------------------
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


# -- 9. one class --------------------------------------------------------------------------------------------
def test_cli_refuses_a_single_class_like_fit(tmp_path, capsys):
    one = tmp_path / "one.csv"
    one.write_text("text,label\nhi,1\nho,1\n")
    line = cli_fails(capsys, "classify", "train", "--data", one, "--out", tmp_path / "r", "--quiet")
    assert str(one) in line and "single class" in line
    assert not (tmp_path / "r" / "checkpoint.npz").exists()


# -- 10. labels ----------------------------------------------------------------------------------------------
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


def test_integer_classes_match_string_labels_in_python():
    X, y = vectors()
    clf = SequenceClassifier(hidden_size=4, epochs=1, random_state=0).fit(X, y)
    assert clf.score(X, y.astype(str)) == clf.score(X, y)
    clf.prepare(X, y.astype(str))


def test_mixed_label_types_are_refused():
    X, _ = vectors(4)
    with pytest.raises(ValueError, match="mixes label types"):
        SequenceClassifier(hidden_size=4, epochs=1).fit(X, [1, "a", 1, "a"])
    ids = [np.array([0, 1, 2]), np.array([2, 1])]
    with pytest.raises(ValueError, match="mixes label types"):
        SequenceTagger(hidden_size=4, epochs=1).fit(ids, [["O", "B", 1], ["O", "O"]])


# -- 11. 2-D labels ------------------------------------------------------------------------------------------
def test_two_dimensional_labels_in_npz_name_the_file(tmp_path, capsys):
    np.savez(tmp_path / "y2.npz", X=np.zeros((4, 3, 1)), y=np.zeros((4, 2), int))
    line = cli_fails(capsys, "classify", "train", "--data", tmp_path / "y2.npz", "--out", tmp_path / "r", "--quiet")
    assert "y2.npz" in line and "one label per sequence" in line


def test_two_dimensional_y_is_refused_by_the_classifier():
    X, _ = vectors(4)
    with pytest.raises(ValueError, match="one label per sequence"):
        SequenceClassifier(hidden_size=4, epochs=1).fit(X, np.zeros((4, 2), int))


# -- 12. TSV -------------------------------------------------------------------------------------------------
def test_tsv_reads_fields_quoted_as_pandas_and_r_write_them(tmp_path):
    path = tmp_path / "q.tsv"
    path.write_text('"text"\t"label"\n"he said ""great"""\t1\n"multi\tword"\t0\nplain\t1\n')
    rows = read_records(path, ["text", "label"])
    assert [r["text"] for r in rows] == ['he said "great"', "multi\tword", "plain"]
    assert [r["label"] for r in rows] == ["1", "0", "1"]


def test_a_row_with_more_fields_than_the_header_is_refused(tmp_path):
    path = tmp_path / "q.tsv"
    path.write_text('text\tlabel\n"bad movie\tneg\nok "film\tpos\nfine\tneg\n')     # an unclosed quote
    with pytest.raises(ValueError, match="line 2: a quoted field runs over a line break"):   # where it opens
        read_records(path, ["text", "label"])
    (tmp_path / "e.csv").write_text("text,label\ngood,pos,extra\n")
    with pytest.raises(ValueError, match="e.csv line 2: more fields"):
        read_records(tmp_path / "e.csv", ["text", "label"])


# -- 13. the scikit-learn protocol ---------------------------------------------------------------------------
def test_save_after_set_params_keeps_the_fitted_network(tmp_path):
    X, y = vectors()
    clf = SequenceClassifier(hidden_size=4, epochs=1, pooling="last", random_state=0).fit(X, y)
    want = clf.predict_proba(X)
    clf.set_params(pooling="max", hidden_size=9)
    clf.save(tmp_path / "m.rnnkit")
    back = SequenceClassifier.load(tmp_path / "m.rnnkit")
    assert back.pooling == "last" and back.hidden_size == 4
    np.testing.assert_allclose(back.predict_proba(X), want, rtol=1e-6)


def test_failed_refit_leaves_a_fitted_estimator_working():
    X, y = vectors()
    clf = SequenceClassifier(hidden_size=4, epochs=1, random_state=0).fit(X, y)
    want = clf.predict(X)
    with pytest.raises(ValueError, match="mix of 1-D and 2-D"):   # labels fine, inputs refused later
        clf.fit([np.zeros((3, 5)), np.array([1, 2])], ["a", "b"])
    with pytest.raises(ValueError, match="single class"):
        clf.fit(X, np.zeros(len(X), int))
    np.testing.assert_array_equal(clf.predict(X), want)
    assert list(clf.classes_) == [0, 1] and clf.n_features_in_ == 2


def test_failed_refit_of_seq2seq_leaves_it_working():
    X = [np.array([1, 2]), np.array([2, 3])]
    y = [np.array([2, 1]), np.array([3, 2])]
    s2s = Seq2Seq(hidden_size=4, embedding_dim=4, epochs=1, random_state=0).fit(X, y)
    want = s2s.predict(X)
    with pytest.raises(ValueError, match="every target sequence in y is empty"):
        s2s.fit([np.array([7, 8]), np.array([9])], [np.array([], int), np.array([], int)])
    assert s2s.n_targets_ == 4 and s2s.spec_.n_in == 4
    assert all(np.array_equal(a, b) for a, b in zip(s2s.predict(X), want))


@pytest.mark.parametrize("est", [SequenceClassifier(), SequenceTagger(), Seq2Seq(), OneToMany()])
def test_predict_before_fit_raises_not_fitted_error(est):
    sk = pytest.importorskip("sklearn.exceptions")
    with pytest.raises(sk.NotFittedError, match="not fitted yet; call fit"):
        est.predict([np.zeros((3, 2))] if not isinstance(est, OneToMany) else np.zeros((1, 2)))
    with pytest.raises(AttributeError):
        est.predict([np.zeros((3, 2))] if not isinstance(est, OneToMany) else np.zeros((1, 2)))


def test_binary_decision_function_is_one_score_per_sequence():
    X, y = vectors()
    clf = SequenceClassifier(hidden_size=4, epochs=1, random_state=0).fit(X, y)
    scores = clf.decision_function(X)
    assert scores.shape == (len(X),)
    logp = np.log(clf.predict_proba(X))
    np.testing.assert_allclose(scores, logp[:, 1] - logp[:, 0], rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[(scores > 0).astype(int)])
    X3 = X + X[:3]
    y3 = np.concatenate([y, [2, 2, 2]])
    assert SequenceClassifier(hidden_size=4, epochs=1).fit(X3, y3).decision_function(X3).shape == (len(X3), 3)


def test_cross_val_score_with_roc_auc():
    pytest.importorskip("sklearn")
    from sklearn.model_selection import cross_val_score

    rng = np.random.default_rng(0)
    X = rng.normal(size=(24, 4, 2))
    y = (X[:, 0, 0] > 0).astype(int)
    scores = cross_val_score(SequenceClassifier(hidden_size=4, epochs=2, random_state=0), X, y, cv=2,
                             scoring="roc_auc")
    assert scores.shape == (2,) and np.isfinite(scores).all()


# -- 14. clear errors in the Python estimators ---------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted():
    X, y = vectors()
    clf = SequenceClassifier(hidden_size=4, epochs=1, random_state=0).fit(X, y)
    tagger = SequenceTagger(hidden_size=4, epochs=1, random_state=0).fit(X, [(x[:, 0] > 0).astype(int) for x in X])
    return X, y, clf, tagger


def test_predict_on_no_sequences_is_refused(fitted):
    _, _, clf, tagger = fitted
    for call in (clf.predict, clf.predict_proba, tagger.predict):
        with pytest.raises(ValueError, match="X holds no sequences"):
            call([])


def test_zero_batch_size_is_refused(fitted):
    X, y, clf, tagger = fitted
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        SequenceClassifier(batch_size=0).fit(X, y)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        clf.decision_function(X, batch_size=0)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        tagger.predict(X, batch_size=0)
    with pytest.raises(ValueError, match="learning_rate must be a finite number > 0"):
        SequenceClassifier(learning_rate=float("nan")).fit(X, y)


def test_all_empty_targets_are_refused():
    empty = [np.array([], int), np.array([], int)]
    with pytest.raises(ValueError, match="every target sequence in y is empty"):
        Seq2Seq(epochs=1).fit([np.array([1, 2]), np.array([2])], empty)
    with pytest.raises(ValueError, match="every target sequence in y is empty"):
        OneToMany(epochs=1).fit(np.zeros((2, 3)), empty)


@pytest.mark.parametrize("lengths", [[3, 9], [0, 2], [1.5, 2]])
def test_padded_lengths_outside_the_array_are_refused(fitted, lengths):
    _, _, clf, _ = fitted
    with pytest.raises(ValueError, match=r"lengths must be whole numbers in \[1, 4\]"):
        clf.predict(np.zeros((2, 4, 2)), lengths=np.array(lengths))


@pytest.mark.parametrize("bad", [[np.array([0, -1])], [np.array([0.5, 1.0])]])
def test_one_to_many_refuses_negative_or_float_target_ids(bad):
    with pytest.raises(ValueError, match="non-negative integer token ids"):
        OneToMany(epochs=1).fit(np.zeros((1, 3)), bad)


def test_max_length_zero_is_honoured():
    X = [np.array([1, 2]), np.array([2, 3])]
    y = [np.array([2, 1]), np.array([3, 2])]
    s2s = Seq2Seq(hidden_size=4, embedding_dim=4, epochs=1, random_state=0).fit(X, y)
    assert [len(p) for p in s2s.predict(X, max_length=0)] == [0, 0]
    assert [len(p) for p in s2s.predict(X, max_length=0, beam_size=2)] == [0, 0]
    o2m = OneToMany(hidden_size=4, embedding_dim=4, epochs=1, random_state=0).fit(np.eye(2), y)
    assert [len(p) for p in o2m.predict(np.eye(2), max_length=0)] == [0, 0]
    assert all(len(p) <= 1 for p in o2m.predict(np.eye(2), max_length=1))
    with pytest.raises(ValueError, match="max_length must be a non-negative integer"):
        s2s.predict(X, max_length=-1)
    with pytest.raises(ValueError, match="beam_size must be a positive integer"):
        s2s.predict(X, beam_size=0)


def test_tagger_score_with_mismatched_lengths_is_refused(fitted):
    X, _, _, tagger = fitted
    short = [np.zeros(len(x) - 1, int) for x in X]
    with pytest.raises(ValueError, match="as long as its true one"):
        tagger.score(X, short)
    with pytest.raises(ValueError, match="true tag sequences but"):
        tagger.score(X, [np.zeros(len(x), int) for x in X][:-1])


def test_bio_f1_with_lists_of_different_lengths_is_refused():
    with pytest.raises(ValueError, match="2 true tag sequences but 1 predicted"):
        bio_f1([["B-X"], ["O"]], [["B-X"]])


# -- 15. seq2seq special tokens ------------------------------------------------------------------------------
def test_seq2seq_never_outputs_excluded_ids():
    X = [np.array([1, 2]), np.array([2, 3])]
    y = [np.array([4, 5]), np.array([5, 4])]
    s2s = Seq2Seq(hidden_size=4, embedding_dim=4, epochs=1, random_state=0, exclude_ids=[0, 1, 2, 3],
                  max_length=4).fit(X, y)
    s2s.net_.decoder.head.params["bias"][0 + SHIFT] = 50.0    # id 0 (<pad>) now by far the most likely
    for beam in (1, 3):
        out = s2s.predict(X, beam_size=beam)
        assert not any(np.isin(o, [0, 1, 2, 3]).any() for o in out)
    s2s.exclude_ids = None
    assert all((o == 0).all() for o in s2s.predict(X))         # without the exclusion <pad> wins


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


def test_a_refit_that_fails_on_a_bad_setting_leaves_the_model_as_it_was(tmp_path):
    X, y = vectors()
    clf = SequenceClassifier(hidden_size=4, epochs=1, random_state=0).fit(X, y)
    want = clf.predict_proba(X)
    clf.set_params(hidden_size=0)
    with pytest.raises(ValueError, match="hidden_size"):
        clf.fit(X, ["a", "b"] * (len(y) // 2))
    assert list(clf.classes_) == sorted(set(y))
    clf.save(tmp_path / "m.rnnkit")
    np.testing.assert_allclose(SequenceClassifier.load(tmp_path / "m.rnnkit").predict_proba(X), want, rtol=1e-6)
    o = OneToMany(hidden_size=4, epochs=1, random_state=0).fit(np.ones((6, 3)), [np.array([1, 2])] * 6)
    o.set_params(hidden_size=0)
    with pytest.raises(ValueError):
        o.fit(np.ones((6, 5)), [np.array([1, 2])] * 6)
    assert o.n_features_in_ == 3 and len(o.predict(np.ones((2, 3)))) == 2


def test_save_after_set_params_keeps_the_prediction_settings(tmp_path):
    rng = np.random.default_rng(0)
    X = [rng.integers(0, 5, size=rng.integers(2, 6)) for _ in range(12)]
    m = Seq2Seq(hidden_size=8, embedding_dim=4, epochs=1, random_state=0).fit(X, [x[::-1] % 4 for x in X])
    m.set_params(beam_size=3, max_length=4, hidden_size=99)
    m.save(tmp_path / "s.rnnkit")
    back = Seq2Seq.load(tmp_path / "s.rnnkit")
    assert (back.beam_size, back.max_length, back.hidden_size) == (3, 4, 8)


def test_predict_output_never_overwrites_the_run_or_the_input(capsys, tmp_path):
    data, run = text_run(tmp_path, capsys)
    before = (run / "checkpoint.npz").read_bytes()
    for out in (run / "checkpoint.npz", run / "config.json", data):
        line = cli_fails(capsys, "classify", "predict", str(run), "--data", str(data), "--output", str(out))
        assert "--output" in line
    assert (run / "checkpoint.npz").read_bytes() == before
    assert main(["classify", "predict", str(run), "--data", str(data), "--output", str(tmp_path / "p.txt")]) == 0
    assert len((tmp_path / "p.txt").read_text().splitlines()) == 4


def test_parameters_given_as_numpy_scalars_save_and_load(tmp_path):
    """A grid search hands parameters over as NumPy scalars (np.int64 from np.arange, say)."""
    X, y = vectors()
    clf = SequenceClassifier(hidden_size=np.int64(4), epochs=np.int64(1), learning_rate=np.float64(0.01),
                             random_state=0).fit(X, y)
    clf.save(tmp_path / "m.rnnkit")
    back = SequenceClassifier.load(tmp_path / "m.rnnkit")
    assert back.hidden_size == 4 and type(back.hidden_size) is int
    np.testing.assert_allclose(back.predict_proba(X), clf.predict_proba(X), rtol=1e-6)
    s2s = Seq2Seq(hidden_size=4, embedding_dim=3, epochs=1, exclude_ids=(np.int64(0),), random_state=0)
    s2s.fit([np.array([1, 2, 3])] * 4, [np.array([3, 2, 1])] * 4).save(tmp_path / "s.rnnkit")
    assert list(Seq2Seq.load(tmp_path / "s.rnnkit").exclude_ids) == [0]


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
