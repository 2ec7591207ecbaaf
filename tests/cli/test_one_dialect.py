"""One name per idea (docs/conventions.md): the same parameter names and defaults
in every class, the same option names in every command, the old spellings kept
for one release with a DeprecationWarning (Python) or one note on stderr (CLI)."""
import inspect
import os
import warnings

import numpy as np
import pytest

from rnnkit.anomaly import AnomalyDetector
from rnnkit.forecast import Forecaster
from rnnkit.models import OneToMany, Seq2Seq, SequenceClassifier, SequenceTagger
from rnnkit.models.language_model import LanguageModel

from conftest import run_cli

MODELS = [SequenceClassifier, SequenceTagger, Seq2Seq, OneToMany, LanguageModel, Forecaster, AnomalyDetector]
DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "conventions.md")


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_every_model_spells_the_shared_parameters_alike_with_one_seed_default(cls):
    params = inspect.signature(cls).parameters
    for name in ("lr", "random_state", "hidden_size", "batch_size", "early_stopping", "lr_schedule"):
        assert name in params, f"{cls.__name__} lacks {name}"
    assert params["random_state"].default == 0
    if cls is not LanguageModel:
        assert "epochs" in params and "validation_fraction" in params
    else:
        assert "validation_fraction" in params


def small_data(rng):
    X = [rng.normal(size=(4, 2)) for _ in range(12)]
    return X, np.array([0, 1] * 6)


def test_learning_rate_still_works_for_one_release_with_a_deprecation_warning(rng):
    X, y = small_data(rng)
    clf = SequenceClassifier(hidden_size=3, epochs=1, learning_rate=0.123)
    with pytest.warns(DeprecationWarning, match="learning_rate is deprecated.*use lr"):
        clf.fit(X, y)
    assert clf.optimizer_.lr == pytest.approx(0.123)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SequenceClassifier(hidden_size=3, epochs=1, lr=0.05).fit(X, y)


def test_a_file_saved_with_learning_rate_loads_as_lr_without_a_warning(rng, tmp_path):
    from rnnkit.io.files import write_file

    X, y = small_data(rng)
    clf = SequenceClassifier(hidden_size=3, epochs=1, lr=0.07).fit(X, y)
    config, arrays = clf._file_contents()
    old = {k: v for k, v in config["params"].items()
           if k not in ("lr", "learning_rate", "early_stopping", "validation_fraction", "lr_schedule")}
    write_file(tmp_path / "old.rnnkit", clf.FILE_KIND, dict(config, params=dict(old, learning_rate=0.07)), arrays)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        back = SequenceClassifier.load(tmp_path / "old.rnnkit")
    assert back.lr == 0.07
    np.testing.assert_array_equal(back.predict(X), clf.predict(X))


def test_val_fraction_is_the_deprecated_spelling_of_validation_fraction():
    text = "abcde fghij " * 60
    lm = LanguageModel(level="char", hidden_size=4, num_layers=1, seq_len=8, batch_size=2, steps=2, val_fraction=0.2)
    with pytest.warns(DeprecationWarning, match="use validation_fraction"):
        lm.fit(text)
    assert len(lm.split(text)[1]) == round(len(lm.encode(text)) * 0.2)


@pytest.fixture
def texts(tmp_path):
    (tmp_path / "t.txt").write_text("hello world, hello rnn\n" * 80)
    (tmp_path / "cls.csv").write_text("text,label\n" + "".join(f"{'ab' * (i % 3 + 1)},{i % 2}\n" for i in range(30)))
    (tmp_path / "cols.csv").write_text("body,y\n" + "".join(f"{'ab' * (i % 3 + 1)},{i % 2}\n" for i in range(30)))
    t = np.arange(120)
    (tmp_path / "s.csv").write_text("time,v\n" + "".join(f"{i},{np.sin(i / 5):.4f}\n" for i in t))
    return tmp_path


