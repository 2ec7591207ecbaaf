"""Scheduled sampling (rnnkit.models.sampling): the schedules' values, the
tokens fed, teacher forcing reproduced exactly when it is off, seeding."""
import math

import numpy as np
import pytest

from rnnkit.models import Seq2Seq
from rnnkit.models.attention_decoder import AttentionDecoder
from rnnkit.models.sampling import Schedule, mixed_inputs, parse_schedule
from rnnkit.models.decoder import EOS, SHIFT, Decoder

from cells._layer_gradcheck import _check as check_every_entry     # float64 central differences


# -- the schedules ----------------------------------------------------------------------------------------
def test_linear_schedule_falls_by_c_per_update_down_to_its_floor():
    s = parse_schedule("linear:c=0.01,min=0.2")
    assert s == Schedule("linear", 1.0, 0.01, 0.2)
    assert [s.probability(i) for i in (0, 10, 50, 79)] == pytest.approx([1.0, 0.9, 0.5, 0.21])
    assert s.probability(80) == pytest.approx(0.2) and s.probability(10_000) == 0.2


def test_exponential_schedule_is_k_to_the_power_of_the_update():
    s = parse_schedule("exponential:k=0.99")
    assert [s.probability(i) for i in (0, 1, 100)] == pytest.approx([1.0, 0.99, 0.99 ** 100])
    assert parse_schedule("exponential") == Schedule("exponential", 0.999, 0.0, 0.0)


def test_inverse_sigmoid_schedule_is_k_over_k_plus_exp_of_i_over_k():
    s = parse_schedule("inverse_sigmoid:k=50")
    for i in (0, 10, 200, 1000):
        assert s.probability(i) == pytest.approx(50 / (50 + math.exp(i / 50)))
    assert s.probability(50 * math.log(50)) == pytest.approx(0.5)                 # the midpoint
    assert parse_schedule("inverse_sigmoid").probability(10 ** 7) < 1e-12         # no overflow far out
    assert parse_schedule("inverse_sigmoid:min=0.25").probability(10 ** 7) == 0.25


@pytest.mark.parametrize("spec", [None, "", "none", " None "])
def test_no_schedule_is_teacher_forcing(spec):
    assert parse_schedule(spec) is None


@pytest.mark.parametrize("spec,message", [
    ("cosine", "unknown sampling schedule 'cosine'"),
    ("linear:slope=1", "'slope=1' is not one of"),
    ("linear:c=fast", "c='fast' is not a number"),
    ("linear:c=0", "linear needs k > 0 and c > 0"),
    ("exponential:k=1.5", "exponential needs 0 < k < 1"),
    ("inverse_sigmoid:k=0.5", "inverse_sigmoid needs k >= 1"),
    ("linear:min=2", "min must lie in [0, 1]"),
    (0.5, "must be a string or None"),
])
def test_schedules_that_cannot_be_read_are_refused_in_one_line(spec, message):
    with pytest.raises(ValueError, match=f"^[^\\n]*{message.replace('[', '.').replace(']', '.')}"):
        parse_schedule(spec)


# -- what is fed ------------------------------------------------------------------------------------------
def plain_decoder(seed=0, dtype=np.float64):
    return Decoder(5 + SHIFT, 3, "lstm", 4, 1, 0.0, np.random.default_rng(seed), dtype)


def state_of(dec, B, seed=1):
    rng = np.random.default_rng(seed)
    return tuple(rng.standard_normal((1, B, 4)) * 0.5 for _ in range(2))


TARGETS = [np.array([1, 2, 3, 4]), np.array([0]), np.array([4, 4, 2])]


def test_feeding_the_true_tokens_with_probability_one_is_teacher_forcing_exactly_and_draws_nothing():
    dec = plain_decoder()
    state = state_of(dec, 3)
    loss, dstate = dec.loss_backward(state, TARGETS)
    grads = {k: v.copy() for k, v in dec.named_grads().items()}
    rng = np.random.default_rng(0)
    before = rng.bit_generator.state
    loss1, dstate1 = dec.loss_backward(state, TARGETS, sampling=(1.0, rng))
    assert loss1 == loss and rng.bit_generator.state == before
    for a, b in zip(dstate, dstate1):
        np.testing.assert_array_equal(a, b)
    for k, v in dec.named_grads().items():
        np.testing.assert_array_equal(v, grads[k])


