"""The campaign runner: simulator × design × executor → archive.

Each finished run is appended to the archive the moment its result arrives, with its
provenance, so a killed campaign loses at most the runs in flight; running the same
campaign again skips every run id already stored (ok or failed) and computes the rest.
Failed runs (``SimulationError``, a dead worker, a run past the executor's time limit)
are stored flagged with their reason.  The loop itself (resume, progress, Ctrl-C) is
:func:`datasets.runner.run_loop`, shared with 3D ingest.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from datasets.archive import Archive, Provenance, config_hash
from datasets.errors import ArchiveError
from datasets.runner import RunSummary, done_ids, failure_reason, run_loop
from simulators.base import Simulator
from simulators.errors import SimulationError
from simulators.executors import Executor, RunTimeoutError, SerialExecutor, WorkerDiedError


@dataclass
class CampaignSummary(RunSummary):
    """What one call of :func:`run_campaign` did."""

    def __str__(self) -> str:
        lines = [f"campaign: {self.requested} runs requested, {self.skipped} already in the "
                 f"archive, {self.ok} ran ok, {self.failed} failed ({self.wall_time:.1f} s)"]
        for rid, why in list(self.reasons.items())[:10]:
            lines.append(f"  failed {rid}: {why}")
        if len(self.reasons) > 10:
            lines.append(f"  ... and {len(self.reasons) - 10} more failures")
        return "\n".join(lines)


def _run_batch(task: tuple[Simulator, list[dict[str, float]]]) -> list[tuple[str, Any, float]]:
    """Worker side: run a batch through the simulator's ``run_batch`` (one compiled call)."""
    simulator, points = task
    t0 = time.perf_counter()
    results = simulator.run_batch(points)
    wall = (time.perf_counter() - t0) / max(1, len(points))  # per run, amortised
    out = []
    for r in results:
        if isinstance(r, SimulationError):
            out.append(("failed", r.reason, wall))
        else:
            out.append(_checked(r, wall))
    return out


def _run_one(task: tuple[Simulator, dict[str, float]]) -> tuple[str, Any, float]:
    """Worker side: run one design point; never raises for a simulation failure."""
    simulator, params = task
    t0 = time.perf_counter()
    try:
        out = simulator(params)
    except SimulationError as exc:
        return "failed", exc.reason, time.perf_counter() - t0
    return _checked(out, time.perf_counter() - t0)


def _checked(out: dict[str, Any], wall: float) -> tuple[str, Any, float]:
    """An 'ok' result with a NaN or infinite output is a failed run, said so."""
    values = {k: np.asarray(v, dtype=float) for k, v in out.items()}
    bad = [k for k, v in values.items() if not np.all(np.isfinite(v))]
    if bad:
        return "failed", f"non-finite output {', '.join(bad)}", wall
    return "ok", values, wall


