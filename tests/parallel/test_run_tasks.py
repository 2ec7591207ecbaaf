"""The joblib seam: same results for any number of workers, one BLAS thread per task."""
import numpy as np
import pytest

from rnnkit.parallel import check_n_jobs, run_tasks, task_seeds


def _draw(seed, n):
    return np.random.default_rng(seed).standard_normal(n).sum()


def _blas_threads():
    from threadpoolctl import threadpool_info
    return max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")


def test_seeds_are_per_task_and_do_not_depend_on_the_count_of_workers():
    seeds = task_seeds(7, 5)
    assert len(set(seeds)) == 5
    assert seeds == task_seeds(7, 5)
    assert task_seeds(7, 6)[:5] == seeds                # adding a task does not reseed the others
    assert task_seeds(8, 5) != seeds


def test_results_come_back_in_task_order_whatever_the_workers():
    tasks = [(s, 10) for s in task_seeds(0, 6)]
    one = run_tasks(_draw, tasks, n_jobs=1)
    two = run_tasks(_draw, tasks, n_jobs=2)
    assert one == two == [_draw(*t) for t in tasks]


def test_each_task_runs_with_one_blas_thread_in_process_and_in_workers():
    assert run_tasks(_blas_threads, [()] * 2, n_jobs=1) == [1, 1]
    assert run_tasks(_blas_threads, [()] * 2, n_jobs=2) == [1, 1]


def test_a_failing_task_raises_its_own_error():
    with pytest.raises(ZeroDivisionError):
        run_tasks(divmod, [(1, 1), (1, 0)], n_jobs=2)


@pytest.mark.parametrize("bad", [0, 1.5, "2", True])
def test_a_count_of_workers_that_is_not_one_is_refused(bad):
    with pytest.raises(ValueError, match="n_jobs"):
        check_n_jobs(bad)


def test_a_generator_is_not_a_seed_for_many_tasks():
    with pytest.raises(TypeError, match="pass an int"):
        task_seeds(np.random.default_rng(0), 3)
