"""VTKHDF (``/VTKHDF`` group, attributes ``Version`` and ``Type``): UnstructuredGrid and
PolyData, static or temporal (``/VTKHDF/Steps``), one or several parts.

Per step ``s`` the parts are entries ``PartOffsets[s] ... + NumberOfParts[s]`` of the
``NumberOf*`` arrays; a part's points start at ``PointOffsets[s]`` plus the points of the
step's earlier parts (likewise ``PointDataOffsets/<name>``, ``CellOffsets``,
``ConnectivityIdOffsets``).  When the topology arrays hold one copy per part entry (VTK's
writer with changing geometry) they are indexed cumulatively instead.  Parts are merged:
connectivity is shifted by the points of earlier parts.

Cell values come back in :attr:`Mesh.cells` order (cells grouped by type, stable).
"""

from __future__ import annotations

import os

import h5py
import numpy as np

from datasets.adapters.base import (
    FieldInfo,
    Mesh,
    RunSource,
    as_2d,
    attr_str,
    is_hdf5,
    open_h5,
    translate_h5,
)
from datasets.errors import AdapterError

NAME = "vtkhdf"
#: VTK cell type id -> (meshio name, vertices)
VTK_TYPES = {1: ("vertex", 1), 3: ("line", 2), 5: ("triangle", 3), 9: ("quad", 4),
             10: ("tetra", 4), 12: ("hexahedron", 8), 13: ("wedge", 6), 14: ("pyramid", 5)}
_POLY_TOPOS = ("Vertices", "Lines", "Polygons", "Strips")


def can_open(path: str | os.PathLike) -> bool:
    """HDF5 with a ``/VTKHDF`` group carrying a ``Type`` attribute."""
    if not is_hdf5(path):
        return False
    try:
        with h5py.File(path, "r") as f:
            return "VTKHDF" in f and "Type" in f["VTKHDF"].attrs
    except Exception:  # noqa: BLE001
        return False


