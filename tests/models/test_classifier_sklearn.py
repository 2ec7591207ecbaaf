"""The classifier inside scikit-learn's tools (scikit-learn is in the test extra)."""
import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone, is_classifier  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer  # noqa: E402

from rnnkit.models import SequenceClassifier  # noqa: E402


def padded_task(n, seed):
    """(N, T, 2) noisy series; class 1 has feature 1 shifted up by 1.0 (Bayes accuracy ~94%)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, 10, 2))
    X[:, :, 1] += 1.0 * y[:, None]
    return X, y


def test_clone_copies_hyperparameters_not_learned_state():
    X, y = padded_task(40, 0)
    clf = SequenceClassifier(hidden_size=7, epochs=1, random_state=3).fit(X, y)
    twin = clone(clf)
    assert twin.get_params() == clf.get_params()
    assert not hasattr(twin, "net_")
    assert is_classifier(clf)


def test_cross_val_score_and_grid_search_run_and_learn():
    X, y = padded_task(150, 1)
    scores = cross_val_score(SequenceClassifier(hidden_size=12, epochs=10, pooling="mean", random_state=0), X, y, cv=3)
    assert scores.mean() > 0.8               # chance 0.5
    grid = GridSearchCV(SequenceClassifier(hidden_size=8, epochs=3, random_state=0),
                        {"pooling": ["last", "mean"]}, cv=2).fit(X, y)
    assert grid.best_params_["pooling"] in ("last", "mean")


def test_pipeline_with_a_preprocessing_step():
    X, y = padded_task(60, 2)
    pipe = Pipeline([("scale", FunctionTransformer(lambda a: a * 2.0)),
                     ("rnn", SequenceClassifier(hidden_size=8, epochs=3, random_state=0))]).fit(X, y)
    assert pipe.predict(X).shape == (60,)


def test_cross_val_score_on_a_list_of_variable_length_token_sequences():
    rng = np.random.default_rng(0)
    X = [rng.integers(0, 8, rng.integers(3, 12)) for _ in range(150)]
    y = np.array([int(3 in s) for s in X])             # does token 3 occur? chance ~0.6
    scores = cross_val_score(SequenceClassifier(hidden_size=16, epochs=8, random_state=0), X, y, cv=3)
    assert scores.min() > 0.85


# -- ROC AUC scoring -----------------------------------------------------------------------------------------
def test_cross_val_score_with_roc_auc():
    pytest.importorskip("sklearn")
    from sklearn.model_selection import cross_val_score

    rng = np.random.default_rng(0)
    X = rng.normal(size=(24, 4, 2))
    y = (X[:, 0, 0] > 0).astype(int)
    scores = cross_val_score(SequenceClassifier(hidden_size=4, epochs=2, random_state=0), X, y, cv=2,
                             scoring="roc_auc")
    assert scores.shape == (2,) and np.isfinite(scores).all()
