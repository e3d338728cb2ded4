"""twinemu datasets: the campaign archive, the campaign runner and 3D CFD adapters.

``Archive`` is imported eagerly (h5py is light); adapters load on first use.
"""

__twinemu__ = True

try:  # our sibling packages share generic names with PyPI projects: check they are ours
    from simulators._guard import import_sibling as _import_sibling
except ImportError as _exc:  # pragma: no cover - only with a foreign 'simulators' first
    raise ImportError(
        "'import simulators' did not find twinemu's package (another package of that name "
        "shadows it); uninstall it or run from the twinemu checkout (pip install -e .)"
    ) from _exc

_import_sibling("simulators")

from datasets.archive import Archive  # noqa: E402
from datasets.errors import (  # noqa: E402
    ArchiveCorruptError,
    ArchiveError,
    ArchiveFullError,
    SchemaVersionError,
)

__all__ = ["Archive", "ArchiveCorruptError", "ArchiveError", "ArchiveFullError",
           "SchemaVersionError"]
