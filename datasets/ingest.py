"""Ingest archived 3D CFD runs into a campaign archive as a fidelity level.

``ingest(manifest, archive)`` reads every run of a manifest (in parallel worker processes,
each reading one step at a time), reduces it to quantities of interest
(:mod:`datasets.qoi`) and appends one row per run to the campaign archive, with provenance:
the adapter and solver version, the SHA-256 of every source file, a hash of the manifest
row and the wall time.  Only the main process writes the archive.  Runs already in the
archive are skipped (resume); a bad file becomes a failed run with its reason and the
others go on.  A reader process that dies (a segmentation fault or out-of-memory kill in
h5py) is replaced: the runs it had in flight are read again one at a time, and a run whose
reader dies twice is recorded as failed.  Source files are opened read-only and never modified.

Manifest (YAML)
---------------
::

    parameters:                      # the campaign's parameter space
      - {name: inflow_scale, low: 0.5, high: 1.5, unit: "1"}
    qois:
      velocity: u                    # field names in the source
      pressure: p
      displacement: d                # optional (FSI): points move by d at each step
      inlet: inlet                   # boundary names (or integer tags)
      outlets: [outlet0, outlet1]
      wall: wall                     # WSS metrics on this boundary (P1 tetrahedra)
      regions: {sinus: 4}            # optional: wall subsets with their own statistics
      caps_from: artery_info.json    # VaMPy: tag untagged caps from their centres
      phase_points: 100              # waveforms resampled to k/n, k = 0..n-1
      period: 0.951                  # s (default: span + one step)
      cycle: last                    # average over the last full period (t > t_end - period)
      low_wss_threshold: 0.4         # Pa
      percentiles: [10, 50, 90]
      flow_unit: mL/s                # archive units
      pressure_unit: mmHg
      units:                         # units of the source files
        length: mm
        time: ms
        pressure: kinematic          # p/rho; or Pa, mmHg, dyn/cm2
        density: 1060                # kg/m^3
        viscosity: 0.0035            # Pa s
        dt: 0.951                    # time unit per timestamp (FEniCS step-index stamps)
    runs:                            # a list, or the path of a CSV file (below)
      - id: artery_01
        inputs: {inflow_scale: 1.0}
        source: {mesh: Solutions/mesh.h5, u: Solutions/u.h5, p: Solutions/p.h5}
        format: fenics-hdf5          # optional: skip detection
        fidelity: 3d                 # optional, default "3d"

CSV runs table (``runs: runs.csv``, or a ``.csv`` manifest with a sidecar
``<name>.yaml`` holding ``parameters`` and ``qois``): columns ``id, source, format,
fidelity`` and one column per parameter; a multi-file source is written
``mesh=a.h5;u=b.h5;p=c.h5``.  Paths are relative to the manifest's folder; ``$VARS`` and
``~`` are expanded (``$TWINEMU_SHARED_DATA``).
"""

from __future__ import annotations

import csv
import hashlib
import json
import multiprocessing
import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from datasets.archive import Archive, Provenance, config_hash, file_sha256
from datasets.errors import AdapterError, ManifestError, QoIError
from datasets.qoi import QoISpec, SourceUnits, compute_qois
from simulators.base import OutputSpec
from simulators.design import ParameterSpace

_QOI_KEYS = {"velocity", "pressure", "displacement", "inlet", "outlets", "wall", "regions",
             "caps", "cap_tags", "caps_from", "wss", "low_wss_threshold", "percentiles",
             "phase_points", "period", "cycle", "units", "flow_unit", "pressure_unit", "steps"}
_UNIT_KEYS = {"length", "time", "pressure", "density", "viscosity", "dt"}
_RUN_KEYS = {"id", "inputs", "source", "format", "fidelity", "options"}


@dataclass
class RunEntry:
    """One run of a manifest, paths resolved."""

    id: str
    inputs: dict[str, float]
    source: str | dict[str, str]
    format: str | None = None
    fidelity: str = "3d"
    options: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Manifest:
    path: Path
    space: ParameterSpace
    qois: dict[str, Any]
    runs: list[RunEntry]

    def spec(self, phase_points: int | None = None) -> QoISpec:
        return build_spec(self.qois, self.path.parent, phase_points)


