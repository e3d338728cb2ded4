"""Generated CFD fixtures: a tetrahedral cylinder with Poiseuille flow, and writers for each
format's layout (h5py only), so adapter and QoI tests run anywhere."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

# tags of the generated cylinder
INLET, OUTLET, WALL = 1, 2, 3
TAG_NAMES = {INLET: "inlet", OUTLET: "outlet", WALL: "wall"}

# Kuhn subdivision of a unit cube into 6 tetrahedra (corner index = i + 2 j + 4 k)
_KUHN = [(0, 1, 3, 7), (0, 1, 5, 7), (0, 2, 3, 7), (0, 2, 6, 7), (0, 4, 5, 7), (0, 4, 6, 7)]


def cylinder(R: float = 1.0, L: float = 4.0, nr: int = 10, nth: int = 48, nz: int = 8,
             grading: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Tetrahedral mesh of a cylinder along z: points ``(n, 3)``, tets ``(m, 4)``.

    A polar (r, theta, z) structured grid, radially clustered at the wall
    (``r_i = R (1 - (1 - i/nr)^grading)``), cut into Kuhn tetrahedra; cubes touching the
    axis collapse and their degenerate tetrahedra are dropped.
    """
    s = np.linspace(0.0, 1.0, nr + 1)
    r = R * (1.0 - (1.0 - s) ** grading)
    th = np.linspace(0.0, 2 * np.pi, nth, endpoint=False)
    z = np.linspace(0.0, L, nz + 1)
    index = np.zeros((nr + 1, nth, nz + 1), np.int64)
    pts = []
    for k, zk in enumerate(z):
        index[0, :, k] = len(pts)
        pts.append((0.0, 0.0, zk))
        for i in range(1, nr + 1):
            for j in range(nth):
                index[i, j, k] = len(pts)
                pts.append((r[i] * np.cos(th[j]), r[i] * np.sin(th[j]), zk))
    points = np.array(pts)
    tets = []
    for i in range(nr):
        for j in range(nth):
            for k in range(nz):
                c = [index[i + a, (j + b) % nth, k + d]
                     for d in (0, 1) for b in (0, 1) for a in (0, 1)]
                for t in _KUHN:
                    tet = [c[v] for v in t]
                    if len(set(tet)) == 4:
                        tets.append(tet)
    tets = np.array(tets, np.int64)
    # positive orientation
    x = points[tets]
    vol = np.einsum("ij,ij->i", np.cross(x[:, 1] - x[:, 0], x[:, 2] - x[:, 0]), x[:, 3] - x[:, 0])
    tets[vol < 0] = tets[vol < 0][:, [0, 2, 1, 3]]
    return points, tets


