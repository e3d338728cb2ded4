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
``~`` are expanded (``$TWINEMU_SHARED_DATA``); see "What ingest will open".
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import os
import re
import stat
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from datasets.archive import Archive, Provenance, config_hash, file_sha256
from datasets.errors import AdapterError, ManifestError, QoIError, SourcePathError
from datasets.qoi import QoISpec, SourceUnits, compute_qois
from datasets.runner import RunSummary, done_ids, failure_reason, run_loop
from simulators.base import OutputSpec
from simulators.design import ParameterSpace
from simulators.executors import (
    Executor,
    LocalExecutor,
    RunTimeoutError,
    SerialExecutor,
    WorkerDiedError,
)

#: largest source file ingest opens (bytes); ``max_file_bytes=`` changes it
MAX_FILE_BYTES = 64 * 2**30
#: largest small side file (manifest, CSV runs table, artery_info.json) read whole
MAX_SIDE_FILE_BYTES = 16 * 2**20
#: default per-run time limit of ingest (s)
RUN_TIMEOUT = 1800.0
SHARED_DATA_VAR = "TWINEMU_SHARED_DATA"

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
    roots: list[str] = field(default_factory=list)  # data roots besides the folder

    def spec(self, phase_points: int | None = None) -> QoISpec:
        return build_spec(self.qois, self.path.parent, phase_points, roots=self.roots)


def data_roots(folder: Path, data_root: str | os.PathLike | Sequence[str | os.PathLike] | None
               = None) -> list[str]:
    """The folders a manifest in ``folder`` may read from: it and the explicit data roots."""
    extra = [] if data_root is None else (
        [data_root] if isinstance(data_root, (str, os.PathLike)) else list(data_root))
    return [os.path.realpath(folder)] + [
        os.path.realpath(os.path.expanduser(str(r))) for r in extra]


def _inside(path: str, roots: Sequence[str]) -> bool:
    real = os.path.realpath(path)
    for root in roots:
        try:
            if os.path.commonpath([real, root]) == root:
                return True
        except ValueError:  # another drive (Windows)
            continue
    return False


def _expand(value: str, folder: Path, roots: Sequence[str] | None = None,
            what: str = "path") -> str:
    """``value`` expanded (``~``, ``$VARS``) and made absolute against ``folder``; refused
    with :class:`SourcePathError` when it resolves outside ``folder`` and ``roots``."""
    raw = str(value)
    p = Path(os.path.expanduser(os.path.expandvars(raw)))
    if "$" in str(p):
        raise ManifestError(f"path {value!r} uses an environment variable that is not set "
                            f"(e.g. export TWINEMU_SHARED_DATA=../shared/data)")
    full = str(p if p.is_absolute() else (folder / p))
    allowed = list(roots) if roots is not None else data_roots(folder)
    if re.search(r"\$\{?" + SHARED_DATA_VAR + r"\b", raw) and os.environ.get(SHARED_DATA_VAR):
        allowed.append(os.path.realpath(os.environ[SHARED_DATA_VAR]))
    if not _inside(full, allowed):
        raise SourcePathError(
            f"{what} {raw!r} resolves outside the manifest's folder and the data roots "
            f"{allowed}; ingest only opens files under them. Move the data there or pass "
            f"its folder as a data root (twinemu ingest --data-root DIR, "
            f"ingest(..., data_root=DIR)).")
    return full


def _source(value: Any, folder: Path, where: str, roots: Sequence[str]
            ) -> str | dict[str, str]:
    what = f"{where}: source"
    if isinstance(value, Mapping):
        return {str(k): _expand(v, folder, roots, what) for k, v in value.items()}
    if isinstance(value, str) and "=" in value and ";" in value:
        parts = dict(item.split("=", 1) for item in value.split(";") if item.strip())
        return {k.strip(): _expand(v.strip(), folder, roots, what) for k, v in parts.items()}
    if isinstance(value, str) and value.strip():
        return _expand(value.strip(), folder, roots, what)
    raise ManifestError(f"{where}: 'source' must be a path or a mapping "
                        f"{{mesh: ..., u: ..., p: ...}}, got {value!r}")


