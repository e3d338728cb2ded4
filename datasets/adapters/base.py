"""The neutral run record shared by every adapter: mesh, field catalogue and lazy reads.

An adapter turns one CFD result (a file, or a small set of files) into a :class:`RunSource`:

* :meth:`RunSource.mesh` -- points ``(n, 3)``, volume cells by type, boundary facets with
  integer tags and names (:class:`Mesh`), in the file's own length unit;
* :meth:`RunSource.fields` -- ``{name: FieldInfo}`` (association point / cell / facet,
  number of components, unit hint);
* :meth:`RunSource.times` -- the time of each stored step, in seconds where the file says
  how (otherwise as written, see :attr:`RunSource.time_unit`);
* :meth:`RunSource.read` -- one field at one step, ``(n_entities, n_components)``.

Nothing is read until asked for, and only the step asked for: a run never sits in memory
whole.  Files are opened read-only (``h5py.File(path, "r")``) and never written.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np

from datasets.errors import AdapterError, CorruptFileError, UnsupportedFormat

Association = Literal["point", "cell", "facet"]

#: Vertices per cell type (meshio names).
NODES_PER_CELL = {
    "vertex": 1, "line": 2, "triangle": 3, "quad": 4, "tetra": 4, "pyramid": 5, "wedge": 6,
    "hexahedron": 8,
}
VOLUME_TYPES = ("tetra", "pyramid", "wedge", "hexahedron")
SURFACE_TYPES = ("triangle", "quad", "polygon")

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


@dataclass(frozen=True)
class FieldInfo:
    """One field of a run.

    ``association`` is where values live (``"point"`` = mesh vertices, ``"cell"`` = volume
    cells in :attr:`Mesh.cells` order, ``"facet"`` = boundary facets in :attr:`Mesh.facets`
    order); ``unit`` is a hint taken from the file ("" when the file does not say).
    """

    name: str
    association: Association
    n_components: int
    unit: str = ""
    description: str = ""


@dataclass
class Mesh:
    """An unstructured mesh in the file's length unit.

    Attributes
    ----------
    points : (n_points, 3) float64
    cells : {type: (n, k) int64}
        Volume (or, for surface-only files, surface) cells by meshio type name.
    facets : {type: (m, k) int64}
        Boundary facets by type (``"triangle"``, ``"quad"``, ``"line"``).
    facet_tags : {type: (m,) int64}
        Integer tag of each facet, aligned with ``facets``.
    tag_names : {int: str}
        Name of each tag (``{2: "inlet"}``); tags without a name are called ``"tag<k>"``.
    """

    points: np.ndarray
    cells: dict[str, np.ndarray]
    facets: dict[str, np.ndarray] = field(default_factory=dict)
    facet_tags: dict[str, np.ndarray] = field(default_factory=dict)
    tag_names: dict[int, str] = field(default_factory=dict)
    #: extra names of tags (CGNS family or element-section names): {name: tag}
    aliases: dict[str, int] = field(default_factory=dict)

    @property
    def n_points(self) -> int:
        return int(self.points.shape[0])

    @property
    def n_cells(self) -> int:
        return int(sum(len(c) for c in self.cells.values()))

    def n_cells_of(self, cell_type: str) -> int:
        return int(len(self.cells.get(cell_type, ())))

    @property
    def boundary_names(self) -> list[str]:
        """Names of all tags present on facets, in tag order."""
        tags = sorted({int(t) for arr in self.facet_tags.values() for t in np.unique(arr)})
        return [self.tag_names.get(t, f"tag{t}") for t in tags]

    def tag_of(self, key: str | int) -> int:
        """The integer tag of a boundary given by name or tag."""
        if isinstance(key, (int, np.integer)):
            return int(key)
        for tag, name in self.tag_names.items():
            if name == key:
                return int(tag)
        if key in self.aliases:
            return int(self.aliases[key])
        if isinstance(key, str) and key.startswith("tag") and key[3:].lstrip("-").isdigit():
            return int(key[3:])
        raise KeyError(
            f"no boundary named {key!r}; this mesh has {self.boundary_names or 'no tagged facets'}"
        )

    def boundary(self, key: str | int) -> dict[str, np.ndarray]:
        """Facets of one boundary (by name or tag), as ``{type: (m, k) vertex ids}``."""
        tag = self.tag_of(key)
        out = {}
        for ftype, conn in self.facets.items():
            sel = self.facet_tags[ftype] == tag
            if sel.any():
                out[ftype] = conn[sel]
        if not out:
            raise KeyError(f"boundary {key!r} (tag {tag}) has no facets; this mesh has "
                           f"{self.boundary_names}")
        return out

    def boundary_triangles(self, key: str | int) -> np.ndarray:
        """Facets of one boundary split into triangles ``(m, 3)`` (quads into two)."""
        return triangulate(self.boundary(key))


def triangulate(facets: Mapping[str, np.ndarray]) -> np.ndarray:
    """Split triangles/quads (``{type: (m, k)}``) into triangles ``(n, 3)`` (fan split)."""
    parts = []
    for ftype, conn in facets.items():
        conn = np.asarray(conn, dtype=np.int64)
        if conn.shape[1] == 3:
            parts.append(conn)
        elif conn.shape[1] >= 4:
            for j in range(1, conn.shape[1] - 1):
                parts.append(conn[:, [0, j, j + 1]])
        else:
            raise ValueError(f"cannot triangulate facets of type {ftype!r} ({conn.shape[1]} ids)")
    return np.concatenate(parts) if parts else np.zeros((0, 3), np.int64)


class RunSource(ABC):
    """A CFD run opened read-only.  Use as a context manager, or call :meth:`close`."""

    #: format name, as returned by :func:`datasets.adapters.detect`
    format: str = ""
    #: unit of :meth:`times`: "s", or "" when the file states none (times as the solver
    #: wrote them, in the source's time unit -- see ``SourceUnits.time`` in datasets.qoi)
    time_unit: str = "s"
    #: True when the mesh geometry changes between steps (use ``mesh(step)``)
    moving_mesh: bool = False

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    @abstractmethod
    def mesh(self, step: int = 0) -> Mesh:
        """The mesh (at ``step`` for moving meshes)."""

    #: Filled by adapters that build their catalogue and time axis when they open a file.
    _catalogue: dict[str, FieldInfo]
    _times: np.ndarray

    def fields(self) -> dict[str, FieldInfo]:
        """Catalogue of the fields, by name."""
        return dict(self._catalogue)

    def times(self) -> np.ndarray:
        """Time of each step, ``(n_steps,)``, in :attr:`time_unit` (seconds by default)."""
        return self._times.copy()

    @abstractmethod
    def read(self, field: str, step: int) -> np.ndarray:
        """One field at one step, ``(n_entities, n_components)`` float64."""

    def metadata(self) -> dict[str, str]:
        """What the file says about itself: ``solver``, ``version`` (may be empty)."""
        return {"solver": self.format, "version": ""}

    @property
    def n_steps(self) -> int:
        return int(len(self.times()))

    def files(self) -> list[Path]:
        """Every file this run reads (for provenance hashes)."""
        return [self.path]

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release open handles."""

    def __enter__(self) -> RunSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # helpers for subclasses -------------------------------------------------------------
    def _field(self, name: str) -> FieldInfo:
        catalogue = self.fields()
        if name not in catalogue:
            raise KeyError(f"{self.path.name}: no field {name!r}; it has {sorted(catalogue)}")
        return catalogue[name]

    def _step(self, step: int) -> int:
        n = self.n_steps
        if not -n <= step < n:
            raise IndexError(f"{self.path.name}: step {step} out of range (0..{n - 1})")
        return step % n


