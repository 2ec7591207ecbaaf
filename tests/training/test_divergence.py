"""Divergence: the one training loop stops a run whose loss or gradient is not
finite, or whose loss explodes far above its start, with one error naming the
cause and the fix; the model keeps the weights of its last good step, no
checkpoint is written from diverged weights, and files holding non-finite
weights are refused."""
import json
import os
import warnings

import numpy as np
import pytest

from _faults import (ANOMALY, EST_TINY, FORECAST, LM_TINY, TEXT, ok, one_error, poison, write_classify_csv,
                     write_series, write_text)
from rnnkit.io.files import ModelFileError, read_file, write_file
from rnnkit.layers import Dense
from rnnkit.losses import mse
from rnnkit.optim import SGD
from rnnkit.training import EXPLODE, DivergenceError, Trainer


def scripted(losses, grads=None):
    """A Dense layer and a train step whose loss at step ``i`` is ``losses[i]``
    (its gradient the real one, or ``grads[i]`` where given)."""
    layer = Dense(3, 1, dtype=np.float64, seed=0)
    rng = np.random.default_rng(0)
    calls = []

    def train_step(batch, state):
        i = len(calls)
        calls.append(i)
        x, y = rng.normal(size=(4, 3)), rng.normal(size=(4, 1))
        _, g = mse(layer(x), y)
        layer.backward(g)
        if grads is not None and grads.get(i) is not None:
            layer.grads["weight"][...] = grads[i]
        return losses[i], None

    return layer, train_step


def trainer_for(layer, step, **kw):
    return Trainer(step, layer.named_grads, SGD(layer.named_parameters(), lr=0.1), **kw)


def weights(layer):
    return {k: v.copy() for k, v in layer.params.items()}


def test_a_nan_loss_stops_training_with_the_weights_from_before_the_update_that_made_it():
    layer, step = scripted([1.0, 0.9, float("nan"), 0.5])
    seen = []
    trainer = trainer_for(layer, step)

    class Watch:
        def on_step_end(self, s, metrics):
            seen.append(weights(layer))

    trainer.callbacks.append(Watch())
    with pytest.raises(DivergenceError) as err:
        trainer.fit(lambda epoch: range(4))
    assert err.value.step == 3 and err.value.weights_step == 1 and "loss is nan" in err.value.cause
    msg = str(err.value)
    assert "\n" not in msg and "--lr" in msg and "--clip 1" in msg and "step 1" in msg
    for k, v in seen[0].items():                    # the update of step 2 made the weights that diverged
        np.testing.assert_array_equal(layer.params[k], v)
    assert trainer.optimizer.steps == 1 and trainer.step == 2


def test_a_non_finite_gradient_norm_stops_before_its_update():
    layer, step = scripted([1.0, 0.9, 0.8], grads={1: np.full((1, 3), np.inf)})
    trainer = trainer_for(layer, step, clip_norm=1.0)
    with pytest.raises(DivergenceError, match="gradient norm is inf") as err:
        trainer.fit(lambda epoch: range(3))
    assert err.value.step == 2 and np.isfinite(layer.params["weight"]).all()
    assert "clip harder (now 1" in str(err.value)


def test_an_update_that_would_write_a_non_finite_weight_is_undone():
    layer, step = scripted([1.0, 0.9], grads={0: np.full((1, 3), 1e10)})
    before = weights(layer)
    trainer = Trainer(step, layer.named_grads, SGD(layer.named_parameters(), lr=1e300))
    with pytest.raises(DivergenceError, match="the update made 'weight' non-finite") as err:
        trainer.fit(lambda epoch: range(2))
    assert err.value.weights_step == 0 and trainer.optimizer.steps == 0
    for k, v in before.items():
        np.testing.assert_array_equal(layer.params[k], v)


def test_a_loss_a_hundred_times_its_start_is_divergence_and_a_tenfold_spike_is_not():
    calm = [2.0, 1.5, 20.0, 1.2, 150.0, 1.0]                # spikes of 10x and 75x its start: noise
    layer, step = scripted(calm)
    assert len(trainer_for(layer, step).fit(lambda epoch: range(len(calm))).losses) == len(calm)
    layer, step = scripted([2.0, 1.5, 1.2, 2.0 * EXPLODE + 1, 1.0])
    with pytest.raises(DivergenceError, match=r"the loss rose to 201, over 100 times its start \(2\)"):
        trainer_for(layer, step).fit(lambda epoch: range(5))


