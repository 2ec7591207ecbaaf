"""The training controls (rnnkit.callbacks) on the one training loop: schedules
against PyTorch's, early stopping's patience and restored weights, stopping hooks."""
import math

import numpy as np
import pytest

from rnnkit.callbacks import (CosineAnnealingLR, EarlyStopping, LambdaCallback, LogStop, MetricsLog,
                              ReduceLROnPlateau, StepLR, Validation, training_controls)
from rnnkit.layers import Dense
from rnnkit.losses import mse
from rnnkit.optim import SGD, Adam
from rnnkit.training import Trainer

torch = pytest.importorskip("torch")


def regression(seed=0, n=64):
    """A Dense layer, its train step, a batches function, and a held-out loss."""
    rng = np.random.default_rng(seed)
    X, Xv = rng.normal(size=(n, 3)), rng.normal(size=(16, 3))
    w = rng.normal(size=(3, 1))
    Y, Yv = X @ w + 0.1 * rng.normal(size=(n, 1)), Xv @ w
    layer = Dense(3, 1, dtype=np.float64, seed=seed)

    def step(batch, state):
        loss, g = mse(layer(X[batch]), Y[batch])
        layer.backward(g)
        return loss, None

    def batches(epoch):
        return [np.arange(a, a + 16) for a in range(0, n, 16)]

    return layer, step, batches, lambda: mse(layer(Xv, keep_cache=False), Yv)[0]


def lrs_of(schedule, epochs, lr=0.1):
    """The learning rate of each of ``epochs`` epochs under ``schedule``."""
    layer, step, batches, _ = regression()
    seen = []
    cb = LambdaCallback(on_epoch_begin=lambda e: seen.append(trainer.optimizer.lr))
    trainer = Trainer(step, layer.named_grads, SGD(layer.named_parameters(), lr=lr), callbacks=[schedule, cb])
    trainer.fit(batches, epochs)
    return seen


def torch_lrs(make, epochs, lr=0.1, metrics=None):
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=lr)
    sched = make(opt)
    out = []
    for e in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step(metrics[e]) if metrics is not None else sched.step()
    return out


def test_step_schedule_matches_torch_step_lr():
    want = torch_lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5), 10)
    np.testing.assert_allclose(lrs_of(StepLR(3, 0.5), 10), want, rtol=1e-12)


def test_cosine_schedule_matches_torch_cosine_annealing_lr_including_past_t_max():
    want = torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=6, eta_min=0.01), 10)
    np.testing.assert_allclose(lrs_of(CosineAnnealingLR(6, eta_min=0.01), 10), want, rtol=1e-9)


def test_plateau_schedule_matches_torch_reduce_lr_on_plateau_with_cooldown():
    vals = [1.0, 0.9, 0.95, 0.96, 0.97, 0.8, 0.85, 0.86, 0.87, 0.88, 0.89, 0.9]
    want = torch_lrs(lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(
        o, factor=0.5, patience=1, threshold=0.01, threshold_mode="abs", cooldown=1, min_lr=0.02), len(vals),
        metrics=vals)
    layer, step, batches, _ = regression()
    seen = []
    it = iter(vals)
    plateau = ReduceLROnPlateau("val_loss", factor=0.5, patience=1, min_delta=0.01, cooldown=1, min_lr=0.02)
    trainer = Trainer(step, layer.named_grads, SGD(layer.named_parameters(), lr=0.1), callbacks=[
        LambdaCallback(on_epoch_begin=lambda e: seen.append(trainer.optimizer.lr)),
        Validation(lambda: next(it)), plateau])
    trainer.fit(batches, len(vals))
    np.testing.assert_allclose(seen, want, rtol=1e-12)
    assert plateau.reductions                                  # it did lower the rate


def test_step_interval_counts_updates_and_a_resumed_run_continues_the_curve():
    layer, step, batches, _ = regression()
    seen = []
    log = LambdaCallback(on_before_update=lambda g, m: seen.append(trainer.optimizer.lr))
    trainer = Trainer(step, layer.named_grads, SGD(layer.named_parameters(), lr=0.1),
                      callbacks=[CosineAnnealingLR(8, interval="step", base_lr=0.1), log], step=4)
    trainer.fit(batches, 1)                                    # 4 updates: steps 4..7 of a run of 8
    want = [0.1 * (1 + math.cos(math.pi * t / 8)) / 2 for t in range(4, 8)]
    np.testing.assert_allclose(seen, want, rtol=1e-12)


