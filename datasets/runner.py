"""One run loop for every source of runs: simulating (:func:`datasets.campaign.run_campaign`)
and ingesting 3D runs (:func:`datasets.ingest.ingest`) are two sources of one fidelity level.

The loop owns what they share: which run ids are still to do (resume by id), the progress
bar, the counts of a summary, and Ctrl-C.  The parallelism, per-run time limits, crash
tolerance and worker shutdown belong to the executor (:mod:`simulators.executors`).

Ctrl-C (``KeyboardInterrupt``) stops the loop: the workers are killed by the executor as
the loop is left, the runs already stored stay in the archive, and
:class:`RunInterrupted` (a ``KeyboardInterrupt``) says how many and where, so a command
line can print one line and exit 130.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from datasets.archive import Archive
from simulators.executors import Executor, RunTimeoutError, WorkerDiedError

#: exit status of a command stopped by Ctrl-C (128 + SIGINT)
EXIT_INTERRUPTED = 130


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a run loop; ``kept`` runs are stored in ``archive``."""

    def __init__(self, kept: int, archive: str):
        self.kept, self.archive = int(kept), str(archive)
        super().__init__(self.message())

    def message(self) -> str:
        return (f"interrupted: {self.kept} runs kept in {self.archive}; run the same command "
                f"again to resume")


@dataclass
class RunSummary:
    """Counts of one pass of the loop: requested, skipped (already stored), ok, failed."""

    requested: int = 0
    skipped: int = 0
    ok: int = 0
    failed: int = 0
    reasons: dict[str, str] = field(default_factory=dict)
    wall_time: float = 0.0

    def count(self, run_id: str, ok: bool, reason: str = "") -> None:
        if ok:
            self.ok += 1
        else:
            self.failed += 1
            self.reasons[run_id] = reason


def done_ids(archive: Archive, retry_failed: bool = False) -> set[str]:
    """Run ids to skip: every stored id, or only the ok ones when ``retry_failed``."""
    stored = archive.run_ids()
    if not len(stored):
        return set()
    status = archive.status()
    return {str(r) for r in (stored[status == 0] if retry_failed else stored)}


def failure_reason(exc: BaseException) -> str:
    """The archive's reason for an item that came back as an exception, not a result.

    A time limit or a dead worker says so plainly; anything else is named by its type and
    message (the callers' workers turn expected failures into results, so this is a bug or
    an unpicklable object, never a file's content).
    """
    if isinstance(exc, (RunTimeoutError, WorkerDiedError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def run_loop(executor: Executor, fn: Callable[[Any], Any], tasks: Sequence[Any],
             store: Callable[[int, Any], int], archive: Archive, *,
             sizes: Sequence[int] | None = None, description: str = "runs",
             progress: bool = True) -> None:
    """Run ``fn`` over ``tasks`` on ``executor`` and ``store(k, result)`` each as it comes.

    ``store`` appends task ``k``'s runs to the archive (``result`` is the task's value or
    the exception it came back as) and returns how many runs it stored, for the progress
    bar.  ``sizes`` is the runs per task (per-run time limits scale with it).  On Ctrl-C
    the executor's loop is closed (its workers killed) and :class:`RunInterrupted` is
    raised with the runs now in the archive.
    """
    total = int(sum(sizes)) if sizes is not None else len(tasks)
    bar = _progress(total, description, progress)
    results = executor.map_unordered(fn, tasks, sizes=sizes)
    try:
        with contextlib.closing(results):  # leaving early stops the workers
            for k, result in results:
                bar.update(store(k, result))
    except KeyboardInterrupt as exc:
        if isinstance(exc, RunInterrupted):
            raise
        raise RunInterrupted(len(archive), str(archive.path)) from None
    finally:
        bar.close()


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="run", disable=not enabled, leave=False)


__all__ = ["EXIT_INTERRUPTED", "RunInterrupted", "RunSummary", "done_ids", "failure_reason",
           "run_loop"]
