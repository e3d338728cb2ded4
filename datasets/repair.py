"""Bring a damaged campaign archive back: ``repair(path) -> RepairResult``.

What it fixes, always on a copy (the original is kept beside it as ``<name>.bak``):

* a **truncated file** (a writer of schema 1.0 ran out of disk mid-append: HDF5 refuses the
  file because it is shorter than the end-of-file address its superblock records) is
  zero-extended to that size;
* the **"open for writing" flags** a killed SWMR writer leaves in the superblock are cleared;
* an archive that reads but **cannot be appended to** (or, with ``upgrade=True``, any schema
  1.0 archive) is rebuilt: its committed runs are copied, in order, into a fresh schema-1.1
  archive (checksums, full-disk safety, concurrent readers).

Then every committed run is read back and, where the archive has checksums, verified.  Runs
whose data fails its checksum cannot be repaired (the bytes are lost); they are listed.
Nothing is ever deleted: when nothing needed fixing the file is left untouched.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from datasets import h5file
from datasets.archive import Archive, Provenance, _as_spec
from datasets.errors import ArchiveError, ArchiveRepairError


@dataclass
class RepairResult:
    """What :func:`repair` did and found."""

    path: str
    actions: list[str] = field(default_factory=list)  # what was changed, in order
    runs: int = 0  # committed runs that read back
    damaged: dict[int, list[str]] = field(default_factory=dict)  # row -> damaged columns
    backup: str | None = None  # the original file, kept when anything changed
    checksummed: bool = True

    @property
    def repaired(self) -> bool:
        return bool(self.actions)

    @property
    def ok(self) -> bool:
        """True when every committed run reads back intact."""
        return not self.damaged

    def __str__(self) -> str:
        lines = []
        if self.actions:
            lines.append(f"{self.path}: repaired")
            lines += [f"  - {a}" for a in self.actions]
            lines.append(f"  the original is kept as {self.backup}")
        else:
            lines.append(f"{self.path}: healthy, nothing to repair")
        check = "checksums verified" if self.checksummed else "read back (no checksums: " \
            "schema 1.0; 'twinemu archive repair --upgrade' adds them)"
        lines.append(f"  {self.runs} committed runs {check}")
        if self.damaged:
            lines.append(f"  {len(self.damaged)} runs fail their checksum and cannot be "
                         f"repaired (restore them from a backup or re-run them):")
            lines += [f"    row {r}: {', '.join(c)}" for r, c in self.damaged.items()]
        return "\n".join(lines)


def repair(path: str | os.PathLike, *, upgrade: bool = False) -> RepairResult:
    """Repair the campaign archive at ``path`` in place, keeping the original as a backup.

    Parameters
    ----------
    path : path-like
        The archive.  It must not be open for appending by another process.
    upgrade : bool
        Also rebuild a schema 1.0 archive as schema 1.1 (checksums, full-disk safety,
        concurrent readers).

    Raises
    ------
    ArchiveRepairError
        The file cannot be repaired (not an HDF5 file, its metadata is damaged, or a writer
        holds it); the message says why.  The file is left as it was.
    """
    path = Path(path)
    if not path.is_file():
        raise ArchiveRepairError(f"no file at {str(path)!r}")
    sb = h5file.superblock(path)
    if sb is None:
        raise ArchiveRepairError(
            f"cannot repair {str(path)!r}: it does not start with an HDF5 superblock (it is "
            f"not an HDF5 file, or its first bytes are damaged); restore it from a backup")
    lock = h5file.WriterLock(path)
    if not lock.acquire():
        raise ArchiveRepairError(f"cannot repair {str(path)!r}: a process is appending to it; "
                                 f"stop the campaign first")
    work = _free_name(path, ".repair-tmp")
    result = RepairResult(str(path))
    try:
        shutil.copyfile(path, work)
        size = work.stat().st_size
        if size < sb.stored_eof:
            h5file.extend_to(work, sb.stored_eof)
            result.actions.append(
                f"zero-extended the file from {size} to {sb.stored_eof} bytes (the end a "
                f"writer could not write before the disk filled)")
        if sb.version >= 3 and sb.status_flags:
            _translate_repair(path, lambda: h5file.clear_status_flags(work))
            result.actions.append("cleared the 'open for writing' flags a killed writer left")
        with _open(path, work) as a:
            result.checksummed = a.checksummed
            needs_rebuild = upgrade and not a.checksummed
        why = "" if not needs_rebuild else "upgraded schema 1.0 to 1.1"
        if not needs_rebuild and not _appendable(work):
            needs_rebuild, why = True, "it could not be appended to"
        if needs_rebuild:
            _rebuild_in_place(path, work)
            result.actions.append(f"rebuilt the archive from its committed runs ({why})")
        with _open(path, work) as a:
            result.checksummed = a.checksummed
            found = a.verify()
            result.runs, result.damaged = found.runs, found.damaged
        if result.actions:
            result.backup = str(_keep_backup(path))
            os.replace(work, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            work.unlink()
        lock.release()
    return result


def _open(path: Path, work: Path) -> Archive:
    try:
        return Archive.open(work)
    except ArchiveError as exc:
        raise ArchiveRepairError(
            f"cannot repair {str(path)!r}: after the fixes it still does not open "
            f"({type(exc).__name__}); its internal structure is damaged. The file is "
            f"unchanged; restore it from a backup or re-run the campaign") from exc


def _translate_repair(path: Path, action) -> None:
    try:
        action()
    except OSError as exc:
        raise ArchiveRepairError(f"cannot repair {str(path)!r}: {exc}") from exc


def _appendable(work: Path) -> bool:
    """Whether a scratch copy of ``work`` takes a run and grows (then thrown away)."""
    trial = _free_name(work, ".trial")
    try:
        shutil.copyfile(work, trial)
        with Archive.open(trial, "a") as a:
            n = len(a)
            capacity = a._f["inputs"].shape[0]
            for i in range(max(capacity - n, 0) + 1):  # up to and through one growth
                a.append([float("nan")] * len(a.space), None, status="failed",
                         reason="repair trial", run_id=f"__repair_trial_{i}")
        with Archive.open(trial) as a:
            a.verify()
        return True
    except Exception:  # any failure (h5py raises IndexError, RuntimeError too): rebuild
        return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            trial.unlink()


def _rebuild_in_place(path: Path, work: Path) -> None:
    """Copy the committed runs of ``work`` into a fresh archive that replaces ``work``."""
    fresh = _free_name(work, ".rebuild")
    try:
        with Archive.open(work) as old:
            meta = old._f["meta"].attrs
            extra = json.loads(meta.get("extra", "{}"))
            with Archive.create(fresh, old.space, [_as_spec(s) for s in old.outputs],
                                description=str(meta.get("description", "")),
                                extra=extra) as new:
                X, status, reasons = old.inputs(), old.status(), old.reasons()
                fid, ids, prov = old.fidelities(), old.run_ids(), old.provenance()
                Y = {name: old.output(name) for name in old.output_names}
                for i in range(len(old)):
                    new.append(
                        X[i], {k: v[i] for k, v in Y.items()}, fidelity=fid[i],
                        status="ok" if status[i] == 0 else "failed", reason=reasons[i],
                        run_id=ids[i],
                        provenance=Provenance(**{k: (float(v[i]) if k == "wall_time"
                                                     else v[i]) for k, v in prov.items()}))
                new._f.attrs["created"] = old._f.attrs.get("created", "")
        os.replace(fresh, work)
    except ArchiveError as exc:
        raise ArchiveRepairError(
            f"cannot repair {str(path)!r}: rebuilding it from its committed runs failed "
            f"({exc}). The file is unchanged.") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            fresh.unlink()


def _keep_backup(path: Path) -> Path:
    """Keep the original bytes as ``<name>.bak`` (``.bak.1``, ... if taken)."""
    backup = _free_name(path, ".bak")
    try:
        os.link(path, backup)
    except OSError:
        shutil.copy2(path, backup)
    return backup


def _free_name(path: Path, suffix: str) -> Path:
    candidate = path.with_name(path.name + suffix)
    k = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}{suffix}.{k}")
        k += 1
    return candidate