def test_early_stopping_stops_after_patience_epochs_without_improvement_and_restores_the_best_weights():
    layer, step, batches, _ = regression()
    vals = iter([1.0, 0.5, 0.6, 0.4, 0.45, 0.41, 0.5, 0.3])
    snapshots = []
    es = EarlyStopping(patience=3)
    trainer = Trainer(step, layer.named_grads, SGD(layer.named_parameters(), lr=0.05), callbacks=[
        Validation(lambda: next(vals)), es,
        LambdaCallback(on_epoch_end=lambda e, m: snapshots.append({k: v.copy() for k, v in layer.params.items()}))])
    trainer.fit(batches, 8)
    assert len(trainer.history) == 7                            # best at epoch 4, three worse after it
    assert es.best == 0.4 and es.best_at == "epoch 4" and es.stopped_at == "epoch 7" and es.restored
    assert "did not improve in 3 epochs" in es.stop_reason and "restored" in es.stop_reason
    for k, v in layer.params.items():
        np.testing.assert_array_equal(v, snapshots[3][k])      # the weights after epoch 4


def test_early_stopping_min_delta_mode_max_and_no_restore():
    layer, step, batches, _ = regression()
    vals = iter([0.5, 0.505, 0.509, 0.52])
    es = EarlyStopping("val_accuracy", min_delta=0.01, patience=2, restore_best_weights=False)
    assert es.mode == "max"
    trainer = Trainer(step, layer.named_grads, SGD(layer.named_parameters(), lr=0.05),
                      callbacks=[Validation(lambda: next(vals), "val_accuracy"), es])
    trainer.fit(batches, 4)
    assert len(trainer.history) == 3 and not es.restored and "best weights" not in es.stop_reason


def test_training_that_runs_its_course_keeps_its_last_weights_when_they_are_the_best():
    layer, step, batches, val = regression()
    es = EarlyStopping(patience=50)
    trainer = Trainer(step, layer.named_grads, Adam(layer.named_parameters(), lr=0.05),
                      callbacks=[Validation(val), es])
    trainer.fit(batches, 5)
    assert es.stop_reason is None and len(trainer.history) == 5
    assert val() == pytest.approx(es.best)


def test_a_lambda_callback_stops_training_and_says_where():
    layer, step, batches, _ = regression()
    cb = LambdaCallback(on_batch_end=lambda s, m: s >= 6)
    lines = []
    trainer = Trainer(step, layer.named_grads, SGD(layer.named_parameters(), lr=0.05), callbacks=[cb, LogStop(
        lambda **f: lines.append(f), unit="step")])
    trainer.fit(batches, 5)
    assert trainer.step == 6 and cb.stop_reason == "stopped by a callback at step 6"
    assert lines == [{"step": 6, "stop": "stopped by a callback at step 6"}]


def test_metrics_log_writes_each_epochs_learning_rate_and_the_stop_line():
    layer, step, batches, val = regression()
    lines = []
    vals = iter([1.0, 1.1, 1.2, 1.3])
    log = MetricsLog(lambda **f: lines.append(f))
    trainer = Trainer(step, layer.named_grads, SGD(layer.named_parameters(), lr=0.1), callbacks=[
        Validation(lambda: next(vals)), StepLR(1, 0.5), EarlyStopping(patience=2), log])
    trainer.fit(batches, 4)
    assert [ln["lr"] for ln in lines[:3]] == [0.1, 0.05, 0.025]
    assert [ln["val_loss"] for ln in lines[:3]] == [1.0, 1.1, 1.2]
    assert lines[-1]["step"] == 3 and lines[-1]["best_at"] == "epoch 1" and lines[-1]["restored"]


@pytest.mark.parametrize("kwargs, message", [
    (dict(early_stopping="yes"), "early_stopping"), (dict(lr_schedule="linear"), "lr_schedule"),
    (dict(early_stopping=-1), "early_stopping")])
def test_bad_control_settings_are_refused_in_one_line(kwargs, message):
    from rnnkit.callbacks import check_control_params

    with pytest.raises(ValueError, match=message):
        check_control_params(kwargs.get("early_stopping"), kwargs.get("lr_schedule"), 0.1)


def test_controls_from_settings_build_the_named_callbacks():
    cs = training_controls(4, "step", epochs=9, gamma=0.5)
    assert isinstance(cs[0], StepLR) and cs[0].step_size == 3 and isinstance(cs[1], EarlyStopping)
    assert cs[1].patience == 4
    assert isinstance(training_controls(True, "plateau", epochs=3)[0], ReduceLROnPlateau)
    assert training_controls(True, None, epochs=3)[0].patience == 10
    assert training_controls(None, "none", epochs=3) == []
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=0)
