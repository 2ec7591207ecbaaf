"""Small variable-length vector sequences and a classifier and tagger fitted on
them, shared by the sequence-estimator tests."""
import numpy as np

from rnnkit.models import SequenceClassifier, SequenceTagger


def vectors(n=12, seed=0, D=2):
    """``n`` sequences of 3-5 steps of ``D`` features and a 0/1 label each (both classes present)."""
    rng = np.random.default_rng(seed)
    X = [rng.normal(size=(int(rng.integers(3, 6)), D)) for _ in range(n)]
    y = np.array([int(x[0, 0] > 0) for x in X])
    y[:2] = [0, 1]
    return X, y


def fitted_pair():
    """``(X, y, classifier, tagger)``, both fitted for one epoch on :func:`vectors`."""
    X, y = vectors()
    clf = SequenceClassifier(hidden_size=4, epochs=1, random_state=0).fit(X, y)
    tagger = SequenceTagger(hidden_size=4, epochs=1, random_state=0).fit(X, [(x[:, 0] > 0).astype(int) for x in X])
    return X, y, clf, tagger
