"""Executors: run a function over a batch of design points, locally or on a cluster.

Every executor yields ``(index, result)`` pairs *as they complete*, so the caller can
store each run the moment it finishes: a campaign killed half-way keeps what it has.
An item whose worker raised yields the exception object instead of a result; an item
whose worker process died is retried once, then yields :class:`WorkerDiedError`.

* :class:`SerialExecutor` — in this process (debugging, tiny batches).
* :class:`LocalExecutor` — a local process pool (``concurrent.futures``).
* :class:`DaskExecutor` — a Dask ``distributed`` cluster: a ``LocalCluster`` on a laptop,
  or any scheduler address (e.g. one started by dask-jobqueue on SLURM).
* :class:`SlurmExecutor` — SLURM jobs through ``submitit`` (optional dependency).

We never write our own scheduler: these are thin adapters over those libraries.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from simulators.errors import ConfigurationError


class WorkerDiedError(RuntimeError):
    """The process running an item died (killed, out of memory, segfault) twice."""


class Executor(Protocol):
    def map_unordered(self, fn: Callable[[Any], Any], items: Sequence[Any]
                      ) -> Iterator[tuple[int, Any]]: ...

    def close(self) -> None: ...


class SerialExecutor:
    """Run items one after the other in this process."""

    def map_unordered(self, fn, items):
        for i, item in enumerate(items):
            try:
                yield i, fn(item)
            except Exception as exc:  # handed to the caller, which records it
                yield i, exc

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class LocalExecutor(SerialExecutor):
    """A pool of ``n_workers`` local processes (default: the CPU count).

    When a worker process dies (killed, out of memory, a crash in compiled code), the
    pool breaks and every item not yet finished comes back broken.  Those items are then
    run again one at a time, each in a fresh single-process pool, so the item that kills
    its worker is identified and only it is reported, as :class:`WorkerDiedError` after
    ``1 + max_retries`` attempts; the innocent items simply complete.
    """

    def __init__(self, n_workers: int | None = None, *, max_retries: int = 1):
        if n_workers is not None and int(n_workers) < 1:
            raise ConfigurationError(f"n_workers must be >= 1 (or None for all CPUs), "
                                     f"got {n_workers}")
        self.n_workers = int(n_workers or os.cpu_count() or 1)
        self.max_retries = int(max_retries)

    def map_unordered(self, fn, items):
        broken: list[int] = []
        yield from self._pool_round(fn, items, range(len(items)), self.n_workers, broken)
        for i in broken:  # isolate: one item per fresh pool, so a crash names its item
            for _attempt in range(1 + self.max_retries):
                died: list[int] = []
                results = list(self._pool_round(fn, items, [i], 1, died))
                if not died:
                    yield from results
                    break
            else:
                yield i, WorkerDiedError(
                    f"the worker process died while running item {i} "
                    f"({1 + self.max_retries} attempts alone); it may run out of memory or "
                    f"crash in compiled code"
                )

    @staticmethod
    def _pool_round(fn, items, indices, n_workers, broken):
        # Workers come from a fork server, not a fork of this process: they must not
        # inherit its open files (an HDF5 archive's lock would outlive a killed campaign).
        with ProcessPoolExecutor(n_workers, mp_context=_mp_context()) as pool:
            futures = {pool.submit(fn, items[i]): i for i in indices}
            while futures:
                done, _ = wait(futures, return_when=FIRST_COMPLETED)
                for fut in done:
                    i = futures.pop(fut)
                    try:
                        yield i, fut.result()
                    except BrokenProcessPool:
                        broken.append(i)
                    except Exception as exc:
                        yield i, exc


class DaskExecutor(SerialExecutor):
    """Submit items to a Dask ``distributed`` cluster.

    Parameters
    ----------
    address : str, optional
        Scheduler address (``tcp://host:8786``).  Without it a ``LocalCluster`` of
        ``n_workers`` single-threaded processes is started and closed with the executor.
    client : distributed.Client, optional
        An existing client to use instead (it is not closed).
    retries : int
        Dask retries per task when a worker dies (``KilledWorker`` after that).
    """

    def __init__(self, address: str | None = None, *, n_workers: int | None = None,
                 client: Any = None, retries: int = 1, dashboard: bool = False,
                 quiet: bool = True):
        if quiet:  # Dask logs ~60 INFO lines per cluster start/stop; keep warnings
            import logging

            for name in ("distributed", "dask"):
                logging.getLogger(name).setLevel(logging.WARNING)
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover - dask is in the 'full' extra
            raise ConfigurationError(
                "the Dask executor needs 'distributed': pip install 'dask[distributed]'"
            ) from exc
        self._own = client is None
        self._cluster = None
        if client is None:
            if address is None:
                self._cluster = LocalCluster(
                    n_workers=int(n_workers or os.cpu_count() or 1), threads_per_worker=1,
                    processes=True, dashboard_address=":0" if dashboard else None,
                )
                client = Client(self._cluster)
            else:
                client = Client(address)
        self.client = client
        self.retries = retries

    def map_unordered(self, fn, items):
        from distributed import as_completed

        futures = self.client.map(fn, list(items), pure=False, retries=self.retries)
        index = {f.key: i for i, f in enumerate(futures)}
        for fut in as_completed(futures):
            i = index[fut.key]
            try:
                yield i, fut.result()
            except Exception as exc:
                if type(exc).__name__ == "KilledWorker":
                    exc = WorkerDiedError(f"the Dask worker died running item {i}: {exc}")
                yield i, exc
            finally:
                fut.release()

    def close(self) -> None:
        if self._own:
            self.client.close()
            if self._cluster is not None:
                self._cluster.close()


class SlurmExecutor(SerialExecutor):
    """Run each item as a SLURM job array task through ``submitit``.

    ``folder`` holds submitit's logs; ``slurm`` options (``slurm_partition``,
    ``timeout_min``, ``cpus_per_task``, ``mem_gb``, ...) go to
    ``AutoExecutor.update_parameters`` (options set to ``None`` are left out).
    ``cluster="local"`` runs the jobs as local processes through the same code path, for
    trying a configuration on a laptop; ``"slurm"`` (the default) or ``None`` need SLURM
    (``sbatch`` on PATH) and raise :class:`ConfigurationError` without it, rather than
    silently running locally.
    ``poll`` is the interval (s) between checks for finished jobs.
    """

    def __init__(self, folder: str = "outputs/slurm", *, cluster: str | None = "slurm",
                 poll: float = 2.0, **slurm: Any):
        try:
            import submitit
        except ImportError as exc:
            raise ConfigurationError(
                "the SLURM executor needs submitit: pip install 'twinemu[slurm]'"
            ) from exc
        if cluster in (None, "slurm") and shutil.which("sbatch") is None:
            raise ConfigurationError(
                "executor=slurm needs SLURM, and there is no 'sbatch' on PATH here; run on a "
                "SLURM login node, or try the configuration with local processes "
                "(executor.cluster=local), or use executor=local")
        self._ex = submitit.AutoExecutor(folder=folder, cluster=cluster)
        self.poll = float(poll)
        options = {k: v for k, v in slurm.items() if v is not None}
        if options:
            try:
                self._ex.update_parameters(**options)
            except (ValueError, TypeError) as exc:
                raise ConfigurationError(f"bad SLURM executor options {options}: {exc}"
                                         ) from exc

    def map_unordered(self, fn, items):
        jobs = self._ex.map_array(fn, list(items))
        index = {id(j): i for i, j in enumerate(jobs)}
        remaining = list(jobs)
        import time

        while remaining:
            still = []
            for job in remaining:
                if job.done():
                    try:
                        yield index[id(job)], job.result()
                    except Exception as exc:
                        yield index[id(job)], exc
                else:
                    still.append(job)
            remaining = still
            if remaining:
                time.sleep(self.poll)


def _mp_context():
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def get_executor(kind: str = "local", **kwargs: Any) -> Executor:
    """Build an executor by name: ``serial``, ``local``, ``dask`` or ``slurm``."""
    kinds = {"serial": SerialExecutor, "local": LocalExecutor, "dask": DaskExecutor,
             "slurm": SlurmExecutor}
    if kind not in kinds:
        raise ConfigurationError(f"unknown executor {kind!r}; choose one of {', '.join(kinds)}")
    return kinds[kind](**kwargs)
