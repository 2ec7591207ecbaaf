"""The one training loop (rnnkit.training): clipping, the update, the carried state, the callback protocol."""
import numpy as np
import pytest

from rnnkit.layers import Dense
from rnnkit.losses import mse
from rnnkit.optim import SGD
from rnnkit.training import Callback, Trainer, clip_gradients


def linear_model(seed=0):
    """A Dense layer and a train step on ``(x, y)`` batches; the step adds 1 to the carried state."""
    layer = Dense(3, 1, dtype=np.float64, seed=seed)

    def train_step(batch, state):
        x, y = batch
        loss, g = mse(layer(x), y)
        layer.backward(g)
        return loss, (0 if state is None else state) + 1

    return layer, train_step


def batches_of(rng, n_batches, size=4):
    return [(rng.normal(size=(size, 3)), rng.normal(size=(size, 1))) for _ in range(n_batches)]


def test_a_step_clips_by_value_then_by_norm_and_reports_the_norm_before_clipping(rng):
    layer, step = linear_model()
    batch = batches_of(rng, 1)[0]
    before = {k: v.copy() for k, v in layer.params.items()}
    step(batch, None)
    raw = {k: v.copy() for k, v in layer.grads.items()}
    want = {k: np.clip(v, -0.05, 0.05) for k, v in raw.items()}
    norm = np.sqrt(sum(float(np.sum(v * v)) for v in want.values()))
    want = {k: v * (0.01 / (norm + 1e-6)) for k, v in want.items()}
    seen = {}
    trainer = Trainer(step, layer.named_grads, SGD(layer.named_parameters(), lr=0.5), clip_value=0.05, clip_norm=0.01,
                      callbacks=[Callback(on_step_end=lambda s, m: seen.update(m))])
    trainer.fit(lambda epoch: [batch])
    assert seen["grad_norm"] == pytest.approx(np.sqrt(sum(float(np.sum(v * v)) for v in raw.values())))
    for k in before:
        np.testing.assert_allclose(layer.params[k], before[k] - 0.5 * want[k], rtol=1e-12)


def test_clip_gradients_measures_only_when_asked():
    g = {"w": np.array([3.0, 4.0])}
    assert clip_gradients(g) is None
    assert clip_gradients(g, measure=True) == 5.0
    assert clip_gradients(g, clip_norm=1.0) == 5.0
    np.testing.assert_allclose(np.linalg.norm(g["w"]), 1.0, rtol=1e-5)


def test_hooks_run_in_order_with_steps_and_epochs_counting_what_is_done(rng):
    layer, step = linear_model()
    calls = []
    names = ("on_train_begin", "on_epoch_begin", "on_before_update", "on_step_end", "on_epoch_end", "on_train_end")
    cb = Callback(**{n: (lambda *a, n=n: calls.append((n,) + tuple(x for x in a if isinstance(x, int))))
                     for n in names})
    data = batches_of(rng, 2)
    trainer = Trainer(step, layer.named_grads, SGD(layer.named_parameters(), lr=0.1), callbacks=[cb], step=5)
    trainer.fit(lambda epoch: data, epochs=3, start_epoch=1)
    assert calls == [("on_train_begin",),
                     ("on_epoch_begin", 1), ("on_before_update",), ("on_step_end", 6), ("on_before_update",),
                     ("on_step_end", 7), ("on_epoch_end", 2),
                     ("on_epoch_begin", 2), ("on_before_update",), ("on_step_end", 8), ("on_before_update",),
                     ("on_step_end", 9), ("on_epoch_end", 3), ("on_train_end",)]
    assert trainer.step == 9 and len(trainer.losses) == 4 and len(trainer.history) == 2


def test_the_carried_state_passes_from_step_to_step_and_across_epochs(rng):
    layer, step = linear_model()
    trainer = Trainer(step, layer.named_grads, SGD(layer.named_parameters(), lr=0.1), state=10)
    trainer.fit(lambda epoch: batches_of(rng, 3), epochs=2)
    assert trainer.state == 16


def test_the_epoch_loss_is_the_mean_of_step_losses_weighted_by_batch_size(rng):
    layer, step = linear_model()
    data = batches_of(rng, 1, size=4) + batches_of(rng, 1, size=1)
    trainer = Trainer(step, layer.named_grads, SGD(layer.named_parameters(), lr=1e-9), batch_size=lambda b: len(b[0]))
    trainer.fit(lambda epoch: data)
    a, b = trainer.losses
    assert trainer.history == [{"loss": pytest.approx((4 * a + b) / 5), "steps": 2}]


def test_a_callback_stops_training_after_the_step_it_returns_true(rng):
    layer, step = linear_model()
    stop_at_3 = Callback(on_step_end=lambda s, m: s == 3)
    ends = []
    trainer = Trainer(step, layer.named_grads, SGD(layer.named_parameters(), lr=0.1),
                      callbacks=[stop_at_3, Callback(on_epoch_end=lambda e, m: ends.append(m["steps"]))])
    trainer.fit(lambda epoch: batches_of(rng, 2), epochs=5)
    assert trainer.step == 3 and ends == [2, 1]


def test_stopping_before_the_update_leaves_the_weights_alone(rng):
    layer, step = linear_model()
    before = {k: v.copy() for k, v in layer.params.items()}
    trainer = Trainer(step, layer.named_grads, SGD(layer.named_parameters(), lr=0.1),
                      callbacks=[Callback(on_before_update=lambda g, m: True)])
    trainer.fit(lambda epoch: batches_of(rng, 3))
    assert trainer.step == 0 and trainer.losses == []
    for k in before:
        np.testing.assert_array_equal(layer.params[k], before[k])


def test_callbacks_share_the_step_metrics_in_order(rng):
    layer, step = linear_model()
    seen = []
    first = Callback(on_before_update=lambda g, m: m.update(extra=1))
    trainer = Trainer(step, layer.named_grads, SGD(layer.named_parameters(), lr=0.1), measure_norm=True,
                      callbacks=[first, Callback(on_step_end=lambda s, m: seen.append(sorted(m)))])
    trainer.fit(lambda epoch: batches_of(rng, 1))
    assert seen == [["batch_size", "extra", "grad_norm", "loss", "seconds"]]


def test_an_unknown_hook_name_is_refused():
    with pytest.raises(TypeError, match="unknown callback hook 'on_batch_end'"):
        Callback(on_batch_end=print)
