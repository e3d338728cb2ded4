"""twinemu datasets: the campaign archive, the campaign runner and 3D CFD adapters.

``Archive`` is imported eagerly (h5py is light); adapters load on first use.
"""

__twinemu__ = True

from simulators._guard import import_sibling as _import_sibling  # noqa: E402

_import_sibling("simulators")

from datasets.archive import Archive  # noqa: E402
from datasets.errors import ArchiveError, SchemaVersionError  # noqa: E402

__all__ = ["Archive", "ArchiveError", "SchemaVersionError"]
