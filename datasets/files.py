"""Small files written whole or not at all.

``atomic_write_text(path, text)`` writes to a temporary file in the same folder, flushes it
to disk (``fsync``) and renames it over ``path`` (``os.replace``, atomic on POSIX and
Windows), then syncs the folder so the rename itself survives a power cut.  A reader sees
the old file or the new one, never half of one; a writer that fails mid-way (full disk,
killed) leaves the old file as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def atomic_write_text(path: str | os.PathLike, text: str, *, encoding: str = "utf-8") -> None:
    """Replace the contents of ``path`` by ``text`` atomically (see the module docstring).

    Raises ``OSError`` (e.g. ``ENOSPC`` when the disk is full) with ``path`` untouched and no
    temporary file left behind.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(OSError):  # keep the file's permissions if it exists
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Persist a rename in ``folder`` (a no-op where folders cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