def test_with_probability_zero_every_input_after_bos_is_the_models_own_token():
    dec = plain_decoder()
    dec.head.params["bias"][:] = -50.0
    dec.head.params["bias"][3 + SHIFT] = 50.0                     # the model is sure of user token 3
    x, _, _ = Decoder.teacher_batch(TARGETS)
    mixed = mixed_inputs(dec._step, state_of(dec, 3), x, 0.0, np.random.default_rng(0))
    assert np.all(mixed[:, 0] == x[:, 0])                         # <bos>
    assert np.all(mixed[:, 1:] == 3 + SHIFT)


def test_with_probability_one_half_about_half_the_inputs_are_replaced():
    dec = plain_decoder()
    dec.head.params["bias"][:] = -50.0
    dec.head.params["bias"][EOS] = 50.0                           # the model's token: <eos>, never a target here
    targets = [np.full(30, 2)] * 40
    x, _, _ = Decoder.teacher_batch(targets)
    mixed = mixed_inputs(dec._step, state_of(dec, 40), x, 0.5, np.random.default_rng(0))
    share = np.mean(mixed[:, 1:] == EOS)
    assert 0.45 < share < 0.55 and np.all((mixed[:, 1:] == EOS) | (mixed[:, 1:] == x[:, 1:]))


def test_sampled_training_pass_matches_central_differences_given_the_draws():
    """The draws are constants of the pass: with the same seed each time, the
    loss is a smooth function of the parameters (here: attention with input
    feeding, the decoder's own tokens half the time)."""
    dec = AttentionDecoder(5 + SHIFT, 3, "gru", 4, 1, 0.0, np.random.default_rng(0), np.float64, memory_size=6,
                           score="general", input_feeding=True)
    rng = np.random.default_rng(2)
    state = rng.standard_normal((1, 3, 4)) * 0.5
    values, lengths = rng.standard_normal((3, 5, 6)), np.array([5, 3, 1])

    def loss():
        memory = dec.attention.memory(values, lengths)
        return dec.loss_backward(state, TARGETS, memory, sampling=(0.5, np.random.default_rng(7)))[0]

    loss()
    grads = {k: v.copy() for k, v in dec.named_grads().items()}
    for name, p in dec.named_parameters().items():
        check_every_entry(grads[name], loss, p, name)


# -- the estimator ----------------------------------------------------------------------------------------
def sort_task(n, seed):
    rng = np.random.default_rng(seed)
    X = [rng.integers(0, 6, rng.integers(1, 5)) for _ in range(n)]
    return X, [np.sort(s) for s in X]


def fit(schedule, seed=0, **kw):
    X, y = sort_task(300, 0)
    return Seq2Seq(hidden_size=16, embedding_dim=8, epochs=3, random_state=seed, sampling_schedule=schedule,
                   **kw).fit(X, y)


def test_scheduled_sampling_is_seeded_by_random_state_and_off_by_default():
    assert Seq2Seq().sampling_schedule is None
    a, b = fit("linear:c=0.02"), fit("linear:c=0.02")
    assert a.loss_curve_ == b.loss_curve_
    assert fit("linear:c=0.02", seed=1).loss_curve_ != a.loss_curve_
    assert fit(None).loss_curve_ != a.loss_curve_
    assert fit(None).loss_curve_ == fit("none").loss_curve_


def test_the_probability_follows_the_updates_done_and_validation_is_teacher_forced():
    m = fit("inverse_sigmoid:k=10", attention="additive")
    assert m.optimizer_.steps > 0
    m.net_.train()
    p, rng = m._sampling()
    assert p == parse_schedule("inverse_sigmoid:k=10").probability(m.optimizer_.steps) and rng is m.rng_
    m.net_.eval()
    assert m._sampling() is None


def test_a_model_trained_with_scheduled_sampling_still_learns():
    X, y = sort_task(1200, 1)
    m = Seq2Seq(hidden_size=32, embedding_dim=16, epochs=6, random_state=0, attention="general",
                sampling_schedule="linear:c=0.005,min=0.5").fit(X, y)
    Xt, yt = sort_task(200, 2)
    assert m.score(Xt, yt) > 0.8
