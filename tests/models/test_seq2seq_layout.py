"""Seq2Seq reads channels-first source panels as the classifier and the tagger do: ``layout="NCT"``
takes ``(N, C, T)`` sources as the same data time first; ``layout`` is a hyperparameter, saved, and a
file saved before it existed still loads."""
import warnings

import numpy as np

from rnnkit.models import Seq2Seq

from _old_files import saved_without

TINY = {"hidden_size": 8, "embedding_dim": 4, "epochs": 2, "batch_size": 4, "random_state": 0}


def signs(n=12, channels=3, steps=10, seed=0):
    """``(X (n, steps, channels), targets)``: the target ids are the signs of channel 0's first 4 steps."""
    X = np.random.default_rng(seed).normal(size=(n, steps, channels))
    return X, [(x[:4, 0] > 0).astype(int) for x in X]


def test_channels_first_sources_with_layout_nct_give_the_model_of_time_first_sources():
    X, y = signs()
    a = Seq2Seq(**TINY, layout="NTC").fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                               # an explicit layout: no warning
        b = Seq2Seq(**TINY, layout="NCT").fit(X.transpose(0, 2, 1), y)
        pred = b.predict(X.transpose(0, 2, 1))
    wa, wb = a.net_.state_dict(), b.net_.state_dict()
    for k in wa:
        np.testing.assert_array_equal(wa[k], wb[k], err_msg=k)
    for p, q in zip(pred, a.predict(X)):
        np.testing.assert_array_equal(p, q)


def test_layout_is_saved_and_a_file_from_before_it_still_loads(tmp_path):
    X, y = signs()
    est = Seq2Seq(**TINY, layout="NCT").fit(X.transpose(0, 2, 1), y)
    assert est.get_params()["layout"] == "NCT" and Seq2Seq().get_params()["layout"] is None
    back = Seq2Seq.load(est.save(tmp_path / "s.rnnkit"))
    assert back.layout == "NCT"
    old = Seq2Seq.load(saved_without(est, tmp_path / "old.rnnkit", "layout"))
    assert old.layout is None
    for p, q in zip(old.predict(X), est.predict(X.transpose(0, 2, 1))):
        np.testing.assert_array_equal(p, q)
