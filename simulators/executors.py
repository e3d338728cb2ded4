"""Executors: run a function over a batch of design points, locally or on a cluster.

Every executor yields ``(index, result)`` pairs *as they complete*, so the caller can
store each run the moment it finishes: a campaign killed half-way keeps what it has.
An item whose worker raised yields the exception object instead of a result; an item
whose worker process died is retried once, then yields :class:`WorkerDiedError`; an item
that runs past ``timeout`` seconds yields :class:`RunTimeoutError` (its worker is killed
and replaced, the other items go on).

* :class:`SerialExecutor` — in this process (debugging, tiny batches).
* :class:`LocalExecutor` — a pool of local worker processes.
* :class:`DaskExecutor` — a Dask ``distributed`` cluster: a ``LocalCluster`` on a laptop,
  or any scheduler address (e.g. one started by dask-jobqueue on SLURM).
* :class:`SlurmExecutor` — SLURM jobs through ``submitit`` (optional dependency).

This module is the one pool of twinemu (DESIGN.md "One pool"): campaigns and 3D ingest
both run through it, so per-run time limits, crash tolerance and clean shutdown live here.
Local workers never outlive the driver: they ignore Ctrl-C (the driver stops them), ask
Linux for ``SIGTERM`` when their parent dies (``prctl(PR_SET_PDEATHSIG)``) and watch the
driver's pid from a thread, so a driver killed with ``SIGKILL`` leaves no worker behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from simulators.errors import ConfigurationError


class WorkerDiedError(RuntimeError):
    """The process running an item died (killed, out of memory, segfault) twice."""


class RunTimeoutError(TimeoutError):
    """An item ran past the executor's per-run time limit; its worker was stopped."""

    def __init__(self, seconds: float, size: int = 1):
        self.seconds = float(seconds)
        what = "" if size == 1 else f" (a batch of {size} runs)"
        super().__init__(f"timed out after {self.seconds:g} s{what}; the worker was stopped")


class Executor(Protocol):
    def map_unordered(self, fn: Callable[[Any], Any], items: Sequence[Any],
                      sizes: Sequence[int] | None = None) -> Iterator[tuple[int, Any]]: ...

    def close(self) -> None: ...


def _check_timeout(timeout: float | None) -> float | None:
    if timeout is None:
        return None
    timeout = float(timeout)
    if not timeout > 0:
        raise ConfigurationError(f"timeout must be > 0 seconds (or null for none), got "
                                 f"{timeout}")
    return timeout


class SerialExecutor:
    """Run items one after the other in this process.

    ``timeout`` (s per item) is enforced with ``SIGALRM`` when running in the main thread
    on a POSIX system: it interrupts Python code, not a long call inside compiled code.
    """

    timeout: float | None = None

    def __init__(self, *, timeout: float | None = None):
        self.timeout = _check_timeout(timeout)

    def map_unordered(self, fn, items, sizes=None):
        for i, item in enumerate(items):
            limit = None if self.timeout is None else self.timeout * _size(sizes, i)
            try:
                with _alarm(limit, _size(sizes, i)):
                    result = fn(item)
            except Exception as exc:  # handed to the caller, which records it
                yield i, exc
            else:
                yield i, result

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _size(sizes: Sequence[int] | None, i: int) -> int:
    return 1 if sizes is None else max(1, int(sizes[i]))


