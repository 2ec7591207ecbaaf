"""The pieces of data-parallel training that need no MPI: the trainer's ``reduce``
hook, shards, the one-line refusals, and ``import rnnkit`` leaving mpi4py alone."""
import os
import subprocess
import sys

import numpy as np
import pytest

from rnnkit.distributed import World, allreduce_model, launched_size, speedup, world
from rnnkit.layers import Dense
from rnnkit.losses import mse
from rnnkit.optim import SGD
from rnnkit.training import DivergenceError, Trainer


class FakeComm:
    """Rank ``rank`` of ``size``: enough of a communicator for the local methods."""

    def __init__(self, rank, size):
        self.rank, self.size = rank, size

    def Get_rank(self):
        return self.rank

    def Get_size(self):
        return self.size


def linear_step(seed=0):
    layer = Dense(3, 1, dtype=np.float64, seed=seed)

    def train_step(batch, state):
        loss, g = mse(layer(batch[0]), batch[1])
        layer.backward(g)
        return loss, state

    return layer, train_step


def test_the_trainer_clips_and_applies_the_gradient_reduce_returns(rng):
    layer, step = linear_step()
    batch = (rng.normal(size=(4, 3)), rng.normal(size=(4, 1)))
    before = {k: v.copy() for k, v in layer.params.items()}
    seen = {}

    def reduce(b, loss, grads, state):                   # "the other ranks" add 3 times this one's gradient
        seen["local"] = {k: v.copy() for k, v in grads.items()}
        for g in grads.values():
            g *= 4.0
        return 2.0 * loss, True

    metrics = {}
    trainer = Trainer(step, layer.named_grads, SGD(layer.named_parameters(), lr=0.1), clip_norm=1e-3,
                      reduce=reduce, callbacks=[type("M", (), {"on_step_end": lambda s, n, m: metrics.update(m)})()])
    trainer.fit(lambda epoch: [batch])
    total = {k: 4.0 * v for k, v in seen["local"].items()}
    norm = np.sqrt(sum(float(np.sum(v * v)) for v in total.values()))
    assert metrics["grad_norm"] == pytest.approx(norm)    # clipping saw the reduced gradient
    for k in before:
        np.testing.assert_allclose(layer.params[k], before[k] - 0.1 * total[k] * (1e-3 / (norm + 1e-6)), rtol=1e-12)
    assert trainer.losses == [pytest.approx(metrics["loss"])]


def test_a_non_finite_state_on_another_rank_stops_training(rng):
    layer, step = linear_step()
    batch = (rng.normal(size=(4, 3)), rng.normal(size=(4, 1)))
    trainer = Trainer(step, layer.named_grads, SGD(layer.named_parameters(), lr=0.1),
                      reduce=lambda b, loss, grads, state: (loss, False))
    with pytest.raises(DivergenceError, match="hidden state carried to the next step is not finite"):
        trainer.fit(lambda epoch: [batch])


@pytest.mark.parametrize("n, size", [(8, 2), (32, 4), (5, 2), (1, 2), (7, 3)])
def test_shards_are_contiguous_and_cover_the_batch_once(n, size):
    slices = [World(FakeComm(r, size)).shard(n) for r in range(size)]
    covered = np.concatenate([np.arange(n)[s] for s in slices])
    np.testing.assert_array_equal(covered, np.arange(n))
    counts = [s.stop - s.start for s in slices]
    assert max(counts) - min(counts) <= 1


def test_a_batch_that_does_not_split_is_refused_naming_the_fix():
    w = World(FakeComm(0, 4))
    w.check_divides(32)
    with pytest.raises(ValueError, match=r"^batch_size=30 does not split over 4 processes; pass a multiple of 4 "
                                         r"\(e\.g\. 32\), or run 2 or 3 or 5 or 6 or 10 or 15 processes$"):
        w.check_divides(30)


def test_importing_rnnkit_does_not_import_mpi4py_outside_a_launcher():
    code = ("import sys, rnnkit, rnnkit.distributed, rnnkit.models; "
            "assert rnnkit.distributed.world() is None; assert 'mpi4py' not in sys.modules; print('clean')")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "MV2_"))}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.strip() == "clean", out.stderr


def test_the_launcher_size_is_read_from_its_variables(monkeypatch):
    for name in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert launched_size() == 1
    monkeypatch.setenv("PMI_SIZE", "4")
    assert launched_size() == 4


def test_a_communicator_of_one_process_is_the_single_process_path():
    assert world(FakeComm(0, 1)) is None
    assert world(FakeComm(1, 2)).rank == 1


def test_the_ring_allreduce_model():
    # 2 (K-1)/K bytes over the link, plus 2 (K-1) latencies
    assert allreduce_model(1e9, 1, 10) == 0.0
    assert allreduce_model(1.25e9, 2, 10, latency_s=0.0) == pytest.approx(1.0)
    assert allreduce_model(1.25e9, 4, 10, latency_s=1e-3) == pytest.approx(1.5 + 6e-3)
    assert speedup(1.0, 0, 8, 10, latency_s=0.0) == pytest.approx(8.0)


def test_a_single_process_command_under_mpirun_is_refused_in_one_line_by_rank_0(monkeypatch, tmp_path, capsys):
    from rnnkit.cli import main

    monkeypatch.setenv("PMI_SIZE", "2")
    for rank, lines in (("0", 1), ("1", 0)):
        monkeypatch.setenv("PMI_RANK", rank)
        assert main(["classify", "train", "--data", str(tmp_path / "x.csv"), "--out", str(tmp_path / "r")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == lines
        if lines:
            assert err[0].startswith("rnnkit: error: `rnnkit classify train` runs as one process")
    assert not (tmp_path / "r").exists()                          # nothing written by either rank
