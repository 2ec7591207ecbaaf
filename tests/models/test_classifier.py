import numpy as np
import pytest

from rnnkit.data.batching import pad
from rnnkit.models import SequenceClassifier
from rnnkit.models.classifier import _PooledNet

from _gradcheck import check_estimator_grads
from _toy_sequences import fitted_pair, vectors


def token_task(n, seed):
    """Label 1 when token 3 occurs anywhere in a variable-length sequence."""
    rng = np.random.default_rng(seed)
    X = [rng.integers(0, 8, rng.integers(3, 12)) for _ in range(n)]
    return X, np.array([int(3 in s) for s in X])


def vector_task(n, seed):
    """Sign of the sum of feature 0 over a variable number of steps."""
    rng = np.random.default_rng(seed)
    X = [rng.normal(size=(rng.integers(4, 12), 3)) for _ in range(n)]
    return X, np.array(["pos" if s[:, 0].sum() > 0 else "neg" for s in X])


@pytest.mark.parametrize("pooling,bidirectional", [("last", False), ("last", True), ("mean", True), ("max", False)])
def test_learns_token_presence_with_each_pooling(pooling, bidirectional):
    X, y = token_task(300, 0)
    clf = SequenceClassifier(hidden_size=16, epochs=12, pooling=pooling, bidirectional=bidirectional, random_state=0)
    clf.fit(X[:200], y[:200])
    assert clf.score(X[200:], y[200:]) >= 0.9          # chance ~0.55
    assert clf.loss_curve_[-1] < clf.loss_curve_[0] / 3


def test_learns_from_real_valued_vectors_with_string_labels():
    X, y = vector_task(300, 1)
    clf = SequenceClassifier(hidden_size=16, epochs=15, pooling="mean", random_state=0).fit(X[:200], y[:200])
    assert list(clf.classes_) == ["neg", "pos"]
    assert clf.score(X[200:], y[200:]) >= 0.75
    proba = clf.predict_proba(X[200:])
    assert proba.shape == (100, 2) and np.allclose(proba.sum(1), 1)
    assert np.array_equal(clf.classes_[proba.argmax(1)], clf.predict(X[200:]))


def test_padded_array_with_lengths_equals_list_of_sequences():
    X, y = token_task(60, 2)
    clf = SequenceClassifier(hidden_size=8, epochs=2, random_state=0).fit(X, y)
    T = max(len(s) for s in X)
    padded = np.full((len(X), T), 7)
    for i, s in enumerate(X):
        padded[i, :len(s)] = s
    lengths = np.array([len(s) for s in X])
    np.testing.assert_allclose(clf.predict_proba(padded, lengths=lengths), clf.predict_proba(X), rtol=1e-6)


def test_same_random_state_gives_same_loss_curve():
    X, y = token_task(80, 3)
    a = SequenceClassifier(hidden_size=8, epochs=3, random_state=5).fit(X, y).loss_curve_
    b = SequenceClassifier(hidden_size=8, epochs=3, random_state=5).fit(X, y).loss_curve_
    assert a == b


@pytest.mark.parametrize("pooling,bidirectional,cell", [("last", True, "lstm"), ("mean", True, "gru"),
                                                        ("max", True, "rnn"), ("last", False, "gru")])
def test_pooling_backward_matches_central_differences(pooling, bidirectional, cell):
    X, y = token_task(6, 4)
    clf = SequenceClassifier(cell=cell, hidden_size=5, embedding_dim=4, num_layers=2, pooling=pooling,
                             bidirectional=bidirectional, clip=0, random_state=0)
    data = clf.prepare(X, y, learn=True)
    clf.net_ = _PooledNet(clf.spec_, 2, clf.get_params(), np.random.default_rng(0), dtype=np.float64)
    check_estimator_grads(clf, data, np.arange(6))


def test_save_and_load_give_the_same_predictions(tmp_path):
    X, y = vector_task(50, 5)
    clf = SequenceClassifier(hidden_size=8, epochs=2, random_state=0).fit(X, y)
    clf.save(tmp_path / "m.npz")
    again = SequenceClassifier.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))


def test_unknown_label_and_wrong_feature_count_are_refused():
    X, y = vector_task(30, 6)
    clf = SequenceClassifier(hidden_size=4, epochs=1, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="not seen in training"):
        clf.prepare(X, np.array(["maybe"] * 30))
    with pytest.raises(ValueError, match="trained on 3 features"):
        clf.predict([np.zeros((5, 4))])
    with pytest.raises(ValueError, match="not fitted"):                 # NotFittedError (also an AttributeError)
        SequenceClassifier().predict(X)


# -- the decision function, clear errors, the net's cache ----------------------------------------------------
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


@pytest.fixture(scope="module")
def fitted():
    return fitted_pair()


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


@pytest.mark.parametrize("lengths", [[3, 9], [0, 2], [1.5, 2]])
def test_padded_lengths_outside_the_array_are_refused(fitted, lengths):
    _, _, clf, _ = fitted
    with pytest.raises(ValueError, match=r"lengths must be whole numbers in \[1, 4\]"):
        clf.predict(np.zeros((2, 4, 2)), lengths=np.array(lengths))


@pytest.mark.parametrize("kind", ["tagger", "classifier"])
def test_the_estimators_nets_keep_their_training_pass_through_an_inference_pass(kind):
    from rnnkit.models import SequenceClassifier, SequenceTagger

    rng = np.random.default_rng(0)
    X = [rng.integers(0, 5, n) for n in (4, 6, 3)]
    if kind == "tagger":
        est = SequenceTagger(hidden_size=4, epochs=1, random_state=0).fit(X, [list(x % 2) for x in X])
    else:
        est = SequenceClassifier(hidden_size=4, epochs=1, pooling="max", random_state=0).fit(X, [0, 1, 0])
    net = est.net_
    x, n = pad(X, 0, np.int64)
    out = net(x, n)
    net.backward(np.ones_like(out))
    ref = {k: v.copy() for k, v in net.named_grads().items()}
    out = net(x, n)
    net(x[:2, :3], np.minimum(n[:2], 3), keep_cache=False)     # another batch, no cache
    net.backward(np.ones_like(out))
    for k, v in ref.items():
        np.testing.assert_array_equal(net.named_grads()[k], v, err_msg=k)