def _expand(value: str, folder: Path) -> str:
    p = Path(os.path.expanduser(os.path.expandvars(str(value))))
    if "$" in str(p):
        raise ManifestError(f"path {value!r} uses an environment variable that is not set "
                            f"(e.g. export TWINEMU_SHARED_DATA=../shared/data)")
    return str(p if p.is_absolute() else (folder / p))


def _source(value: Any, folder: Path, where: str) -> str | dict[str, str]:
    if isinstance(value, Mapping):
        return {str(k): _expand(v, folder) for k, v in value.items()}
    if isinstance(value, str) and "=" in value and ";" in value:
        parts = dict(item.split("=", 1) for item in value.split(";") if item.strip())
        return {k.strip(): _expand(v.strip(), folder) for k, v in parts.items()}
    if isinstance(value, str) and value.strip():
        return _expand(value.strip(), folder)
    raise ManifestError(f"{where}: 'source' must be a path or a mapping "
                        f"{{mesh: ..., u: ..., p: ...}}, got {value!r}")


def load_manifest(path: str | os.PathLike) -> Manifest:
    """Read and validate a YAML (or CSV + sidecar YAML) manifest; see the module docstring."""
    import yaml

    path = Path(path)
    if not path.exists():
        raise ManifestError(f"no manifest at {str(path)!r}")
    folder = path.parent
    if path.suffix.lower() == ".csv":
        side = path.with_suffix(".yaml")
        if not side.exists():
            side = path.with_suffix(".yml")
        if not side.exists():
            raise ManifestError(f"a CSV manifest needs a sidecar {path.stem}.yaml with "
                                f"'parameters' and 'qois'")
        doc = yaml.safe_load(side.read_text()) or {}
        doc["runs"] = path.name
    else:
        try:
            doc = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ManifestError(f"{path.name} is not valid YAML: {exc}") from exc
    if not isinstance(doc, Mapping):
        raise ManifestError(f"{path.name}: expected a mapping with parameters, qois, runs")
    unknown = set(doc) - {"parameters", "qois", "runs", "description"}
    if unknown:
        raise ManifestError(f"{path.name}: unknown top-level keys {sorted(unknown)} (allowed: "
                            f"parameters, qois, runs, description)")
    for key in ("parameters", "runs"):
        if key not in doc:
            raise ManifestError(f"{path.name}: missing '{key}'")
    try:
        space = ParameterSpace(doc["parameters"])
    except Exception as exc:  # ParameterError and friends: report as a manifest error
        raise ManifestError(f"{path.name}: bad 'parameters': {exc}") from exc
    qois = dict(doc.get("qois") or {})
    bad = set(qois) - _QOI_KEYS
    if bad:
        raise ManifestError(f"{path.name}: unknown qois keys {sorted(bad)}; allowed "
                            f"{sorted(_QOI_KEYS)}")
    bad = set(qois.get("units") or {}) - _UNIT_KEYS
    if bad:
        raise ManifestError(f"{path.name}: unknown qois.units keys {sorted(bad)}; allowed "
                            f"{sorted(_UNIT_KEYS)}")
    runs_doc = doc["runs"]
    if isinstance(runs_doc, str):
        runs_doc = _read_csv(Path(_expand(runs_doc, folder)), space)
    if not isinstance(runs_doc, list) or not runs_doc:
        raise ManifestError(f"{path.name}: 'runs' must be a non-empty list or a CSV path")
    runs, seen = [], set()
    for i, r in enumerate(runs_doc):
        where = f"{path.name}: runs[{i}]"
        if not isinstance(r, Mapping) or "id" not in r or "source" not in r:
            raise ManifestError(f"{where}: each run needs 'id' and 'source'")
        extra = set(r) - _RUN_KEYS
        if extra:
            raise ManifestError(f"{where}: unknown keys {sorted(extra)}")
        rid = str(r["id"])
        if rid in seen:
            raise ManifestError(f"{where}: duplicate run id {rid!r}")
        seen.add(rid)
        raw = r.get("inputs") or {}
        if not isinstance(raw, Mapping):
            raise ManifestError(f"{where} ({rid}): 'inputs' must be a mapping "
                                f"{{parameter: value}}, got {raw!r}")
        inputs = {}
        for k, v in raw.items():
            try:
                if isinstance(v, bool):
                    raise TypeError("a yes/no value")
                inputs[str(k)] = float(v)
            except (TypeError, ValueError) as exc:
                raise ManifestError(f"{where} ({rid}): input {k}={v!r} is not a number; give "
                                    f"a value in the parameter's unit, e.g. {k}: 1.0"
                                    ) from exc
        missing = [n for n in space.names if n not in inputs]
        unknown_in = [k for k in inputs if k not in space.names]
        if missing or unknown_in:
            raise ManifestError(f"{where} ({rid}): inputs must give {space.names}; missing "
                                f"{missing}, unknown {unknown_in}")
        for p in space:
            v = inputs[p.name]
            if not p.low <= v <= p.high:
                raise ManifestError(f"{where} ({rid}): {p.name}={v} outside "
                                    f"[{p.low}, {p.high}]")
        runs.append(RunEntry(rid, inputs, _source(r["source"], folder, where),
                             r.get("format") or None, str(r.get("fidelity") or "3d"),
                             dict(r.get("options") or {})))
    man = Manifest(path, space, qois, runs)
    man.spec()  # validate units and output names now, not in a worker
    return man


