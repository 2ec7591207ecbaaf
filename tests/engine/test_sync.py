"""The barrier where the threads of a split column-loop pass meet once a step
(rnnkit.kernels.sync)."""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("numba")


def _lockstep():
    import numba

    from rnnkit.kernels import sync

    @numba.njit(nogil=True)
    def walk(pause, meeting, slots, me, parts, steps, wrong):
        # each step: write my step number, meet, read everyone's (all must show this step), meet again
        for k in range(steps):
            slots[me * 8] = k
            sync.barrier(pause, meeting, parts * (2 * k + 1))
            for other in range(parts):
                if slots[other * 8] != k:
                    wrong[me] += 1
            sync.barrier(pause, meeting, parts * (2 * k + 2))
    return walk


@pytest.mark.parametrize("parts", [1, 2, 3])
def test_threads_pass_the_barrier_in_lockstep(parts):
    from rnnkit.kernels import sync
    walk = _lockstep()
    meeting, slots, wrong = sync.new(), np.full(8 * parts, -1, np.int64), np.zeros(parts, np.int64)
    with ThreadPoolExecutor(parts) as pool:
        list(pool.map(lambda me: walk(sync.pause(), meeting, slots, me, parts, 3000, wrong), range(parts)))
    assert wrong.sum() == 0 and meeting[0] == 2 * parts * 3000
    sync.check(meeting)


def test_a_pass_whose_partner_gave_up_raises_in_one_line():
    from rnnkit.kernels import sync
    meeting = sync.new()
    sync.check(meeting)
    meeting[1] = 1
    with pytest.raises(RuntimeError, match="RNNKIT_THREADS=1"):
        sync.check(meeting)