def as_2d(values: np.ndarray) -> np.ndarray:
    """``(n,)`` -> ``(n, 1)``; float64."""
    a = np.asarray(values, dtype=np.float64)
    return a.reshape(a.shape[0], -1) if a.ndim != 2 else a


# -- HDF5 helpers ------------------------------------------------------------------------

def is_hdf5(path: str | os.PathLike) -> bool:
    """True when the file starts with the HDF5 signature (at offset 0 or a 512·2^k block)."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if head == HDF5_MAGIC:
                return True
            size = os.fstat(f.fileno()).st_size
            off = 512
            while off + 8 <= min(size, 1 << 20):
                f.seek(off)
                if f.read(8) == HDF5_MAGIC:
                    return True
                off *= 2
    except OSError:
        return False
    return False


@contextmanager
def translate_h5(path: str | os.PathLike, action: str = "read") -> Iterator[None]:
    """Turn h5py/OS failures into :class:`AdapterError` naming the file (one place)."""
    try:
        yield
    except AdapterError:
        raise
    except (KeyError, IndexError) as exc:  # a dataset/group the layout needs is missing
        raise AdapterError(
            f"cannot {action} {str(path)!r}: {exc.args[0] if exc.args else exc!r} (a group or "
            f"dataset that this format requires is missing or too short)"
        ) from exc
    except (OSError, ValueError, TypeError, RuntimeError) as exc:
        raise AdapterError(
            f"cannot {action} {str(path)!r}: {exc}. The file may be truncated or damaged; "
            f"check it with h5dump or re-export it from the solver."
        ) from exc


def open_h5(path: str | os.PathLike) -> h5py.File:
    """Open an HDF5 file read-only, translating failures to :class:`AdapterError`."""
    path = Path(path)
    if not path.exists():
        raise AdapterError(f"no such file: {str(path)!r}")
    with translate_h5(path, "open"):
        return h5py.File(path, "r")


_IDENT = re.compile(r"[A-Za-z0-9_.\-]{1,40}")  # group names shown; others become '?'


def h5_summary(path: str | os.PathLike, limit: int = 8) -> str:
    """A short description of an HDF5 file's top level (for 'looks like' messages)."""
    try:
        with h5py.File(path, "r") as f:
            keys = [k if _IDENT.fullmatch(k) else "?" for k in sorted(f.keys())]
            shown = ", ".join(keys[:limit]) + (", ..." if len(keys) > limit else "")
            return f"an HDF5 file whose top level holds [{shown or 'nothing'}]"
    except Exception as exc:  # noqa: BLE001 - description only
        return f"an HDF5 file that h5py cannot open ({exc.__class__.__name__}: {exc})"


