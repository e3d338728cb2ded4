"""CGNS/HDF5 (SIDS-to-HDF5 mapping): unstructured zones, element sections, FlowSolution
(vertex and cell-centre), ZoneBC with family names, and iterative data for time.

In the HDF5 mapping every CGNS node is a group with attributes ``name``, ``label``
(``Zone_t``, ``Elements_t``...) and ``type``; its value, if any, is the dataset
``" data"`` (leading space).  Connectivity is 1-based.  Strings are int8 arrays.

Mesh: all volume sections of the first zone (or the zone given by ``zone=``); surface
sections are boundary facets.  Facet tags: each ``BC_t`` of ``ZoneBC`` (``FaceCenter``
element lists/ranges, or ``Vertex`` point lists) gets a tag named after the BC, with its
``FamilyName`` and the names of element sections it covers as aliases; surface facets in no
BC keep a tag named after their section.  Vector fields stored as ``<name>X/Y/Z`` are
joined into ``<name>`` with 3 components.  Time: ``BaseIterativeData_t/TimeValues`` with
``ZoneIterativeData_t/FlowSolutionPointers``; without them, one step at t = 0.
"""

from __future__ import annotations

import os

import h5py
import numpy as np

from datasets.adapters.base import (
    FieldInfo,
    Mesh,
    RunSource,
    attr_str,
    exterior_facets,
    is_hdf5,
    open_h5,
    translate_h5,
)
from datasets.errors import AdapterError

NAME = "cgns"
#: CGNS ElementType_t value -> (meshio name, vertices, is volume)
ELEMENT_TYPES = {3: ("line", 2, False), 5: ("triangle", 3, False), 7: ("quad", 4, False),
                 10: ("tetra", 4, True), 12: ("pyramid", 5, True), 14: ("wedge", 6, True),
                 17: ("hexahedron", 8, True)}
_DATA = " data"
#: SIDS quantity -> SI unit, used as a hint when DimensionalUnits says SI
_SIDS_SI = {"Pressure": "Pa", "PressureStagnation": "Pa", "Density": "kg/m^3",
            "Velocity": "m/s", "Momentum": "kg/(m^2 s)", "Temperature": "K",
            "ViscosityMolecular": "Pa s", "SkinFrictionMagnitude": "Pa",
            "WallShearStress": "Pa", "EnergyStagnationDensity": "J/m^3"}
_SI = ("Kilogram", "Meter", "Second")


def _label(node: h5py.Group) -> str:
    return attr_str(node.attrs.get("label", b""))


def _value(node: h5py.Group) -> np.ndarray | None:
    return node[_DATA][()] if _DATA in node else None


def _text(node: h5py.Group) -> str:
    v = _value(node)
    return "" if v is None else bytes(np.asarray(v, np.int8).astype(np.uint8).ravel()
                                      ).split(b"\0")[0].decode("utf-8", "replace").strip()


def _children(node: h5py.Group, label: str) -> list[h5py.Group]:
    return [c for c in node.values() if isinstance(c, h5py.Group) and _label(c) == label]


def can_open(path: str | os.PathLike) -> bool:
    """HDF5 whose top level holds a ``CGNSBase_t`` node (or ``CGNSLibraryVersion``)."""
    if not is_hdf5(path):
        return False
    try:
        with h5py.File(path, "r") as f:
            return ("CGNSLibraryVersion" in f or any(
                isinstance(c, h5py.Group) and _label(c) == "CGNSBase_t" for c in f.values()))
    except Exception:  # noqa: BLE001
        return False


