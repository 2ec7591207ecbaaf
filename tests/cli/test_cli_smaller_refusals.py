"""The smaller items of the reliability issue: 0/1 labels, the kind of run named
when a command gets another's, ``.ts`` lines, a language model given a list,
NumPy reprs in messages, and a word vocabulary too large to be useful."""
import json
import logging

import numpy as np
import pytest

from _faults import (ANOMALY, EST_TINY, LM_TINY, TEXT, ok, one_error, write_classify_csv, write_series, write_text,
                     write_ts)



@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    data, csv, series = write_text(root / "t.txt"), write_classify_csv(root / "c.csv"), write_series(root / "s.csv")
    ok(["lm", "train", "--data", data, *LM_TINY, "--steps", "2", "--out", root / "lm"])
    ok(["classify", "train", "--data", csv, *EST_TINY, "--epochs", "1", "--out", root / "clf"])
    ok([*ANOMALY, "--data", series, "--columns", "y", "--label-col", "label", "--window", "8",
                       "--hidden", "4", "--epochs", "1", "--train-size", "0.8", "--out", root / "det"])
    return root


@pytest.mark.parametrize("action", ["detect", "score"])
def test_labels_other_than_0_and_1_are_refused_with_their_row(runs, tmp_path, action):
    bad = write_series(tmp_path / "bad.csv", label_at=50, label=7)
    line = one_error(["anomaly", action, runs / "det", "--data", bad, "--label-col", "label",
                      "--output", tmp_path / "o.csv"])
    assert "bad.csv" in line and "'label' holds 7 at data row 51" in line and "0 (normal) or 1" in line
    good = write_series(tmp_path / "good.csv", label_at=50, label=1)
    ok(["anomaly", action, runs / "det", "--data", good, "--label-col", "label",
                       "--output", tmp_path / "o.csv"])


@pytest.mark.parametrize("argv, says", [
    (["classify", "predict", "{lm}", "--data", "{csv}"],
     "holds a 'lm' run, not 'classify'; use rnnkit lm {sample,eval}"),
    (["classify", "eval", "{lm}", "--data", "{csv}"], "holds a 'lm' run, not 'classify'"),
    (["classify", "train", "--resume", "--out", "{lm}", "--quiet"],
     "holds a 'lm' run, not 'classify'; use rnnkit lm train"),
    (["tag", "eval", "{clf}", "--data", "{csv}"], "holds a 'classify' run, not 'tag'; use rnnkit classify"),
])
def test_another_commands_run_is_named_by_its_kind(runs, argv, says):
    argv = [a.format(lm=runs / "lm", clf=runs / "clf", csv=runs / "c.csv") for a in argv]
    line = one_error(argv)
    assert says in line and "'extra' section" not in line


def test_a_run_config_naming_no_kind_says_so(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(json.dumps({"model": {}}))
    assert "names no kind of run" in one_error(["classify", "predict", tmp_path / "run", "--data", "x.csv"])


def test_a_ts_file_mixing_dimension_counts_names_the_line(tmp_path):
    ts = write_ts(tmp_path / "mix.ts", dims=(1, 1, 2, 1))
    line = one_error(["classify", "train", "--data", ts, *EST_TINY, "--out", tmp_path / "run"])
    assert "mix.ts line 6: 2 dimensions, but the case on line 4 has 1" in line


def test_a_language_model_given_a_list_says_what_it_takes():
    from rnnkit.models.language_model import LanguageModel

    with pytest.raises(TypeError, match=r"text must be one str \(or bytes at byte level\), got a list; join"):
        LanguageModel(steps=1).fit([1, 2, 3])
    with pytest.raises(TypeError, match="val_text must be one str"):
        LanguageModel(level="char", steps=1).fit(TEXT, val_text=["a", "b"])


def test_messages_show_numbers_and_labels_as_python_does_not_as_numpy_reprs(tmp_path):
    from rnnkit.data.series import read_ts
    from rnnkit.forecast import Forecaster
    from rnnkit.models import SequenceClassifier

    with pytest.raises(ValueError) as err:
        SequenceClassifier(epochs=np.int64(0)).fit([np.array([1, 2])], [1])
    assert "got 0" in str(err.value) and "np." not in str(err.value)
    with pytest.raises(ValueError) as err:
        SequenceClassifier(epochs=1).fit(np.zeros((2, 3), int), [0, 1], lengths=np.array([9, 1]))
    assert "got 1..9" in str(err.value) and "np." not in str(err.value)
    with pytest.raises(ValueError) as err:
        Forecaster(alpha=np.float64(2.0)).fit(np.arange(100.0))
    assert "got 2.0" in str(err.value) and "np." not in str(err.value)
    ts = tmp_path / "lab.ts"
    ts.write_text("@problemName x\n@classLabel true a b\n@data\n1,2,3:a\n1,2,3:c\n")
    with pytest.raises(ValueError) as err:
        read_ts(ts)
    assert "label 'c' is not in the @classLabel list" in str(err.value)


def test_a_huge_word_vocabulary_warns_and_min_count_shrinks_it(tmp_path, caplog):
    from rnnkit.models.language_model import LARGE_VOCAB, LanguageModel

    words = " ".join(f"w{i}" for i in range(LARGE_VOCAB + 10)) + " the cat" * 200
    lm = LanguageModel(level="word", hidden_size=4, num_layers=1, embedding_dim=4, seq_len=4, batch_size=2, steps=1)
    with caplog.at_level(logging.WARNING, logger="rnnkit"):
        lm._build(words)
    warned = [r.getMessage() for r in caplog.records if "vocabulary has" in r.getMessage()]
    assert len(warned) == 1 and "--min-count 2" in warned[0] and "MB" in warned[0] and "--level char" in warned[0]
    caplog.clear()
    small = LanguageModel(level="word", min_count=2, hidden_size=4, num_layers=1, embedding_dim=4)
    with caplog.at_level(logging.WARNING, logger="rnnkit"):
        small._build(words)
    assert len(small.vocab_) == 4 + 2 and not caplog.records          # specials, "the", "cat"
    with pytest.raises(ValueError, match="min_count=2 maps rarer tokens to <unk>"):
        LanguageModel(level="word", min_count=2, unknown="error").fit(words)


def test_lm_train_takes_min_count_and_keeps_it_when_resumed(tmp_path):
    data = tmp_path / "t.txt"
    data.write_text(TEXT + " ".join(f"rare{i}" for i in range(40)))       # 40 words seen once
    argv = ["lm", "train", "--data", data, *[a if a != "char" else "word" for a in LM_TINY], "--seq-len", "4"]
    ok([*argv, "--min-count", "3", "--steps", "2", "--out", tmp_path / "run"])
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())["model"]
    assert cfg["min_count"] == 3 and len(cfg["vocab"]["tokens"]) < 20
    assert "--min-count 2 differs" in one_error(["lm", "train", "--resume", "--min-count", "2", "--steps", "3",
                                                 "--out", tmp_path / "run"])
