"""XDMF3 + HDF5: legacy DOLFIN (``XDMFFile.write`` and ``write_checkpoint``), dolfinx,
and meshio time series -- one reader of our own, lazy, for all of them.

meshio reads the whole series into memory and cannot read DOLFIN's ``write_checkpoint``
layout (``ItemType="FiniteElementFunction"``), so we parse the XML ourselves:

* grids: a ``Temporal`` collection of uniform grids (one per step, ``<Time Value>``), or
  one uniform grid; several collections (dolfinx: one per function) are merged by time;
* ``xi:include`` of another grid's Topology/Geometry (meshio, dolfinx) is resolved;
* ``DataItem`` ``Format="HDF"`` (``file.h5:/path``, relative to the XDMF file) or
  ``Format="XML"`` (inline numbers);
* attributes ``Center="Node"`` / ``"Cell"``, and ``FiniteElementFunction`` (CG1, mapped
  to vertices through its cell dofs as in :mod:`datasets.adapters.fenics`);
* a uniform grid outside the collections whose cells are one dimension lower than the
  mesh and carry a cell attribute is read as boundary facet tags (dolfinx ``meshtags``);
* per-step meshes (legacy DOLFIN writes the mesh at every step): the geometry of each
  step is read on demand; ``moving_mesh`` is True when it really changes.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from datasets.adapters.base import FieldInfo, Mesh, RunSource, as_2d, translate_h5
from datasets.adapters.fenics import cg1_vertex_map
from datasets.errors import AdapterError

NAME = "xdmf"

_TOPO = {"tetrahedron": "tetra", "triangle": "triangle", "hexahedron": "hexahedron",
         "quadrilateral": "quad", "wedge": "wedge", "pyramid": "pyramid",
         "polyline": "line", "edge_2": "line", "interval": "line"}
_DIM = {"tetra": 3, "hexahedron": 3, "wedge": 3, "pyramid": 3, "triangle": 2, "quad": 2,
        "line": 1}


def can_open(path: str | os.PathLike) -> bool:
    """An XML document whose root element is ``Xdmf``."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text.startswith(b"<"):
        return False
    return re.search(rb"<Xdmf[\s>]", head) is not None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


@dataclass
class _Item:
    """A DataItem: an HDF5 dataset reference or inline values."""

    dims: tuple[int, ...]
    file: Path | None = None
    dataset: str = ""
    inline: np.ndarray | None = None

    def read(self) -> np.ndarray:
        if self.inline is not None:
            return self.inline
        assert self.file is not None
        if not self.file.exists():
            raise AdapterError(f"the XDMF file points to {str(self.file)!r}, which does not "
                               f"exist; keep the .h5 file beside the .xdmf file")
        with translate_h5(self.file), h5py.File(self.file, "r") as f:
            if self.dataset not in f:
                raise AdapterError(f"{self.file.name} has no dataset {self.dataset!r} "
                                   f"named by the XDMF file")
            return f[self.dataset][()]

    def key(self) -> tuple:
        return (str(self.file), self.dataset) if self.inline is None else ("inline", id(self))


@dataclass
class _Attr:
    name: str
    center: str
    atype: str
    items: list[_Item]
    item_type: str = ""
    family: str = ""
    degree: int = 1


@dataclass
class _Grid:
    name: str
    topo_type: str | None = None
    topo: _Item | None = None
    nodes_per_element: int | None = None
    geom_type: str = "XYZ"
    geom: list[_Item] = field(default_factory=list)
    time: float | None = None
    attrs: dict[str, _Attr] = field(default_factory=dict)


