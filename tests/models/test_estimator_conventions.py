"""scikit-learn's conventions for every estimator, where the sequence models had
them and the forecaster, detector and language model did not; and hyperparameters
and labels that failed late or silently."""
import numpy as np
import pytest

from rnnkit.anomaly import AnomalyDetector
from rnnkit.forecast import Forecaster
from rnnkit.models import OneToMany, Seq2Seq, SequenceClassifier, SequenceTagger
from rnnkit.models.language_model import LanguageModel
from rnnkit.models.decoder import SHIFT

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.utils.validation import check_is_fitted  # noqa: E402
from _toy_sequences import vectors

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


# -- labels --------------------------------------------------------------------------------------------------
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


def test_two_dimensional_y_is_refused_by_the_classifier():
    X, _ = vectors(4)
    with pytest.raises(ValueError, match="one label per sequence"):
        SequenceClassifier(hidden_size=4, epochs=1).fit(X, np.zeros((4, 2), int))


# -- the scikit-learn protocol: set_params, refits, saving, unfitted use -------------------------------------
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


TINY_F = dict(lookback=6, horizon=2, hidden_size=4, epochs=2, random_state=0)
TINY_A = dict(window=8, hidden_size=4, epochs=1, random_state=0)


def _wave(n=120, seed=0):
    t = np.arange(n)
    return np.sin(2 * np.pi * t / 12) + 0.05 * np.random.default_rng(seed).standard_normal(n)


def test_estimators_clone_and_refuse_bool_sizes():
    from sklearn.base import clone

    for est in (Forecaster(**TINY_F), AnomalyDetector(**TINY_A)):
        twin = clone(est.set_params(hidden_size=5))
        assert twin.get_params() == est.get_params() and twin is not est
        with pytest.raises(ValueError, match="has no parameter 'hiden_size'"):
            est.set_params(hiden_size=5)
    with pytest.raises(ValueError, match="lookback must be an integer >= 1, got True"):
        Forecaster(lookback=True, horizon=1, epochs=1).fit(_wave())
    with pytest.raises(ValueError, match="must hold numbers"):
        Forecaster(**TINY_F).fit(["a", "b", "c"])


# -- seq2seq special tokens ----------------------------------------------------------------------------------
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
