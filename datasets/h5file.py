"""Low-level care of an HDF5 file on disk: its superblock, space reservation, a writer lock.

These work on the file's bytes and the OS, beside h5py, for the things h5py does not offer:

* :func:`superblock` reads the stored end-of-file address (HDF5 refuses a file shorter than
  it: "truncated file") and the file-consistency flags a killed SWMR writer leaves set.
* :func:`reserve` makes sure the file can grow by ``nbytes`` *before* HDF5 writes anything,
  so a full disk is met by us, with nothing written, rather than by HDF5 mid-update.
* :class:`WriterLock` is an open-file-description lock held by the one appending process
  (HDF5 releases its own lock once a writer switches to SWMR mode).

Superblock layout: HDF5 File Format Specification, section II.A (versions 0-3).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import struct
from dataclasses import dataclass
from pathlib import Path

_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: errno values meaning "no room": disk full, file-size limit, quota.
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
_DISK_FULL_TEXT = ("errno = 28", "errno = 27", "errno = 122", "No space left", "File too large",
                   "Disk quota exceeded")


@dataclass(frozen=True)
class Superblock:
    """What the superblock at the start of an HDF5 file records."""

    version: int
    stored_eof: int  # bytes: absolute end-of-file address the file must reach
    status_flags: int  # v2/v3: bit 0 open for writing, bit 2 open for SWMR writing


def superblock(path: str | os.PathLike) -> Superblock | None:
    """The superblock of ``path`` (at offset 0), or None if the file does not start with one."""
    with open(path, "rb") as f:
        head = f.read(96)
    if len(head) < 48 or not head.startswith(_SIGNATURE):
        return None
    version = head[8]
    if version in (0, 1):
        size_o = head[13]
        flags = struct.unpack_from("<I", head, 20)[0]
        start = 24 if version == 0 else 28  # v1 adds indexed-storage K and 2 reserved bytes
        base = _uint(head, start, size_o)
        eof = _uint(head, start + 2 * size_o, size_o)
    else:
        size_o = head[9]
        flags = head[11]
        base = _uint(head, 12, size_o)
        eof = _uint(head, 12 + 2 * size_o, size_o)
    return Superblock(version, base + eof, flags)


def _uint(buf: bytes, at: int, size: int) -> int:
    return int.from_bytes(buf[at:at + size], "little")


def is_disk_full(exc: BaseException) -> bool:
    """Whether an OS or h5py error means the disk (or the file-size limit) is full."""
    for e in _chain(exc):
        if getattr(e, "errno", None) in DISK_FULL_ERRNOS:
            return True
        if any(t in str(e) for t in _DISK_FULL_TEXT):
            return True
    return False


def _chain(exc: BaseException | None):
    seen = 0
    while exc is not None and seen < 10:
        yield exc
        exc = exc.__cause__ or exc.__context__
        seen += 1


def reserve(path: str | os.PathLike, nbytes: int) -> None:
    """Make room for the file to grow ``nbytes`` past its stored end, or raise ``OSError``.

    The space is allocated on disk (``posix_fallocate``), so HDF5's next writes into it
    cannot fail for lack of space; on failure the file is put back to its size, untouched.
    """
    sb = superblock(path)
    with open(path, "r+b") as f:
        fd = f.fileno()
        size = os.fstat(fd).st_size
        target = (sb.stored_eof if sb else size) + int(nbytes)
        if target <= size:
            return
        try:
            os.posix_fallocate(fd, size, target - size)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise


def extend_to(path: str | os.PathLike, size: int) -> None:
    """Zero-extend ``path`` to ``size`` bytes (a no-op if it is already that long)."""
    with open(path, "r+b") as f:
        if os.fstat(f.fileno()).st_size < size:
            os.ftruncate(f.fileno(), size)


def trim_to_stored_eof(path: str | os.PathLike) -> None:
    """Drop reserved bytes past the stored end of file (never cuts below it)."""
    sb = superblock(path)
    if sb is None:
        return
    with open(path, "r+b") as f:
        if os.fstat(f.fileno()).st_size > sb.stored_eof:
            os.ftruncate(f.fileno(), sb.stored_eof)


def clear_status_flags(path: str | os.PathLike) -> None:
    """Clear the "open for writing" flags a killed writer left in a v3 superblock.

    This is what ``h5clear -s`` does: open the file read-write with the library's
    ``clear_status_flags`` file-access property.  Only call it holding :class:`WriterLock`.
    """
    from h5py import h5f, h5p

    lib = _libhdf5()
    fapl = h5p.create(h5p.FILE_ACCESS)
    flag = ctypes.c_bool(True)
    if lib is None or lib.H5Pset(ctypes.c_int64(fapl.id), b"clear_status_flags",
                                 ctypes.byref(flag)) < 0:
        raise OSError(f"cannot clear the HDF5 status flags of {str(path)!r} from Python; run "
                      f"'h5clear -s {path}' (HDF5 tools) and try again")
    fid = h5f.open(os.fsencode(path), h5f.ACC_RDWR, fapl=fapl)
    fid.close()


def _libhdf5() -> ctypes.CDLL | None:
    """The HDF5 library h5py loaded (same instance, so property-list ids are shared)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    for line in maps.splitlines():
        lib = line.split()[-1]
        name = os.path.basename(lib)
        if name.startswith("libhdf5") and "_hl" not in name and ".so" in name:
            return ctypes.CDLL(lib)
    return None


#: Metadata read attempts for SWMR readers.  HDF5 retries a metadata block whose checksum
#: fails (a read torn by the concurrent writer) 100 times by default, with a sleep that
#: doubles each time: a block damaged on disk would hang the reader for hours.  16 attempts
#: wait at most about 0.1 s in all, ample for a writer's single pwrite to finish.
SWMR_READ_ATTEMPTS = 16


def open_swmr_reader(path: str | os.PathLike):
    """Open ``path`` read-only in SWMR mode, with a bounded number of metadata re-reads."""
    import h5py
    from h5py import h5f
    from h5py._hl.files import make_fapl

    fapl = make_fapl(None)
    lib = _libhdf5()
    if lib is not None:
        lib.H5Pset_metadata_read_attempts(ctypes.c_int64(fapl.id),
                                          ctypes.c_uint(SWMR_READ_ATTEMPTS))
    fid = h5f.open(os.fsencode(path), h5f.ACC_RDONLY | h5f.ACC_SWMR_READ, fapl=fapl)
    return h5py.File(fid)


class WriterLock:
    """An exclusive lock on ``path`` held while one process appends to it.

    Uses an open-file-description lock (Linux), so closing another descriptor of the same
    file in this process does not drop it; it is released when the process exits.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock; False if another process holds it."""
        fd = os.open(self.path, os.O_RDWR)
        cmd = getattr(fcntl, "F_OFD_SETLK", fcntl.F_SETLK)
        lock = struct.pack("hhqqi", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
        try:
            fcntl.fcntl(fd, cmd, lock)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EACCES, errno.EAGAIN):
                return False
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