def _parse_item(el: ET.Element, folder: Path) -> _Item:
    if el.get("ItemType") not in (None, "Uniform"):
        raise AdapterError(f"DataItem ItemType={el.get('ItemType')!r} (hyperslabs, functions) "
                           f"is not supported; plain HDF and XML DataItems are")
    dims = tuple(int(d) for d in (el.get("Dimensions") or "0").split())
    fmt = (el.get("Format") or "XML").upper()
    text = (el.text or "").strip()
    if fmt == "HDF":
        if ":" not in text:
            raise AdapterError("an HDF DataItem lacks 'file.h5:/dataset'")
        fname, dset = text.rsplit(":", 1)
        return _Item(dims, folder / fname.strip(), dset.strip())
    if fmt == "XML":
        kind = (el.get("NumberType") or el.get("DataType") or "Float").lower()
        dtype = np.int64 if kind in ("int", "uint", "uchar", "char") else np.float64
        try:
            vals = np.array(text.split(), dtype=dtype)
        except ValueError:  # the message would quote the text: say where, not what
            raise AdapterError(f"an XML DataItem holds text that is not {kind} numbers"
                               ) from None
        return _Item(dims, inline=vals.reshape(dims) if dims and np.prod(dims) == vals.size
                     else vals)
    raise AdapterError(f"DataItem Format={fmt!r} is not supported (HDF and XML are)")


def _resolve_includes(root: ET.Element) -> None:
    """Replace ``xi:include`` elements by copies of the Topology/Geometry they point to."""
    parents = {c: p for p in root.iter() for c in p}
    for inc in [e for e in root.iter() if _local(e.tag) == "include"]:
        xp = inc.get("xpointer", "")
        m = re.fullmatch(r"\s*xpointer\((.*)\)\s*", xp)
        if not m:
            raise AdapterError(f"unsupported xi:include xpointer {xp!r}")
        expr = m.group(1).strip()
        last = re.search(r"/\*\[(self::\w+(?:\s+or\s+self::\w+)*)\]$", expr)
        if last:
            names = set(re.findall(r"self::(\w+)", last.group(1)))
            path = expr[: last.start()]
        else:
            path, _, tail = expr.rpartition("/")
            names = {tail}
        if path.startswith("//"):
            query = "." + path
        elif path.startswith("/"):
            steps = path.strip("/").split("/")
            if steps and steps[0] == _local(root.tag):
                steps = steps[1:]
            query = "/".join(steps) or "."
        else:
            query = path
        try:
            target = root.find(query)
        except SyntaxError as exc:
            raise AdapterError(f"cannot follow xi:include xpointer {xp!r}: {exc}") from exc
        if target is None:
            raise AdapterError(f"xi:include xpointer {xp!r} matches nothing")
        parent = parents[inc]
        pos = list(parent).index(inc)
        parent.remove(inc)
        for k, child in enumerate(c for c in target if _local(c.tag) in names):
            parent.insert(pos + k, child)


def _parse_grid(el: ET.Element, folder: Path) -> _Grid:
    g = _Grid(el.get("Name", ""))
    for child in el:
        tag = _local(child.tag)
        if tag == "Topology":
            g.topo_type = (child.get("TopologyType") or child.get("Type") or "").lower()
            npe = child.get("NodesPerElement")
            g.nodes_per_element = int(npe) if npe else None
            items = [c for c in child if _local(c.tag) == "DataItem"]
            g.topo = _parse_item(items[0], folder) if items else None
        elif tag == "Geometry":
            g.geom_type = (child.get("GeometryType") or child.get("Type") or "XYZ").upper()
            g.geom = [_parse_item(c, folder) for c in child if _local(c.tag) == "DataItem"]
        elif tag == "Time":
            g.time = float(child.get("Value", "nan"))
        elif tag == "Attribute":
            items = [_parse_item(c, folder) for c in child if _local(c.tag) == "DataItem"]
            a = _Attr(child.get("Name", f"attr{len(g.attrs)}"), child.get("Center", "Node"),
                      child.get("AttributeType", "Scalar"), items, child.get("ItemType", ""),
                      child.get("ElementFamily", ""), int(child.get("ElementDegree", "1")))
            g.attrs[a.name] = a
    return g


