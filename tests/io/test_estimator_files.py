"""Estimator files (rnnkit.io.estimators): one writer and reader for every estimator, the layouts as before."""
import numpy as np
import pytest

from rnnkit.anomaly import AnomalyDetector
from rnnkit.forecast import Forecaster
from rnnkit.io import ModelFileError, read_file
from rnnkit.models import SequenceClassifier, SequenceTagger


def fitted(rng):
    series = np.sin(np.arange(60) / 4.0) + 0.01 * rng.normal(size=60)
    X = [rng.normal(size=(n, 2)) for n in (3, 5, 4, 6)]
    return {
        "sequence-estimator": SequenceClassifier(hidden_size=3, epochs=1, random_state=0).fit(X, [0, 1, 0, 1]),
        "forecaster": Forecaster(lookback=4, horizon=2, hidden_size=3, epochs=1, interval="insample").fit(series),
        "anomaly-detector": AnomalyDetector(window=5, hidden_size=3, epochs=1).fit(series),
    }


def test_each_estimator_keeps_its_file_kind_and_array_names(tmp_path, rng):
    names = {"sequence-estimator": {"encoder.rnn.weight_ih_l0", "head.weight"},
             "forecaster": {"rnn.weight_ih_l0", "head.weight", "target.shift", "residual_quantiles", "loss_curve"},
             "anomaly-detector": {"rnn.weight_ih_l0", "head.weight", "scaler.shift", "train_tail", "loss_curve"}}
    for kind, est in fitted(rng).items():
        path = est.save(tmp_path / f"{kind}.rnnkit", meta={"columns": ["y"]})
        header, arrays = read_file(path)
        assert header["kind"] == kind and names[kind] <= set(arrays)
        assert header["meta"] == {"columns": ["y"]}
        back = type(est).load(path)
        for k, v in est._file_contents()[1].items():
            np.testing.assert_array_equal(back._file_contents()[1][k], v)


def test_a_file_of_another_estimator_is_refused_naming_the_file(tmp_path, rng):
    path = fitted(rng)["sequence-estimator"].save(tmp_path / "clf.rnnkit")
    with pytest.raises(ModelFileError, match=r"clf.rnnkit: .*the saved model is a SequenceClassifier, not a "
                                             "SequenceTagger"):
        SequenceTagger.load(path)
    with pytest.raises(ModelFileError, match="clf.rnnkit: holds a 'sequence-estimator', not a 'forecaster'"):
        Forecaster.load(path)
