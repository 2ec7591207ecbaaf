"""scikit-learn's search over an rnnkit estimator on a local Dask cluster, through joblib.

rnnkit imports neither joblib's Dask backend nor Dask: the user picks the engine
with ``joblib.parallel_config(backend="dask")`` and the search's fits run on the
cluster's worker processes (loopback only here).
"""
import numpy as np
import pytest

pytest.importorskip("sklearn")
distributed = pytest.importorskip("distributed")
from joblib import parallel_config  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

from rnnkit.models import SequenceClassifier  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  host="127.0.0.1") as c, distributed.Client(c) as client:
        yield client


def _task(n=60, seed=4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, 8, 2)).astype(np.float32)
    X[:, :, 1] += y[:, None]
    return X, y


def _search(**fit_kw):
    X, y = _task()
    grid = GridSearchCV(SequenceClassifier(hidden_size=6, epochs=2, random_state=0),
                        {"pooling": ["last", "mean"], "hidden_size": [4, 6]}, cv=2, **fit_kw)
    return grid.fit(X, y)


def test_a_search_on_a_dask_cluster_gives_the_scores_of_one_process(cluster):
    alone = _search(n_jobs=1)
    with parallel_config(backend="dask"):
        spread = _search(n_jobs=-1)
    for key in ("split0_test_score", "split1_test_score"):
        np.testing.assert_array_equal(spread.cv_results_[key], alone.cv_results_[key])
    assert spread.best_params_ == alone.best_params_
    X, _ = _task()
    np.testing.assert_array_equal(spread.predict_proba(X), alone.predict_proba(X))
