import numpy as np
import pytest

from rnnkit.models import SequenceTagger, bio_f1
from rnnkit.models.tagger import _TaggerNet, bio_spans, token_accuracy

from _gradcheck import check_estimator_grads
from _toy_sequences import fitted_pair


# -- entity spans and F1 on hand-made cases ------------------------------------------------------------
def test_bio_spans_of_a_hand_made_sentence():
    tags = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "O", "I-ORG", "I-ORG", "I-PER"]
    assert bio_spans(tags) == {("PER", 0, 2), ("LOC", 3, 4), ("LOC", 4, 6), ("ORG", 7, 9), ("PER", 9, 10)}


def test_bio_spans_entity_at_the_end_and_empty():
    assert bio_spans(["O", "B-X", "I-X"]) == {("X", 1, 3)}
    assert bio_spans(["O", "O"]) == set()


def test_bio_f1_counts_only_exact_spans():
    true = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG"]]
    pred = [["B-PER", "O", "O", "B-LOC"], ["O", "B-ORG"]]
    # true spans: PER(0,2) LOC(3,4) ORG(1,2) = 3; predicted: PER(0,1) LOC ORG = 3; correct: LOC, ORG = 2
    f = bio_f1(true, pred)
    assert (f["true"], f["pred"], f["correct"]) == (3, 3, 2)
    assert f["precision"] == pytest.approx(2 / 3) and f["recall"] == pytest.approx(2 / 3)
    assert f["f1"] == pytest.approx(2 / 3)


def test_bio_f1_wrong_type_is_a_miss_and_no_predictions_give_zero():
    f = bio_f1([["B-PER", "I-PER"]], [["B-LOC", "I-LOC"]])
    assert (f["correct"], f["f1"]) == (0, 0.0)
    f = bio_f1([["B-PER", "O"]], [["O", "O"]])
    assert (f["precision"], f["recall"], f["f1"]) == (0.0, 0.0, 0.0)
    f = bio_f1([["B-A", "O", "B-B", "I-B"]], [["B-A", "O", "B-B", "I-B"]])
    assert f["f1"] == 1.0


# -- learning --------------------------------------------------------------------------------------------
def lookahead_task(n, seed):
    """Token ids 2..9; a token is an entity (B-E, I-E for a following token in
    the same run) when the *next* token is the marker 1, so the tag depends on
    the right-hand context."""
    rng = np.random.default_rng(seed)
    X, Y = [], []
    for _ in range(n):
        s = rng.integers(2, 10, rng.integers(4, 12))
        s[rng.random(len(s)) < 0.25] = 1
        tags = ["O"] * len(s)
        for i in range(len(s) - 1):
            if s[i] != 1 and s[i + 1] == 1:
                tags[i] = "I-E" if i > 0 and tags[i - 1] != "O" else "B-E"
        X.append(s)
        Y.append(tags)
    return X, Y


def test_bidirectional_tagger_learns_tags_that_depend_on_the_next_token():
    X, Y = lookahead_task(300, 0)
    tagger = SequenceTagger(hidden_size=16, epochs=12, random_state=0).fit(X[:200], Y[:200])
    acc = tagger.score(X[200:], Y[200:])
    majority = token_accuracy(Y[200:], [["O"] * len(t) for t in Y[200:]])
    assert acc > 0.97 and acc > majority + 0.1
    assert tagger.f1_score(X[200:], Y[200:]) > 0.9
    pred = tagger.predict(X[200:203])
    assert [len(p) for p in pred] == [len(x) for x in X[200:203]]


def test_unidirectional_tagger_cannot_see_the_next_token():
    X, Y = lookahead_task(300, 0)
    uni = SequenceTagger(hidden_size=16, epochs=12, bidirectional=False, random_state=0).fit(X[:200], Y[:200])
    assert uni.f1_score(X[200:], Y[200:]) < 0.6


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_masked_loss_backward_matches_central_differences(cell):
    X, Y = lookahead_task(5, 1)
    tagger = SequenceTagger(cell=cell, hidden_size=4, embedding_dim=3, clip=0, random_state=0)
    data = tagger.prepare(X, Y, learn=True)
    tagger.net_ = _TaggerNet(tagger.spec_, len(tagger.classes_), tagger.get_params(), np.random.default_rng(0),
                             dtype=np.float64)
    check_estimator_grads(tagger, data, np.arange(5))


def test_labels_must_align_with_steps():
    with pytest.raises(ValueError, match="one label per step"):
        SequenceTagger(epochs=1).fit([np.array([1, 2, 3])], [["O", "O"]])


# -- scores of mismatched lengths ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted():
    return fitted_pair()


def test_tagger_score_with_mismatched_lengths_is_refused(fitted):
    X, _, _, tagger = fitted
    short = [np.zeros(len(x) - 1, int) for x in X]
    with pytest.raises(ValueError, match="as long as its true one"):
        tagger.score(X, short)
    with pytest.raises(ValueError, match="true tag sequences but"):
        tagger.score(X, [np.zeros(len(x), int) for x in X][:-1])


def test_bio_f1_with_lists_of_different_lengths_is_refused():
    with pytest.raises(ValueError, match="2 true tag sequences but 1 predicted"):
        bio_f1([["B-X"], ["O"]], [["B-X"]])
