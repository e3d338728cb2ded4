"""Named exceptions raised by :mod:`datasets`.

h5py and OS failures are translated into these in one place each (the archive, the
adapter registry) and re-raised ``from`` the original error.
"""

from __future__ import annotations


class ArchiveError(OSError):
    """A campaign archive cannot be created, opened, read or written."""


class SchemaVersionError(ArchiveError):
    """An archive was written with a schema major version this twinemu cannot read."""


class ArchiveFullError(ArchiveError):
    """The disk (or the file-size limit) is full: an append could not be written.

    Nothing was half-written: every committed run is intact and the archive can be appended
    to again once space is freed.  ``committed`` holds the number of runs that are safe.
    """

    def __init__(self, message: str, committed: int = 0):
        super().__init__(message)
        self.committed = committed


#: Alias: the name a user thinks of first.
DiskFullError = ArchiveFullError


class ArchiveCorruptError(ArchiveError):
    """Stored run data fails its checksum (bit rot, a damaged disk or copy).

    ``rows`` lists the damaged row indices and ``column`` the dataset they were read from.
    """

    def __init__(self, message: str, rows: list[int] | None = None, column: str = ""):
        super().__init__(message)
        self.rows = list(rows or [])
        self.column = column


class ArchiveRepairError(ArchiveError):
    """:func:`datasets.repair.repair` cannot bring an archive back; the message says why."""


class AdapterError(OSError):
    """A CFD result file is damaged or inconsistent (missing dataset, truncated file...)."""


class UnsupportedFormat(AdapterError, ValueError):
    """No adapter recognises a file; the message says what the file looks like."""


#: Alias kept for the name used in the style guide.
AdapterNotFoundError = UnsupportedFormat


class ManifestError(ValueError):
    """An ingest manifest is malformed (missing column, unknown parameter, bad path)."""


class QoIError(ValueError):
    """A quantity of interest cannot be computed (no such boundary, NaN in a field...)."""


class CorruptFileError(AdapterError):
    """A CFD file has a known signature but cannot be read (truncated, damaged)."""


class SourcePathError(ManifestError):
    """A manifest names a file outside the allowed data roots, or one that is not a
    regular file (a FIFO, a device, a folder); ingest refuses to open it."""