class CgnsSource(RunSource):
    """One unstructured zone of a CGNS/HDF5 file."""

    format = NAME
    time_unit = ""  # times as written (the file states no unit)

    def __init__(self, path: str | os.PathLike, *, base: str | None = None,
                 zone: str | None = None) -> None:
        super().__init__(path)
        with translate_h5(self.path), open_h5(self.path) as f:
            bases = _children(f, "CGNSBase_t")
            if not bases:
                raise AdapterError(f"{self.path.name}: no CGNSBase_t node")
            b = next((x for x in bases if attr_str(x.attrs["name"]) == base), None) if base \
                else bases[0]
            if b is None:
                raise AdapterError(f"{self.path.name}: no base {base!r}")
            zones = _children(b, "Zone_t")
            z = next((x for x in zones if attr_str(x.attrs["name"]) == zone), None) if zone \
                else (zones[0] if zones else None)
            if z is None:
                raise AdapterError(f"{self.path.name}: no zone {zone or ''!r} in base "
                                   f"{b.name}; zones: {[attr_str(x.attrs['name']) for x in zones]}")
            ztype = next((_text(c) for c in _children(z, "ZoneType_t")), "Unstructured")
            if ztype != "Unstructured":
                raise AdapterError(f"{self.path.name}: zone {z.name} is {ztype}; only "
                                   f"unstructured zones are read")
            self.base_path, self.zone_path = b.name, z.name
            self.n_vertices = int(np.ravel(_value(z))[0])
            self.version = ""
            if "CGNSLibraryVersion" in f:
                self.version = f"{float(np.ravel(_value(f['CGNSLibraryVersion']))[0]):.2f}"
            # time
            self._times = np.zeros(1)
            self._pointers: list[str] | None = None
            it = _children(b, "BaseIterativeData_t")
            if it and "TimeValues" in it[0]:
                self._times = np.asarray(_value(it[0]["TimeValues"]), float).ravel()
            zit = _children(z, "ZoneIterativeData_t")
            if zit and "FlowSolutionPointers" in zit[0]:
                raw = np.asarray(_value(zit[0]["FlowSolutionPointers"]), np.int8)
                raw = raw.reshape(-1, 32) if raw.ndim == 1 else raw
                self._pointers = [bytes(r.astype(np.uint8)).split(b"\0")[0].decode().strip()
                                  for r in raw]
                if len(self._times) != len(self._pointers):
                    self._times = (self._times if len(self._times) == len(self._pointers)
                                   else np.arange(len(self._pointers), dtype=float))
            self._solutions = {attr_str(s.attrs["name"]): s.name
                               for s in _children(z, "FlowSolution_t")}
            self._catalogue, self._members = self._build_catalogue(f)
        self._mesh: Mesh | None = None
        self._cell_perm: np.ndarray | None = None

    def _units_are_si(self, f: h5py.File) -> bool:
        """True when the nearest DimensionalUnits (zone, then base) say kg, m, s."""
        for node in (f[self.zone_path], f[self.base_path]):
            du = _children(node, "DimensionalUnits_t")
            if du:
                raw = np.asarray(_value(du[0]), np.int8).reshape(-1, 32)
                names = [bytes(r.astype(np.uint8)).split(b"\0")[0].decode().strip()
                         for r in raw]
                return tuple(names[:3]) == _SI
        return False

    def _build_catalogue(self, f: h5py.File) -> tuple[dict[str, FieldInfo], dict]:
        cat: dict[str, FieldInfo] = {}
        si = self._units_are_si(f)
        hint = (lambda n: _SIDS_SI.get(n, "")) if si else (lambda n: "")
        members: dict[str, tuple[str, list[str]]] = {}
        sols = list(self._solutions.items())
        if self._pointers:
            sols = [(n, p) for n, p in sols if n == self._pointers[0]] or sols[:1]
        for _, spath in sols:
            s = f[spath]
            loc = next((_text(c) for c in _children(s, "GridLocation_t")), "Vertex")
            assoc = {"Vertex": "point", "CellCenter": "cell"}.get(loc)
            if assoc is None:
                continue
            arrays = [attr_str(c.attrs["name"]) for c in _children(s, "DataArray_t")]
            used: set[str] = set()
            for a in arrays:
                if a.endswith("X") and a[:-1] + "Y" in arrays and a[:-1] + "Z" in arrays:
                    stem = a[:-1]
                    cat[stem] = FieldInfo(stem, assoc, 3, hint(stem), f"{stem}X/Y/Z ({loc})")
                    members[stem] = (loc, [stem + "X", stem + "Y", stem + "Z"])
                    used |= {stem + "X", stem + "Y", stem + "Z"}
            for a in arrays:
                if a not in used and a not in cat:
                    cat[a] = FieldInfo(a, assoc, 1, hint(a), f"{a} ({loc})")
                    members[a] = (loc, [a])
        return cat, members

    def files(self) -> list:
        return [self.path]

    def mesh(self, step: int = 0) -> Mesh:
        if self._mesh is not None:
            return self._mesh
        with translate_h5(self.path), open_h5(self.path) as f:
            z = f[self.zone_path]
            gc = _children(z, "GridCoordinates_t")
            if not gc:
                raise AdapterError(f"{self.path.name}: zone has no GridCoordinates")
            cols = []
            for axis in "XYZ":
                node = gc[0].get("Coordinate" + axis)
                cols.append(np.zeros(self.n_vertices) if node is None
                            else np.asarray(_value(node), float).ravel())
            points = np.stack(cols, axis=1)
            vol: dict[str, list[np.ndarray]] = {}
            vol_ids: dict[str, list[np.ndarray]] = {}
            surf: list[tuple[str, str, np.ndarray, np.ndarray]] = []
            for sec in _children(z, "Elements_t"):
                etype = int(np.ravel(_value(sec))[0])
                if etype not in ELEMENT_TYPES:
                    raise AdapterError(f"{self.path.name}: element section "
                                       f"{attr_str(sec.attrs['name'])!r} has CGNS type {etype} "
                                       f"(MIXED/NGON/high order are not supported)")
                name, k, is_vol = ELEMENT_TYPES[etype]
                rng = np.ravel(_value(sec["ElementRange"])).astype(np.int64)
                conn = np.asarray(_value(sec["ElementConnectivity"]), np.int64).reshape(-1, k) - 1
                ids = np.arange(rng[0], rng[1] + 1)
                if is_vol:
                    vol.setdefault(name, []).append(conn)
                    vol_ids.setdefault(name, []).append(ids)
                else:
                    surf.append((attr_str(sec.attrs["name"]), name, conn, ids))
            cells = {k: np.concatenate(v) for k, v in vol.items()}
            all_ids = np.concatenate([np.concatenate(v) for v in vol_ids.values()]) if vol_ids \
                else np.zeros(0, np.int64)
            if all_ids.size:
                self._cell_perm = np.argsort(np.argsort(all_ids))  # rank among volume cells
            bcs = self._read_bcs(z)
        self._mesh = self._tag(points, cells, surf, bcs)
        return self._mesh

    @staticmethod
    def _read_bcs(z: h5py.Group) -> list[dict]:
        out = []
        for zbc in _children(z, "ZoneBC_t"):
            for bc in _children(zbc, "BC_t"):
                loc = next((_text(c) for c in _children(bc, "GridLocation_t")), "Vertex")
                fam = next((_text(c) for c in _children(bc, "FamilyName_t")), "")
                if "PointList" in bc:
                    ids = np.asarray(_value(bc["PointList"]), np.int64).ravel()
                elif "PointRange" in bc:
                    r = np.asarray(_value(bc["PointRange"]), np.int64).ravel()
                    ids = np.arange(r[0], r[-1] + 1)
                else:
                    continue
                out.append({"name": attr_str(bc.attrs["name"]), "type": _text(bc),
                            "location": loc, "ids": ids, "family": fam})
        return out

    def _tag(self, points: np.ndarray, cells: dict[str, np.ndarray],
             surf: list[tuple[str, str, np.ndarray, np.ndarray]], bcs: list[dict]) -> Mesh:
        if not surf and bcs:  # no boundary sections: use the exterior facets
            for ftype, conn in exterior_facets(cells).items():
                surf.append((f"exterior_{ftype}", ftype, conn, np.full(len(conn), -1)))
        facets: dict[str, list[np.ndarray]] = {}
        tags: dict[str, list[np.ndarray]] = {}
        names: dict[int, str] = {}
        aliases: dict[str, int] = {}
        bc_tag = {bc["name"]: 101 + i for i, bc in enumerate(bcs)}
        for i, (sname, ftype, conn, ids) in enumerate(surf):
            tag = np.full(len(conn), i + 1, np.int64)
            for bc in bcs:
                if bc["location"] in ("FaceCenter", "EdgeCenter", "CellCenter"):
                    hit = np.isin(ids, bc["ids"])
                else:  # Vertex: facets whose vertices all lie in the list
                    hit = np.isin(conn, bc["ids"] - 1).all(axis=1)
                tag[hit] = bc_tag[bc["name"]]
            present = np.unique(tag)
            if (tag == i + 1).any():
                names[i + 1] = sname
            elif len(present) == 1:
                aliases[sname] = int(present[0])
            facets.setdefault(ftype, []).append(conn)
            tags.setdefault(ftype, []).append(tag)
        for bc in bcs:
            t = bc_tag[bc["name"]]
            if any((np.concatenate(v) == t).any() for v in tags.values()):
                names[t] = bc["name"]
                if bc["family"]:
                    aliases.setdefault(bc["family"], t)
        return Mesh(points, cells, {k: np.concatenate(v) for k, v in facets.items()},
                    {k: np.concatenate(v) for k, v in tags.items()}, names, aliases)

    def boundary_conditions(self) -> dict[str, str]:
        """``{BC name: BC type}`` (e.g. ``{"Ilo": "BCTunnelInflow"}``)."""
        with translate_h5(self.path), open_h5(self.path) as f:
            return {bc["name"]: bc["type"] for bc in self._read_bcs(f[self.zone_path])}

    def read(self, field: str, step: int) -> np.ndarray:
        info = self._field(field)
        step = self._step(step)
        loc, parts = self._members[field]
        with translate_h5(self.path), open_h5(self.path) as f:
            z = f[self.zone_path]
            sols = self._solutions
            if self._pointers:
                sname = self._pointers[step]
                if sname not in sols:
                    raise AdapterError(f"{self.path.name}: FlowSolutionPointers names "
                                       f"{sname!r}, which the zone lacks")
                spaths = [sols[sname]]
            else:
                spaths = list(sols.values())
            for sp in spaths:
                s = z.file[sp]
                sloc = next((_text(c) for c in _children(s, "GridLocation_t")), "Vertex")
                if sloc == loc and all(p in s for p in parts):
                    cols = [np.asarray(_value(s[p]), float).ravel() for p in parts]
                    break
            else:
                raise KeyError(f"{self.path.name}: field {field!r} not found at step {step}")
        values = np.stack(cols, axis=1)
        if info.association == "cell":
            self.mesh()
            if self._cell_perm is not None and len(self._cell_perm) == len(values):
                values = values[self._cell_perm]
        return values

    def metadata(self) -> dict[str, str]:
        return {"solver": "CGNS", "version": self.version}


def open_source(path: str | os.PathLike, **options) -> CgnsSource:
    return CgnsSource(path, **options)