def cylinder_facets(points: np.ndarray, tets: np.ndarray, L: float, R: float
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Exterior triangles and tags (inlet z=0, outlet z=L, wall otherwise)."""
    from datasets.adapters.base import exterior_facets

    tris = exterior_facets({"tetra": tets})["triangle"]
    zc = points[tris][:, :, 2].mean(axis=1)
    tags = np.full(len(tris), WALL)
    tags[np.isclose(zc, 0.0)] = INLET
    tags[np.isclose(zc, L)] = OUTLET
    return tris, tags


def poiseuille(points: np.ndarray, R: float, U: float) -> np.ndarray:
    """u_z = 2 U (1 - r^2/R^2): mean velocity U, flow Q = U pi R^2."""
    r2 = points[:, 0] ** 2 + points[:, 1] ** 2
    u = np.zeros_like(points)
    u[:, 2] = 2.0 * U * (1.0 - r2 / R**2)
    return u


# -- FEniCS HDF5File ---------------------------------------------------------------------

def write_fenics(folder: Path, points: np.ndarray, tets: np.ndarray,
                 fields: dict[str, np.ndarray], timestamps: list[float],
                 facets: tuple[np.ndarray, np.ndarray] | None = None,
                 seed: int = 0) -> dict[str, Path]:
    """Write ``mesh.h5`` and one ``<name>.h5`` per field in DOLFIN's HDF5File layout.

    ``fields[name]`` is ``(n_steps, n_vertices, n_components)`` (CG1).  Dofs are numbered
    in a random order (as DOLFIN's reordering does), so readers must use the dof map.
    Cells are stored in a shuffled order with ``cell_indices`` giving their global index.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    nv = len(points)
    cell_perm = rng.permutation(len(tets))  # row -> global cell index
    out = {"mesh": folder / "mesh.h5"}
    with h5py.File(out["mesh"], "w") as f:
        g = f.create_group("mesh")
        g["coordinates"] = points
        topo = g.create_dataset("topology", data=tets[np.argsort(cell_perm)])
        topo.attrs["celltype"] = np.bytes_(b"tetrahedron")
        topo.attrs["partition"] = np.array([0], np.uint64)
        g["cell_indices"] = np.arange(len(tets), dtype=np.int64)
        if facets is not None:
            b = f.create_group("boundaries")
            b["topology"] = facets[0]
            b["values"] = facets[1].astype(np.uint64)
    topology = tets[np.argsort(cell_perm)]  # as stored: row r has global index r
    for name, values in fields.items():
        values = np.asarray(values, float)
        nc = values.shape[2]
        dof_of = rng.permutation(nv * nc).reshape(nv, nc)  # vertex, component -> dof
        path = folder / f"{name}.h5"
        with h5py.File(path, "w") as f:
            g = f.create_group(name)
            kind = ("FiniteElement('Lagrange', tetrahedron, 1)" if nc == 1 else
                    f"VectorElement(FiniteElement('Lagrange', tetrahedron, 1), dim={nc})")
            g.attrs["signature"] = np.bytes_(kind.encode())
            g.attrs["count"] = np.uint64(len(timestamps))
            order = rng.permutation(len(topology))  # function cell order
            cell_dofs = np.concatenate(
                [dof_of[topology[c]].T.ravel() for c in order]).astype(np.int32)
            g["cell_dofs"] = cell_dofs
            g["cells"] = order.astype(np.uint64)
            g["x_cell_dofs"] = (np.arange(len(order) + 1) * 4 * nc).astype(np.uint64)
            for s, ts in enumerate(timestamps):
                vec = np.zeros(nv * nc)
                vec[dof_of.ravel()] = values[s].ravel()
                ds = g.create_dataset(f"vector_{s}", data=vec)
                ds.attrs["timestamp"] = float(ts)
                ds.attrs["partition"] = np.array([0], np.uint64)
        out[name] = path
    return out


# -- XDMF (dolfinx layout) ---------------------------------------------------------------

def write_dolfinx_xdmf(path: Path, points: np.ndarray, tets: np.ndarray,
                       fields: dict[str, np.ndarray], times: list[float],
                       facets: tuple[np.ndarray, np.ndarray] | None = None,
                       h5_name: str | None = None) -> Path:
    """dolfinx ``XDMFFile`` layout: ``/Mesh/mesh``, ``/MeshTags``, ``/Function/<f>/<t>``."""
    h5 = path.with_suffix(".h5") if h5_name is None else path.parent / h5_name
    with h5py.File(h5, "w") as f:
        f["Mesh/mesh/geometry"] = points
        f["Mesh/mesh/topology"] = tets
        if facets is not None:
            f["MeshTags/facet_tags/topology"] = facets[0]
            f["MeshTags/facet_tags/Values"] = facets[1].astype(np.int32)
        for name, vals in fields.items():
            for s, t in enumerate(times):
                f[f"Function/{name}/{str(t).replace('.', '_')}"] = vals[s]
    hn = h5.name
    nv, nt = len(points), len(tets)
    xml = ['<?xml version="1.0"?>', '<!DOCTYPE Xdmf SYSTEM "Xdmf.dtd" []>',
           '<Xdmf Version="3.0" xmlns:xi="https://www.w3.org/2001/XInclude">', "  <Domain>",
           '    <Grid Name="mesh" GridType="Uniform">',
           f'      <Topology TopologyType="Tetrahedron" NumberOfElements="{nt}" '
           f'NodesPerElement="4">',
           f'        <DataItem Dimensions="{nt} 4" NumberType="Int" Format="HDF">'
           f"{hn}:/Mesh/mesh/topology</DataItem>",
           "      </Topology>", '      <Geometry GeometryType="XYZ">',
           f'        <DataItem Dimensions="{nv} 3" Format="HDF">{hn}:/Mesh/mesh/geometry'
           f"</DataItem>", "      </Geometry>", "    </Grid>"]
    if facets is not None:
        nf = len(facets[0])
        xml += ['    <Grid Name="facet_tags" GridType="Uniform">',
                '      <xi:include xpointer="xpointer(/Xdmf/Domain/Grid/Geometry)" />',
                f'      <Topology TopologyType="Triangle" NumberOfElements="{nf}" '
                f'NodesPerElement="3">',
                f'        <DataItem Dimensions="{nf} 3" NumberType="Int" Format="HDF">'
                f"{hn}:/MeshTags/facet_tags/topology</DataItem>", "      </Topology>",
                '      <Attribute Name="facet_tags" AttributeType="Scalar" Center="Cell">',
                f'        <DataItem Dimensions="{nf}" Format="HDF">'
                f"{hn}:/MeshTags/facet_tags/Values</DataItem>", "      </Attribute>",
                "    </Grid>"]
    for name, vals in fields.items():
        nc = vals.shape[2]
        xml.append(f'    <Grid Name="{name}" GridType="Collection" CollectionType="Temporal">')
        for t in times:
            xml += [f'      <Grid Name="{name}" GridType="Uniform">',
                    '        <xi:include xpointer="xpointer(/Xdmf/Domain/Grid[@GridType='
                    "'Uniform'][1]/*[self::Topology or self::Geometry])\" />",
                    f'        <Time Value="{t}" />',
                    f'        <Attribute Name="{name}" AttributeType='
                    f'"{"Vector" if nc == 3 else "Scalar"}" Center="Node">',
                    f'          <DataItem Dimensions="{nv} {nc}" Format="HDF">'
                    f"{hn}:/Function/{name}/{str(t).replace('.', '_')}</DataItem>",
                    "        </Attribute>", "      </Grid>"]
        xml.append("    </Grid>")
    xml += ["  </Domain>", "</Xdmf>"]
    path.write_text("\n".join(xml))
    return path


# -- VTKHDF ------------------------------------------------------------------------------

def write_vtkhdf_temporal(path: Path, points: np.ndarray, tets: np.ndarray,
                          fields: dict[str, np.ndarray], times: list[float],
                          parts: int = 2, cell_fields: dict[str, np.ndarray] | None = None
                          ) -> Path:
    """Temporal VTKHDF UnstructuredGrid, static mesh split into ``parts`` parts, point data
    stored per step (``PointDataOffsets``) and the topology stored once."""
    chunks = np.array_split(np.arange(len(tets)), parts)
    part_pts, part_conn = [], []
    for ch in chunks:  # each part gets its own local point numbering
        used = np.unique(tets[ch])
        local = np.full(len(points), -1)
        local[used] = np.arange(len(used))
        part_pts.append(used)
        part_conn.append(local[tets[ch]])
    n_steps = len(times)
    with h5py.File(path, "w") as f:
        g = f.create_group("VTKHDF")
        g.attrs["Version"] = np.array([2, 1])
        g.attrs.create("Type", np.bytes_(b"UnstructuredGrid"))
        g["NumberOfPoints"] = np.tile([len(p) for p in part_pts], n_steps)
        g["NumberOfCells"] = np.tile([len(c) for c in part_conn], n_steps)
        g["NumberOfConnectivityIds"] = np.tile([c.size for c in part_conn], n_steps)
        g["Points"] = np.concatenate([points[p] for p in part_pts])
        g["Connectivity"] = np.concatenate([c.ravel() for c in part_conn])
        g["Offsets"] = np.concatenate([np.arange(len(c) + 1) * 4 for c in part_conn])
        g["Types"] = np.full(len(tets), 10, np.uint8)
        pd = g.create_group("PointData")
        st = g.create_group("Steps")
        st.attrs["NSteps"] = n_steps
        st["Values"] = np.asarray(times, float)
        st["PartOffsets"] = np.arange(n_steps) * parts
        st["NumberOfParts"] = np.full(n_steps, parts)
        st["PointOffsets"] = np.zeros(n_steps, np.int64)
        st["CellOffsets"] = np.zeros((n_steps, 1), np.int64)
        st["ConnectivityIdOffsets"] = np.zeros((n_steps, 1), np.int64)
        pdo = st.create_group("PointDataOffsets")
        n_per_step = sum(len(p) for p in part_pts)
        for name, vals in fields.items():
            pd[name] = np.concatenate(
                [np.concatenate([vals[s][p] for p in part_pts]) for s in range(n_steps)])
            pdo[name] = np.arange(n_steps) * n_per_step
        if cell_fields:
            cd = g.create_group("CellData")
            cdo = st.create_group("CellDataOffsets")
            for name, vals in cell_fields.items():  # (n_steps, n_tets); parts keep cell order
                cd[name] = np.concatenate([vals[s] for s in range(n_steps)])
                cdo[name] = np.arange(n_steps) * len(tets)
    return path


# -- CGNS/HDF5 ---------------------------------------------------------------------------

def _node(parent: h5py.Group, name: str, label: str, dtype: str = "MT",
          data: np.ndarray | None = None) -> h5py.Group:
    g = parent.create_group(name)
    g.attrs["name"] = np.bytes_(name.encode())
    g.attrs["label"] = np.bytes_(label.encode())
    g.attrs["type"] = np.bytes_(dtype.encode())
    g.attrs["flags"] = np.array([1], np.int32)
    if data is not None:
        g.create_dataset(" data", data=data)
    return g


def _chars(text: str) -> np.ndarray:
    return np.frombuffer(text.encode(), np.int8)


def write_cgns(path: Path, points: np.ndarray, tets: np.ndarray, facets: np.ndarray,
               tags: np.ndarray, names: dict[int, str], steps: list[dict[str, np.ndarray]],
               times: list[float] | None, cell_fields: dict[str, np.ndarray] | None = None,
               split_at: int | None = None) -> Path:
    """CGNS/HDF5 with one unstructured zone (TETRA_4), one TRI_3 section per tag,
    ``ZoneBC`` (FaceCenter PointLists, FamilyName), and one FlowSolution per step with
    ``BaseIterativeData``/``ZoneIterativeData`` pointers.  Fields: ``{name: (n, c)}``;
    3-component fields are written as ``<name>X/Y/Z``.  ``times=None`` writes no iterative
    data (one step); ``cell_fields`` adds a ``CellCenter`` solution; ``split_at`` writes the
    tetrahedra as two sections in reverse order (ranges k+1.. first, then 1..k)."""
    with h5py.File(path, "w") as f:
        f.attrs["label"] = np.bytes_(b"Root Node of HDF5 File")
        f.create_dataset(" format", data=_chars("IEEE_LITTLE_32"))
        _node(f, "CGNSLibraryVersion", "CGNSLibraryVersion_t", "R4",
              np.array([4.4], np.float32))
        base = _node(f, "Base", "CGNSBase_t", "I4", np.array([3, 3], np.int32))
        units = np.zeros((5, 32), np.int8)
        for k, word in enumerate(["Kilogram", "Meter", "Second", "Kelvin", "Radian"]):
            units[k, : len(word)] = _chars(word)
        _node(base, "DimensionalUnits", "DimensionalUnits_t", "C1", units)
        zone = _node(base, "Zone", "Zone_t", "I8",
                     np.array([[len(points)], [len(tets)], [0]], np.int64))
        _node(zone, "ZoneType", "ZoneType_t", "C1", _chars("Unstructured"))
        gc = _node(zone, "GridCoordinates", "GridCoordinates_t")
        for a, col in zip("XYZ", points.T, strict=True):
            _node(gc, "Coordinate" + a, "DataArray_t", "R8", col.copy())
        k = len(tets) if split_at is None else split_at
        blocks = [("Elem", 1, tets[:k])] if split_at is None else [
            ("ElemA", k + 1, tets[k:]), ("ElemB", 1, tets[:k])]
        for sname, first, block in blocks:
            sec = _node(zone, sname, "Elements_t", "I4", np.array([10, 0], np.int32))
            _node(sec, "ElementRange", "IndexRange_t", "I8",
                  np.array([first, first + len(block) - 1]))
            _node(sec, "ElementConnectivity", "DataArray_t", "I8", (block + 1).ravel())
        start = len(tets) + 1
        zbc = _node(zone, "ZoneBC", "ZoneBC_t")
        for tag, name in names.items():
            sel = facets[tags == tag]
            s = _node(zone, f"{name}Elem", "Elements_t", "I4", np.array([5, 0], np.int32))
            rng = np.array([start, start + len(sel) - 1])
            _node(s, "ElementRange", "IndexRange_t", "I8", rng)
            _node(s, "ElementConnectivity", "DataArray_t", "I8", (sel + 1).ravel())
            bc = _node(zbc, f"BC_{name}", "BC_t", "C1", _chars("BCWall"))
            _node(bc, "GridLocation", "GridLocation_t", "C1", _chars("FaceCenter"))
            _node(bc, "PointList", "IndexArray_t", "I8",
                  np.arange(rng[0], rng[1] + 1).reshape(-1, 1))
            _node(bc, "FamilyName", "FamilyName_t", "C1", _chars(name))
            start += len(sel)
        if cell_fields:
            sol = _node(zone, "CellSolution", "FlowSolution_t")
            _node(sol, "GridLocation", "GridLocation_t", "C1", _chars("CellCenter"))
            for name, vals in cell_fields.items():
                _node(sol, name, "DataArray_t", "R8", np.asarray(vals, float))
        if times is None:
            for name, vals in steps[0].items():
                sol = zone.get("FlowSolution") or _node(zone, "FlowSolution", "FlowSolution_t")
                _node(sol, name, "DataArray_t", "R8", np.asarray(vals, float).ravel())
            return path
        bid = _node(base, "TimeIterValues", "BaseIterativeData_t", "I4",
                    np.array([len(times)], np.int32))
        _node(bid, "TimeValues", "DataArray_t", "R8", np.asarray(times, float))
        ptrs = np.zeros((len(times), 32), np.int8)
        for s, fields in enumerate(steps):
            sname = f"FlowSolution{s:03d}"
            ptrs[s, : len(sname)] = _chars(sname)
            sol = _node(zone, sname, "FlowSolution_t")
            _node(sol, "GridLocation", "GridLocation_t", "C1", _chars("Vertex"))
            for name, vals in fields.items():
                vals = np.asarray(vals, float).reshape(len(points), -1)
                if vals.shape[1] == 3:
                    for a, col in zip("XYZ", vals.T, strict=True):
                        _node(sol, name + a, "DataArray_t", "R8", col.copy())
                else:
                    _node(sol, name, "DataArray_t", "R8", vals[:, 0].copy())
        zid = _node(zone, "ZoneIterativeData", "ZoneIterativeData_t")
        _node(zid, "FlowSolutionPointers", "DataArray_t", "C1", ptrs)
    return path


# -- Fluent CFF --------------------------------------------------------------------------

def write_fluent(stem: Path, points: np.ndarray, faces: np.ndarray, zones: list[tuple],
                 face_data: dict[str, np.ndarray], version: str = "24.1.0") -> tuple[Path, Path]:
    """Minimal CFF pair: ``zones`` = [(id, name, zone_type, first_face, last_face)] (1-based
    face ids into ``faces`` (n, 3)); ``face_data[name]`` is one value per face."""
    case, dat = stem.with_name(stem.name + ".cas.h5"), stem.with_name(stem.name + ".dat.h5")
    with h5py.File(case, "w") as f:
        m = f.create_group("meshes/1")
        m.attrs["dimension"] = np.int32(3)
        m.attrs["nodeCount"] = np.uint64(len(points))
        m.attrs["faceCount"] = np.uint64(len(faces))
        c = m.create_dataset("nodes/coords/1", data=points)
        c.attrs["minId"], c.attrs["maxId"] = np.uint64(1), np.uint64(len(points))
        zt = m.create_group("faces/zoneTopology")
        zt.attrs["nZones"] = np.uint64(len(zones))
        zt["id"] = np.array([z[0] for z in zones], np.int32)
        zt["name"] = np.bytes_(";".join(z[1] for z in zones).encode())
        zt["zoneType"] = np.array([z[2] for z in zones], np.int32)
        zt["minId"] = np.array([z[3] for z in zones], np.uint64)
        zt["maxId"] = np.array([z[4] for z in zones], np.uint64)
        fn = m.create_group("faces/nodes")
        fn.attrs["nSections"] = np.uint64(1)
        s = fn.create_group("1")
        s.attrs["minId"], s.attrs["maxId"] = np.uint64(1), np.uint64(len(faces))
        s["nnodes"] = np.full(len(faces), faces.shape[1], np.int16)
        s["nodes"] = (faces + 1).ravel().astype(np.uint32)
        f["settings/Version"] = np.bytes_(version.encode())
    with h5py.File(dat, "w") as f:
        g = f.create_group("results/1/phase-1/faces")
        f["results/1"].attrs["time"] = 0.5
        g["fields"] = np.bytes_(";".join(face_data).encode())
        for name, vals in face_data.items():
            for k, z in enumerate(zones):
                if z[2] == 2:
                    continue
                ds = g.create_dataset(f"{name}/{k + 1}", data=vals[z[3] - 1:z[4]])
                ds.attrs["minId"], ds.attrs["maxId"] = np.uint64(z[3]), np.uint64(z[4])
    return case, dat
