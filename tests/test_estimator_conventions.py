"""scikit-learn's conventions for every estimator, where the sequence models had
them and the forecaster, detector and language model did not; and hyperparameters
and labels that failed late or silently."""
import numpy as np
import pytest

from rnnkit.anomaly import AnomalyDetector
from rnnkit.forecast import Forecaster
from rnnkit.models import OneToMany, Seq2Seq, SequenceClassifier
from rnnkit.models.language_model import LanguageModel

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.utils.validation import check_is_fitted  # noqa: E402

TEXT = "def add(a, b):\n    return a + b\n" * 40
SERIES = np.sin(np.arange(120) / 3.0)


def _estimators():
    return [Forecaster(lookback=6, horizon=2, hidden_size=4, epochs=1, random_state=0),
            AnomalyDetector(window=8, hidden_size=4, epochs=1, random_state=0),
            LanguageModel(level="char", hidden_size=8, num_layers=1, embedding_dim=4, seq_len=8, batch_size=4,
                          steps=3, eval_every=0, random_state=0)]


def _fit(est):
    return est.fit(TEXT) if isinstance(est, LanguageModel) else est.fit(SERIES)


@pytest.mark.parametrize("i", range(3))
def test_clone_not_fitted_error_and_check_is_fitted(i):
    est = _estimators()[i]
    twin = clone(est)
    assert twin.get_params() == est.get_params() and repr(twin) == repr(est)
    with pytest.raises(NotFittedError):
        check_is_fitted(est)
    call = (lambda: est.sample(5)) if isinstance(est, LanguageModel) else (
        (lambda: est.predict(SERIES)) if isinstance(est, Forecaster) else (lambda: est.detect(SERIES)))
    with pytest.raises(NotFittedError, match="is not fitted yet; call fit"):
        call()
    _fit(est)
    check_is_fitted(est)
    if not isinstance(est, LanguageModel):
        assert est.n_features_in_ == 1


@pytest.mark.parametrize("i", range(3))
def test_numpy_hyperparameters_save(i, tmp_path):
    est = _estimators()[i]
    est.set_params(hidden_size=np.int64(5))                      # what a grid built with np.arange holds
    if isinstance(est, LanguageModel):
        from rnnkit.runs import RunDir
        est.fit(TEXT, run=RunDir(tmp_path / "run"))
        assert LanguageModel.load(tmp_path / "run").hidden_size == 5
    else:
        path = _fit(est).save(tmp_path / "m.rnnkit")
        assert type(est).load(path).hidden_size == 5


def test_a_failed_language_model_fit_leaves_the_model_as_it_was():
    lm = _estimators()[2].fit(TEXT)
    before = (lm.score(TEXT[:200]), len(lm.vocab_))
    with pytest.raises(ValueError):
        lm.fit("ab")                                            # too few tokens
    assert (lm.score(TEXT[:200]), len(lm.vocab_)) == before
    fresh = _estimators()[2]
    with pytest.raises(ValueError):
        fresh.fit("abc")
    with pytest.raises(NotFittedError):                         # not a model of random weights
        fresh.score(TEXT[:50])


def test_classifier_labels_that_are_not_classes_are_refused():
    X = [np.array([1, 2, 3]), np.array([2, 3]), np.array([3, 1, 1]), np.array([1])]
    clf = SequenceClassifier(hidden_size=4, epochs=1, random_state=0)
    with pytest.raises(ValueError, match="continuous values"):
        clf.fit(X, np.linspace(0, 1, 4))
    with pytest.raises(ValueError, match="y holds NaN; give every example a label"):
        clf.fit(X, [0.0, 1.0, np.nan, 1.0])
    with pytest.raises(ValueError, match="y is None; pass the labels"):
        clf.fit(X, None)
    clf.fit(X, [0.0, 1.0, 0.0, 1.0])                             # whole floats are classes
    with pytest.raises(ValueError, match="X holds complex numbers"):
        SequenceClassifier(hidden_size=4, epochs=1).fit([np.ones((3, 2)) + 1j, np.ones((2, 2))], [0, 1])


