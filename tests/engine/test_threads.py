"""The thread policy (rnnkit.threads): the user's settings win; where there
are none, each kind of pass runs with the setting that measured fastest (one
thread, OpenBLAS's threads, rnnkit's own split), follows a change of the
machine's load, and leaves the count as it found it."""
import numpy as np
import pytest

import rnnkit
from rnnkit import threads


class FakeBlas(threads._Blas):
    def __init__(self, default=2):
        super().__init__([], default)
        self.seen = []

    def set(self, n):
        super().set(n)
        self.seen.append(n)


ONE, BLAS, SPLIT = threads.Setting(1, 1), threads.Setting(2, 1), threads.Setting(1, 2)


class Clock:
    """A stand-in for time.perf_counter that a pass advances by its cost under the current setting."""

    def __init__(self, blas, cost):
        self.blas, self.cost, self.now = blas, cost, 0.0

    def __call__(self):
        return self.now

    def work(self):
        setting = threads.Setting(self.blas.current, self.blas.width)
        self.now += self.cost[setting]
        return setting


@pytest.fixture
def fake(monkeypatch):
    blas = FakeBlas()
    clock = Clock(blas, {ONE: 1.0, BLAS: 3.0, SPLIT: 2.0})   # a busy machine: one thread is faster
    monkeypatch.setattr(threads, "_blas_or_fixed", lambda: (blas, None))
    monkeypatch.setattr(threads.time, "perf_counter", clock)
    return blas, clock


def test_the_faster_setting_wins_and_the_count_is_put_back_after_every_pass(fake):
    blas, clock = fake
    tuner = threads.ThreadTuner()
    used = [tuner.run("k", threads.MIN_WORK, clock.work) for _ in range(40)]
    assert set(used[:1 + 3 * threads.WARMUP]) == {ONE, BLAS, SPLIT}   # warm-up tries all three
    assert used[1 + 3 * threads.WARMUP:] == [ONE] * (40 - 1 - 3 * threads.WARMUP)
    assert blas.current == 2 and blas.seen[-1] == 2 and blas.width == 1   # the caller's count again
    assert tuner.choices() == {"k": ONE}


def test_the_choice_follows_the_machine_when_it_gets_quiet_or_busy(fake):
    blas, clock = fake
    tuner = threads.ThreadTuner()
    for _ in range(20):
        tuner.run("k", threads.MIN_WORK, clock.work)
    assert tuner.choices()["k"] == ONE
    clock.cost = {ONE: 1.0, BLAS: 0.7, SPLIT: 0.4}                # quiet now: the split is fastest
    used = [tuner.run("k", threads.MIN_WORK, clock.work) for _ in range(3 * threads.PROBE_EVERY)]
    assert tuner.choices()["k"] == SPLIT and used[-10:].count(SPLIT) >= 10 - threads.PROBE_PASSES
    clock.cost = {ONE: 1.0, BLAS: 6.0, SPLIT: 5.0}                # busy again: a slow pass probes at once
    used = [tuner.run("k", threads.MIN_WORK, clock.work) for _ in range(16)]
    assert used[-4:] == [ONE] * 4


def test_settings_that_lose_clearly_are_timed_less_and_less_often(fake):
    blas, clock = fake
    clock.cost = {ONE: 2.0, BLAS: 3.0, SPLIT: 1.0}                # quiet: the split wins by far
    tuner = threads.ThreadTuner()
    start = 1 + 3 * threads.WARMUP
    used = [tuner.run("k", threads.MIN_WORK, clock.work) for _ in range(start + 1500)][start:]
    probes = _probes(used, SPLIT)
    gaps = [b - a - (_probe_passes(used[a]) - 1) for a, b in zip(probes, probes[1:])]   # less the probes' passes
    assert gaps[:3] == [2 * threads.PROBE_EVERY, 4 * threads.PROBE_EVERY, 8 * threads.PROBE_EVERY]
    assert max(gaps) == threads.PROBE_BACKOFF * threads.PROBE_EVERY
    clock.cost = {ONE: 1.0, BLAS: 3.0, SPLIT: 1.1}                # one thread a little faster now
    late = 2 * threads.PROBE_BACKOFF * threads.PROBE_EVERY + 20   # the other two in turn, each timed late
    used = [tuner.run("k", threads.MIN_WORK, clock.work) for _ in range(late)]
    assert tuner.choices()["k"] == ONE and used[-10:].count(ONE) >= 10 - threads.PROBE_PASSES


def test_a_close_loser_is_timed_every_probe_every_passes(fake):
    blas, clock = fake
    clock.cost = {ONE: 1.1, BLAS: 1.15, SPLIT: 1.0}
    tuner = threads.ThreadTuner()
    start = 1 + 3 * threads.WARMUP
    used = [tuner.run("k", threads.MIN_WORK, clock.work) for _ in range(start + 400)][start:]
    probes = _probes(used, SPLIT)
    assert [b - a - (_probe_passes(used[a]) - 1) for a, b in zip(probes, probes[1:])] == \
        [threads.PROBE_EVERY] * (len(probes) - 1)
    assert len(probes) >= 7


def _probes(used, chosen):
    """Where the probes of ``used`` (the settings of successive passes) start;
    each is :func:`_probe_passes` passes of one other setting."""
    starts = [i for i, s in enumerate(used) if s != chosen and (i == 0 or used[i - 1] == chosen)]
    for i in starts:
        n = _probe_passes(used[i])
        assert used[i:i + n + 1] == [used[i]] * n + [chosen] or i + n >= len(used)
    return starts