def test_the_reference_is_a_resumed_runs_start_not_its_first_loss_here():
    # a resumed run whose loss is already small: a batch 20x above it is noise, not divergence
    layer, step = scripted([0.01, 0.2, 0.01])
    assert len(trainer_for(layer, step, start_loss=3.0).fit(lambda epoch: range(3)).losses) == 3
    layer, step = scripted([0.01, 2.0, 0.01])
    with pytest.raises(DivergenceError):
        trainer_for(layer, step).fit(lambda epoch: range(3))


def test_stop_mode_ends_training_quietly_and_keeps_the_error():
    layer, step = scripted([1.0, float("inf"), 0.5])
    trainer = trainer_for(layer, step, divergence="stop").fit(lambda epoch: range(3))
    assert trainer.losses == [1.0] and isinstance(trainer.diverged, DivergenceError)
    assert "loss is inf" in trainer.diverged.cause


def test_a_diverging_step_prints_no_numpy_warnings():
    from rnnkit.models.language_model import LanguageModel

    with warnings.catch_warnings():
        warnings.simplefilter("error")                     # an overflow warning would fail the test
        with pytest.raises(DivergenceError):
            LanguageModel(level="char", hidden_size=8, num_layers=1, embedding_dim=4, seq_len=8, batch_size=2,
                          steps=5, lr=1e20, random_state=0).fit(TEXT)


# -- models from Python ---------------------------------------------------------------------------------
def test_language_model_fit_raises_and_keeps_its_initial_weights():
    from rnnkit.models.language_model import LanguageModel

    kw = dict(level="char", hidden_size=8, num_layers=1, embedding_dim=4, seq_len=8, batch_size=2, steps=5,
              random_state=0)
    lm = LanguageModel(lr=1000, **kw)
    with pytest.raises(DivergenceError, match="the loss rose to") as err:
        lm.fit(TEXT)
    assert err.value.weights_step == 0 and lm.step_ == 0 and lm.history_ == []
    twin = LanguageModel(lr=1000, **kw)
    twin._build(TEXT)
    for k, v in twin.net_.state_dict().items():
        np.testing.assert_array_equal(lm.net_.state_dict()[k], v)
    assert np.isfinite(lm.evaluate(TEXT[:200])["nats_per_token"])


def test_estimators_raise_and_stay_as_they_were():
    from rnnkit.anomaly import AnomalyDetector
    from rnnkit.forecast import Forecaster
    from rnnkit.models import SequenceClassifier

    rng = np.random.default_rng(0)
    X = [rng.integers(0, 4, size=rng.integers(2, 8)) for _ in range(40)]
    y = [int(s[0] == 0) for s in X]
    clf = SequenceClassifier(hidden_size=4, epochs=1, batch_size=8).fit(X, y)
    before = {k: v.copy() for k, v in clf.net_.state_dict().items()}
    with pytest.raises(DivergenceError, match="loss is nan"):
        clf.set_params(lr=1e30, clip=0).fit(X, y)
    for k, v in before.items():
        np.testing.assert_array_equal(clf.net_.state_dict()[k], v)
    s = np.sin(np.arange(120) / 5)
    for est in (Forecaster(lookback=8, hidden_size=4, epochs=2, lr=1000, interval="insample"),
                AnomalyDetector(window=8, hidden_size=4, epochs=2, lr=1e30)):
        with pytest.raises(DivergenceError):
            est.fit(s)
        assert not hasattr(est, "rnn_")                  # not half-fitted: unfitted, as before the call


# -- the command line -----------------------------------------------------------------------------------

@pytest.mark.parametrize("lr", ["1000", "1e20"])
def test_lm_train_with_a_huge_learning_rate_stops_with_one_line_and_writes_no_diverged_checkpoint(tmp_path, lr):
    data = write_text(tmp_path / "t.txt")
    line = one_error(["lm", "train", "--data", data, *LM_TINY, "--steps", "20", "--lr", lr,
                      "--checkpoint-every", "1", "--out", tmp_path / "run"])
    assert "training diverged at step 2" in line and "--lr" in line and "--clip" in line
    assert not (tmp_path / "run" / "checkpoint.npz").exists()    # step 1's weights diverged: never saved