def notes(err):
    return [ln for ln in err.splitlines() if ln.startswith("rnnkit: note:")]


def test_old_cli_spellings_work_and_leave_one_note_each(texts, capsys):
    rc, _, err = run_cli(["lm", "train", "--data", texts / "t.txt", "--level", "char", "--hidden", "4", "--layers", "1",
                          "--embed", "4", "--batch", "2", "--seq-len", "8", "--steps", "2", "--no-progress",
                          "--out", texts / "lm"], capsys)
    assert rc == 0
    said = " ".join(notes(err))
    for old, new in (("--embed", "--embedding-dim"), ("--batch", "--batch-size"), ("--no-progress", "--quiet")):
        assert f"{old} is deprecated, use {new}" in said
    rc, _, err = run_cli(["forecast", "train", texts / "s.csv", "--lookback", "4", "--epochs", "1", "--hidden", "3",
                          "--out", texts / "f"], capsys)
    assert rc == 0 and len(notes(err)) == 1 and "--data FILE" in notes(err)[0]
    rc, _, err = run_cli(["forecast", "predict", texts / "f", "--data", texts / "s.csv", "--out", texts / "p.csv"],
                         capsys)
    assert rc == 0 and (texts / "p.csv").exists() and "--out is deprecated, use --output" in notes(err)[0]


def test_new_spellings_leave_no_note(texts, capsys):
    rc, _, err = run_cli(["lm", "train", "--data", texts / "t.txt", "--level", "char", "--hidden", "4", "--layers", "1",
                          "--embedding-dim", "4", "--batch-size", "2", "--seq-len", "8", "--steps", "2", "--quiet",
                          "--out", texts / "lm"], capsys)
    assert rc == 0 and not notes(err)
    rc, _, err = run_cli(["anomaly", "fit", "--data", texts / "s.csv", "--window", "4", "--epochs", "1", "--train-size", "0.8",
                          "--hidden", "3", "--out", texts / "a"], capsys)
    assert rc == 0 and not notes(err)
    rc, out, err = run_cli(["anomaly", "score", texts / "a", "--data", texts / "s.csv", "--output",
                            texts / "scores.csv"], capsys)
    assert rc == 0 and not notes(err) and (texts / "scores.csv").exists()


def test_lm_eval_takes_run_dir_after_the_data_files_as_its_usage_shows(texts, capsys):
    assert run_cli(["lm", "train", "--data", texts / "t.txt", "--level", "char", "--hidden", "4", "--layers", "1",
                    "--seq-len", "8", "--batch-size", "2", "--steps", "2", "--quiet", "--out", texts / "lm"],
                   capsys)[0] == 0
    rc, out, err = run_cli(["lm", "eval", "--data", texts / "t.txt", texts / "lm"], capsys)
    assert rc == 0 and "bits/char" in out, err


def test_classify_eval_and_predict_name_the_columns_of_another_file(texts, capsys):
    assert run_cli(["classify", "train", "--data", texts / "cls.csv", "--out", texts / "c", "--epochs", "1",
                    "--hidden", "4", "--quiet"], capsys)[0] == 0
    rc, out, err = run_cli(["classify", "eval", texts / "c", "--data", texts / "cols.csv", "--text-col", "body",
                            "--label-col", "y"], capsys)
    assert rc == 0 and "accuracy" in out, err
    rc, out, err = run_cli(["classify", "predict", texts / "c", "--data", texts / "cols.csv", "--text-col", "body"],
                           capsys)
    assert rc == 0 and len(out.splitlines()) == 30, err


def test_the_conventions_are_written_down_in_one_short_doc():
    text = open(DOC, encoding="utf-8").read()
    for name in ("--batch-size", "--embedding-dim", "--quiet", "--output", "--out", "--data", "lr", "random_state",
                 "validation_fraction", "DeprecationWarning"):
        assert name in text
    assert len(text.splitlines()) < 120