@contextlib.contextmanager
def _alarm(seconds: float | None, size: int = 1):
    """Raise :class:`RunTimeoutError` in this (main) thread after ``seconds``."""
    usable = (seconds is not None and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def _expired(signum, frame):
        raise RunTimeoutError(seconds, size)

    old = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# -- local worker processes ----------------------------------------------------------------

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def watch_parent(driver_pid: int, interval: float = 0.5) -> None:
    """Make this (worker) process exit when the driver ``driver_pid`` dies.

    Ctrl-C is ignored here (the driver stops its workers); on Linux the kernel sends
    ``SIGTERM`` when the parent dies (``prctl(PR_SET_PDEATHSIG)``), and a daemon thread
    polls ``os.getppid()`` and the driver's pid as a fallback (other systems; a worker
    whose parent is a fork server rather than the driver).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - exotic libc
            pass

    def _gone(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # pragma: no cover - pid reused by another user
            return True
        return False

    def _watch() -> None:
        while True:
            if os.getppid() != parent or _gone(driver_pid):
                os._exit(1)
            time.sleep(interval)

    if os.getppid() != parent or _gone(driver_pid):  # died before the watch began
        os._exit(1)
    threading.Thread(target=_watch, name="twinemu-parent-watch", daemon=True).start()


def _worker_main(conn: Any, driver_pid: int) -> None:
    """A local worker: run ``fn(item)`` for each message until told to stop (``None``)."""
    watch_parent(driver_pid)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if msg is None:
            return
        try:
            fn, item = msg  # unpickled (the simulator's modules imported): the clock starts
            conn.send(_STARTED)
            reply = (True, fn(item))
        except BaseException as exc:  # noqa: BLE001 - sent back, recorded by the caller
            reply = (False, exc)
        try:
            conn.send(reply)
        except Exception as exc:  # an unpicklable result or exception
            conn.send((False, RuntimeError(
                f"the result could not be sent back from the worker "
                f"({type(exc).__name__}: {exc})")))


_STARTED = "started"  # a worker's word that it has begun an item
#: time allowed to a fresh worker to unpickle an item (importing its modules) before it runs
STARTUP_ALLOWANCE = 120.0


class _Worker:
    """One worker process with its pipe and the item it is running."""

    def __init__(self, ctx: Any):
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_worker_main, args=(child, os.getpid()),
                                name="twinemu-worker", daemon=True)
        self.proc.start()
        child.close()
        self.item: int | None = None
        self.deadline = float("inf")

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5.0)
        self.conn.close()

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(None)
        self.proc.join(0.5)
        self.kill()


class LocalExecutor(SerialExecutor):
    """A pool of ``n_workers`` local processes (default: the CPU count).

    Each worker runs one item at a time, so a worker that dies (killed, out of memory, a
    crash in compiled code) names its item: that item is run again in a fresh worker, and
    after ``1 + max_retries`` deaths it comes back as :class:`WorkerDiedError`; the other
    items are not disturbed.  An item running past ``timeout`` seconds (times its
    ``sizes`` entry, the runs it holds) comes back as :class:`RunTimeoutError` and its
    worker is killed and replaced.  Leaving the loop early (an exception in the caller,
    Ctrl-C, ``close()`` of the generator) kills every worker: none outlives the loop.
    Workers come from a fork server (not forks of this process: they must not inherit its
    open files, e.g. an HDF5 archive's lock).
    """

    def __init__(self, n_workers: int | None = None, *, max_retries: int = 1,
                 timeout: float | None = None):
        if n_workers is not None and int(n_workers) < 1:
            raise ConfigurationError(f"n_workers must be >= 1 (or None for all CPUs), "
                                     f"got {n_workers}")
        self.n_workers = int(n_workers or os.cpu_count() or 1)
        self.max_retries = int(max_retries)
        self.timeout = _check_timeout(timeout)

    def map_unordered(self, fn, items, sizes=None):
        from multiprocessing.connection import wait

        ctx = _mp_context()
        pending = deque(range(len(items)))
        deaths: dict[int, int] = {}
        workers: list[_Worker] = []
        try:
            while pending or any(w.item is not None for w in workers):
                for w in [w for w in workers if w.item is None and not w.proc.is_alive()]:
                    w.kill()  # died while idle (killed from outside): replaced below
                    workers.remove(w)
                while pending and len(workers) < min(self.n_workers, len(items)):
                    workers.append(_Worker(ctx))
                for w in workers:
                    if w.item is None and pending:
                        i = pending.popleft()
                        try:
                            w.conn.send((fn, items[i]))
                        except (BrokenPipeError, ConnectionError, EOFError):
                            pending.appendleft(i)  # the worker died idle: not the item's
                            continue  # fault; it is retired at the next pass
                        except Exception as exc:  # unpicklable item: its own failure
                            yield i, exc
                            continue
                        w.item = i  # the clock starts when the worker says it has begun
                        w.deadline = (time.monotonic() + STARTUP_ALLOWANCE
                                      + self.timeout * _size(sizes, i)
                                      if self.timeout else float("inf"))
                busy = [w for w in workers if w.item is not None]
                if not busy:
                    continue
                nearest = min(w.deadline for w in busy) - time.monotonic()
                ready = set(wait([w.conn for w in busy] + [w.proc.sentinel for w in busy],
                                 timeout=None if nearest == float("inf") else max(0, nearest)))
                for w in busy:
                    i = w.item
                    assert i is not None
                    got, result = False, None
                    if w.conn in ready or w.proc.sentinel in ready:
                        try:
                            while not got and w.conn.poll():
                                msg = w.conn.recv()
                                if isinstance(msg, str):  # _STARTED
                                    if self.timeout:
                                        w.deadline = (time.monotonic()
                                                      + self.timeout * _size(sizes, i))
                                    continue
                                _ok, result = msg
                                got = True
                        except (EOFError, OSError):
                            pass
                        except Exception as exc:  # a result this process cannot unpickle
                            result, got = RuntimeError(
                                f"the result of item {i} could not be read back "
                                f"({type(exc).__name__}: {exc})"), True
                    if got:
                        w.item = None
                        yield i, result
                    elif w.proc.sentinel in ready or not w.proc.is_alive():
                        code = w.proc.exitcode
                        w.kill()
                        workers.remove(w)
                        deaths[i] = deaths.get(i, 0) + 1
                        if deaths[i] <= self.max_retries:
                            pending.appendleft(i)  # once more, in a fresh worker
                        else:
                            yield i, WorkerDiedError(
                                f"the worker process died while running item {i} "
                                f"({deaths[i]} attempts, exit code {code}); it may run out "
                                f"of memory or crash in compiled code")
                    elif time.monotonic() >= w.deadline:
                        w.kill()
                        workers.remove(w)
                        yield i, RunTimeoutError(self.timeout * _size(sizes, i),
                                                 _size(sizes, i))
        finally:
            for w in workers:
                w.kill() if w.item is not None else w.stop()


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
    timeout : float, optional
        Seconds per item.  Items are then submitted no faster than the cluster has
        threads, so an item's clock starts when it starts; one past its limit is cancelled,
        its worker restarted (through its nanny) and it comes back as
        :class:`RunTimeoutError`.
    """

    def __init__(self, address: str | None = None, *, n_workers: int | None = None,
                 client: Any = None, retries: int = 1, dashboard: bool = False,
                 timeout: float | None = None, quiet: bool = True):
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
        self.timeout = _check_timeout(timeout)
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

    def _result(self, fut: Any, i: int) -> Any:
        try:
            return fut.result()
        except Exception as exc:
            if type(exc).__name__ == "KilledWorker":
                return WorkerDiedError(f"the Dask worker died running item {i}: {exc}")
            return exc
        finally:
            fut.release()

    def map_unordered(self, fn, items, sizes=None):
        from distributed import as_completed

        if self.timeout is None:
            futures = self.client.map(fn, list(items), pure=False, retries=self.retries)
            index = {f.key: i for i, f in enumerate(futures)}
            try:
                for fut in as_completed(futures):
                    yield index[fut.key], self._result(fut, index[fut.key])
            finally:
                self.client.cancel(futures)
            return
        yield from self._map_timed(fn, items, sizes)

    def _map_timed(self, fn, items, sizes):
        from distributed import wait as dask_wait

        slots = max(1, sum(self.client.nthreads().values()))
        pending = deque(range(len(items)))
        running: dict[Any, tuple[int, float]] = {}
        try:
            while pending or running:
                while pending and len(running) < slots:
                    i = pending.popleft()
                    fut = self.client.submit(fn, items[i], pure=False, retries=self.retries)
                    running[fut] = (i, time.monotonic() + self.timeout * _size(sizes, i))
                nearest = min(d for _, d in running.values()) - time.monotonic()
                try:
                    done, _ = dask_wait(list(running), timeout=max(0.05, nearest),
                                        return_when="FIRST_COMPLETED")
                except TimeoutError:
                    done = set()
                for fut in done:
                    i, _ = running.pop(fut)
                    yield i, self._result(fut, i)
                now = time.monotonic()
                for fut, (i, deadline) in list(running.items()):
                    if now >= deadline and not fut.done():
                        running.pop(fut)
                        self._stop(fut)
                        yield i, RunTimeoutError(self.timeout * _size(sizes, i),
                                                 _size(sizes, i))
        finally:
            if running:
                self.client.cancel(list(running))

    def _stop(self, fut: Any) -> None:
        """Cancel a task and restart the worker running it (a thread cannot be killed)."""
        where = [w for w, keys in self.client.processing().items() if fut.key in keys]
        self.client.cancel([fut])
        if where:
            with contextlib.suppress(Exception):  # no nanny: the task runs on, unheard
                self.client.restart_workers(where)

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
    ``poll`` is the interval (s) between checks for finished jobs.  ``timeout`` (s per
    item) is enforced inside each job from when its function starts (``SIGALRM``: it stops
    Python code; SLURM's own ``timeout_min`` bounds a job stuck in compiled code) and comes
    back as :class:`RunTimeoutError`.  Leaving the loop early cancels the jobs not finished.
    """

    def __init__(self, folder: str = "outputs/slurm", *, cluster: str | None = "slurm",
                 poll: float = 2.0, timeout: float | None = None, **slurm: Any):
        try:
            import submitit
        except ImportError as exc:
            raise ConfigurationError(
                "the SLURM executor needs submitit: pip install 'twinemu[slurm]'"
            ) from exc
        self.timeout = _check_timeout(timeout)
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

    def map_unordered(self, fn, items, sizes=None):
        if self.timeout is None:
            jobs = self._ex.map_array(fn, list(items))
        else:  # the limit is kept inside each job, from when its function starts
            jobs = self._ex.map_array(_run_limited, [
                (fn, item, self.timeout * _size(sizes, i), _size(sizes, i))
                for i, item in enumerate(items)])
        index = {id(j): i for i, j in enumerate(jobs)}
        remaining = list(jobs)
        try:
            while remaining:
                still = []
                for job in remaining:
                    i = index[id(job)]
                    if not job.done():
                        still.append(job)
                        continue
                    try:
                        result = job.result()
                    except Exception as exc:
                        result = exc
                    if isinstance(result, _TimedOut):
                        result = RunTimeoutError(result.seconds, result.size)
                    yield i, result
                remaining = still
                if remaining:
                    time.sleep(self.poll)
        finally:
            for job in remaining:
                with contextlib.suppress(Exception):
                    job.cancel(check=False)


class _TimedOut:
    """What a job past its time limit returns (an exception would come back as text)."""

    def __init__(self, seconds: float, size: int):
        self.seconds, self.size = float(seconds), int(size)


def _run_limited(task: tuple[Callable[[Any], Any], Any, float, int]) -> Any:
    """Job side: ``fn(item)`` under a ``SIGALRM`` limit of ``seconds`` (the job's main
    thread); past it, a :class:`_TimedOut` is returned."""
    fn, item, seconds, size = task
    try:
        with _alarm(seconds, size):
            return fn(item)
    except RunTimeoutError:
        return _TimedOut(seconds, size)


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