def _read_csv(path: Path, space: ParameterSpace) -> list[dict[str, Any]]:
    if not path.exists():
        raise ManifestError(f"runs table {str(path)!r} does not exist")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(line for line in f if not line.lstrip().startswith("#")))
    out = []
    for row in rows:
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        try:
            inputs = {n: float(row[n]) for n in space.names}
        except (KeyError, ValueError) as exc:
            raise ManifestError(f"{path.name}: row {row.get('id')!r} needs a number in each "
                                f"parameter column {space.names}: {exc}") from exc
        out.append({"id": row.get("id", ""), "source": row.get("source", ""),
                    "format": row.get("format") or None,
                    "fidelity": row.get("fidelity") or "3d", "inputs": inputs})
    return out


def build_spec(qois: Mapping[str, Any], folder: Path, phase_points: int | None = None
               ) -> QoISpec:
    """A :class:`QoISpec` from the manifest's ``qois`` mapping."""
    q = dict(qois)
    units = dict(q.pop("units", None) or {})
    units.pop("dt", None)
    caps_from = q.pop("caps_from", None)
    try:
        su = SourceUnits(**units)
    except (TypeError, QoIError) as exc:
        raise ManifestError(f"qois.units: {exc}") from exc
    if caps_from:
        caps, tags = _read_caps(Path(_expand(caps_from, folder)))
        q.setdefault("caps", caps)
        q.setdefault("cap_tags", tags)
        q.setdefault("outlets", sorted(k for k in caps if k != "inlet"))
    if phase_points is not None and "phase_points" not in q:
        q["phase_points"] = phase_points
    if "outlets" in q:
        q["outlets"] = list(q["outlets"])
    if isinstance(q.get("wall"), tuple):
        q["wall"] = list(q["wall"])
    try:
        return QoISpec(units=su, **q)
    except (TypeError, QoIError) as exc:
        raise ManifestError(f"qois: {exc}") from exc