class XdmfSource(RunSource):
    """An XDMF3 time series (or a single grid) read lazily."""

    format = NAME
    time_unit = ""  # times as written (the file states no unit)

    def __init__(self, path: str | os.PathLike) -> None:
        super().__init__(path)
        try:
            root = ET.parse(self.path).getroot()
        except (ET.ParseError, OSError) as exc:
            raise AdapterError(f"cannot parse XDMF {str(self.path)!r}: {exc}") from exc
        _resolve_includes(root)
        folder = self.path.parent
        domain = next((c for c in root if _local(c.tag) == "Domain"), None)
        if domain is None:
            raise AdapterError(f"{self.path.name}: no <Domain> element")
        series: list[list[_Grid]] = []
        singles: list[_Grid] = []
        for el in domain:
            if _local(el.tag) != "Grid":
                continue
            if el.get("GridType") == "Collection":
                steps = [_parse_grid(c, folder) for c in el if _local(c.tag) == "Grid"]
                if steps:
                    series.append(steps)
            else:
                singles.append(_parse_grid(el, folder))
        # the volume mesh: first grid with the highest-dimensional topology
        grids = [g for s in series for g in s] + singles
        grids = [g for g in grids if g.topo is not None and g.topo_type]
        if not grids:
            raise AdapterError(f"{self.path.name}: no grid with a topology")
        self._dim = max(_DIM.get(self._ctype(g), 0) for g in grids)
        self._facet_grids = [g for g in singles if g.topo is not None
                             and _DIM.get(self._ctype(g), 0) == self._dim - 1
                             and any(a.center == "Cell" for a in g.attrs.values())]
        vol_singles = [g for g in singles if g not in self._facet_grids]
        if not series:
            series = [[g] for g in vol_singles[:1]]
        # steps: merge collections by time
        times = sorted({(g.time if g.time is not None else 0.0) for s in series for g in s})
        self._times = np.array(times, dtype=float)
        self._steps: list[dict[str, _Grid]] = [{} for _ in times]
        self._step_grid: list[_Grid | None] = [None] * len(times)
        index = {t: i for i, t in enumerate(times)}
        for s in series:
            for g in s:
                i = index[g.time if g.time is not None else 0.0]
                if g.topo is not None and self._step_grid[i] is None:
                    self._step_grid[i] = g
                for name in g.attrs:
                    self._steps[i][name] = g
        base = next((g for g in self._step_grid if g is not None), None) or vol_singles[0]
        self._step_grid = [g or base for g in self._step_grid]
        self._catalogue = self._build_catalogue()
        self._mesh_cache: dict[tuple, Mesh] = {}
        self._moving: bool | None = None
        self._maps: dict[tuple, np.ndarray] = {}

    def _ctype(self, g: _Grid) -> str:
        base = (g.topo_type or "").split("_")[0]
        ctype = _TOPO.get(base)
        if ctype is None:
            raise AdapterError(f"{self.path.name}: topology {g.topo_type!r} is not supported")
        return ctype

    def _build_catalogue(self) -> dict[str, FieldInfo]:
        cat: dict[str, FieldInfo] = {}
        for step in self._steps:
            for name, g in step.items():
                if name in cat:
                    continue
                a = g.attrs[name]
                if a.item_type == "FiniteElementFunction":
                    comps = {"Scalar": 1, "Vector": 3, "Tensor": 9}.get(a.atype, 1)
                    cat[name] = FieldInfo(name, "point", comps, "",
                                          f"{a.family}{a.degree} function (checkpoint)")
                    continue
                dims = a.items[0].dims if a.items else ()
                comps = int(np.prod(dims[1:])) if len(dims) > 1 else 1
                assoc = {"Node": "point", "Cell": "cell"}.get(a.center)
                if assoc is None:
                    continue
                cat[name] = FieldInfo(name, assoc, comps, "", f"{a.atype} ({a.center})")
        return cat

    @property
    def moving_mesh(self) -> bool:  # type: ignore[override]
        if self._moving is None:
            keys = {tuple(i.key() for i in g.geom) for g in self._step_grid}
            self._moving = False
            if len(keys) > 1:
                first = self._points(self._step_grid[0])
                self._moving = any(not np.array_equal(first, self._points(g))
                                   for g in (self._step_grid[len(self._step_grid) // 2],
                                             self._step_grid[-1]))
        return self._moving

    def _points(self, g: _Grid) -> np.ndarray:
        if g.geom_type in ("X_Y_Z", "X_Y"):
            cols = [np.asarray(i.read(), float).ravel() for i in g.geom]
            pts = np.stack(cols, axis=1)
        else:
            pts = np.asarray(g.geom[0].read(), float)
            ncol = 2 if g.geom_type == "XY" else 3
            pts = pts.reshape(-1, ncol)
        if pts.shape[1] < 3:
            pts = np.hstack([pts, np.zeros((len(pts), 3 - pts.shape[1]))])
        return pts

    def _cells(self, g: _Grid) -> tuple[str, np.ndarray]:
        ctype = self._ctype(g)
        assert g.topo is not None
        conn = np.asarray(g.topo.read(), dtype=np.int64)
        k = g.nodes_per_element or {"tetra": 4, "triangle": 3, "hexahedron": 8, "quad": 4,
                                    "wedge": 6, "pyramid": 5, "line": 2}[ctype]
        return ctype, conn.reshape(-1, k)

    def mesh(self, step: int = 0) -> Mesh:
        g = self._step_grid[self._step(step)]
        key = (tuple(i.key() for i in g.geom), g.topo.key() if g.topo else None)
        if key in self._mesh_cache:
            return self._mesh_cache[key]
        ctype, conn = self._cells(g)
        facets: dict[str, np.ndarray] = {}
        tags: dict[str, np.ndarray] = {}
        for fg in self._facet_grids:
            ftype, fconn = self._cells(fg)
            attr = next(a for a in fg.attrs.values() if a.center == "Cell")
            vals = np.asarray(attr.items[0].read()).astype(np.int64).ravel()
            facets[ftype] = np.concatenate([facets[ftype], fconn]) if ftype in facets else fconn
            tags[ftype] = np.concatenate([tags[ftype], vals]) if ftype in tags else vals
        names = {int(t): f"tag{int(t)}" for v in tags.values() for t in np.unique(v)}
        mesh = Mesh(self._points(g), {ctype: conn}, facets, tags, names)
        self._mesh_cache[key] = mesh
        return mesh

    def read(self, field: str, step: int) -> np.ndarray:
        info = self._field(field)
        step = self._step(step)
        g = self._steps[step].get(field)
        if g is None:
            raise KeyError(f"{self.path.name}: field {field!r} is not stored at step {step} "
                           f"(t = {self._times[step]:g})")
        a = g.attrs[field]
        if a.item_type == "FiniteElementFunction":
            return self._read_function(g, a, info.n_components)
        values = as_2d(a.items[0].read())
        return values.reshape(values.shape[0], -1)

    def _read_function(self, g: _Grid, a: _Attr, nc: int) -> np.ndarray:
        if a.family not in ("CG", "P", "Lagrange", "Q") or a.degree != 1:
            raise AdapterError(f"{self.path.name}: {a.name!r} is a {a.family}{a.degree} "
                               f"function; only CG1 (vertex) functions are read")
        if len(a.items) != 4:
            raise AdapterError(f"{self.path.name}: checkpoint function {a.name!r} needs 4 "
                               f"DataItems (cell_dofs, vector, x_cell_dofs, cells)")
        cell_dofs, vector, x_cell_dofs, cells = a.items
        key = (cell_dofs.key(), g.topo.key() if g.topo else None)
        if key not in self._maps:
            _, conn = self._cells(g)
            self._maps[key] = cg1_vertex_map(
                conn, np.arange(len(conn)), np.asarray(cells.read()).astype(np.int64).ravel(),
                np.asarray(x_cell_dofs.read()).astype(np.int64).ravel(),
                np.asarray(cell_dofs.read()).astype(np.int64).ravel(), nc,
                f"{self.path.name}:{a.name}")
        vec = np.asarray(vector.read(), float).ravel()
        return vec[self._maps[key]]

    def files(self) -> list[Path]:
        out = [self.path]
        for g in self._step_grid + self._facet_grids:
            for item in [*g.geom, g.topo]:
                if item is not None and item.file is not None and item.file not in out:
                    out.append(item.file)
        for step in self._steps:
            for g in step.values():
                for a in g.attrs.values():
                    for item in a.items:
                        if item.file is not None and item.file not in out:
                            out.append(item.file)
        return out

    def metadata(self) -> dict[str, str]:
        return {"solver": "XDMF", "version": ""}


def open_source(path: str | os.PathLike, **options) -> XdmfSource:
    if options:
        raise TypeError(f"the XDMF adapter takes no options, got {sorted(options)}")
    return XdmfSource(path)
