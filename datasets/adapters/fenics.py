"""Legacy FEniCS/DOLFIN ``HDF5File`` results (Oasis, VaMPy, turtleFSI).

Layout (DOLFIN 2019 ``HDF5File.write``)::

    mesh file   /<mesh>/coordinates (nv, 3), /<mesh>/topology (nc, 4) attrs celltype,
                /<mesh>/cell_indices (nc,); optionally a facet MeshFunction
                /<name>/topology (m, 3) + /<name>/values (m,) (boundary markers)
    function    /<f>/cell_dofs, /<f>/x_cell_dofs (nc+1,), /<f>/cells (nc,),
                /<f>/vector_<i> (n_dofs,) attrs timestamp; attrs signature, count

The degree-of-freedom-to-vertex map of a CG1 function comes from the cell dofs: cell row
``i`` is the mesh cell with global index ``cells[i]``; its dofs
``cell_dofs[x_cell_dofs[i]:x_cell_dofs[i+1]]`` are, for a vector element, blocked by
component (all vertices of component 0, then component 1, ...) and, within a block, in
the cell's local vertex order (the order of ``topology``).

The ``timestamp`` is what the solver passed to ``write``: a time, or -- in VaMPy -- the
time-step index.  Pass ``dt`` (seconds per step) or ``time_scale`` (seconds per file time
unit) to :func:`datasets.adapters.open` to get seconds; without either, :meth:`times`
returns the timestamps as written and ``time_unit`` is ``""``.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np

from datasets.adapters.base import (
    FieldInfo,
    Mesh,
    RunSource,
    exterior_facets,
    is_hdf5,
    match_rows,
    open_h5,
    translate_h5,
)
from datasets.errors import AdapterError

NAME = "fenics-hdf5"
_CELLTYPES = {"tetrahedron": "tetra", "triangle": "triangle", "interval": "line",
              "hexahedron": "hexahedron", "quadrilateral": "quad"}
_VECTOR = re.compile(r"^vector(_(\d+))?$")


def _mesh_group(f: h5py.File) -> str | None:
    for name, obj in f.items():
        if (isinstance(obj, h5py.Group) and "coordinates" in obj and "topology" in obj
                and "celltype" in obj["topology"].attrs):
            return name
    return None


def _function_groups(f: h5py.File) -> list[str]:
    out = []
    for name, obj in f.items():
        if (isinstance(obj, h5py.Group) and "cell_dofs" in obj and "x_cell_dofs" in obj
                and any(_VECTOR.match(k) for k in obj)):
            out.append(name)
    return out


def can_open(path: str | os.PathLike) -> bool:
    """A DOLFIN mesh group (``topology`` with ``celltype``) or a function group at top level."""
    if not is_hdf5(path):
        return False
    try:
        with h5py.File(path, "r") as f:
            return _mesh_group(f) is not None or bool(_function_groups(f))
    except Exception:  # noqa: BLE001 - unreadable means "not mine"; open() reports it
        return False


class _Function:
    """One function group of one file: steps, dof->vertex map (built on first read)."""

    def __init__(self, path: Path, group: str, alias: str):
        self.path, self.group, self.alias = path, group, alias
        with translate_h5(path), h5py.File(path, "r") as f:
            g = f[group]
            sig = g.attrs.get("signature", b"")
            self.signature = sig.decode() if isinstance(sig, bytes) else str(sig)
            vecs = []
            for k in g:
                m = _VECTOR.match(k)
                if m:
                    idx = int(m.group(2)) if m.group(2) else 0
                    ts = g[k].attrs.get("timestamp")
                    vecs.append((idx, k, None if ts is None else float(ts)))
            vecs.sort()
            self.datasets = [v[1] for v in vecs]
            self.timestamps = [v[2] for v in vecs]
            self.n_dofs = int(g[self.datasets[0]].shape[0])
            self.n_cells = int(g["cells"].shape[0])
            self.dofs_per_cell = int(g["x_cell_dofs"][1] - g["x_cell_dofs"][0])
        m = re.search(r"dim=(\d+)", self.signature)
        self.n_components = int(m.group(1)) if m else (
            3 if "VectorElement" in self.signature else 1)
        if "Lagrange" not in self.signature and "CG" not in self.signature and self.signature:
            raise AdapterError(f"{path.name}:{group}: element {self.signature!r} is not "
                               f"Lagrange; only CG1 functions are read")
        if re.search(r"Lagrange', \w+, ([2-9])", self.signature):
            raise AdapterError(f"{path.name}:{group}: {self.signature!r} is higher order; "
                               f"only CG1 (vertex) functions are read")
        self._map: np.ndarray | None = None

    @property
    def steady(self) -> bool:
        return len(self.datasets) == 1

    def vertex_map(self, topology: np.ndarray, cell_indices: np.ndarray) -> np.ndarray:
        """``(n_vertices, n_components)`` dof index of each vertex and component."""
        if self._map is not None:
            return self._map
        nc = self.n_components
        with translate_h5(self.path), h5py.File(self.path, "r") as f:
            g = f[self.group]
            cells = g["cells"][()].astype(np.int64).ravel()
            x = g["x_cell_dofs"][()].astype(np.int64).ravel()
            dofs = g["cell_dofs"][()].astype(np.int64).ravel()
        out = cg1_vertex_map(topology, cell_indices, cells, x, dofs, nc,
                             f"{self.path.name}:{self.group}")
        self._map = out
        return out

    def read_vector(self, step: int) -> np.ndarray:
        ds = self.datasets[0 if self.steady else step]
        with translate_h5(self.path), h5py.File(self.path, "r") as f:
            return f[self.group][ds][()].astype(np.float64).ravel()


class FenicsSource(RunSource):
    """A run stored as one mesh file plus function files (or all in one file)."""

    format = NAME

    def __init__(self, path: str | os.PathLike | Mapping[str, str | os.PathLike], *,
                 dt: float | None = None, time_scale: float | None = None,
                 mesh_file: str | os.PathLike | None = None) -> None:
        files: dict[str, Path]
        if isinstance(path, Mapping):
            files = {k: Path(v) for k, v in path.items()}
            if "mesh" not in files:
                raise AdapterError("a multi-file FEniCS source needs a 'mesh' entry")
            mesh_path = files.pop("mesh")
            super().__init__(mesh_path)
        else:
            super().__init__(path)
            mesh_path, files = self._discover(Path(path), mesh_file)
        for p in (mesh_path, *files.values()):
            if not p.exists():
                raise AdapterError(f"no such file: {str(p)!r}")
        self.mesh_path = mesh_path
        with translate_h5(mesh_path), open_h5(mesh_path) as f:
            grp = _mesh_group(f)
            if grp is None:
                raise AdapterError(f"{str(mesh_path)!r} holds no DOLFIN mesh group "
                                   f"(coordinates + topology with a celltype attribute)")
            self._mesh_group = grp
        self._functions: dict[str, _Function] = {}
        for alias, fpath in files.items():
            with translate_h5(fpath), open_h5(fpath) as f:
                groups = _function_groups(f)
            if not groups:
                raise AdapterError(f"{str(fpath)!r} holds no DOLFIN function group")
            for g in groups:
                name = alias if (len(groups) == 1 and not alias.startswith("_")) else g
                if name in self._functions:  # same group name in two files: keep both
                    name = f"{fpath.stem}/{g}"
                self._functions[name] = _Function(fpath, g, name)
        self._dt, self._time_scale = dt, time_scale
        self.time_unit = "s" if (dt is not None or time_scale is not None) else ""
        self._mesh: Mesh | None = None
        self._cell_indices: np.ndarray | None = None
        self._times = self._build_times()

    @staticmethod
    def _discover(path: Path, mesh_file: str | os.PathLike | None
                  ) -> tuple[Path, dict[str, Path]]:
        """From one file, find the mesh and the function files beside it."""
        with translate_h5(path), open_h5(path) as f:
            has_mesh = _mesh_group(f) is not None
            has_fun = bool(_function_groups(f))
        if mesh_file is not None:
            mesh_path = Path(mesh_file)
        elif has_mesh:
            mesh_path = path
        else:
            cands = [path.parent / "mesh.h5"] + sorted(path.parent.glob("*.h5"))
            mesh_path = next((c for c in cands if c.exists() and can_open(c)
                              and _has_mesh(c)), None)
            if mesh_path is None:
                raise AdapterError(f"{str(path)!r} is a FEniCS function file but no mesh "
                                   f"file (mesh.h5) was found beside it; pass "
                                   f"source={{mesh: ..., u: ...}}")
        files: dict[str, Path] = {}
        if has_fun:
            files["_" + path.stem] = path
        if has_mesh and not has_fun:  # mesh file: collect sibling function files
            for c in sorted(path.parent.glob("*.h5")):
                if c != path and can_open(c) and not _has_mesh(c):
                    files["_" + c.stem] = c
        return mesh_path, files

    def _build_times(self) -> np.ndarray:
        series = [f for f in self._functions.values() if not f.steady]
        if not series:
            ts = [0.0]
        else:
            ts = series[0].timestamps
            for f in series[1:]:
                if f.timestamps != ts:
                    raise AdapterError(
                        f"fields {series[0].alias!r} and {f.alias!r} are stored at different "
                        f"timestamps ({ts[:3]}... vs {f.timestamps[:3]}...); open them "
                        f"separately")
        t = np.array([0.0 if v is None else v for v in ts], dtype=np.float64)
        if self._dt is not None:
            return t * float(self._dt)
        if self._time_scale is not None:
            return t * float(self._time_scale)
        if looks_like_step_indices(t):
            warnings.warn(
                f"{self.path.name}: the timestamps {_preview(t)} are whole numbers, which "
                f"looks like time-step indices (VaMPy writes the step number), but no time "
                f"step was given, so they are used as times in the source's time unit. Set "
                f"units.dt in the manifest's qois (or pass dt=<seconds per step> to "
                f"datasets.adapters.open).", UserWarning, stacklevel=5)
        return t

    def files(self) -> list[Path]:
        out = [self.mesh_path]
        for f in self._functions.values():
            if f.path not in out:
                out.append(f.path)
        return out

    def timestamps(self) -> np.ndarray:
        """The raw ``timestamp`` attribute of each step (step index in VaMPy)."""
        series = [f for f in self._functions.values() if not f.steady]
        ts = series[0].timestamps if series else [0.0]
        return np.array([np.nan if v is None else v for v in ts])

    def mesh(self, step: int = 0) -> Mesh:
        if self._mesh is not None:
            return self._mesh
        with translate_h5(self.mesh_path), open_h5(self.mesh_path) as f:
            g = f[self._mesh_group]
            points = g["coordinates"][()].astype(np.float64)
            topo = g["topology"]
            ctype = topo.attrs["celltype"]
            ctype = ctype.decode() if isinstance(ctype, bytes) else str(ctype)
            cells = topo[()].astype(np.int64)
            cell_indices = (g["cell_indices"][()].astype(np.int64).ravel()
                            if "cell_indices" in g else np.arange(len(cells)))
            markers = _facet_markers(f, self._mesh_group, cells.shape[1] - 1)
        if points.shape[1] < 3:
            points = np.hstack([points, np.zeros((len(points), 3 - points.shape[1]))])
        mtype = _CELLTYPES.get(ctype)
        if mtype is None:
            raise AdapterError(f"{self.mesh_path.name}: unknown DOLFIN cell type {ctype!r}")
        ext = exterior_facets({mtype: cells})
        facets, tags = {}, {}
        if markers is not None:  # keep exterior facets, outward-oriented as in ``ext``
            mconn, mval = markers
            ftype = "triangle" if mconn.shape[1] == 3 else "line"
            ref = ext.get(ftype, np.zeros((0, mconn.shape[1]), np.int64))
            idx = match_rows(mconn, ref)
            keep = idx >= 0
            facets[ftype], tags[ftype] = ref[idx[keep]], mval[keep]
        else:  # untagged: every exterior facet gets tag 0 ("boundary")
            for ftype, conn in ext.items():
                facets[ftype] = conn
                tags[ftype] = np.zeros(len(conn), np.int64)
        names = {int(t): f"tag{int(t)}" for arr in tags.values() for t in np.unique(arr)}
        if markers is None and names:
            names = {0: "boundary"}
        self._cell_indices = cell_indices
        self._mesh = Mesh(points, {mtype: cells}, facets, tags, names)
        return self._mesh

    def fields(self) -> dict[str, FieldInfo]:
        return {name: FieldInfo(name, "point", f.n_components, "",
                                f"{f.signature} ({f.path.name}:{f.group})")
                for name, f in self._functions.items()}

    def read(self, field: str, step: int) -> np.ndarray:
        self._field(field)
        step = self._step(step)
        fun = self._functions[field]
        mesh = self.mesh()
        cells = next(iter(mesh.cells.values()))
        vmap = fun.vertex_map(cells, self._cell_indices)
        vec = fun.read_vector(step)
        if vec.shape[0] != fun.n_dofs or vmap.max() >= vec.shape[0]:
            raise AdapterError(f"{fun.path.name}:{fun.group}: step {step} has "
                               f"{vec.shape[0]} values, expected {fun.n_dofs}")
        if vmap.shape[0] != mesh.n_points:
            raise AdapterError(f"{fun.path.name}: function covers {vmap.shape[0]} vertices, "
                               f"the mesh has {mesh.n_points}")
        return vec[vmap]

    def metadata(self) -> dict[str, str]:
        return {"solver": "FEniCS/DOLFIN HDF5File", "version": ""}


def looks_like_step_indices(timestamps: np.ndarray) -> bool:
    """True for several distinct whole-number timestamps, not all below 1 (step indices
    such as 200, 400, ... rather than times in seconds)."""
    t = np.asarray(timestamps, float)
    return bool(t.size >= 2 and np.all(np.isfinite(t)) and np.all(t == np.round(t))
                and np.unique(t).size >= 2 and np.max(np.abs(t)) >= 1)


def _preview(t: np.ndarray) -> str:
    shown = ", ".join(f"{v:g}" for v in t[:3])
    return f"[{shown}{', ...' if t.size > 3 else ''}]"


def cg1_vertex_map(topology: np.ndarray, cell_indices: np.ndarray, cells: np.ndarray,
                   x_cell_dofs: np.ndarray, cell_dofs: np.ndarray, n_components: int,
                   where: str) -> np.ndarray:
    """Dof index ``(n_vertices, n_components)`` of each vertex of a CG1 function.

    ``cells[i]`` is the global index of function cell ``i`` (matched against the mesh's
    ``cell_indices``); its dofs are blocked by component, then by local vertex.
    """
    nc, nv_cell = n_components, topology.shape[1]
    x, dofs = x_cell_dofs, cell_dofs
    if np.any(np.diff(x) != nc * nv_cell):
        raise AdapterError(f"{where}: {int(x[1] - x[0])} dofs per cell, expected "
                           f"{nc * nv_cell} for a CG1 element with {nc} components")
    order = np.argsort(cell_indices)
    pos = np.minimum(np.searchsorted(cell_indices[order], cells), len(order) - 1)
    if len(cells) != len(topology) or np.any(cell_indices[order][pos] != cells):
        raise AdapterError(f"{where}: cells do not match the mesh (different mesh or partition)")
    rows = order[pos]
    block = dofs[x[:-1, None] + np.arange(nc * nv_cell)].reshape(len(cells), nc, nv_cell)
    verts = topology[rows]  # [cell, local vertex]
    out = np.full((int(topology.max()) + 1, nc), -1, np.int64)
    for c in range(nc):
        out[verts.ravel(), c] = block[:, c, :].ravel()
        # every cell must agree on the dof of a shared vertex, else it is not a CG1 map
        if np.any(out[verts, c] != block[:, c, :]):
            raise AdapterError(f"{where}: dof map is not a CG1 vertex map")
    if np.any(out < 0):
        raise AdapterError(f"{where}: some vertices have no dof")
    return out


def _has_mesh(path: Path) -> bool:
    try:
        with h5py.File(path, "r") as f:
            return _mesh_group(f) is not None
    except Exception:  # noqa: BLE001
        return False


def _facet_markers(f: h5py.File, mesh_group: str, facet_nodes: int
                   ) -> tuple[np.ndarray, np.ndarray] | None:
    """A facet MeshFunction (``topology`` (m, d) + ``values`` (m,)) if the file has one."""
    for name, obj in f.items():
        if name == mesh_group or not isinstance(obj, h5py.Group):
            continue
        if "topology" in obj and "values" in obj:
            topo = obj["topology"]
            if topo.ndim == 2 and topo.shape[1] == facet_nodes:
                conn = topo[()].astype(np.int64)
                vals = obj["values"][()].astype(np.int64).ravel()
                if len(vals) == len(conn):
                    return conn, vals
    return None


def open_source(path: str | os.PathLike | Mapping[str, str | os.PathLike], **options
                ) -> FenicsSource:
    return FenicsSource(path, **options)
