"""The campaign archive: one HDF5 file holding every run of a campaign.

Layout (schema 1.x)::

    /                 attrs: schema_version, created, twinemu_version
    /committed        (1,) int64          number of committed rows (the commit point; a
                                          scalar in schema 1.0)
    /meta             attrs: space (JSON), outputs (JSON), description, extra (JSON)
    /inputs           (n, d) float64      attrs: names, units, bounds
    /outputs/<qoi>    (n,) or (n, T)      attrs: unit, description; NaN where not computed
    /status           (n,) int8           0 = ok, 1 = failed
    /reason           (n,) str            why a run failed; for an ok run "" or a note
                                          (e.g. "WSS skipped: no volume cells")
    /fidelity         (n,) str            level name ("0d", "1d", "3d", ...)
    /run_id           (n,) str            unique key; a resumed campaign skips known ids
    /provenance/simulator, version, config_hash, source_sha256 (str), wall_time (s),
                timestamp (ISO 8601 str)

Appending is atomic from a reader's point of view: the row is written first, then the
scalar dataset ``/committed`` is raised and the file flushed.  Rows past ``committed`` are
ignored by readers and reused by the next append.  To survive a writer killed at any
instant (SIGKILL, power loss), an append touches as little HDF5 metadata as possible:
strings are fixed-length (no global heap, whose half-written objects would make the file
unwritable), row capacity grows in blocks of 64 (so most appends write raw data only), and
the commit point is an 8-byte raw write.  A test kills writers mid-append and checks that
every committed run survives and that the campaign can go on appending.

Schema 1.1 adds three guards (1.0 files stay readable and appendable without them):

* **Full disk.** Before capacity grows, the bytes HDF5 will need are allocated on disk
  (:func:`datasets.h5file.reserve`); a full disk (or file-size limit) then raises
  :class:`~datasets.errors.ArchiveFullError` with nothing written, and every committed run
  stays readable and the archive appendable once space is freed.
* **Checksums.** Every row dataset is chunked one row per chunk with HDF5's Fletcher-32
  filter, so a flipped bit in a run's data fails that run's checksum: reading it raises
  :class:`~datasets.errors.ArchiveCorruptError` naming the rows, and :meth:`Archive.verify`
  lists the damaged rows of every column.  Chunks are allocated when capacity grows
  (``H5D_ALLOC_TIME_EARLY``), so an append rewrites only its own row's chunk.
* **Concurrent readers.** The file uses the latest HDF5 format and the writer runs in SWMR
  mode (single writer, multiple readers): ``Archive.open(path)`` reads while a campaign
  appends, seeing the runs committed when it opened or last called :meth:`Archive.refresh`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from h5py import h5d, h5p

from datasets import h5file
from datasets.errors import (
    ArchiveCorruptError,
    ArchiveError,
    ArchiveFullError,
    SchemaVersionError,
)
from simulators.base import OutputSpec, finite_rows
from simulators.design import ParameterSpace

SCHEMA_VERSION = "1.1"
#: Schema versions with checksummed rows and SWMR (one row per Fletcher-32 chunk).
_CHECKSUM_SINCE = (1, 1)
#: Fixed-length UTF-8 string columns and their size in bytes (longer text is cut with "…").
_STR_BYTES = {"reason": 1024, "fidelity": 32, "run_id": 128, "simulator": 128, "version": 64,
              "config_hash": 64, "source_sha256": 64, "timestamp": 32}
_PROVENANCE_STR = ("simulator", "version", "config_hash", "source_sha256", "timestamp")
_BLOCK = 64  # rows of capacity added at a time
STATUS_OK, STATUS_FAILED = 0, 1


def _twinemu_version() -> str:
    try:
        from importlib.metadata import version

        return version("twinemu")
    except Exception:  # not installed (running from a checkout)
        return "0+unknown"


def config_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 of a config mapping in canonical JSON (sorted keys)."""
    blob = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass
class Provenance:
    """Where a run came from."""

    simulator: str = ""
    version: str = ""
    config_hash: str = ""
    source_sha256: str = ""
    wall_time: float = float("nan")
    timestamp: str = field(
        default_factory=lambda: _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    )