def test_estimator_commands_with_a_huge_learning_rate_stop_with_one_line(tmp_path):
    csv, series = write_classify_csv(tmp_path / "c.csv"), write_series(tmp_path / "s.csv")
    line = one_error(["classify", "train", "--data", csv, *EST_TINY, "--epochs", "3", "--lr", "1e30", "--clip", "0",
                      "--out", tmp_path / "c"])
    assert "training diverged at step 2" in line and "turn on gradient clipping" in line
    assert not (tmp_path / "c" / "checkpoint.npz").exists()
    line = one_error([*FORECAST, "--data", series, "--target", "y", "--lookback", "8", "--hidden", "4",
                      "--epochs", "3", "--lr", "1000", "--out", tmp_path / "f"])
    assert "over 100 times its start" in line and not (tmp_path / "f" / "model.rnnkit").exists()
    line = one_error([*ANOMALY, "--data", series, "--columns", "y", "--window", "8", "--hidden", "4",
                      "--epochs", "3",
                      "--lr", "1e30", "--clip", "0.5", "--out", tmp_path / "a"])
    assert "diverged" in line and "now 0.5" in line and not (tmp_path / "a" / "model.rnnkit").exists()


def test_a_run_diverging_later_keeps_its_last_good_checkpoint_and_resumes_from_it(tmp_path, monkeypatch):
    import rnnkit.models.language_model as lm_module

    data = write_text(tmp_path / "t.txt")
    args = ["lm", "train", "--data", data, *LM_TINY, "--steps", "10", "--eval-every", "0", "--checkpoint-every", "2"]
    ok([*args, "--out", tmp_path / "full"])
    real, calls = lm_module.softmax_cross_entropy, []

    def nan_at_step_7(logits, targets, **kw):
        calls.append(1)
        loss, d = real(logits, targets, **kw)
        return (float("nan"), d) if len(calls) == 7 else (loss, d)

    monkeypatch.setattr(lm_module, "softmax_cross_entropy", nan_at_step_7)
    line = one_error([*args, "--out", tmp_path / "run"])
    assert "diverged at step 7" in line and "weights of step 5" in line
    header, arrays = read_file(tmp_path / "run" / "checkpoint.npz")
    assert header["meta"]["step"] == 4                    # step 6's checkpoint waited for step 7's check
    assert all(np.isfinite(a).all() for a in arrays.values() if a.dtype.kind == "f")
    monkeypatch.undo()
    ok(["lm", "sample", tmp_path / "run", "--length", "5"])
    ok(["lm", "train", "--resume", "--quiet", "--out", tmp_path / "run"])
    full = read_file(tmp_path / "full" / "checkpoint.npz")[1]
    resumed = read_file(tmp_path / "run" / "checkpoint.npz")[1]
    for k in full:                                          # the resumed run is the uninterrupted one
        np.testing.assert_array_equal(full[k], resumed[k], err_msg=k)


# -- files with non-finite weights ----------------------------------------------------------------------
def test_writing_non_finite_weights_is_refused_and_keeps_the_earlier_file(tmp_path):
    p = tmp_path / "m.npz"
    write_file(p, "layer", {}, {"w": np.ones(3)})
    with pytest.raises(ValueError, match=r"'w' holds NaN or infinite values .* the earlier file is kept"):
        write_file(p, "layer", {}, {"w": np.array([1.0, np.inf, 0.0])})
    np.testing.assert_array_equal(read_file(p)[1]["w"], np.ones(3))


def test_predict_eval_and_load_refuse_a_checkpoint_with_nan_weights(tmp_path):
    from rnnkit.models import SequenceClassifier

    csv = write_classify_csv(tmp_path / "c.csv")
    ok(["classify", "train", "--data", csv, *EST_TINY, "--epochs", "1", "--out", tmp_path / "run"])
    key = poison(tmp_path / "run" / "checkpoint.npz")
    for action in ("predict", "eval"):
        line = one_error(["classify", action, tmp_path / "run", "--data", csv])
        assert "checkpoint.npz" in line and repr(key) in line and "NaN or infinite" in line
    est_file = tmp_path / "clf.rnnkit"
    clf = SequenceClassifier(hidden_size=4, epochs=1).fit([np.array([1, 2]), np.array([2, 1])], [0, 1])
    clf.save(est_file)
    poison(est_file)
    with pytest.raises(ModelFileError, match="NaN or infinite values"):
        SequenceClassifier.load(est_file)


def test_lm_sample_eval_and_resume_refuse_a_checkpoint_with_nan_weights(tmp_path):
    data = write_text(tmp_path / "t.txt")
    ok(["lm", "train", "--data", data, *LM_TINY, "--steps", "3", "--out", tmp_path / "run"])
    poison(tmp_path / "run" / "checkpoint.npz")
    for argv in (["lm", "sample", tmp_path / "run"], ["lm", "eval", tmp_path / "run", "--data", data],
                 ["lm", "train", "--resume", "--steps", "5", "--quiet", "--out", tmp_path / "run"]):
        assert "NaN or infinite" in one_error(argv)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["model"]["steps"] == 3
    assert os.path.exists(tmp_path / "run" / "checkpoint.npz")