@pytest.mark.parametrize("est,match", [
    (SequenceClassifier(clip=-1), "clip must be a finite number >= 0"),
    (SequenceClassifier(clip="x"), "clip must be a finite number >= 0"),
    (SequenceClassifier(clip=float("nan")), "clip must be a finite number >= 0"),
    (SequenceClassifier(bidirectional="no"), "bidirectional must be True or False"),
    (SequenceClassifier(hidden_size=None), "hidden_size must be a positive integer"),
])
def test_bad_hyperparameters_fail_at_fit_by_name(est, match):
    X = [np.array([1, 2, 3]), np.array([2, 3])]
    with pytest.raises(ValueError, match=match):
        est.set_params(epochs=1).fit(X, ["a", "b"])


def test_more_bad_hyperparameters_fail_at_fit_by_name():
    with pytest.raises(ValueError, match="exclude_ids must be a list of target ids"):
        Seq2Seq(exclude_ids=3, epochs=1).fit([np.array([1, 2])], [np.array([2, 1])])
    with pytest.raises(ValueError, match="hidden_size must be a positive integer"):
        OneToMany(hidden_size=None, epochs=1).fit(np.ones((2, 3)), [np.array([1, 2]), np.array([2])])
    with pytest.raises(ValueError, match="alpha must be a number in"):
        Forecaster(alpha=None, lookback=6, epochs=1).fit(SERIES)
    lm = _estimators()[2].set_params(val_fraction=np.float32(0.1))
    lm.fit(TEXT)                                                # a NumPy float is a number


def test_integer_labels_in_an_object_column_meet_string_labels():
    X = [np.array([1, 2, 3]), np.array([2, 3]), np.array([3, 1, 1]), np.array([1])]
    clf = SequenceClassifier(hidden_size=4, epochs=1, random_state=0).fit(X, np.array([0, 1, 0, 1], dtype=object))
    assert clf.classes_.dtype.kind == "i"                       # a pandas object column of ints
    assert clf.score(X, ["0", "1", "0", "1"]) == clf.score(X, [0, 1, 0, 1])


def test_labels_numpy_cannot_hold_as_numbers_still_work_and_missing_ones_are_named():
    X = [np.array([1, 2, 3]), np.array([2, 3]), np.array([3, 1, 1]), np.array([1])]
    clf = SequenceClassifier(hidden_size=4, epochs=1, random_state=0).fit(X, [2 ** 70, 1, 2 ** 70, 1])
    assert sorted(clf.classes_.tolist()) == [1, 2 ** 70]
    with pytest.raises(ValueError, match="holds a missing label"):
        SequenceClassifier(epochs=1).fit(X, ["a", np.nan, "b", "a"])


def test_clip_inf_means_no_clipping_and_bidirectional_takes_zero_or_one():
    X = [np.array([1, 2, 3]), np.array([2, 3])]
    SequenceClassifier(clip=float("inf"), bidirectional=1, hidden_size=4, epochs=1).fit(X, ["a", "b"])


@pytest.mark.parametrize("ex", [np.array([0, 1]), range(2), {0, 1}])
def test_exclude_ids_as_any_collection_of_ids_predicts_and_saves(ex, tmp_path):
    X = [np.array([1, 2, 3]), np.array([2, 3, 1])] * 3
    m = Seq2Seq(hidden_size=4, epochs=1, exclude_ids=ex, random_state=0).fit(X, [x[::-1] for x in X])
    m.predict(X[:2])
    assert Seq2Seq.load(m.save(tmp_path / "m.rnnkit")).exclude_ids == [0, 1]


def test_a_language_model_that_fails_after_training_keeps_what_it_trained(tmp_path, monkeypatch):
    from rnnkit.runs import RunDir

    def broken(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(RunDir, "plot_losses", broken)
    lm = _estimators()[2]
    with pytest.raises(OSError):
        lm.fit(TEXT, run=RunDir(tmp_path / "run"))
    assert lm.step_ == 3 and lm.step_ == LanguageModel.load(tmp_path / "run").step_   # memory and disk agree
