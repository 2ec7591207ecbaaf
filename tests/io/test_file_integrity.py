"""Files that lie: the integrity check covers the header (the config) as well as
the arrays, hyperparameters read from a file are checked as the constructor's
are, a malformed header is one line, and a pickle is named for what it is."""
import json

import numpy as np
import pytest

from _faults import FORECAST, LM_TINY, add_array, ok, one_error, rewrite_header, write_series, write_text
from rnnkit import io
from rnnkit.io.files import FORMAT_VERSION, ModelFileError, read_file, write_file
from rnnkit.recurrent import GRU



@pytest.fixture(scope="module")
def forecaster(tmp_path_factory):
    root = tmp_path_factory.mktemp("fc")
    series = write_series(root / "s.csv")
    ok([*FORECAST, "--data", series, "--target", "y", "--lookback", "8", "--hidden", "4",
                       "--epochs", "1", "--out", root / "run"])
    return root


def fresh(forecaster, tmp_path):
    import shutil
    shutil.copytree(forecaster / "run", tmp_path / "run")
    return tmp_path / "run" / "model.rnnkit"


def set_lookback(value):
    def change(header):
        header["config"]["params"]["lookback"] = value
        return header
    return change


@pytest.mark.parametrize("lookback", [-3, 4])
def test_a_hand_edited_hyperparameter_fails_the_header_checksum(forecaster, tmp_path, lookback):
    from rnnkit.forecast import Forecaster

    path = rewrite_header(fresh(forecaster, tmp_path), set_lookback(lookback))
    with pytest.raises(ModelFileError, match="checksum mismatch for the header"):
        Forecaster.load(path)
    line = one_error(["forecast", "predict", path.parent, "--data", forecaster / "s.csv"])
    assert "model.rnnkit" in line and "checksum mismatch for the header" in line


def test_hyperparameters_in_a_file_are_checked_as_the_constructor_checks_them(forecaster, tmp_path):
    from rnnkit.forecast import Forecaster

    path = rewrite_header(fresh(forecaster, tmp_path), set_lookback(-3), digest=True)   # a consistent forgery
    with pytest.raises(ModelFileError, match="lookback must be an integer >= 1, got -3"):
        Forecaster.load(path)
    assert "lookback must be" in one_error(["forecast", "predict", path.parent, "--data", forecaster / "s.csv"])


def test_estimator_and_language_model_hyperparameters_are_checked_on_load(tmp_path):
    from rnnkit.anomaly import AnomalyDetector
    from rnnkit.models import SequenceClassifier

    s = np.sin(np.arange(80) / 5)
    det = AnomalyDetector(window=8, hidden_size=4, epochs=1).fit(s)
    det.save(tmp_path / "d.rnnkit")

    def bad_span(header):
        header["config"]["params"]["span"] = -1
        return header

    rewrite_header(tmp_path / "d.rnnkit", bad_span, digest=True)
    with pytest.raises(ModelFileError, match="span must be a number >= 1"):
        AnomalyDetector.load(tmp_path / "d.rnnkit")
    clf = SequenceClassifier(hidden_size=4, epochs=1).fit([np.array([1, 2]), np.array([2, 1])], [0, 1])
    clf.save(tmp_path / "c.rnnkit")

    def bad_epochs(header):
        header["config"]["params"]["epochs"] = 0
        return header

    rewrite_header(tmp_path / "c.rnnkit", bad_epochs, digest=True)
    with pytest.raises(ModelFileError, match="epochs must be a positive integer, got 0"):
        SequenceClassifier.load(tmp_path / "c.rnnkit")
    data = write_text(tmp_path / "t.txt")
    ok(["lm", "train", "--data", data, *LM_TINY, "--steps", "2", "--out", tmp_path / "lm"])
    cfg = json.loads((tmp_path / "lm" / "config.json").read_text())
    cfg["model"]["seq_len"] = -3
    (tmp_path / "lm" / "config.json").write_text(json.dumps(cfg))
    line = one_error(["lm", "sample", tmp_path / "lm"])
    assert "config.json" in line and "seq_len must be a positive integer, got -3" in line


def test_files_of_format_version_1_without_a_header_checksum_still_load(tmp_path):
    p = io.save(GRU(2, 3, seed=0), tmp_path / "m.npz")

    def as_version_1(header):
        del header["header_sha256"]
        header["format_version"] = 1
        return header

    rewrite_header(p, as_version_1)
    assert io.load(p).hidden_size == 3
    assert FORMAT_VERSION == 2


def test_a_version_2_file_without_its_header_checksum_is_refused(tmp_path):
    p = io.save(GRU(2, 3, seed=0), tmp_path / "m.npz")

    def strip(header):
        del header["header_sha256"]
        return header

    with pytest.raises(ModelFileError, match="checksum mismatch for the header"):
        io.load(rewrite_header(p, strip))


@pytest.mark.parametrize("change, says", [
    (lambda h: dict(h, sha256=list(h["sha256"].values())), "'sha256' is a JSON list, not an object"),
    (lambda h: [h], "a JSON list, not an object"),
    (lambda h: "rnnkit", "a JSON str, not an object"),
    (lambda h: dict(h, config=[1, 2]), "'config' is a JSON list"),
    (lambda h: dict(h, meta="x"), "'meta' is a JSON str"),
    (lambda h: dict(h, kind=7), "'kind' is a JSON int"),
    (lambda h: dict(h, sha256={k: 1 for k in h["sha256"]}), "a checksum in 'sha256' is not a string"),
])
def test_a_malformed_header_is_one_line_naming_the_file(forecaster, tmp_path, change, says):
    path = rewrite_header(fresh(forecaster, tmp_path), change)
    with pytest.raises(ModelFileError, match="malformed rnnkit header") as err:
        read_file(path)
    assert says in str(err.value) and "\n" not in str(err.value)
    line = one_error(["forecast", "predict", path.parent, "--data", forecaster / "s.csv"])
    assert "model.rnnkit" in line and "malformed rnnkit header" in line


def test_a_pickled_object_is_refused_and_named_as_such(tmp_path):
    p = tmp_path / "m.npz"
    write_file(p, "layer", {}, {"w": np.ones(3)})
    add_array(p, "evil", np.array([{"run": "code"}], dtype=object), checksum=False)
    with pytest.raises(ModelFileError) as err:
        read_file(p)
    msg = str(err.value)
    assert "'evil' is a pickled Python object" in msg and "never loads" in msg and "truncated" not in msg