def _read_caps(path: Path) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Cap centres and VaMPy tags from an ``artery_info.json`` (``qois.caps_from``)."""
    where = f"qois.caps_from: {str(path)!r}"
    try:
        info = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ManifestError(f"{where} does not exist; it should be the artery_info.json "
                            f"written beside the VaMPy mesh") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{where} cannot be read: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{where} is not valid JSON ({exc})") from exc
    if not isinstance(info, Mapping) or "inlet" not in info:
        raise ManifestError(f"{where} must be a JSON object with cap centres: 'inlet' and "
                            f"'outlet0', 'outlet1'... as [x, y, z]")
    names = ("inlet", *sorted(k for k in info if k.startswith("outlet")
                              and not k.endswith(("_area", "_ids"))))
    try:
        caps = {k: [float(x) for x in np.ravel(info[k])] for k in names}
        tags = {}
        if "inlet_id" in info and "outlet_ids" in info:  # VaMPy's tag numbering
            tags["inlet"] = int(np.ravel(info["inlet_id"])[0])
            outs = sorted(k for k in caps if k.startswith("outlet"))
            for k, t in zip(outs, np.ravel(info["outlet_ids"]), strict=False):
                tags[k] = int(t)
    except (TypeError, ValueError, IndexError) as exc:
        raise ManifestError(f"{where}: cap centres must be [x, y, z] numbers and ids "
                            f"integers ({exc})") from exc
    bad = [k for k, c in caps.items() if len(c) != 3]
    if bad:
        raise ManifestError(f"{where}: cap centres {bad} are not [x, y, z]")
    return caps, tags


def output_specs(spec: QoISpec) -> list[OutputSpec]:
    return [OutputSpec(n, u, s, d) for n, u, s, d in spec.outputs()]


# -- the worker ----------------------------------------------------------------------------

def _files_of(source: str | dict[str, str]) -> list[str]:
    return list(source.values()) if isinstance(source, dict) else [source]


def _combined_sha(paths: list[Path]) -> str:
    if len(paths) == 1:
        return file_sha256(paths[0])
    h = hashlib.sha256()
    for p in paths:
        h.update(f"{p.name}:{file_sha256(p)}\n".encode())
    return h.hexdigest()


def process_run(entry: dict[str, Any], qois: dict[str, Any], folder: str,
                phase_points: int) -> dict[str, Any]:
    """Read one run and compute its QoIs; returns plain data (never raises for bad input).

    ``{"id", "status": "ok"|"failed", "reason", "outputs", "provenance"}``.
    """
    from datasets import adapters

    t0 = time.perf_counter()
    run = RunEntry(**entry)
    # hash what defines the run, not where its files happen to live on this machine
    row = {**entry, "source": {k: Path(v).name for k, v in run.source.items()}
           if isinstance(run.source, dict) else Path(run.source).name, "qois": qois}
    prov = {"simulator": run.format or "", "version": "", "config_hash": config_hash(row),
            "source_sha256": "", "wall_time": float("nan")}
    try:
        for p in _files_of(run.source):
            if not Path(p).exists():
                raise AdapterError(f"source file {p!r} does not exist")
        spec = build_spec(qois, Path(folder), phase_points)
        fmt = run.format or adapters.detect(run.source)
        options = dict(run.options)
        dt = (qois.get("units") or {}).get("dt")
        if fmt == "fenics-hdf5" and dt is not None and "dt" not in options:
            options["dt"] = float(dt) * spec.units.time_factor  # seconds per timestamp
        with adapters.open(run.source, format=fmt, **options) as src:
            meta = src.metadata()
            prov["simulator"] = f"{fmt}:{meta.get('solver', '')}"
            prov["version"] = meta.get("version", "")
            sources = [Path(p) for p in src.files()]
            gone = [str(p) for p in sources if not p.exists()]
            if gone:
                raise AdapterError(f"{src.path.name} refers to {gone}, which do(es) not exist")
            prov["source_sha256"] = _combined_sha(sources)
            result = compute_qois(src, spec)
        outputs = {k: v for k, v in result.items() if not k.startswith("_")}
        prov["wall_time"] = time.perf_counter() - t0
        # an ok run's reason says what was left out and why (e.g. WSS on face data)
        return {"id": run.id, "status": "ok", "reason": "; ".join(result.get("_notes", ())),
                "outputs": outputs, "provenance": prov}
    except Exception as exc:  # noqa: BLE001 - recorded as a failed run with its reason
        # Expected: AdapterError (unreadable/odd file), QoIError (NaN, missing boundary),
        # OSError.  Anything else is a twinemu bug met on this file: it is still recorded
        # (type and message) so the campaign goes on, and the reason says to report it.
        expected = (AdapterError, QoIError, ManifestError, KeyError, ValueError, OSError,
                    IndexError)
        prov["wall_time"] = time.perf_counter() - t0
        if not prov["source_sha256"]:
            try:
                prov["source_sha256"] = _combined_sha(
                    [Path(p) for p in _files_of(run.source) if Path(p).exists()])
            except (OSError, IndexError, ValueError):
                pass
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        if not isinstance(exc, expected):
            msg = f"{msg} (unexpected error inside twinemu; please report it with the file)"
        return {"id": run.id, "status": "failed", "reason": f"{type(exc).__name__}: {msg}",
                "outputs": {}, "provenance": prov}


def _died(entry: dict[str, Any], qois: dict[str, Any], error: BaseException) -> dict[str, Any]:
    """The failed-run record of a run whose reader process died twice (no result came)."""
    run = RunEntry(**entry)
    row = {**entry, "source": {k: Path(v).name for k, v in run.source.items()}
           if isinstance(run.source, dict) else Path(run.source).name, "qois": qois}
    sha = ""
    try:
        sha = _combined_sha([Path(p) for p in _files_of(run.source) if Path(p).exists()])
    except (OSError, IndexError, ValueError):
        pass
    reason = (f"the reader process died ({type(error).__name__}: {error}); it died again "
              f"when the run was read alone, so this run's files crash the reader (a "
              f"segmentation fault or out-of-memory kill in h5py/HDF5 is typical) -- check "
              f"the files with h5dump and the machine's memory")
    prov = {"simulator": run.format or "", "version": "", "config_hash": config_hash(row),
            "source_sha256": sha, "wall_time": float("nan")}
    return {"id": run.id, "status": "failed", "reason": reason, "outputs": {},
            "provenance": prov}


# -- the driver ------------------------------------------------------------------------------

@dataclass
class IngestSummary:
    """What an ingest did: counts and, per run, the outcome and reason."""

    archive: str
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    runs: list[tuple[str, str, str]] = field(default_factory=list)  # (id, outcome, reason)
    wall_time: float = 0.0

    @property
    def reasons(self) -> dict[str, str]:
        return {rid: reason for rid, outcome, reason in self.runs if outcome == "failed"}

    def __str__(self) -> str:
        width = max([len(r[0]) for r in self.runs] + [6])
        lines = [f"ingest into {self.archive}: {self.ok} ok, {self.failed} failed, "
                 f"{self.skipped} skipped ({self.wall_time:.1f} s)",
                 f"{'run id':<{width}}  outcome  reason", f"{'-' * width}  -------  ------"]
        for rid, outcome, reason in self.runs:
            short = reason if len(reason) <= 100 else reason[:97] + "..."
            lines.append(f"{rid:<{width}}  {outcome:<7}  {short}")
        return "\n".join(lines)


def ingest(manifest: str | Path, archive: str | Path, *, workers: int = 2,
           progress: bool = True, phase_points: int = 100,
           retry_failed: bool = False) -> IngestSummary:
    """Ingest the runs of ``manifest`` into the campaign ``archive`` (created if absent).

    Parameters
    ----------
    workers : int
        Worker processes reading runs in parallel (1 = in this process).
    phase_points : int
        Points of the common phase grid, unless the manifest's ``qois.phase_points`` says.
    retry_failed : bool
        Re-read runs whose earlier attempts all failed (the failed rows stay, flagged).
    """
    t0 = time.perf_counter()
    man = load_manifest(manifest)
    spec = man.spec(phase_points)
    summary = IngestSummary(str(archive))
    with Archive.open_or_create(archive, man.space, output_specs(spec),
                                description=f"3D CFD runs ingested from {man.path.name}") as ar:
        ids = list(ar.run_ids())
        status = ar.status()
        done = {rid for rid, s in zip(ids, status, strict=True) if s == 0}
        failed_before = {rid for rid, s in zip(ids, status, strict=True) if s != 0}
        todo = []
        for run in man.runs:
            if run.id in done or (run.id in failed_before and not retry_failed):
                summary.skipped += 1
                summary.runs.append((run.id, "skipped", "already in the archive"))
            else:
                todo.append(run)
        by_id = {r.id: r for r in todo}
        args = [(r.row(), man.qois, str(man.path.parent), spec.phase_points) for r in todo]
        bar = _bar(len(todo), progress)
        try:
            for res in _run_all(args, workers):
                run = by_id[res["id"]]
                ar.append(run.inputs, res["outputs"] if res["status"] == "ok" else None,
                          fidelity=run.fidelity, status=res["status"], reason=res["reason"],
                          run_id=run.id, provenance=Provenance(**res["provenance"]))
                if res["status"] == "ok":
                    summary.ok += 1
                else:
                    summary.failed += 1
                summary.runs.append((run.id, res["status"], res["reason"]))
                bar.update(1)
        finally:
            bar.close()
    summary.wall_time = time.perf_counter() - t0
    return summary


#: a worker's "run started" channel (set in each worker process by _worker_init)
_STARTED: Any = None


def _worker_init(started: Any) -> None:
    global _STARTED
    _STARTED = started


def _traced(worker: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Say which run this worker starts (so a crash can be pinned on it), then run it."""
    if _STARTED is not None:
        _STARTED.put(args[0]["id"])  # synchronous: written before the reader can crash
    return worker(*args)


