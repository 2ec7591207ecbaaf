"""Every task model takes the training controls: constructor settings
(``early_stopping=``, ``lr_schedule=``, ``validation_fraction=``) and ``fit(callbacks=)``;
an early stop leaves the best weights in the model."""
import numpy as np
import pytest

from rnnkit.anomaly import AnomalyDetector
from rnnkit.callbacks import EarlyStopping, LambdaCallback, StepLR
from rnnkit.forecast import Forecaster
from rnnkit.models import OneToMany, Seq2Seq, SequenceClassifier, SequenceTagger
from rnnkit.models.language_model import LanguageModel


def vectors(n=48, seed=0):
    rng = np.random.default_rng(seed)
    X = [rng.normal(size=(int(rng.integers(3, 7)), 2)) for _ in range(n)]
    return X, rng


def series(n=260):
    t = np.arange(n)
    return np.sin(t / 6) + 0.2 * np.random.default_rng(0).normal(size=n)


SMALL = dict(hidden_size=6, random_state=0, lr=0.05)


def estimators():
    X, rng = vectors()
    labels = np.array([int(x[:, 0].sum() > 0) for x in X])
    tags = [(x[:, 0] > 0).astype(int) for x in X]
    V = rng.normal(size=(40, 3))
    outs = [np.array([1, 2]) if v[0] > 0 else np.array([3]) for v in V]
    return [(SequenceClassifier, X, labels), (SequenceTagger, X, tags), (Seq2Seq, X, tags), (OneToMany, V, outs)]


def unlearnable(cls, X, y):
    """Validation data whose targets the inputs do not predict: its loss soon rises."""
    if cls is OneToMany:
        return X[:12], [np.array([3]) if len(t) == 2 else np.array([1, 2]) for t in y[:12]]
    if cls is SequenceClassifier:
        return X[:12], 1 - y[:12]
    return X[:12], [1 - t for t in y[:12]]


@pytest.mark.parametrize("cls, X, y", estimators(), ids=lambda v: getattr(v, "__name__", ""))
def test_sequence_estimators_stop_early_and_keep_the_best_validation_weights(cls, X, y):
    es = EarlyStopping(patience=1)
    est = cls(epochs=60, **SMALL).fit(X, y, validation_data=unlearnable(cls, X, y), callbacks=[es])
    assert est.n_epochs_ < 60 and est.stop_reason_ == es.stop_reason and es.restored
    val = est._prepare_validation(unlearnable(cls, X, y))
    est.net_.eval()
    assert est._validation_loss(val) == pytest.approx(es.best, rel=1e-5)
    assert len(est.val_loss_curve_) == est.n_epochs_


@pytest.mark.parametrize("cls, X, y", estimators(), ids=lambda v: getattr(v, "__name__", ""))
def test_sequence_estimators_hold_out_validation_fraction_for_constructor_early_stopping(cls, X, y):
    est = cls(epochs=60, early_stopping=1, validation_fraction=0.25, lr_schedule="cosine", **SMALL).fit(X, y)
    assert est.val_loss_curve_ is not None and len(est.val_loss_curve_) == est.n_epochs_
    assert est.optimizer_.lr < 0.05                             # the cosine schedule lowered the rate
    assert est.get_params()["early_stopping"] == 1


def test_constructor_controls_survive_clone_and_saving(tmp_path):
    from sklearn.base import clone

    X, _ = vectors()
    y = np.array([int(x[:, 0].sum() > 0) for x in X])
    est = SequenceClassifier(epochs=3, early_stopping=2, lr_schedule="step", validation_fraction=0.2, **SMALL)
    assert clone(est).get_params() == est.get_params()
    est.fit(X, y)
    est.save(tmp_path / "m.rnnkit")
    back = SequenceClassifier.load(tmp_path / "m.rnnkit")
    assert (back.early_stopping, back.lr_schedule, back.validation_fraction) == (2, "step", 0.2)


