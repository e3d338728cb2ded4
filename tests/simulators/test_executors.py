"""Executors: every item comes back, failures as objects, dead workers retried."""

import os

import pytest

from simulators.errors import ConfigurationError
from simulators.executors import (
    DaskExecutor,
    LocalExecutor,
    SerialExecutor,
    WorkerDiedError,
    get_executor,
)


def square_or_fail(x):
    if x == 3:
        raise ValueError("three is bad")
    return x * x


def die_on_seven(x):
    if x == 7:
        os._exit(13)  # a worker killed mid-run (as by the OOM killer)
    return x + 100


@pytest.mark.parametrize("executor", [SerialExecutor(), LocalExecutor(2)],
                         ids=["serial", "local"])
def test_results_and_exceptions_come_back_by_index(executor):
    got = dict(executor.map_unordered(square_or_fail, list(range(6))))
    assert sorted(got) == list(range(6))
    assert isinstance(got[3], ValueError)
    assert {i: v for i, v in got.items() if i != 3} == {0: 0, 1: 1, 2: 4, 4: 16, 5: 25}


def test_a_dead_worker_loses_only_its_own_item():
    got = dict(LocalExecutor(2).map_unordered(die_on_seven, list(range(10))))
    assert isinstance(got[7], WorkerDiedError)
    assert {i: got[i] for i in range(10) if i != 7} == {i: i + 100 for i in range(10) if i != 7}


def test_dask_local_cluster_runs_the_batch():
    with DaskExecutor(n_workers=2) as ex:
        got = dict(ex.map_unordered(square_or_fail, list(range(5))))
    assert got[4] == 16 and isinstance(got[3], ValueError)


def test_unknown_executor_is_a_clear_error():
    with pytest.raises(ConfigurationError, match="unknown executor 'mpi'"):
        get_executor("mpi")


def test_a_crash_does_not_fail_the_items_that_were_queued():
    # With 2 workers and 12 items, most items are queued when item 3 kills its worker:
    # they must all complete, and only item 3 is reported.
    got = dict(LocalExecutor(2).map_unordered(die_on_three, list(range(12))))
    assert [i for i, v in got.items() if isinstance(v, WorkerDiedError)] == [3]
    assert all(got[i] == i + 100 for i in range(12) if i != 3)


def die_on_three(x):
    if x == 3:
        os._exit(13)
    return x + 100


def test_zero_workers_is_an_error():
    with pytest.raises(ConfigurationError, match="n_workers must be >= 1"):
        LocalExecutor(0)


def test_submitit_executor_runs_jobs_through_the_slurm_code_path(tmp_path):
    pytest.importorskip("submitit")
    from simulators.executors import SlurmExecutor

    ex = SlurmExecutor(folder=str(tmp_path / "jobs"), cluster="local", poll=0.2,
                       timeout_min=5, slurm_partition=None)
    got = dict(ex.map_unordered(square_or_fail, list(range(5))))
    assert got[4] == 16 and got[2] == 4 and isinstance(got[3], Exception)
    assert "three is bad" in str(got[3])


def sleep_on_two(x):
    """Item 2 hangs (a stiff solve that never ends); the others return at once."""
    if x == 2:
        import time

        time.sleep(3600)
    return x * 10


@pytest.mark.parametrize("make", [lambda: LocalExecutor(2, timeout=1.0),
                                  lambda: SerialExecutor(timeout=1.0)], ids=["local", "serial"])
def test_a_hung_item_times_out_and_the_rest_go_on(make):
    import time

    from simulators.executors import RunTimeoutError

    t0 = time.monotonic()
    got = dict(make().map_unordered(sleep_on_two, list(range(6))))
    assert time.monotonic() - t0 < 30  # not 3600 s
    assert isinstance(got[2], RunTimeoutError) and isinstance(got[2], TimeoutError)
    assert str(got[2]).startswith("timed out after 1 s")
    assert {i: v for i, v in got.items() if i != 2} == {0: 0, 1: 10, 3: 30, 4: 40, 5: 50}


def test_the_limit_scales_with_the_runs_an_item_holds():
    from simulators.executors import RunTimeoutError

    got = dict(LocalExecutor(1, timeout=0.5).map_unordered(sleep_on_two, [2], sizes=[3]))
    assert isinstance(got[0], RunTimeoutError) and got[0].seconds == 1.5
    assert "a batch of 3 runs" in str(got[0])


def test_a_timed_out_worker_is_killed_and_leaving_the_loop_kills_the_rest():
    import psutil

    me = psutil.Process()
    gen = LocalExecutor(2, timeout=1.0).map_unordered(sleep_on_two, [2, 2, 1, 2])
    first = next(gen)
    # the workers are the fork server's children (it and the resource tracker are ours)
    workers = [p for p in me.children(recursive=True) if p.ppid() != me.pid]
    assert first[0] in (0, 1) and isinstance(first[1], TimeoutError)
    gen.close()  # the caller stops early (an exception, Ctrl-C): every worker is stopped
    gone, alive = psutil.wait_procs(workers, timeout=5)
    assert alive == [] and len(gone) >= 1


def test_a_zero_timeout_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="timeout must be > 0"):
        LocalExecutor(2, timeout=0)


def test_dask_times_out_a_hung_item_and_restarts_its_worker():
    from simulators.executors import RunTimeoutError

    with DaskExecutor(n_workers=2, timeout=5.0) as ex:
        got = dict(ex.map_unordered(sleep_on_two, list(range(5))))
        assert isinstance(got[2], RunTimeoutError)
        assert {i: got[i] for i in (0, 1, 3, 4)} == {0: 0, 1: 10, 3: 30, 4: 40}
        # the restarted worker takes new work
        assert dict(ex.map_unordered(square_or_fail, [4])) == {0: 16}


@pytest.mark.slow
def test_submitit_jobs_keep_their_own_time_limit(tmp_path):
    pytest.importorskip("submitit")
    from simulators.executors import RunTimeoutError, SlurmExecutor

    ex = SlurmExecutor(folder=str(tmp_path / "jobs"), cluster="local", poll=0.2,
                       timeout=3.0, timeout_min=5)
    got = dict(ex.map_unordered(sleep_on_two, list(range(4))))
    assert isinstance(got[2], RunTimeoutError) and str(got[2]).startswith("timed out after 3 s")
    assert {i: got[i] for i in (0, 1, 3)} == {0: 0, 1: 10, 3: 30}