class VtkHdfSource(RunSource):
    """A VTKHDF UnstructuredGrid or PolyData, lazily read one step at a time."""

    format = NAME
    time_unit = ""  # times as written (the file states no unit)

    def __init__(self, path: str | os.PathLike) -> None:
        super().__init__(path)
        with translate_h5(self.path), open_h5(self.path) as f:
            g = f["VTKHDF"]
            self.kind = attr_str(g.attrs["Type"])
            if self.kind not in ("UnstructuredGrid", "PolyData"):
                raise AdapterError(f"{self.path.name}: VTKHDF type {self.kind!r} is not "
                                   f"supported (UnstructuredGrid and PolyData are)")
            self.version = tuple(int(v) for v in np.ravel(g.attrs.get("Version", [1, 0])))
            self._n_points = g["NumberOfPoints"][()].astype(np.int64)
            if "Steps" in g:
                st = g["Steps"]
                self._times = st["Values"][()].astype(np.float64).ravel()
                n = len(self._times)
                self._part_off = _steps_array(st, "PartOffsets", n, 1)[:, 0]
                self._n_parts = _steps_array(st, "NumberOfParts", n, 1, fill=1)[:, 0]
                self._point_off = _steps_array(st, "PointOffsets", n, 1)[:, 0]
                ntopo = 4 if self.kind == "PolyData" else 1
                self._cell_off = _steps_array(st, "CellOffsets", n, ntopo)
                self._conn_off = _steps_array(st, "ConnectivityIdOffsets", n, ntopo)
                self._data_off = {
                    assoc: {k: st[grp][k][()].astype(np.int64).ravel() for k in st[grp]}
                    for assoc, grp in (("point", "PointDataOffsets"), ("cell", "CellDataOffsets"))
                    if grp in st}
            else:
                self._times = np.zeros(1)
                self._part_off = np.zeros(1, np.int64)
                self._n_parts = np.array([len(self._n_points)], np.int64)
                self._point_off = np.zeros(1, np.int64)
                self._cell_off = np.zeros((1, 4), np.int64)
                self._conn_off = np.zeros((1, 4), np.int64)
                self._data_off = {}
            self._catalogue = {}
            for assoc, grp in (("point", "PointData"), ("cell", "CellData")):
                if grp in g:
                    for name, ds in g[grp].items():
                        comps = int(np.prod(ds.shape[1:])) if ds.ndim > 1 else 1
                        self._catalogue[name] = FieldInfo(name, assoc, comps, "", grp)
        self._mesh_cache: dict[tuple, tuple[Mesh, np.ndarray]] = {}

    def _parts(self, step: int) -> range:
        start = int(self._part_off[step])
        return range(start, start + int(self._n_parts[step]))

    def _topology(self, f: h5py.File, step: int) -> tuple[Mesh, np.ndarray]:
        g = f["VTKHDF"]
        parts = self._parts(step)
        pts, cells_by_type, types_all = [], {}, []
        order_keys = []
        p_shift = 0
        first_part = parts.start
        topos = [None] if self.kind == "UnstructuredGrid" else list(_POLY_TOPOS)
        # running offsets within the step
        cell_run = np.zeros(len(topos), np.int64)
        conn_run = np.zeros(len(topos), np.int64)
        for j in parts:
            npts = int(self._n_points[j])
            pstart = int(self._point_off[step]) + int(self._n_points[first_part:j].sum())
            pts.append(g["Points"][pstart:pstart + npts])
            for t, topo in enumerate(topos):
                grp = g if topo is None else g[topo]
                ncell = int(grp["NumberOfCells"][j])
                nconn = int(grp["NumberOfConnectivityIds"][j])
                if ncell == 0:
                    continue
                offsets_ds, conn_ds = grp["Offsets"], grp["Connectivity"]
                cumulative = offsets_ds.shape[0] == int(grp["NumberOfCells"][()].sum()) + len(
                    grp["NumberOfCells"])
                if cumulative and self._n_parts.sum() == len(grp["NumberOfCells"]):
                    ostart = int(grp["NumberOfCells"][:j].sum()) + j
                    cstart = int(grp["NumberOfConnectivityIds"][:j].sum())
                    tstart = int(grp["NumberOfCells"][:j].sum())
                else:
                    ostart = int(self._cell_off[step, t]) + int(cell_run[t]) + (j - first_part)
                    cstart = int(self._conn_off[step, t]) + int(conn_run[t])
                    tstart = int(self._cell_off[step, t]) + int(cell_run[t])
                off = offsets_ds[ostart:ostart + ncell + 1].astype(np.int64)
                conn = conn_ds[cstart:cstart + nconn].astype(np.int64) + p_shift
                off = off - off[0]
                sizes = np.diff(off)
                if topo is None:
                    types = g["Types"][tstart:tstart + ncell].astype(np.int64)
                elif topo == "Vertices":
                    types = np.full(ncell, 1)
                elif topo == "Lines":
                    types = np.where(sizes == 2, 3, -1)
                elif topo == "Polygons":
                    types = np.select([sizes == 3, sizes == 4], [5, 9], -1)
                else:
                    raise AdapterError(f"{self.path.name}: triangle strips are not supported")
                for vtk_id in np.unique(types):
                    if vtk_id not in VTK_TYPES:
                        raise AdapterError(f"{self.path.name}: VTK cell type {vtk_id} "
                                           f"(or polygons of >4 vertices) not supported")
                    name, k = VTK_TYPES[int(vtk_id)]
                    sel = np.flatnonzero(types == vtk_id)
                    if np.any(sizes[sel] != k):
                        raise AdapterError(f"{self.path.name}: {name} cells with wrong size")
                    block = conn[off[sel][:, None] + np.arange(k)]
                    cells_by_type.setdefault(name, []).append(block)
                types_all.append(types)
                order_keys.append(types)
                cell_run[t] += ncell
                conn_run[t] += nconn
            p_shift += npts
        points = np.concatenate(pts).astype(np.float64) if pts else np.zeros((0, 3))
        if points.shape[1] < 3:
            points = np.hstack([points, np.zeros((len(points), 3 - points.shape[1]))])
        cells = {k: np.concatenate(v) for k, v in cells_by_type.items()}
        alltypes = np.concatenate(types_all) if types_all else np.zeros(0, np.int64)
        # file order -> grouped order (dict insertion order of types, stable within a type)
        type_order = [next(t for t, (n, _) in VTK_TYPES.items() if n == name) for name in cells]
        perm = np.concatenate([np.flatnonzero(alltypes == t) for t in type_order]) if len(
            type_order) else np.zeros(0, np.int64)
        # Mesh.cells must follow perm: rebuild per type in file order (already stable)
        return Mesh(points, cells), perm

    def mesh(self, step: int = 0) -> Mesh:
        return self._mesh_and_perm(self._step(step))[0]

    def _mesh_and_perm(self, step: int) -> tuple[Mesh, np.ndarray]:
        key = (int(self._part_off[step]), int(self._point_off[step]),
               tuple(self._cell_off[step]), tuple(self._conn_off[step]))
        if key not in self._mesh_cache:
            with translate_h5(self.path), open_h5(self.path) as f:
                self._mesh_cache = {key: self._topology(f, step)}  # keep one step cached
        return self._mesh_cache[key]

    @property
    def moving_mesh(self) -> bool:  # type: ignore[override]
        return bool(len(np.unique(self._point_off)) > 1)

    def read(self, field: str, step: int) -> np.ndarray:
        info = self._field(field)
        step = self._step(step)
        parts = self._parts(step)
        first = parts.start
        base = int(self._data_off.get(info.association, {}).get(field, np.zeros(step + 1,
                                                                             np.int64))[step])
        with translate_h5(self.path), open_h5(self.path) as f:
            g = f["VTKHDF"]
            ds = g["PointData" if info.association == "point" else "CellData"][field]
            if info.association == "point":
                n = int(self._n_points[first:parts.stop].sum())
            else:
                n = self._n_cells(g, parts)
            values = as_2d(ds[base:base + n])
        if info.association == "cell":
            values = values[self._mesh_and_perm(step)[1]]
        return values

    def _n_cells(self, g: h5py.Group, parts: range) -> int:
        if self.kind == "UnstructuredGrid":
            return int(g["NumberOfCells"][parts.start:parts.stop].sum())
        return int(sum(g[t]["NumberOfCells"][parts.start:parts.stop].sum() for t in _POLY_TOPOS
                       if t in g))

    def metadata(self) -> dict[str, str]:
        return {"solver": f"VTKHDF {self.kind}",
                "version": ".".join(str(v) for v in self.version)}


def _steps_array(st: h5py.Group, name: str, n: int, width: int, fill: int = 0) -> np.ndarray:
    if name not in st:
        return np.full((n, width), fill, np.int64)
    a = st[name][()].astype(np.int64)
    a = a.reshape(n, -1) if a.size else np.full((n, width), fill, np.int64)
    if a.shape[1] < width:
        a = np.hstack([a, np.zeros((n, width - a.shape[1]), np.int64)])
    return a


def open_source(path: str | os.PathLike, **options) -> VtkHdfSource:
    if options:
        raise TypeError(f"the VTKHDF adapter takes no options, got {sorted(options)}")
    return VtkHdfSource(path)
