"""The tagger reads aeon/sktime panels as the classifier does: ``layout="NCT"`` takes a
channels-first array (or lists of ``(C, T_i)``) as the same data time first, ``layout`` is a
hyperparameter (``get_params``, ``clone``, saved), and a file saved before it existed still loads."""
import warnings

import numpy as np
import pytest

from rnnkit.models import SequenceTagger

from _old_files import saved_without

TINY = {"hidden_size": 4, "epochs": 2, "batch_size": 4, "random_state": 0}


def waves(n=12, channels=3, steps=30, seed=0):
    """``(X (n, steps, channels), tags)``: smooth sines; a step's tag is the sign of channel 0."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)[None, :, None]
    f = rng.uniform(0.05, 0.2, (n, 1, channels))
    ph = rng.uniform(0, 2 * np.pi, (n, 1, channels))
    X = np.sin(2 * np.pi * f * t + ph) + 0.02 * rng.normal(size=(n, steps, channels))
    return X, [np.where(x[:, 0] > 0, "up", "down") for x in X]


def same_model(a, b):
    wa, wb = a.net_.state_dict(), b.net_.state_dict()
    assert wa.keys() == wb.keys()
    for k in wa:
        np.testing.assert_array_equal(wa[k], wb[k], err_msg=k)
    np.testing.assert_array_equal(a.loss_curve_, b.loss_curve_)


def test_a_channels_first_array_with_layout_nct_gives_the_model_of_the_time_first_array():
    X, y = waves()                                                   # (N, T, C)
    a = SequenceTagger(**TINY, layout="NTC").fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                               # an explicit layout: no warning
        b = SequenceTagger(**TINY, layout="NCT").fit(X.transpose(0, 2, 1), y)
        pred = b.predict(X.transpose(0, 2, 1))
    assert b.n_features_in_ == 3
    same_model(a, b)
    for p, q in zip(pred, a.predict(X)):
        np.testing.assert_array_equal(p, q)
    assert b.score(X.transpose(0, 2, 1), y) == a.score(X, y)
    assert b.f1_score(X.transpose(0, 2, 1), y) == a.f1_score(X, y)


def test_ragged_lists_of_channels_first_sequences_and_padded_arrays_with_lengths():
    X, y = waves()
    lengths = np.arange(18, 30)                                      # (N,), one per sequence
    ragged = [X[i, :n] for i, n in enumerate(lengths)]               # (T_i, C)
    tags = [t[:n] for t, n in zip(y, lengths)]
    a = SequenceTagger(**TINY).fit(ragged, tags)
    b = SequenceTagger(**TINY, layout="NCT").fit([s.T for s in ragged], tags)     # (C, T_i)
    c = SequenceTagger(**TINY, layout="NCT").fit(X.transpose(0, 2, 1), tags, lengths=lengths)
    same_model(a, b)
    same_model(a, c)
    pred = c.predict(X.transpose(0, 2, 1), lengths=lengths)
    assert [len(p) for p in pred] == lengths.tolist()
    for p, q in zip(pred, a.predict(ragged)):
        np.testing.assert_array_equal(p, q)


def test_validation_data_is_read_in_the_same_layout():
    X, y = waves(n=16)
    a = SequenceTagger(**TINY).fit(X[:12], y[:12], validation_data=(X[12:], y[12:]))
    b = SequenceTagger(**TINY, layout="NCT").fit(X[:12].transpose(0, 2, 1), y[:12],
                                                 validation_data=(X[12:].transpose(0, 2, 1), y[12:]))
    assert b.val_loss_curve_ == a.val_loss_curve_ and len(b.val_loss_curve_) == 2


def test_layout_is_a_hyperparameter_cloned_and_saved(tmp_path):
    clone = pytest.importorskip("sklearn.base").clone
    X, y = waves()
    est = SequenceTagger(**TINY, layout="NCT")
    assert est.get_params()["layout"] == "NCT" and "layout='NCT'" in repr(est)
    twin = clone(est)
    assert twin.get_params() == est.get_params()
    assert SequenceTagger().get_params()["layout"] is None
    assert est.set_params(layout="NTC").layout == "NTC"
    est.set_params(layout="NCT").fit(X.transpose(0, 2, 1), y)
    back = SequenceTagger.load(est.save(tmp_path / "t.rnnkit"))
    assert back.layout == "NCT"
    for p, q in zip(back.predict(X.transpose(0, 2, 1)), est.predict(X.transpose(0, 2, 1))):
        np.testing.assert_array_equal(p, q)


def test_a_tagger_saved_before_layout_existed_still_loads(tmp_path):
    X, y = waves()
    est = SequenceTagger(**TINY).fit(X, y)
    old = SequenceTagger.load(saved_without(est, tmp_path / "old.rnnkit", "layout"))
    assert old.layout is None
    for p, q in zip(old.predict(X), est.predict(X)):
        np.testing.assert_array_equal(p, q)


def test_a_bad_layout_is_refused_and_a_channels_first_looking_array_warns():
    X, y = waves()
    with pytest.raises(ValueError, match="layout must be 'NTC'"):
        SequenceTagger(**TINY, layout="TNC").fit(X, y)
    with pytest.warns(UserWarning, match="looks channels-first"):
        SequenceTagger(**{**TINY, "epochs": 1}).fit(X.transpose(0, 2, 1), [t[:3] for t in y])