def _probe_passes(setting):
    """One pass probes one thread; PROBE_PASSES a setting with threads to wake."""
    return threads.PROBE_PASSES if max(setting) > 1 else 1


def test_a_probe_is_timed_after_a_pass_that_wakes_its_threads(fake):
    """A setting's first passes after others pay for waking its threads (rnnkit's
    pool asleep); a probe is timed by its fastest pass after the first, so a
    faster split still wins."""
    blas, clock = fake
    clock.cost = {ONE: 1.0, BLAS: 3.0, SPLIT: 2.0}               # one thread wins first
    tuner = threads.ThreadTuner()
    last = [None, 0]

    def work():
        setting = threads.Setting(blas.current, blas.width)
        run = last[1] + 1 if setting == last[0] else 0
        clock.now += clock.cost[setting] + (0.5 if run < threads.PROBE_PASSES - 1 else 0.0)   # waking: 0.5
        last[:] = [setting, run]
        return setting

    for _ in range(1 + 3 * threads.WARMUP + 5):
        tuner.run("k", threads.MIN_WORK, work)
    assert tuner.choices()["k"] == ONE
    clock.cost = {ONE: 1.0, BLAS: 3.0, SPLIT: 0.8}               # the split is faster now, but 1.3 until warm
    used = [tuner.run("k", threads.MIN_WORK, work) for _ in range(4 * threads.PROBE_EVERY)]
    assert used[-10:] == [SPLIT] * 10


def test_kinds_of_pass_are_timed_apart_and_small_passes_are_left_alone(fake):
    blas, clock = fake
    tuner = threads.ThreadTuner()
    for _ in range(20):
        tuner.run("forward", threads.MIN_WORK, clock.work)
    assert tuner.run("small", threads.MIN_WORK - 1, clock.work) == BLAS   # untouched: the default
    assert set(tuner.choices()) == {"forward"}


@pytest.mark.parametrize("variable", ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"])
def test_a_thread_setting_of_the_user_turns_the_policy_off(monkeypatch, variable):
    threads._blas_or_fixed.cache_clear()
    monkeypatch.setenv(variable, "2")
    try:
        assert threads._blas_or_fixed() == (None, None)
    finally:
        threads._blas_or_fixed.cache_clear()


def test_rnnkit_threads_fixes_the_count_and_a_bad_value_is_named(monkeypatch):
    pytest.importorskip("threadpoolctl")
    threads._blas_or_fixed.cache_clear()
    try:
        monkeypatch.setenv("RNNKIT_THREADS", "1")
        blas, fixed = threads._blas_or_fixed()
        assert fixed == 1 and blas is not None
        threads._blas_or_fixed.cache_clear()
        monkeypatch.setenv("RNNKIT_THREADS", "many")
        with pytest.raises(ValueError, match="RNNKIT_THREADS='many' is not a number of threads"):
            threads._blas_or_fixed()
    finally:
        threads._blas_or_fixed.cache_clear()


def test_a_layer_computes_the_same_bits_whatever_the_thread_count(monkeypatch):
    """OpenBLAS splits a product's output between threads, not its sums, so the
    tuner's choice never changes a result."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    x = np.random.default_rng(0).standard_normal((20, 16, 32)).astype(np.float32)
    results = []
    for n in (1, 2):
        with threadpoolctl.threadpool_limits(n, user_api="blas"):
            layer = rnnkit.LSTM(32, 128, num_layers=2, seed=0)
            y, _ = layer(x)
            dx, _ = layer.backward(np.ones_like(y))
            results.append([y, dx] + [layer.grads[k] for k in sorted(layer.grads)])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_passes_inside_a_timed_pass_keep_its_thread_count(fake):
    blas, clock = fake
    outer, inner = threads.ThreadTuner(), threads.ThreadTuner()

    def step():
        counts = [inner.run("layer", threads.MIN_WORK, clock.work) for _ in range(3)]
        assert len(set(counts)) == 1                              # the step's count, untouched inside
        return counts[0]

    used = [outer.run("step", threads.MIN_WORK, step) for _ in range(20)]
    assert used[-5:] == [ONE] * 5
    assert inner.choices() == {}                                  # the inner tuner never timed anything
    assert blas.current == 2 and not blas.held


def test_a_training_step_is_timed_whole_and_its_layers_keep_its_count(fake):
    from rnnkit.optim import SGD
    from rnnkit.training import Trainer

    blas, clock = fake
    w = {"w": np.zeros(threads.STEP_MIN_WORK // 3 + 1, np.float32)}       # a step big enough to be tuned
    layer = threads.ThreadTuner()
    seen = []

    def train_step(batch, state):
        seen.append([layer.run("pass", threads.MIN_WORK, clock.work) for _ in range(2)])
        return 1.0, None

    Trainer(train_step, lambda: {"w": np.zeros_like(w["w"])}, SGD(w, lr=0.1)).fit(lambda epoch: range(20), 1)
    assert all(a == b for a, b in seen[1:])                       # one count for the whole step (the first
    assert seen[-1] == [ONE, ONE]                                 # runs as it is); the busy machine's faster
    assert layer._kinds["pass"]["passes"] == 2                    # the layer's tuner: only in the first step
    assert blas.current == 2 and not blas.held


def test_small_training_steps_are_left_alone(fake):
    from rnnkit.optim import SGD
    from rnnkit.training import Trainer

    blas, clock = fake
    w = {"w": np.zeros(10, np.float32)}
    used = []
    Trainer(lambda b, s: (used.append(blas.current), (1.0, None))[1], lambda: {"w": np.zeros(10, np.float32)},
            SGD(w, lr=0.1)).fit(lambda epoch: range(10), 1)
    assert used == [2] * 10
