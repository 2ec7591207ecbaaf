"""Panels as aeon and sktime hold them: (N, C, T) arrays, lists of (C, T_i), nested and
(instance, time)-indexed DataFrames, read with an explicit layout; a channels-first-looking
array gets a warning naming the fix, a channels-last one does not."""
import warnings

import numpy as np
import pytest

from rnnkit.data.panels import Sequences, looks_channels_first, to_sequences
from rnnkit.models._seqbase import read_X


def waves(n=12, channels=3, steps=40, seed=0):
    """``(n, steps, channels)``: smooth sines with random phase and frequency per channel."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)[None, :, None]
    f = rng.uniform(0.05, 0.2, (n, 1, channels))
    ph = rng.uniform(0, 2 * np.pi, (n, 1, channels))
    return np.sin(2 * np.pi * f * t + ph) + 0.02 * rng.normal(size=(n, steps, channels))


def test_nct_array_and_lists_of_ct_become_time_major_sequences():
    X = waves()                                                     # (N, T, C)
    seqs = to_sequences(X.transpose(0, 2, 1), layout="NCT")
    assert isinstance(seqs, Sequences) and len(seqs) == 12
    np.testing.assert_array_equal(seqs[3], X[3])
    ragged = [X[i, : 20 + i].T for i in range(5)]                  # (C, T_i), unequal T
    out = to_sequences(ragged, layout="NCT")
    assert [s.shape for s in out] == [(20 + i, 3) for i in range(5)]
    np.testing.assert_array_equal(to_sequences(X, layout="NTC")[0], X[0])


def test_nested_and_multiindex_dataframes_are_read_as_they_are():
    pd = pytest.importorskip("pandas")
    X = waves(n=4, channels=2, steps=10)
    nested = pd.DataFrame({f"dim_{c}": [pd.Series(X[i, :, c]) for i in range(4)] for c in range(2)})
    for layout in ("NTC", "NCT"):                                   # a frame carries its own layout
        np.testing.assert_array_equal(to_sequences(nested, layout=layout)[2], X[2])
    idx = pd.MultiIndex.from_product([range(4), range(10)], names=["instance", "time"])
    long = pd.DataFrame(X.reshape(40, 2), index=idx, columns=["a", "b"])
    np.testing.assert_array_equal(to_sequences(long)[1], X[1])
    np.testing.assert_array_equal(read_X(nested)[3], X[3])
    np.testing.assert_array_equal(read_X(long)[3], X[3])


def test_a_nested_row_with_channels_of_different_lengths_is_refused():
    pd = pytest.importorskip("pandas")
    nested = pd.DataFrame({"a": [pd.Series(np.zeros(5))], "b": [pd.Series(np.zeros(4))]})
    with pytest.raises(ValueError, match="row 0: its channels have different lengths"):
        to_sequences(nested)


def test_bad_layout_and_mixed_channel_counts_are_refused():
    with pytest.raises(ValueError, match="layout must be 'NTC'"):
        to_sequences(waves(), layout="TNC")
    with pytest.raises(ValueError, match="different numbers of channels"):
        to_sequences([np.zeros((5, 2)), np.zeros((5, 3))])
    with pytest.raises(ValueError, match="layout must be 'NTC'"):
        read_X(waves(), layout="CT")


def test_channels_first_array_looks_transposed_and_channels_last_does_not():
    X = waves(channels=3, steps=40)
    assert looks_channels_first(X.transpose(0, 2, 1))
    assert not looks_channels_first(X)
    word_vectors = np.random.default_rng(0).normal(size=(10, 20, 300))   # no order along either axis
    assert not looks_channels_first(word_vectors)
    ragged_ct = [X[i, : 20 + i].T for i in range(5)]
    assert looks_channels_first(ragged_ct)
    assert not looks_channels_first([s.T for s in ragged_ct])


def test_read_X_warns_about_a_channels_first_array_and_names_the_fix():
    X = waves().transpose(0, 2, 1)                                  # (N, 3, 40)
    with pytest.warns(UserWarning, match=r"looks channels-first .*to_sequences\(X, layout='NCT'\)"):
        read_X(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        seqs = read_X(X, layout="NCT")                              # explicit: no warning, time first
        assert seqs[0].shape == (40, 3)
        read_X(X, layout="NTC")
        read_X(to_sequences(X, layout="NCT"))
        read_X(waves())


def test_nct_padded_array_keeps_its_lengths():
    X = waves()
    seqs = read_X(X.transpose(0, 2, 1), lengths=np.full(12, 7), layout="NCT")
    assert all(s.shape == (7, 3) for s in seqs)
    np.testing.assert_array_equal(seqs[0], X[0, :7])


def test_classifier_reads_an_nct_panel_like_the_same_data_time_first():
    from rnnkit.models import SequenceClassifier

    X = waves(n=16)
    y = np.arange(16) % 2
    a = SequenceClassifier(hidden_size=4, epochs=2, random_state=0).fit(X, y)
    b = SequenceClassifier(hidden_size=4, epochs=2, random_state=0).fit(to_sequences(X.transpose(0, 2, 1), "NCT"), y)
    assert b.n_features_in_ == 3
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(to_sequences(X.transpose(0, 2, 1), "NCT")))
    with pytest.warns(UserWarning, match="looks channels-first"):
        SequenceClassifier(hidden_size=4, epochs=1).fit(X.transpose(0, 2, 1), y)


def test_detector_reads_a_channels_first_series_with_layout_ct_and_warns_without():
    from rnnkit.anomaly import AnomalyDetector

    t = np.arange(300)
    x = np.c_[np.sin(t / 5), np.cos(t / 7)] + 0.05 * np.random.default_rng(0).normal(size=(300, 2))
    a = AnomalyDetector(window=8, hidden_size=4, epochs=1).fit(x)
    b = AnomalyDetector(window=8, hidden_size=4, epochs=1).fit(x.T, layout="CT")
    np.testing.assert_array_equal(a.detect(x)["smoothed"], b.detect(x.T, layout="CT")["smoothed"])
    with pytest.warns(UserWarning, match=r"shape \(2, 300\) has fewer rows .* pass layout='CT'"):
        with pytest.raises(ValueError, match="fitted on 2 column"):
            a.score(x.T)


def test_classifier_fits_a_nested_dataframe_as_the_same_panel_time_first():
    pd = pytest.importorskip("pandas")
    from rnnkit.models import SequenceClassifier

    X = waves(n=10, channels=2, steps=12)
    y = np.arange(10) % 2
    nested = pd.DataFrame({f"dim_{c}": [pd.Series(X[i, :, c]) for i in range(10)] for c in range(2)})
    a = SequenceClassifier(hidden_size=4, epochs=2, random_state=0).fit(nested, y)
    b = SequenceClassifier(hidden_size=4, epochs=2, random_state=0).fit(X, y)
    np.testing.assert_allclose(a.predict_proba(nested), b.predict_proba(X))


def test_classifier_with_layout_nct_fits_aeons_panel_as_the_same_data_time_first():
    from rnnkit.models import SequenceClassifier

    X = waves(n=16)                                                # (N, T, C)
    y = np.arange(16) % 2
    a = SequenceClassifier(hidden_size=4, epochs=2, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                             # an explicit layout: no warning
        b = SequenceClassifier(hidden_size=4, epochs=2, random_state=0, layout="NCT").fit(X.transpose(0, 2, 1), y)
        proba = b.predict_proba(X.transpose(0, 2, 1))
    assert b.n_features_in_ == 3 and b.get_params()["layout"] == "NCT"
    np.testing.assert_array_equal(proba, a.predict_proba(X))
    with pytest.raises(ValueError, match="layout"):
        SequenceClassifier(layout="TNC").fit(X, y)