def _pool_round(ctx: Any, batch: list[tuple], workers: int,
                worker: Callable[..., dict[str, Any]], crash: dict[str, Any]):
    """Run ``batch`` in a fresh pool and yield results; on a dead worker, stop and put the
    ids of the runs in flight (started, not finished) and the error into ``crash``."""
    started = ctx.SimpleQueue()
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init,
                             initargs=(started,)) as pool:
        futures = {pool.submit(_traced, worker, *a): a[0]["id"] for a in batch}
        ids = dict(futures)
        finished: set[str] = set()
        try:
            for fut in as_completed(futures):
                res = fut.result()
                finished.add(ids[fut])
                yield res
        except BrokenProcessPool as exc:
            for fut, rid in ids.items():  # results that arrived before the crash
                if rid not in finished and fut.done() and fut.exception() is None:
                    finished.add(rid)
                    yield fut.result()
            begun = set()
            while not started.empty():
                begun.add(started.get())
            crash["error"] = exc
            crash["in_flight"] = (begun - finished) or (set(ids.values()) - finished)


def _run_all(args: list[tuple], workers: int,
             worker: Callable[..., dict[str, Any]] | None = None):
    """Yield the result of ``worker(*a)`` (default :func:`process_run`) for each ``a``.

    With ``workers > 1`` the runs are read in spawned processes.  A reader process that
    dies (segmentation fault or out-of-memory kill in h5py, ``BrokenProcessPool``) takes
    the pool with it: the pool is rebuilt, the runs that were in flight are read again one
    at a time, and a run whose reader dies a second time is recorded as failed; the others
    go on.  (With ``workers=1`` the runs are read in this process, which such a crash ends.)
    """
    worker = process_run if worker is None else worker
    if workers <= 1 or len(args) <= 1:
        for a in args:
            yield worker(*a)
        return
    # spawn: workers start clean, not as forks of a process holding the archive open
    ctx = multiprocessing.get_context("spawn")
    todo = {a[0]["id"]: a for a in args}
    deaths: dict[str, int] = {}
    while todo:
        suspects = [rid for rid in todo if deaths.get(rid)]
        # a suspect is read alone, so that a second death is its own
        batch, n = ([todo[suspects[0]]], 1) if suspects else (list(todo.values()), workers)
        crash: dict[str, Any] = {}
        for res in _pool_round(ctx, batch, n, worker, crash):
            todo.pop(res["id"], None)
            yield res
        for rid in sorted(crash.get("in_flight", ())):
            deaths[rid] = deaths.get(rid, 0) + 1
            if deaths[rid] >= 2:
                yield _died(*todo.pop(rid)[:2], crash["error"])


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _bar(total: int, show: bool):
    if not show:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc="ingest", unit="run")


__all__ = ["IngestSummary", "Manifest", "RunEntry", "build_spec", "ingest", "load_manifest",
           "output_specs", "process_run"]