def run_campaign(
    simulator: Simulator,
    X: np.ndarray,
    archive: Archive,
    *,
    executor: Executor | None = None,
    run_ids: Sequence[str] | None = None,
    retry_failed: bool = False,
    progress: bool = True,
    description: str = "simulating",
    batch_size: int | None = None,
) -> CampaignSummary:
    """Run ``simulator`` at each row of ``X`` and append each run to ``archive``.

    Parameters
    ----------
    simulator : Simulator
        Picklable when the executor uses other processes.
    X : ndarray, shape (n, d)
        Design points in the simulator's parameter units (checked against its space).
    archive : Archive
        Open for appending; its parameters must be the simulator's.
    executor : Executor, optional
        Where to run; defaults to this process.
    run_ids : sequence of str, optional
        One unique id per row (default ``"run-00000"``...).  Ids already in the archive
        are skipped, so calling again resumes an interrupted campaign.
    retry_failed : bool
        Run again the ids stored as failed (the old failed rows stay, for the record).
    batch_size : int, optional
        For simulators with ``run_batch`` (the 1D solver advances many parameter sets in
        one compiled call): design points per task.  Default: enough batches for two per
        worker, at most 8 runs each; 1 for simulators without ``run_batch``.  Each
        finished batch is archived at once, so an interruption loses at most the batches
        in flight.
    """
    t_start = time.perf_counter()
    X = simulator.space.check(X)
    if archive.space.names != simulator.space.names:
        raise ValueError(
            f"the archive's parameters {archive.space.names} differ from the simulator's "
            f"{simulator.space.names}"
        )
    ids = [f"run-{i:05d}" for i in range(len(X))] if run_ids is None else list(map(str, run_ids))
    if len(ids) != len(X) or len(set(ids)) != len(ids):
        raise ValueError("run_ids must be unique, one per design point")
    prov = dict(simulator=simulator.name, version=simulator.version,
                config_hash=config_hash(simulator.config()))
    done = done_ids(archive, retry_failed)
    todo = [i for i, rid in enumerate(ids) if rid not in done]
    _check_resumable(archive, X, ids, prov["config_hash"])
    summary = CampaignSummary(requested=len(ids), skipped=len(ids) - len(todo))
    if not todo:
        summary.wall_time = time.perf_counter() - t_start
        return summary

    points = simulator.space.points(X)
    if batch_size is None:  # enough batches to keep every worker busy, at most 8 runs each
        workers = int(getattr(executor, "n_workers", None) or 1)
        batch_size = min(8, -(-len(todo) // (2 * workers))) if hasattr(simulator, "run_batch") \
            else 1
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    batched = batch_size > 1 and hasattr(simulator, "run_batch")
    groups = [todo[j:j + batch_size] for j in range(0, len(todo), batch_size)] if batched \
        else [[i] for i in todo]
    if batched:
        fn, tasks = _run_batch, [(simulator, [points[i] for i in g]) for g in groups]
    else:
        fn, tasks = _run_one, [(simulator, points[g[0]]) for g in groups]

    def store(k: int, result: Any) -> int:
        group = groups[k]
        if isinstance(result, BaseException):
            # Not a SimulationError (those come back as ("failed", ...)): a dead worker, a
            # run past its time limit, or a bug.  The runs are recorded as failed;
            # unexpected errors also warn.
            if not isinstance(result, (WorkerDiedError, RunTimeoutError)):
                warnings.warn(f"runs {[ids[i] for i in group]} raised "
                              f"{type(result).__name__}: {result}",
                              RuntimeWarning, stacklevel=2)
            results = [("failed", failure_reason(result), np.nan)] * len(group)
        else:
            results = result if batched else [result]
        for i, res in zip(group, results, strict=True):
            _store(archive, summary, simulator, points[i], ids[i], res, prov)
        return len(group)

    run_loop(executor or SerialExecutor(), fn, tasks, store, archive,
             sizes=[len(g) for g in groups], description=description, progress=progress)
    summary.wall_time = time.perf_counter() - t_start
    return summary


def _check_resumable(archive: Archive, X: np.ndarray, ids: list[str], chash: str) -> None:
    """Refuse to resume over stored runs made at other inputs or by another simulator config.

    A run id is only a name: reusing the runs stored under it is right only when they are
    the runs requested now.  Otherwise the archive belongs to another campaign.
    """
    stored = archive.run_ids()
    if not len(stored):
        return
    row_of = {rid: i for i, rid in enumerate(stored)}  # the last row of each id
    inputs = archive.inputs()
    hashes = archive.provenance()["config_hash"]
    for i, rid in enumerate(ids):
        r = row_of.get(rid)
        if r is None:
            continue
        if not np.allclose(inputs[r], X[i], rtol=1e-12, atol=0.0):
            raise ArchiveError(
                f"{str(archive.path)!r} already holds run {rid!r} at other inputs "
                f"({dict(zip(archive.space.names, inputs[r].tolist(), strict=True))}); it "
                f"belongs to another campaign (another design or seed). Use another archive "
                f"path (or archive=null in an experiment, which names it by the config)."
            )
        if hashes[r] and hashes[r] != chash:
            raise ArchiveError(
                f"{str(archive.path)!r} holds run {rid!r} made with another simulator "
                f"configuration (config hash {hashes[r][:12]} vs {chash[:12]}); reusing it "
                f"would mix models. Use another archive path."
            )


def _store(archive: Archive, summary: CampaignSummary, simulator: Simulator,
           point: dict[str, float], run_id: str, result: tuple[str, Any, float],
           prov: dict[str, str]) -> None:
    """Append one finished run (ok or failed) to the archive and count it."""
    state, payload, wall = result
    if state == "ok":
        archive.append(point, payload, fidelity=simulator.fidelity, run_id=run_id,
                       provenance=Provenance(**prov, wall_time=wall))
        summary.count(run_id, True)
    else:
        archive.append(point, None, fidelity=simulator.fidelity, status="failed",
                       reason=str(payload), run_id=run_id,
                       provenance=Provenance(**prov, wall_time=wall))
        summary.count(run_id, False, str(payload))

