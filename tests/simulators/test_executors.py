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