@contextmanager
def _translate(path: Path, action: str):
    """Turn h5py/OS failures into :class:`ArchiveError` naming the file and the action."""
    try:
        yield
    except ArchiveError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
        if "metadata checksum" in str(exc):
            raise ArchiveCorruptError(
                f"campaign archive {str(path)!r} is damaged: its internal structure (HDF5 "
                f"metadata) fails its checksum, so it cannot be read (the file was damaged on "
                f"disk or in a copy). Restore it from a backup; 'twinemu archive repair' "
                f"cannot rebuild damaged metadata.") from exc
        if "unable to lock file" in str(exc) or getattr(exc, "errno", None) == 11:
            raise ArchiveError(
                f"campaign archive {str(path)!r} is in use by another process (a campaign "
                f"writing it?); wait for it to finish, or read a copy of the file"
            ) from exc
        raise ArchiveError(
            f"cannot {action} campaign archive {str(path)!r}: {exc}. If the file is damaged, "
            f"move it aside and re-run the campaign (completed runs in other archives are "
            f"unaffected)."
        ) from exc


class Archive:
    """An open campaign archive.  Use :meth:`create` or :meth:`open`; close when done.

    Examples
    --------
    >>> with Archive.create("runs.h5", space, outputs=[OutputSpec("p_mean", "Pa")]) as a:
    ...     a.append({"R": 1.0, "C": 2.0}, {"p_mean": 13000.0}, fidelity="0d")
    ...     X, Y = a.arrays("p_mean")
    """

    def __init__(self, path: Path, handle: h5py.File, *, lock: h5file.WriterLock | None = None):
        self.path = path
        self._f = handle
        self._lock = lock
        self.space = ParameterSpace.from_dict(json.loads(handle["meta"].attrs["space"]))
        specs = json.loads(handle["meta"].attrs["outputs"])
        self.outputs = [OutputSpec.from_dict(d) for d in specs]
        self._n = self._committed()

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        path: str | os.PathLike,
        space: ParameterSpace,
        outputs: Sequence[OutputSpec | str | Mapping[str, Any]],
        *,
        overwrite: bool = False,
        description: str = "",
        extra: Mapping[str, Any] | None = None,
    ) -> Archive:
        """Create a new archive for ``space`` and ``outputs``.

        Refuses to replace an existing file unless ``overwrite=True`` (nothing is lost by
        accident); use :meth:`open_or_create` to resume a campaign.
        """
        path = Path(path)
        specs = [_as_spec(o) for o in outputs]
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ArchiveError(f"duplicate output names in {names}")
        if path.exists() and not overwrite:
            raise ArchiveError(
                f"{str(path)!r} already exists; open it with Archive.open(path, mode='a') to "
                f"add runs, or pass overwrite=True to replace it"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with _translate(path, "create"):
                f = h5py.File(path, "w", libver="latest")
                try:
                    cls._write_layout(f, space, specs, description, extra)
                    f.flush()
                except BaseException:
                    f.close()
                    raise
        except ArchiveError as exc:
            if h5file.is_disk_full(exc):
                path.unlink(missing_ok=True)  # a new file with no runs: nothing is lost
                raise ArchiveFullError(
                    f"the disk is full: cannot create campaign archive {str(path)!r} (0 runs "
                    f"committed); free space and re-run", 0) from exc
            raise
        f.close()
        return cls.open(path, "a")

    @classmethod
    def _write_layout(cls, f: h5py.File, space: ParameterSpace, specs: list[OutputSpec],
                      description: str, extra: Mapping[str, Any] | None) -> None:
        f.attrs["schema_version"] = SCHEMA_VERSION
        # The commit point: one checksummed 8-byte chunk (a flipped bit cannot silently
        # change how many runs there are).  Schema 1.0 stored a plain scalar.
        _row_dataset(f, "committed", (), np.int64, fillvalue=0).resize(1, axis=0)
        f.attrs["created"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        f.attrs["twinemu_version"] = _twinemu_version()
        meta = f.create_group("meta")
        meta.attrs["space"] = json.dumps(space.to_dict())
        meta.attrs["outputs"] = json.dumps([s.to_dict() for s in specs])
        meta.attrs["description"] = description
        meta.attrs["extra"] = json.dumps(dict(extra or {}), default=str)
        d = len(space)
        inp = _row_dataset(f, "inputs", (d,), float, fillvalue=np.nan)
        inp.attrs["names"] = json.dumps(space.names)
        inp.attrs["units"] = json.dumps(space.units)
        inp.attrs["bounds"] = space.bounds
        f.create_group("outputs")
        for s in specs:
            cls._create_output(f, s)
        _row_dataset(f, "status", (), np.int8)
        for name in ("reason", "fidelity", "run_id"):
            _row_dataset(f, name, (), _str_dtype(name))
        prov = f.create_group("provenance")
        for name in _PROVENANCE_STR:
            _row_dataset(prov, name, (), _str_dtype(name))
        _row_dataset(prov, "wall_time", (), float, fillvalue=np.nan)

    @staticmethod
    def _create_output(f: h5py.File, spec: OutputSpec) -> None:
        ds = _row_dataset(f["outputs"], spec.name, spec.shape, float, fillvalue=np.nan)
        ds.attrs["unit"] = spec.unit
        ds.attrs["description"] = spec.description

    @classmethod
    def open(cls, path: str | os.PathLike, mode: str = "r") -> Archive:
        """Open an existing archive, ``mode`` ``"r"`` (read) or ``"a"`` (append).

        Reading works while another process appends (schema 1.1, SWMR): the reader sees the
        runs committed when it opened; :meth:`refresh` picks up later ones.  One process at
        a time may append.
        """
        path = Path(path)
        if mode not in ("r", "a"):
            raise ValueError(f"mode must be 'r' or 'a', got {mode!r}")
        if not path.exists():
            raise ArchiveError(f"no campaign archive at {str(path)!r}")
        with _translate(path, "open"):
            if not h5py.is_hdf5(path):
                raise ArchiveError(
                    f"{str(path)!r} is not an HDF5 file (it may be truncated or of another "
                    f"format); a campaign archive is written by Archive.create"
                )
            sb = h5file.superblock(path)
        if sb is not None and os.path.getsize(path) < sb.stored_eof:
            raise ArchiveError(
                f"campaign archive {str(path)!r} is truncated ({os.path.getsize(path)} of "
                f"{sb.stored_eof} bytes; a writer ran out of disk space?). Run "
                f"'twinemu archive repair {path}' to recover its committed runs."
            )
        swmr = sb is not None and sb.version >= 3
        lock = None
        if mode == "a":
            lock = h5file.WriterLock(path)
            if not lock.acquire():
                raise ArchiveError(
                    f"campaign archive {str(path)!r} is being appended to by another process "
                    f"(a campaign writing it?); wait for it to finish. Reading it works "
                    f"meanwhile: Archive.open(path)")
        try:
            with _translate(path, "open"):
                if mode == "a" and swmr and sb.status_flags:
                    h5file.clear_status_flags(path)  # left by a writer that was killed
                if mode == "a":
                    f = h5py.File(path, "r+", libver="latest" if swmr else None)
                elif swmr:
                    f = h5file.open_swmr_reader(path)
                else:
                    f = h5py.File(path, "r")
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        try:
            with _translate(path, "read"):
                cls._check_schema(path, f)
                archive = cls(path, f, lock=lock)
                if mode == "a" and swmr and archive.checksummed:
                    f.swmr_mode = True
                return archive
        except BaseException:
            f.close()
            if lock is not None:
                lock.release()
            raise

    @classmethod
    def open_or_create(
        cls,
        path: str | os.PathLike,
        space: ParameterSpace,
        outputs: Sequence[OutputSpec | str | Mapping[str, Any]],
        **kwargs: Any,
    ) -> Archive:
        """Open ``path`` for appending if it exists (checking it matches), else create it."""
        path = Path(path)
        if not path.exists():
            return cls.create(path, space, outputs, **kwargs)
        archive = cls.open(path, "a")
        if archive.space.names != space.names or not np.allclose(
            archive.space.bounds, space.bounds
        ):
            archive.close()
            raise ArchiveError(
                f"{str(path)!r} holds a campaign over {archive.space.names} with other "
                f"bounds than the requested space {space.names}; use another archive path"
            )
        for spec in map(_as_spec, outputs):
            if spec.name not in archive.output_names:
                archive.add_output(spec)
        return archive

    @staticmethod
    def _check_schema(path: Path, f: h5py.File) -> None:
        required = ("inputs", "outputs", "status", "fidelity", "run_id", "meta", "provenance",
                    "committed")
        version = f.attrs.get("schema_version")
        missing = [k for k in required if k not in f]
        if version is None or missing:
            top = ", ".join(sorted(f.keys())[:8]) or "nothing"
            raise ArchiveError(
                f"{str(path)!r} is an HDF5 file but not a twinemu campaign archive (missing "
                f"{', '.join(missing) or 'schema_version'}; its top level holds {top}). "
                f"To read 3D CFD results use datasets.adapters.open(path)."
            )
        major = str(version).split(".")[0]
        if major != SCHEMA_VERSION.split(".")[0]:
            raise SchemaVersionError(
                f"{str(path)!r} uses archive schema {version}; this twinemu reads "
                f"{SCHEMA_VERSION.split('.')[0]}.x. Upgrade twinemu to read it."
            )

    # -- context management ---------------------------------------------------------------
    def close(self) -> None:
        try:
            if self._f.id.valid:
                self._f.close()
            if self._lock is not None:  # give back the space reserved for growth
                with contextlib.suppress(OSError):
                    h5file.trim_to_stored_eof(self.path)
        finally:
            if self._lock is not None:
                self._lock.release()
                self._lock = None

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        return (f"<Archive {str(self.path)!r}: {len(self)} runs ({self.n_failed} failed), "
                f"inputs {self.space.names}, outputs {self.output_names}>")

    def refresh(self) -> int:
        """Pick up runs another process committed since this reader opened; return the count.

        A reader sees a fixed number of runs between refreshes, so the columns it reads stay
        aligned while a campaign appends.
        """
        swmr = self._f.mode == "r" and self._f.swmr_mode
        if swmr:
            with _translate(self.path, "refresh"):
                self._f["committed"].refresh()
        self._n = self._committed()
        if swmr:  # after the count: a writer grows the columns before it commits a row
            with _translate(self.path, "refresh"):
                for ds in self._row_datasets():
                    ds.refresh()
        return self._n

    def _committed(self) -> int:
        """The commit counter: ``/committed``, a scalar (1.0) or one checksummed chunk."""
        try:
            with _translate(self.path, "read"):
                return int(np.asarray(self._f["committed"][()]).reshape(-1)[0])
        except ArchiveError as exc:
            if not _is_checksum_error(exc):
                raise
            raise ArchiveCorruptError(
                f"campaign archive {str(self.path)!r}: its commit counter fails its checksum "
                f"(the file was damaged on disk or in a copy), so how many runs it holds is "
                f"unknown. Restore it from a backup.", [], "committed") from exc

    # -- properties -----------------------------------------------------------------------
    @property
    def schema_version(self) -> str:
        return str(self._f.attrs["schema_version"])

    @property
    def checksummed(self) -> bool:
        """Whether this archive's rows carry checksums (schema 1.1 and later)."""
        version = tuple(int(v) for v in self.schema_version.split(".")[:2])
        return version >= _CHECKSUM_SINCE

    @property
    def output_names(self) -> list[str]:
        return [s.name for s in self.outputs]

    def output_spec(self, name: str) -> OutputSpec:
        for s in self.outputs:
            if s.name == name:
                return s
        raise KeyError(f"no output {name!r}; the archive has {', '.join(self.output_names)}")

    @property
    def n_failed(self) -> int:
        return int((self.status() == STATUS_FAILED).sum())

    # -- writing --------------------------------------------------------------------------
    def _require_writable(self) -> None:
        if not self._f.id.valid:
            raise ArchiveError(f"campaign archive {str(self.path)!r} is closed; open it again "
                               f"with Archive.open(path, mode='a')")
        if self._f.mode != "r+":
            raise ArchiveError(f"{str(self.path)!r} is open read-only; open it with mode='a'")

    @contextmanager
    def _writing(self, action: str):
        """Translate failures; on a full disk, reopen cleanly and raise ArchiveFullError."""
        try:
            with _translate(self.path, action):
                yield
        except ArchiveFullError:  # met by the reservation: nothing was written
            raise
        except ArchiveError as exc:
            if not h5file.is_disk_full(exc):
                raise
            self._recover()
            raise ArchiveFullError(self._full_message(action), len(self)) from exc

    def _recover(self) -> None:
        """After a failed write: drop the handle, make the file whole, reopen for appending."""
        with contextlib.suppress(Exception):
            self._f.close()
        sb = h5file.superblock(self.path)
        if sb is not None:  # a sparse zero-extension needs no disk space
            with contextlib.suppress(OSError):
                h5file.extend_to(self.path, sb.stored_eof)
        try:
            swmr = sb is not None and sb.version >= 3
            if swmr and sb.status_flags:
                h5file.clear_status_flags(self.path)
            self._f = h5py.File(self.path, "r+", libver="latest" if swmr else None)
            self._n = self._committed()
            if swmr and self.checksummed:
                self._f.swmr_mode = True
        except Exception:  # left closed; the next call says so
            pass

    def _reserve(self, nbytes: int, action: str) -> None:
        """Allocate room on disk before HDF5 grows the file.  When the disk is full this
        raises :class:`ArchiveFullError` before HDF5 has written anything."""
        self._f.flush()
        try:
            h5file.reserve(self.path, nbytes)
        except OSError as exc:
            if not h5file.is_disk_full(exc):
                raise
            raise ArchiveFullError(self._full_message(action), len(self)) from exc

    def _full_message(self, action: str) -> str:
        return (f"the disk is full: could not {action} campaign archive {str(self.path)!r}; "
                f"{len(self)} runs committed are safe. Free space and re-run to resume.")

    def _growth_bytes(self, datasets: Iterable[h5py.Dataset], rows: int) -> int:
        """Bytes a growth by ``rows`` may take, with a margin of 2: the new chunks (data and
        a 4-byte checksum each), the chunk index (an extensible array: its blocks double,
        up to 16 B per row held) and object-header updates."""
        total = 64 << 10
        for ds in datasets:
            row = int(np.prod(ds.shape[1:], dtype=np.int64)) * ds.dtype.itemsize + 4
            total += 2 * (rows * row + 16 * (ds.shape[0] + rows) + 1024)
        return total
    @property
    def extra(self) -> dict[str, Any]:
        """Free-form campaign metadata (JSON) stored in ``/meta`` attrs ``extra``."""
        return json.loads(self._f["meta"].attrs.get("extra", "{}"))

    def set_extra(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON-able) under ``key`` in the campaign metadata ``extra``
        (e.g. history matching records its NROY fraction per wave there)."""
        data = self.extra
        data[str(key)] = value
        with _translate(self.path, "write metadata to"):
            self._f["meta"].attrs["extra"] = json.dumps(data, default=str)
            self._f.flush()

    def add_output(self, spec: OutputSpec | str | Mapping[str, Any]) -> None:
        """Add an output column (earlier runs get NaN in it)."""
        spec = _as_spec(spec)
        if spec.name in self.output_names:
            raise ArchiveError(f"output {spec.name!r} already exists")
        self._require_writable()
        swmr = self._f.swmr_mode
        with self._writing("add an output to"):
            if swmr:  # SWMR forbids new objects: reopen without it for this change
                self._f.close()
                self._f = h5py.File(self.path, "r+", libver="latest")
            capacity = self._f["inputs"].shape[0]
            self._reserve(self._growth_bytes([self._f["inputs"]], capacity)
                          + capacity * (int(np.prod(spec.shape)) * 8 + 4), "add an output to")
            self._create_output(self._f, spec)
            ds = self._f["outputs"][spec.name]
            ds.resize(capacity, axis=0)  # NaN fill value
            self.outputs.append(spec)
            self._f["meta"].attrs["outputs"] = json.dumps([s.to_dict() for s in self.outputs])
            self._f.flush()
            if swmr:
                self._f.swmr_mode = True

    def append(
        self,
        inputs: Mapping[str, float] | Sequence[float] | np.ndarray,
        outputs: Mapping[str, Any] | None = None,
        *,
        fidelity: str = "default",
        status: str = "ok",
        reason: str = "",
        run_id: str | None = None,
        provenance: Provenance | Mapping[str, Any] | None = None,
    ) -> int:
        """Append one run and commit it; return its row index.

        Parameters
        ----------
        inputs : mapping or sequence
            Parameter values in the space's units (a mapping by name, or values in order).
        outputs : mapping
            ``{name: value}``; scalars or waveforms of the declared shape.  Missing outputs
            are stored as NaN.  Ignored entries raise (a typo must not vanish).
        status : {"ok", "failed"}
            A failed run is kept with ``reason`` and excluded from training by default.
        run_id : str, optional
            Unique key; defaults to the row index.  Resumed campaigns skip known ids.

        Raises
        ------
        ArchiveFullError
            The disk is full; the run is not stored, every committed run is safe and the
            archive can be appended to again once space is freed.
        """
        if status not in ("ok", "failed"):
            raise ValueError(f"status must be 'ok' or 'failed', got {status!r}")
        self._require_writable()
        x = self._input_row(inputs)
        outputs = dict(outputs or {})
        unknown = [k for k in outputs if k not in self.output_names]
        if unknown:
            raise ArchiveError(
                f"unknown outputs {unknown}; the archive has {self.output_names} "
                f"(add one with archive.add_output)"
            )
        values = {}
        for spec in self.outputs:
            if spec.name in outputs:
                v = np.asarray(outputs[spec.name], dtype=float)
                if v.shape != spec.shape:
                    raise ArchiveError(
                        f"output {spec.name!r} has shape {v.shape}, the archive expects "
                        f"{spec.shape}"
                    )
                values[spec.name] = v
        prov = provenance if isinstance(provenance, Provenance) else Provenance(
            **dict(provenance or {}))
        n = len(self)
        rid = str(n) if run_id is None else str(run_id)
        if len(rid.encode()) > _STR_BYTES["run_id"]:
            raise ArchiveError(f"run id {rid[:40]!r}... is longer than "
                               f"{_STR_BYTES['run_id']} bytes; use a shorter id")
        with self._writing("append to"):
            f = self._f
            columns = list(self._row_datasets())
            capacity = max(ds.shape[0] for ds in columns)
            target = capacity if capacity > n else n + _BLOCK  # grow by a block of rows
            short = [ds for ds in columns if ds.shape[0] < target]  # (or finish a growth
            if short:                                               # cut short earlier)
                self._reserve(self._growth_bytes(short, target - n), "append to")
                for ds in short:
                    ds.resize(target, axis=0)
                f.flush()
            f["inputs"][n] = x
            for spec in self.outputs:
                ds = f["outputs"][spec.name]
                ds[n] = values.get(spec.name, np.full(spec.shape, np.nan))
            f["status"][n] = STATUS_OK if status == "ok" else STATUS_FAILED
            f["reason"][n] = _fit("reason", reason)
            f["fidelity"][n] = _fit("fidelity", fidelity)
            f["run_id"][n] = _fit("run_id", rid)
            for name in _PROVENANCE_STR:
                f["provenance"][name][n] = _fit(name, str(getattr(prov, name)))
            f["provenance"]["wall_time"][n] = float(prov.wall_time)
            f.flush()
            f["committed"][...] = n + 1  # the commit point: one 8-byte raw write
            f.flush()
            self._n = n + 1
        return n

    def _row_datasets(self) -> Iterable[h5py.Dataset]:
        f = self._f
        yield f["inputs"]
        yield from (f["outputs"][s.name] for s in self.outputs)
        for name in ("status", "reason", "fidelity", "run_id"):
            yield f[name]
        for name in (*_PROVENANCE_STR, "wall_time"):
            yield f["provenance"][name]

    def _input_row(self, inputs: Any) -> np.ndarray:
        if isinstance(inputs, Mapping):
            missing = [n for n in self.space.names if n not in inputs]
            extra = [k for k in inputs if k not in self.space.names]
            if missing or extra:
                raise ArchiveError(
                    f"run inputs do not match the archive's parameters {self.space.names}: "
                    f"missing {missing}, unknown {extra}"
                )
            return np.array([float(inputs[k]) for k in self.space.names])
        x = np.asarray(inputs, dtype=float).ravel()
        if x.shape != (len(self.space),):
            raise ArchiveError(f"expected {len(self.space)} input values, got {x.shape}")
        return x

    # -- reading --------------------------------------------------------------------------
    def _read(self, name: str) -> np.ndarray:
        """Committed rows of the dataset at ``name`` (e.g. ``"outputs/p_mean"``)."""
        n = len(self)
        try:
            with _translate(self.path, "read"):
                ds = self._f[name]
                if ds.shape[0] < n and self._f.mode == "r" and self._f.swmr_mode:
                    ds.refresh()  # grown by the writer since this reader last looked
                rows = ds[:n]
            if len(rows) < n:  # h5py clips a slice past the end: never return fewer rows
                raise ArchiveCorruptError(
                    f"campaign archive {str(self.path)!r} is inconsistent: it counts {n} "
                    f"committed runs but {name!r} holds {len(rows)}. Run 'twinemu archive "
                    f"repair {self.path}'.", [], name)
            return rows
        except ArchiveCorruptError:  # damaged metadata: no rows to name
            raise
        except ArchiveError as exc:
            if not _is_checksum_error(exc):
                raise
            rows = self._damaged_rows(ds, n)
            column = ds.name.lstrip("/")
            shown = ", ".join(map(str, rows[:10])) + (" ..." if len(rows) > 10 else "")
            raise ArchiveCorruptError(
                f"campaign archive {str(self.path)!r}: rows {shown} of {column!r} fail their "
                f"checksum (the file was damaged on disk or in a copy). Run "
                f"'twinemu archive verify {self.path}' to list every damaged run; restore the "
                f"file from a backup or re-run those runs.", rows, column) from exc

    @staticmethod
    def _damaged_rows(ds: h5py.Dataset, n: int) -> list[int]:
        """Rows ``< n`` of ``ds`` whose chunk fails its checksum (read chunk by chunk)."""
        step = ds.chunks[0] if ds.chunks else n
        bad: list[int] = []
        for start in range(0, n, max(step, 1)):
            stop = min(start + step, n)
            try:
                ds[start:stop]
            except OSError as exc:
                if not _is_checksum_error(exc):
                    raise
                bad.extend(range(start, stop))
        return bad

    def verify(self) -> VerifyResult:
        """Read every committed row of every column and check its checksum.

        Returns a :class:`VerifyResult` listing, per run, the columns whose data is damaged.
        Archives of schema 1.0 have no checksums: their rows are read but cannot be checked.
        """
        damaged: dict[int, list[str]] = {}
        n = len(self)
        with _translate(self.path, "verify"):
            for ds in self._row_datasets():
                try:
                    ds[:n]
                    continue
                except OSError as exc:
                    if not _is_checksum_error(exc):
                        raise
                for row in self._damaged_rows(ds, n):
                    damaged.setdefault(row, []).append(ds.name.lstrip("/"))
        run_ids: dict[int, str] = {}
        if damaged:
            with contextlib.suppress(ArchiveError):
                ids = self.run_ids()
                run_ids = {r: ids[r] for r in damaged}
        return VerifyResult(str(self.path), n, self.checksummed, dict(sorted(damaged.items())),
                            run_ids)

    def _strings(self, name: str) -> np.ndarray:
        return np.array([s.decode("utf-8", "replace") if isinstance(s, bytes) else s
                         for s in self._read(name)], dtype=object)

    def status(self) -> np.ndarray:
        return self._read("status")

    def reasons(self) -> np.ndarray:
        return self._strings("reason")

    def fidelities(self) -> np.ndarray:
        return self._strings("fidelity")

    def run_ids(self) -> np.ndarray:
        return self._strings("run_id")

    def inputs(self) -> np.ndarray:
        return self._read("inputs")

    def output(self, name: str) -> np.ndarray:
        self.output_spec(name)
        return self._read(f"outputs/{name}")

    def provenance(self) -> dict[str, np.ndarray]:
        out = {k: self._strings(f"provenance/{k}") for k in _PROVENANCE_STR}
        out["wall_time"] = self._read("provenance/wall_time")
        return out

    def mask(self, *, fidelity: str | None = None, include_failed: bool = False,
             run_prefix: str | None = None) -> np.ndarray:
        """Boolean row mask for a fidelity level (``None``: all), status and run-id prefix."""
        m = np.ones(len(self), bool)
        if run_prefix is not None:
            m &= np.array([r.startswith(run_prefix) for r in self.run_ids()], dtype=bool)
        if not include_failed:
            m &= self.status() == STATUS_OK
        if fidelity is not None:
            m &= self.fidelities() == fidelity
        return m

    def rows(self, run_ids: Sequence[str], *, include_failed: bool = False) -> np.ndarray:
        """Row indices of these run ids (the last row of each; ids not stored are left out).

        Failed rows are left out unless ``include_failed`` (a run retried after failing
        has a failed row and a later ok row: the ok one is returned).
        """
        ok = self.status() == STATUS_OK
        last: dict[str, int] = {}
        for i, rid in enumerate(self.run_ids()):
            if include_failed or ok[i]:
                last[rid] = i
        return np.array([last[r] for r in run_ids if r in last], dtype=int)

    def arrays(
        self,
        outputs: str | Sequence[str] | None = None,
        *,
        fidelity: str | None = None,
        include_failed: bool = False,
        run_prefix: str | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Training arrays ``(X, Y)``.

        ``X`` is ``(n, d)`` in the space's units.  ``Y`` is one output's array (``(n,)`` or
        ``(n, T)``) when ``outputs`` is a name, else the scalar outputs stacked ``(n, m)``
        (all scalar outputs when ``None``).  Failed runs are left out unless
        ``include_failed``; rows whose requested outputs hold NaN are left out too.
        ``run_prefix`` keeps the runs whose id starts with it (e.g. ``"test-"``).
        """
        m = self.mask(fidelity=fidelity, include_failed=include_failed, run_prefix=run_prefix)
        X = self.inputs()[m]
        if isinstance(outputs, str):
            Y = self.output(outputs)[m]
        else:
            names = outputs if outputs is not None else [
                s.name for s in self.outputs if not s.is_waveform]
            if not names:
                raise ArchiveError("the archive has no scalar outputs; name the output to read")
            wave = [n for n in names if self.output_spec(n).is_waveform]
            if wave:
                raise ArchiveError(f"waveform outputs {wave} must be read one at a time")
            Y = np.column_stack([self.output(n)[m] for n in names]) if names else None
        if not include_failed:
            finite = finite_rows(Y)
            X, Y = X[finite], Y[finite]
        return X, Y

    def select(self, outputs: Sequence[str], rows: np.ndarray
               ) -> tuple[np.ndarray, dict[str, np.ndarray], int]:
        """Inputs and ``{output: values}`` at ``rows`` (indices or a boolean mask), keeping
        only rows where every named output is finite; also returns how many were dropped.
        One selection for all outputs, so each output stays paired with its inputs."""
        X = self.inputs()[rows]
        Y = {n: self.output(n)[rows] for n in outputs}
        keep = np.ones(len(X), bool)
        for y in Y.values():
            keep &= finite_rows(y)
        return X[keep], {n: y[keep] for n, y in Y.items()}, int((~keep).sum())

    def summary(self) -> dict[str, Any]:
        """Counts per fidelity and status, and the failure reasons."""
        fid, st, rs = self.fidelities(), self.status(), self.reasons()
        levels = {}
        for level in sorted(set(fid)):
            m = fid == level
            levels[level] = {"ok": int((st[m] == STATUS_OK).sum()),
                             "failed": int((st[m] == STATUS_FAILED).sum())}
        reasons: dict[str, int] = {}
        for r in rs[st == STATUS_FAILED]:
            reasons[r] = reasons.get(r, 0) + 1
        return {"runs": len(self), "levels": levels, "failure_reasons": reasons}


@dataclass
class VerifyResult:
    """What :meth:`Archive.verify` found: damaged rows and the columns they fail in."""

    path: str
    runs: int
    checksummed: bool
    damaged: dict[int, list[str]]  # row -> damaged columns
    run_ids: dict[int, str] = field(default_factory=dict)  # row -> run id, where readable

    @property
    def ok(self) -> bool:
        return not self.damaged

    def __str__(self) -> str:
        if not self.checksummed:
            return (f"{self.path}: {self.runs} runs read; schema 1.0 has no checksums, so "
                    f"damage cannot be detected ('twinemu archive repair --upgrade' adds them)")
        if not self.damaged:
            return f"{self.path}: {self.runs} runs, every checksum verified"
        lines = [f"{self.path}: {len(self.damaged)} of {self.runs} runs damaged "
                 f"(checksum failed):"]
        for row, cols in self.damaged.items():
            rid = self.run_ids.get(row)
            name = f"row {row}" + (f" (run {rid!r})" if rid else "")
            lines.append(f"  {name}: {', '.join(cols)}")
        return "\n".join(lines)


def _row_dataset(group: h5py.Group, name: str, shape: tuple[int, ...], dtype: Any,
                 fillvalue: Any = None) -> h5py.Dataset:
    """A per-run column: one row per chunk, Fletcher-32 checksummed, chunks allocated when
    capacity grows (so an append rewrites no other run's chunk and no chunk index)."""
    dcpl = h5p.create(h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5d.ALLOC_TIME_EARLY)
    return group.create_dataset(name, (0, *shape), dtype, maxshape=(None, *shape),
                                chunks=(1, *shape), fletcher32=True, fillvalue=fillvalue,
                                dcpl=dcpl)


def _is_checksum_error(exc: BaseException) -> bool:
    """Whether h5py failed on a checksum.  h5py keeps only the top of HDF5's error stack,
    "filter returned failure during read"; Fletcher-32 is the only filter rows carry."""
    return any(t in str(e) for e in h5file._chain(exc)
               for t in ("checksum", "Fletcher32", "filter returned failure"))


def _str_dtype(column: str) -> np.dtype:
    return h5py.string_dtype("utf-8", _STR_BYTES[column])


def _fit(column: str, text: str) -> bytes:
    """``text`` as UTF-8 that fits its fixed-length column (cut with "…" when too long)."""
    raw = str(text).encode("utf-8")
    size = _STR_BYTES[column]
    if len(raw) <= size:
        return raw
    cut = raw[: size - 3].decode("utf-8", "ignore").encode("utf-8")
    return cut + "…".encode()


def _as_spec(o: OutputSpec | str | Mapping[str, Any]) -> OutputSpec:
    if isinstance(o, OutputSpec):
        return o
    if isinstance(o, str):
        return OutputSpec(o)
    return OutputSpec.from_dict(o)