def test_a_schedule_given_to_fit_sets_each_epochs_learning_rate():
    X, _ = vectors()
    y = np.array([int(x[:, 0].sum() > 0) for x in X])
    seen = []
    est = SequenceClassifier(epochs=4, **SMALL)
    est.fit(X, y, callbacks=[StepLR(1, 0.5), LambdaCallback(on_epoch_end=lambda e, m: seen.append(est.optimizer_.lr))])
    assert seen == pytest.approx([0.05, 0.025, 0.0125, 0.00625])


def test_too_little_data_to_hold_out_is_refused_in_one_line():
    X, _ = vectors(n=3)
    with pytest.raises(ValueError, match="validation_fraction"):
        SequenceClassifier(epochs=2, early_stopping=1, validation_fraction=0.1, **SMALL).fit(X, [0, 1, 0])


def test_forecaster_stops_early_on_its_last_windows_and_keeps_the_best_weights():
    y = series()
    es = EarlyStopping(patience=2)
    f = Forecaster(lookback=8, horizon=2, hidden_size=6, epochs=80, lr=0.05, interval="insample",
                   validation_fraction=0.2, lr_schedule="plateau")
    f.fit(y, callbacks=[es])
    assert f.n_epochs_ < 80 and es.restored and f.stop_reason_ == es.stop_reason
    assert len(f.val_loss_curve_) == f.n_epochs_ and min(f.val_loss_curve_) == pytest.approx(es.best)


def test_forecaster_without_controls_trains_as_before():
    y = series()
    a = Forecaster(lookback=8, horizon=2, hidden_size=6, epochs=3, interval="insample").fit(y)
    b = Forecaster(lookback=8, horizon=2, hidden_size=6, epochs=3, interval="insample").fit(y)
    assert a.val_loss_curve_ is None and a.stop_reason_ is None and a.loss_curve_ == b.loss_curve_


@pytest.mark.parametrize("kind", ["forecast", "reconstruction"])
def test_anomaly_detector_stops_early_on_the_held_out_tail(kind):
    d = AnomalyDetector(kind=kind, window=12, hidden_size=6, epochs=80, lr=0.05, early_stopping=2)
    d.fit(series())
    assert d.n_epochs_ < 80 and d.stop_reason_.startswith("early stopping at epoch")
    assert len(d.val_loss_curve_) == d.n_epochs_ and d.detect(series())["flags"].shape == (260,)


def test_language_model_stops_early_on_its_validations_every_eval_every_steps(tmp_path):
    from rnnkit.runs import RunDir

    text = "".join(np.random.default_rng(0).choice(list("abcd "), 5000))
    es = EarlyStopping(patience=2)
    m = LanguageModel(level="char", hidden_size=12, num_layers=1, embedding_dim=4, seq_len=16, batch_size=4,
                      steps=400, eval_every=10, lr=0.05, random_state=0, lr_schedule="cosine")
    run = RunDir(tmp_path / "run")
    m.fit(text, run=run, callbacks=[es])
    assert m.step_ < 400 and es.restored and m.stop_reason_ == es.stop_reason and es.best_at.startswith("step ")
    _, val = m.split(text)
    assert m._nats(val[: m.val_tokens + 1]) == pytest.approx(es.best, rel=1e-5)
    lines = run.read_metrics()
    assert lines[-1]["stop"] == es.stop_reason and lines[-1]["step"] == m.step_
    lrs = [ln["lr"] for ln in lines if "lr" in ln]
    assert lrs[0] == pytest.approx(0.05) and all(b < a for a, b in zip(lrs[1:], lrs[2:]))


def test_language_model_refuses_early_stopping_without_validation():
    m = LanguageModel(level="char", hidden_size=8, num_layers=1, seq_len=8, batch_size=2, steps=5,
                      validation_fraction=0.0, early_stopping=2)
    with pytest.raises(ValueError, match="validation"):
        m.fit("abcdefgh " * 40)
