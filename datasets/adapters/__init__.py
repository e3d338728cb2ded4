"""Read-only adapters for 3D CFD result files, behind one :class:`RunSource` protocol.

>>> from datasets import adapters
>>> adapters.detect("Solutions/mesh.h5")
'fenics-hdf5'
>>> with adapters.open("Solutions/mesh.h5", dt=0.951e-3) as run:
...     run.mesh().n_points, list(run.fields()), run.times()
...     u = run.read("velocity", step=2)          # (n_points, 3), one step only

Formats are recognised from content (HDF5 groups and attributes, XML root), never from
the file extension.  Each adapter module has ``NAME``, ``can_open(path)`` and
``open_source(path, **options)``; :data:`ADAPTERS` lists them in detection order.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from datasets.adapters.base import FieldInfo, Mesh, RunSource, check_readable, unsupported
from datasets.errors import AdapterError, CorruptFileError, UnsupportedFormat

#: adapter modules in detection order (format name -> module path)
ADAPTERS: dict[str, str] = {
    "vtkhdf": "datasets.adapters.vtkhdf",
    "cgns": "datasets.adapters.cgns",
    "fluent-cff": "datasets.adapters.fluent",
    "fenics-hdf5": "datasets.adapters.fenics",
    "xdmf": "datasets.adapters.xdmf",
}


def adapter(name: str) -> ModuleType:
    """The adapter module registered as ``name``."""
    if name not in ADAPTERS:
        raise UnsupportedFormat(f"unknown format {name!r}; known formats: {sorted(ADAPTERS)}")
    return importlib.import_module(ADAPTERS[name])


def detect(path: str | os.PathLike | Mapping[str, Any]) -> str:
    """Name of the format of ``path`` (from its content), or :class:`UnsupportedFormat`.

    A mapping ``{mesh: ..., u: ..., p: ...}`` is a multi-file FEniCS run.
    """
    if isinstance(path, Mapping):
        return "fenics-hdf5"
    path = Path(path)
    if not path.exists():
        raise AdapterError(f"no such file: {str(path)!r}")
    check_readable(path)
    for name in ADAPTERS:
        if adapter(name).can_open(path):
            return name
    raise unsupported(path, list(ADAPTERS))


def open(path: str | os.PathLike | Mapping[str, Any], *, format: str | None = None,  # noqa: A001
         **options: Any) -> RunSource:
    """Open a CFD run read-only as a :class:`RunSource`.

    Parameters
    ----------
    path : path or mapping
        A result file, or ``{mesh: path, <field>: path, ...}`` for FEniCS runs whose mesh
        and functions are separate files.
    format : str, optional
        Skip detection and use this adapter (a name in :data:`ADAPTERS`); the adapter still
        checks the content and raises :class:`UnsupportedFormat` if it is not its format.
    **options
        Adapter options, e.g. ``dt`` (s per timestamp unit) for FEniCS step-index
        timestamps.
    """
    name = format or detect(path)
    if isinstance(path, Mapping) and name != "fenics-hdf5":
        raise UnsupportedFormat(f"a multi-file source {{mesh: ..., u: ...}} is read by the "
                                f"fenics-hdf5 adapter only, not {name!r}")
    mod = adapter(name)
    if format and not isinstance(path, Mapping) and not mod.can_open(Path(path)):
        raise unsupported(path, [name])
    return mod.open_source(path, **options)


__all__ = ["ADAPTERS", "AdapterError", "CorruptFileError", "FieldInfo", "Mesh", "RunSource",
           "UnsupportedFormat", "adapter", "detect", "open"]
