"""Ansys Fluent Common Fluids Format (CFF): ``.cas.h5`` (mesh) + ``.dat.h5`` (results).

Scope: boundary face zones and their face data (what QoIs on outlets and walls need).
Fluent meshes are face-based (cells are implied by face-cell adjacency ``c0``/``c1``), so
no volume cells are rebuilt here; :attr:`Mesh.cells` is empty and the boundary faces are
the facets, tagged with their face-zone id and named after the zone.

Layout read (as written by Fluent 2020+; learnt from public readers)::

    case  /meshes/1                       attrs dimension, nodeCount, faceCount, cellCount
          /meshes/1/nodes/coords/<zone>   (n, dim) attrs minId, maxId (1-based node ids)
          /meshes/1/faces/zoneTopology/   id, name (";"-joined or per-zone), minId, maxId,
                                          zoneType (2 = interior), faceType
          /meshes/1/faces/nodes/<k>       attrs minId, maxId; nnodes (n,), nodes (flat, 1-based)
          /settings/Version (optional)    solver version string
    data  /results/1/phase-1/faces/fields ";"-joined field names
          /results/1/phase-1/faces/<field>/<k>   attrs minId, maxId (face ids), one row/face

Face fields are ``"facet"`` fields in :attr:`Mesh.facets` order (boundary faces by type,
ascending face id within a type); faces without data get NaN.  The pairing of a case and a
data file is by name (``run.cas.h5`` + ``run.dat.h5``) or explicit (``data=``).  This
adapter is tested on generated files that follow the layout above, not on a file written
by Fluent itself (none is in the reference data).
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from datasets.adapters.base import (
    FieldInfo,
    Mesh,
    RunSource,
    attr_str,
    is_hdf5,
    open_h5,
    translate_h5,
)
from datasets.errors import AdapterError

NAME = "fluent-cff"
_INTERIOR = 2  # Fluent zone type of interior faces
#: Fluent writes SI; unit hints for common face fields (by name stem)
_UNITS = {"pressure": "Pa", "velocity": "m/s", "wall-shear": "Pa", "density": "kg/m^3",
          "mass-flux": "kg/s", "temperature": "K", "viscosity": "Pa s"}


def _unit(name: str) -> str:
    key = name.lower().replace("_", "-")
    return next((u for stem, u in _UNITS.items() if stem in key), "")


def can_open(path: str | os.PathLike) -> bool:
    """A case (``/meshes/1/faces/zoneTopology``) or data (``/results/1/phase-1``) CFF file."""
    if not is_hdf5(path):
        return False
    try:
        with h5py.File(path, "r") as f:
            return "meshes/1/faces/zoneTopology" in f or "results/1/phase-1" in f
    except Exception:  # noqa: BLE001
        return False


def _names(zt: h5py.Group, n: int, ids: np.ndarray) -> list[str]:
    if "name" in zt:
        raw = zt["name"][()]
        if isinstance(raw, (bytes, np.bytes_, str)) or np.ndim(raw) == 0:
            parts = attr_str(raw).split(";")
        else:
            parts = [attr_str(x) for x in np.ravel(raw)]
        if len(parts) == n:
            return [p.strip() for p in parts]
    return [f"zone{int(i)}" for i in ids]


def _pair(path: Path) -> tuple[Path, Path | None]:
    """(case, data) from either file, by name."""
    name = path.name
    for a, b in ((".cas.h5", ".dat.h5"), (".dat.h5", ".cas.h5")):
        if name.endswith(a):
            other = path.with_name(name[: -len(a)] + b)
            if a == ".cas.h5":
                return path, other if other.exists() else None
            return other, path
    return path, None


class FluentSource(RunSource):
    """Boundary face zones of a Fluent CFF case with their face data."""

    format = NAME
    time_unit = ""  # times as written (the file states no unit)

    def __init__(self, path: str | os.PathLike, *, data: str | os.PathLike | None = None
                 ) -> None:
        super().__init__(path)
        case, dat = _pair(self.path)
        if data is not None:
            dat = Path(data)
        with translate_h5(case), open_h5(case) as f:
            if "meshes/1/faces/zoneTopology" not in f:
                raise AdapterError(f"{case.name} is not a Fluent CFF case file (no "
                                   f"/meshes/1/faces/zoneTopology); pass the .cas.h5 file")
            zt = f["meshes/1/faces/zoneTopology"]
            ids = zt["id"][()].astype(np.int64).ravel()
            self.zones = {
                int(i): {"name": nm, "min": int(lo), "max": int(hi), "type": int(tp)}
                for i, nm, lo, hi, tp in zip(
                    ids, _names(zt, len(ids), ids), zt["minId"][()].ravel(),
                    zt["maxId"][()].ravel(), zt["zoneType"][()].ravel(), strict=True)}
            self.version = attr_str(f["settings/Version"][()]) if "settings/Version" in f \
                else ""
        self.case, self.data = case, dat
        self._catalogue: dict[str, FieldInfo] = {}
        if dat is not None:
            if not dat.exists():
                raise AdapterError(f"Fluent data file {str(dat)!r} does not exist")
            with translate_h5(dat), open_h5(dat) as f:
                g = f.get("results/1/phase-1/faces")
                if g is not None and "fields" in g:
                    for name in attr_str(g["fields"][()]).split(";"):
                        name = name.strip()
                        if name and name in g:
                            first = next(iter(g[name].values()))
                            comps = int(np.prod(first.shape[1:])) if first.ndim > 1 else 1
                            self._catalogue[name] = FieldInfo(name, "facet", comps, _unit(name),
                                                              "Fluent face data")
        self._mesh: Mesh | None = None
        self._face_ids: dict[str, np.ndarray] = {}

    def files(self) -> list[Path]:
        return [self.case] + ([self.data] if self.data is not None else [])

    def mesh(self, step: int = 0) -> Mesh:
        if self._mesh is not None:
            return self._mesh
        with translate_h5(self.case), open_h5(self.case) as f:
            m = f["meshes/1"]
            dim = int(np.ravel(m.attrs.get("dimension", [3]))[0])
            n_nodes = int(np.ravel(m.attrs["nodeCount"])[0])
            points = np.zeros((n_nodes, 3))
            for ds in m["nodes/coords"].values():
                lo, hi = int(ds.attrs["minId"]), int(ds.attrs["maxId"])
                points[lo - 1:hi, :dim] = ds[()].reshape(-1, dim)
            bnd = [(zid, z) for zid, z in self.zones.items() if z["type"] != _INTERIOR]
            by_size: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
            for sec in m["faces/nodes"].values():
                lo, hi = int(sec.attrs["minId"]), int(sec.attrs["maxId"])
                face_ids = np.arange(lo, hi + 1)
                keep = np.zeros(len(face_ids), bool)
                tag = np.zeros(len(face_ids), np.int64)
                for zid, z in bnd:
                    hit = (face_ids >= z["min"]) & (face_ids <= z["max"])
                    keep |= hit
                    tag[hit] = zid
                if not keep.any():
                    continue
                nn = sec["nnodes"][()].astype(np.int64)
                nodes = sec["nodes"][()].astype(np.int64) - 1
                start = np.concatenate([[0], np.cumsum(nn)[:-1]])
                for k in np.unique(nn[keep]):
                    sel = np.flatnonzero(keep & (nn == k))
                    conn = nodes[start[sel][:, None] + np.arange(k)]
                    by_size.setdefault(int(k), []).append((conn, tag[sel], face_ids[sel]))
        facets, tags = {}, {}
        ftype_of = {2: "line", 3: "triangle", 4: "quad"}
        for k, parts in by_size.items():
            if k not in ftype_of:
                raise AdapterError(f"{self.case.name}: boundary faces with {k} nodes "
                                   f"(polygons) are not supported")
            ftype = ftype_of[k]
            conn = np.concatenate([p[0] for p in parts])
            tag = np.concatenate([p[1] for p in parts])
            fid = np.concatenate([p[2] for p in parts])
            order = np.argsort(fid, kind="stable")
            facets[ftype], tags[ftype] = conn[order], tag[order]
            self._face_ids[ftype] = fid[order]
        names = {zid: z["name"] for zid, z in bnd}
        self._mesh = Mesh(points, {}, facets, tags, names)
        return self._mesh

    def times(self) -> np.ndarray:
        if self.data is None:
            return np.zeros(1)
        with translate_h5(self.data), open_h5(self.data) as f:
            t = f["results/1"].attrs.get("time") if "results/1" in f else None
        return np.array([0.0 if t is None else float(np.ravel(t)[0])])

    def read(self, field: str, step: int) -> np.ndarray:
        info = self._field(field)
        self._step(step)
        mesh = self.mesh()
        fids = np.concatenate([self._face_ids[t] for t in mesh.facets]) if mesh.facets \
            else np.zeros(0, np.int64)
        out = np.full((len(fids), info.n_components), np.nan)
        assert self.data is not None
        with translate_h5(self.data), open_h5(self.data) as f:
            for ds in f["results/1/phase-1/faces"][field].values():
                lo, hi = int(ds.attrs["minId"]), int(ds.attrs["maxId"])
                sel = np.flatnonzero((fids >= lo) & (fids <= hi))
                if sel.size:
                    vals = ds[()].reshape(hi - lo + 1, -1)
                    out[sel] = vals[fids[sel] - lo]
        return out

    def metadata(self) -> dict[str, str]:
        return {"solver": "Ansys Fluent", "version": self.version}


def open_source(path: str | os.PathLike, **options) -> FluentSource:
    return FluentSource(path, **options)