def regular_file(path: str | os.PathLike, what: str, max_bytes: int) -> int:
    """Size of ``path`` if it is a regular file of at most ``max_bytes``; else
    :class:`SourcePathError` (a FIFO, device or folder is never opened: it could block)."""
    try:
        st = os.stat(path)  # follows links; never opens (a FIFO would block an open)
    except FileNotFoundError:
        raise AdapterError(f"{what} {str(path)!r} does not exist") from None
    except OSError as exc:
        raise AdapterError(f"{what} {str(path)!r} cannot be examined "
                           f"({type(exc).__name__})") from None
    if not stat.S_ISREG(st.st_mode):
        kind = ("a folder" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(
            st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(
            st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a file")
        raise SourcePathError(f"{what} {str(path)!r} is {kind}, not a regular file; ingest "
                              f"opens regular files only")
    if st.st_size > max_bytes:
        raise SourcePathError(f"{what} {str(path)!r} is {st.st_size} bytes, above the limit "
                              f"of {max_bytes} bytes (max_file_bytes)")
    return int(st.st_size)


def _read_side(path: Path, what: str) -> str:
    regular_file(path, what, MAX_SIDE_FILE_BYTES)
    return path.read_text()


def default_shared_data() -> None:
    """``$TWINEMU_SHARED_DATA``: made absolute (from the current folder) when relative, and
    pointed at ``../shared/data`` beside the checkout when unset and that folder exists."""
    env = os.environ.get("TWINEMU_SHARED_DATA")
    if env:
        os.environ["TWINEMU_SHARED_DATA"] = os.path.abspath(os.path.expanduser(env))
        return
    guess = Path(__file__).resolve().parents[2] / "shared" / "data"
    if guess.is_dir():
        os.environ["TWINEMU_SHARED_DATA"] = str(guess)


def load_manifest(path: str | os.PathLike, *, data_root: str | os.PathLike |
                  Sequence[str | os.PathLike] | None = None) -> Manifest:
    """Read and validate a YAML (or CSV + sidecar YAML) manifest; see the module docstring.

    ``data_root``: folder(s) besides the manifest's own whose files the manifest may name.
    """
    default_shared_data()
    import yaml

    path = Path(path)
    if not path.exists():
        raise ManifestError(f"no manifest at {str(path)!r}")
    folder = path.parent
    roots = data_roots(folder, data_root)
    if path.suffix.lower() == ".csv":
        side = path.with_suffix(".yaml")
        if not side.exists():
            side = path.with_suffix(".yml")
        if not side.exists():
            raise ManifestError(f"a CSV manifest needs a sidecar {path.stem}.yaml with "
                                f"'parameters' and 'qois'")
        doc = yaml.safe_load(_read_side(side, "manifest")) or {}
        doc["runs"] = path.name
    else:
        try:
            doc = yaml.safe_load(_read_side(path, "manifest")) or {}
        except yaml.YAMLError as exc:  # its message quotes the text: give the place only
            mark = getattr(exc, "problem_mark", None)
            at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            raise ManifestError(f"{path.name} is not valid YAML{at}") from None
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
        runs_doc = _read_csv(Path(_expand(runs_doc, folder, roots, "runs table")), space)
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
        runs.append(RunEntry(rid, inputs, _source(r["source"], folder, where, roots),
                             r.get("format") or None, str(r.get("fidelity") or "3d"),
                             dict(r.get("options") or {})))
    man = Manifest(path, space, qois, runs, roots[1:])
    man.spec()  # validate units and output names now, not in a worker
    return man


def _read_csv(path: Path, space: ParameterSpace) -> list[dict[str, Any]]:
    if not path.exists():
        raise ManifestError(f"runs table {str(path)!r} does not exist")
    regular_file(path, "runs table", MAX_SIDE_FILE_BYTES)
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


def build_spec(qois: Mapping[str, Any], folder: Path, phase_points: int | None = None, *,
               roots: Sequence[str] = ()) -> QoISpec:
    """A :class:`QoISpec` from the manifest's ``qois`` mapping (``roots``: extra data roots
    besides ``folder`` for ``caps_from``)."""
    q = dict(qois)
    units = dict(q.pop("units", None) or {})
    units.pop("dt", None)
    caps_from = q.pop("caps_from", None)
    try:
        su = SourceUnits(**units)
    except (TypeError, QoIError) as exc:
        raise ManifestError(f"qois.units: {exc}") from exc
    if caps_from:
        caps, tags = _read_caps(Path(_expand(caps_from, folder,
                                             data_roots(folder, list(roots)),
                                             "qois.caps_from")))
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
    if not path.exists():
        raise ManifestError(f"{where} does not exist; it should be the artery_info.json "
                            f"written beside the VaMPy mesh")
    try:
        info = json.loads(_read_side(path, "qois.caps_from"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{where} cannot be read ({type(exc).__name__})") from None
    except json.JSONDecodeError as exc:  # position only: the message never quotes the text
        raise ManifestError(f"{where} is not valid JSON (line {exc.lineno}, column "
                            f"{exc.colno})") from None
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
                            f"integers ({type(exc).__name__})") from None
    bad = [k for k, c in caps.items() if len(c) != 3]
    if bad:
        raise ManifestError(f"{where}: cap centres {bad} are not [x, y, z]")
    return caps, tags


def output_specs(spec: QoISpec) -> list[OutputSpec]:
    return [OutputSpec(n, u, s, d) for n, u, s, d in spec.outputs()]


# -- the worker ----------------------------------------------------------------------------

def _files_of(source: str | dict[str, str]) -> list[str]:
    return list(source.values()) if isinstance(source, dict) else [source]


def _combined_sha(paths: list[Path], max_bytes: int = MAX_FILE_BYTES) -> str:
    for p in paths:  # never hash a FIFO or a device (it would never end)
        regular_file(p, "source file", max_bytes)
    if len(paths) == 1:
        return file_sha256(paths[0])
    h = hashlib.sha256()
    for p in paths:
        h.update(f"{p.name}:{file_sha256(p)}\n".encode())
    return h.hexdigest()


_NAMED = (AdapterError, QoIError, ManifestError)  # twinemu's messages: no file content
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]+")


def _clean(text: str, limit: int = 400) -> str:
    """One printable line of at most ``limit`` characters."""
    text = _UNPRINTABLE.sub(" ", str(text)).strip()
    return text if len(text) <= limit else text[:limit - 3] + "..."


def safe_reason(exc: BaseException, doing: str, names: Sequence[str] = ()) -> str:
    """The reason recorded for a run that raised ``exc`` while ``doing`` something.

    twinemu's own errors (adapter, QoI, manifest) compose their messages from names and
    numbers, and keep them.  Anything else (an error from h5py, numpy, an XML or text
    parser) may quote the file, so it is reduced to its type and what we were doing.
    """
    if isinstance(exc, _NAMED):
        return _clean(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, KeyError):  # a dataset or boundary our code looked up by name
        key = exc.args[0] if exc.args else ""
        return _clean(f"KeyError: {key}")
    files = f" {', '.join(names)}" if names else ""
    return _clean(f"{type(exc).__name__} while {doing}{files} (the message is not shown: "
                  f"it may quote the file; if the file is sound, please report this)")


def process_run(entry: dict[str, Any], qois: dict[str, Any], folder: str,
                phase_points: int, roots: Sequence[str] = (),
                max_file_bytes: int = MAX_FILE_BYTES) -> dict[str, Any]:
    """Read one run and compute its QoIs; returns plain data (never raises for bad input).

    ``{"id", "status": "ok"|"failed", "reason", "outputs", "provenance"}``.
    """
    from datasets import adapters

    t0 = time.perf_counter()
    run = RunEntry(**entry)
    names = [Path(p).name for p in _files_of(run.source)]
    # hash what defines the run, not where its files happen to live on this machine
    row = {**entry, "source": {k: Path(v).name for k, v in run.source.items()}
           if isinstance(run.source, dict) else Path(run.source).name, "qois": qois}
    prov = {"simulator": run.format or "", "version": "", "config_hash": config_hash(row),
            "source_sha256": "", "wall_time": float("nan")}
    doing = "checking the source files"
    try:
        for p in _files_of(run.source):
            regular_file(p, "source file", max_file_bytes)
        spec = build_spec(qois, Path(folder), phase_points, roots=roots)
        doing = "detecting the file format of"
        fmt = run.format or adapters.detect(run.source)
        options = dict(run.options)
        dt = (qois.get("units") or {}).get("dt")
        if fmt == "fenics-hdf5" and dt is not None and "dt" not in options:
            options["dt"] = float(dt) * spec.units.time_factor  # seconds per timestamp
        doing = f"opening ({fmt})"
        with adapters.open(run.source, format=fmt, **options) as src:
            doing = f"reading the metadata ({fmt}) of"
            meta = src.metadata()
            prov["simulator"] = f"{fmt}:{meta.get('solver', '')}"
            prov["version"] = meta.get("version", "")
            sources = [Path(p) for p in src.files()]
            gone = [str(p) for p in sources if not p.exists()]
            if gone:
                raise AdapterError(f"{src.path.name} refers to {gone}, which do(es) not exist")
            doing = "hashing"
            prov["source_sha256"] = _combined_sha(sources, max_file_bytes)
            doing = f"computing the QoIs ({fmt}) of"
            result = compute_qois(src, spec)
        outputs = {k: v for k, v in result.items() if not k.startswith("_")}
        prov["wall_time"] = time.perf_counter() - t0
        # an ok run's reason says what was left out and why (e.g. WSS on face data)
        return {"id": run.id, "status": "ok", "reason": _clean("; ".join(result.get(
            "_notes", ()))), "outputs": outputs, "provenance": prov}
    except Exception as exc:  # noqa: BLE001 - recorded as a failed run with its reason
        prov["wall_time"] = time.perf_counter() - t0
        if not prov["source_sha256"]:
            try:
                prov["source_sha256"] = _combined_sha(
                    [Path(p) for p in _files_of(run.source) if Path(p).exists()],
                    max_file_bytes)
            except (OSError, IndexError, ValueError):
                pass
        return {"id": run.id, "status": "failed", "reason": safe_reason(exc, doing, names),
                "outputs": {}, "provenance": prov}


def _died(entry: dict[str, Any], qois: dict[str, Any], error: BaseException) -> dict[str, Any]:
    """The failed-run record of a run that never came back: its reader died twice, or it
    ran past the time limit (the reader was killed)."""
    run = RunEntry(**entry)
    row = {**entry, "source": {k: Path(v).name for k, v in run.source.items()}
           if isinstance(run.source, dict) else Path(run.source).name, "qois": qois}
    sha = ""
    try:
        sha = _combined_sha([Path(p) for p in _files_of(run.source) if Path(p).exists()])
    except (OSError, IndexError, ValueError):
        pass
    if isinstance(error, RunTimeoutError):
        reason = str(error)
    elif isinstance(error, WorkerDiedError):
        reason = (f"the reader process died ({type(error).__name__}: {error}); it died again "
                  f"when the run was read alone, so this run's files crash the reader (a "
                  f"segmentation fault or out-of-memory kill in h5py/HDF5 is typical) -- "
                  f"check the files with h5dump and the machine's memory")
    else:
        reason = failure_reason(error)
    prov = {"simulator": run.format or "", "version": "", "config_hash": config_hash(row),
            "source_sha256": sha, "wall_time": float("nan")}
    return {"id": run.id, "status": "failed", "reason": _clean(reason), "outputs": {},
            "provenance": prov}


def _apply(worker: Callable[..., dict[str, Any]], args: tuple) -> dict[str, Any]:
    return worker(*args)


# -- the driver ------------------------------------------------------------------------------

@dataclass
class IngestSummary(RunSummary):
    """What an ingest did: counts and, per run, the outcome and reason."""

    archive: str = ""
    runs: list[tuple[str, str, str]] = field(default_factory=list)  # (id, outcome, reason)

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
           retry_failed: bool = False,
           data_root: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
           timeout: float | None = RUN_TIMEOUT, max_file_bytes: int = MAX_FILE_BYTES,
           executor: Executor | None = None) -> IngestSummary:
    """Ingest the runs of ``manifest`` into the campaign ``archive`` (created if absent).

    Parameters
    ----------
    workers : int
        Worker processes reading runs in parallel (1 = in this process).
    phase_points : int
        Points of the common phase grid, unless the manifest's ``qois.phase_points`` says.
    retry_failed : bool
        Re-read runs whose earlier attempts all failed (the failed rows stay, flagged).
    data_root : path or list of paths, optional
        Folders besides the manifest's whose files the manifest may name.
    timeout : float or None
        Seconds per run before it is recorded as failed and its reader killed.
    max_file_bytes : int
        Largest source file opened.
    executor : Executor, optional
        Where to read (default: ``LocalExecutor(workers)``, or this process for 1 worker).
    """
    t0 = time.perf_counter()
    man = load_manifest(manifest, data_root=data_root)
    spec = man.spec(phase_points)
    summary = IngestSummary(archive=str(archive))
    worker = process_run  # looked up now: a test may replace it
    with Archive.open_or_create(archive, man.space, output_specs(spec),
                                description=f"3D CFD runs ingested from {man.path.name}") as ar:
        done = done_ids(ar, retry_failed)
        todo = []
        for run in man.runs:
            if run.id in done:
                summary.skipped += 1
                summary.runs.append((run.id, "skipped", "already in the archive"))
            else:
                todo.append(run)
        summary.requested = len(man.runs)
        args = [(r.row(), man.qois, str(man.path.parent), spec.phase_points, list(man.roots),
                 int(max_file_bytes)) for r in todo]
        if executor is None:
            executor = (LocalExecutor(workers, timeout=timeout) if workers > 1 and len(args) > 1
                        else SerialExecutor(timeout=timeout))

        def store(k: int, res: Any) -> int:
            run = todo[k]
            if isinstance(res, BaseException):
                res = _died(run.row(), man.qois, res)
            ar.append(run.inputs, res["outputs"] if res["status"] == "ok" else None,
                      fidelity=run.fidelity, status=res["status"], reason=res["reason"],
                      run_id=run.id, provenance=Provenance(**res["provenance"]))
            summary.count(run.id, res["status"] == "ok", res["reason"])
            summary.runs.append((run.id, res["status"], res["reason"]))
            return 1

        run_loop(executor, functools.partial(_apply, worker), args, store, ar,
                 description="ingest", progress=progress)
    summary.wall_time = time.perf_counter() - t0
    return summary


__all__ = ["IngestSummary", "Manifest", "RunEntry", "build_spec", "data_roots", "ingest",
           "load_manifest", "output_specs", "process_run", "regular_file", "safe_reason"]