def sniff(path: str | os.PathLike) -> str:
    """Say what a file looks like, from its first bytes (used in UnsupportedFormat).

    The answer names the kind of file only: none of its content is echoed (a manifest may
    point at any file, and the answer lands in the archive and on the console).
    """
    path = Path(path)
    if not path.exists():
        return "a missing file"
    if path.is_dir():
        return "a folder"
    if not path.is_file():
        return "not a regular file (a FIFO, socket or device)"
    size = path.stat().st_size
    if size == 0:
        return "an empty file"
    if is_hdf5(path):
        return h5_summary(path)
    with open(path, "rb") as f:
        head = f.read(256)
    if head.startswith(b"\x89HDF"):
        return "a truncated HDF5 file (signature only)"
    if head.startswith(b"CDF"):
        return "a netCDF-3 file"
    text = head.lstrip()
    if text.startswith(b"<?xml") or text.startswith(b"<"):
        return f"an XML file of {size} bytes"
    if head.startswith(b"PK"):
        return "a ZIP archive"
    if head.startswith(b"\x80") and b"pickle" not in head:
        return "binary data (possibly a Python pickle, which twinemu never loads)"
    try:
        head.decode("ascii")
        return f"a text file of {size} bytes"
    except UnicodeDecodeError:
        return f"a binary file of {size} bytes"


def check_readable(path: str | os.PathLike) -> None:
    """Raise :class:`CorruptFileError` for an HDF5 file that h5py cannot open."""
    if is_hdf5(path):
        try:
            with h5py.File(path, "r"):
                pass
        except Exception as exc:  # noqa: BLE001 - translated here, once
            raise CorruptFileError(
                f"{str(path)!r} has the HDF5 signature but cannot be opened ({exc}); it is "
                f"probably truncated or damaged -- copy it again from its source"
            ) from exc


def _xdmf_hint(path: Path) -> str:
    """' (it is the data file of X.xdmf: open that)' when a sibling XDMF names this file."""
    try:
        for x in sorted(path.parent.glob("*.xdmf"))[:20]:
            if path.name in x.read_text(errors="replace")[:200000]:
                return f" (it is the heavy-data file of {x.name}: open that instead)"
    except OSError:
        pass
    return ""


def unsupported(path: str | os.PathLike, tried: list[str]) -> UnsupportedFormat:
    return UnsupportedFormat(
        f"{str(path)!r} is {sniff(path)}{_xdmf_hint(Path(path))}; none of the adapters "
        f"[{', '.join(tried)}] "
        f"recognises it. Supported: legacy FEniCS HDF5File, XDMF3+HDF5 (DOLFIN, dolfinx, "
        f"meshio), VTKHDF, CGNS/HDF5, Fluent CFF (.cas.h5/.dat.h5)."
    )


def attr_str(value: Any) -> str:
    """Decode an HDF5 attribute (bytes, numpy bytes, arrays of one string) to ``str``."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "iu" and value.ndim == 1:  # int8 char arrays (CGNS)
            return bytes(value.astype(np.uint8)).split(b"\0")[0].decode("utf-8", "replace")
        value = value.ravel()[0] if value.size else ""
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", "replace").rstrip("\0")
    return str(value)


# -- topology helpers ---------------------------------------------------------------------

#: local faces of volume cells (vertex positions within the cell)
CELL_FACES: dict[str, list[tuple[int, ...]]] = {
    "tetra": [(1, 2, 3), (0, 3, 2), (0, 1, 3), (0, 2, 1)],
    "hexahedron": [(0, 3, 2, 1), (4, 5, 6, 7), (0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6),
                   (3, 0, 4, 7)],
    "wedge": [(0, 2, 1), (3, 4, 5), (0, 1, 4, 3), (1, 2, 5, 4), (2, 0, 3, 5)],
    "pyramid": [(0, 3, 2, 1), (0, 1, 4), (1, 2, 4), (2, 3, 4), (3, 0, 4)],
}


def exterior_facets(cells: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Facets that belong to exactly one volume cell, ``{"triangle"|"quad": (m, k)}``.

    Orientation follows the local face ordering of :data:`CELL_FACES` (outward for
    positively oriented cells).
    """
    by_size: dict[int, list[np.ndarray]] = {3: [], 4: []}
    for ctype, conn in cells.items():
        for face in CELL_FACES.get(ctype, []):
            by_size[len(face)].append(np.asarray(conn)[:, face])
    out = {}
    for k, parts in by_size.items():
        if not parts:
            continue
        faces = np.concatenate(parts)
        key = np.sort(faces, axis=1)
        _, idx, counts = np.unique(key, axis=0, return_index=True, return_counts=True)
        out["triangle" if k == 3 else "quad"] = faces[idx[counts == 1]]
    return {k: v for k, v in out.items() if len(v)}


def match_rows(query: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Index in ``reference`` of each facet of ``query`` (same vertex set), or -1.

    Both are ``(n, k)`` vertex ids; rows are compared as sets (sorted).
    """
    q = np.sort(np.asarray(query, np.int64), axis=1)
    r = np.sort(np.asarray(reference, np.int64), axis=1)
    if q.shape[1] != r.shape[1] or len(r) == 0:
        return np.full(len(q), -1, np.int64)
    both = np.concatenate([r, q])
    _, inv = np.unique(both, axis=0, return_inverse=True)
    inv = inv.ravel()
    first = np.full(inv.max() + 1, -1, np.int64)
    first[inv[: len(r)][::-1]] = np.arange(len(r))[::-1]
    return first[inv[len(r):]]
