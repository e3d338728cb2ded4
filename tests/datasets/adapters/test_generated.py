"""Adapters on fixtures the tests write themselves (run anywhere)."""

from __future__ import annotations

import warnings

import h5py
import numpy as np
import pytest

from datasets import adapters
from datasets.adapters.base import Mesh
from datasets.errors import AdapterError
from tests.datasets.adapters import fixtures as fx

R, L = 1.0, 3.0
TIMES = [0.0, 0.25, 0.5]


@pytest.fixture(scope="module")
def cyl():
    pts, tets = fx.cylinder(R, L, nr=3, nth=12, nz=3)
    tris, tags = fx.cylinder_facets(pts, tets, L, R)
    u = np.stack([fx.poiseuille(pts, R, 1.0 + s) for s in range(len(TIMES))])
    p = np.stack([(10.0 - 2.0 * pts[:, 2:3]) * (1 + s) for s in range(len(TIMES))])
    return pts, tets, tris, tags, u, p


def test_kuhn_cylinder_is_a_valid_tet_mesh(cyl):
    pts, tets, tris, tags, *_ = cyl
    x = pts[tets]
    vol = np.einsum("ij,ij->i", np.cross(x[:, 1] - x[:, 0], x[:, 2] - x[:, 0]),
                    x[:, 3] - x[:, 0]) / 6
    assert vol.min() > 0
    # volume of a 12-gon prism of circumradius R
    assert vol.sum() == pytest.approx(0.5 * 12 * np.sin(2 * np.pi / 12) * R**2 * L, rel=1e-12)
    assert set(np.unique(tags)) == {fx.INLET, fx.OUTLET, fx.WALL}


def test_fenics_hdf5_dof_map_and_tags(tmp_path, cyl):
    pts, tets, tris, tags, u, p = cyl
    files = fx.write_fenics(tmp_path, pts, tets, {"u": u, "p": p}, [10, 20, 30],
                            facets=(tris, tags))
    assert adapters.detect(files["u"]) == "fenics-hdf5"
    src = adapters.open(files["mesh"], dt=0.5)  # mesh file: finds u.h5 and p.h5 beside it
    assert set(src.fields()) == {"u", "p"}
    np.testing.assert_allclose(src.times(), [5.0, 10.0, 15.0])
    mesh = src.mesh()
    # cells were stored shuffled: compare as sets of sorted rows
    assert sorted(map(tuple, np.sort(mesh.cells["tetra"], 1))) == sorted(
        map(tuple, np.sort(tets, 1)))
    for s in range(3):
        np.testing.assert_allclose(src.read("u", s), u[s], atol=1e-14)
        np.testing.assert_allclose(src.read("p", s), p[s], atol=1e-14)
    assert mesh.boundary_names == ["tag1", "tag2", "tag3"]
    assert len(mesh.boundary_triangles(fx.WALL)) == int((tags == fx.WALL).sum())


def test_fenics_rejects_a_function_of_another_mesh(tmp_path, cyl):
    pts, tets, tris, tags, u, p = cyl
    fx.write_fenics(tmp_path / "a", pts, tets, {"u": u}, [1, 2, 3])
    pts2, tets2 = fx.cylinder(R, L, nr=2, nth=8, nz=2)
    other = fx.write_fenics(tmp_path / "b", pts2, tets2, {}, [])
    src = adapters.open({"mesh": other["mesh"], "u": tmp_path / "a" / "u.h5"}, dt=1e-3)
    with pytest.raises(AdapterError, match="do not match the mesh"):
        src.read("u", 0)


def test_dolfinx_xdmf_with_meshtags(tmp_path, cyl):
    pts, tets, tris, tags, u, p = cyl
    path = fx.write_dolfinx_xdmf(tmp_path / "run.xdmf", pts, tets, {"u": u, "p": p}, TIMES,
                                 facets=(tris, tags))
    assert adapters.detect(path) == "xdmf"
    src = adapters.open(path)
    np.testing.assert_allclose(src.times(), TIMES)
    assert src.fields()["u"].n_components == 3
    mesh = src.mesh()
    assert mesh.n_points == len(pts) and mesh.n_cells_of("tetra") == len(tets)
    np.testing.assert_array_equal(np.sort(mesh.facet_tags["triangle"]), np.sort(tags))
    np.testing.assert_allclose(src.read("u", 2), u[2])
    np.testing.assert_allclose(src.read("p", 1), p[1])
    assert src.files() == [path, tmp_path / "run.h5"]


def test_xdmf_pointing_to_missing_h5(tmp_path, cyl):
    pts, tets, tris, tags, u, p = cyl
    path = fx.write_dolfinx_xdmf(tmp_path / "run.xdmf", pts, tets, {"u": u}, TIMES)
    (tmp_path / "run.h5").unlink()
    src = adapters.open(path)  # the XML is fine; the heavy data is missing
    with pytest.raises(AdapterError, match="run.h5.*does not exist"):
        src.mesh()


def test_meshio_written_time_series(tmp_path, monkeypatch):
    meshio = pytest.importorskip("meshio")
    monkeypatch.chdir(tmp_path)  # meshio writes its .h5 relative to the working directory
    pts = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]])
    cells = [("tetra", np.array([[0, 1, 2, 3], [1, 2, 3, 4]]))]
    path = tmp_path / "series.xdmf"
    with meshio.xdmf.TimeSeriesWriter(path) as w:
        w.write_points_cells(pts, cells)
        for k, t in enumerate([0.0, 0.1, 0.2]):
            w.write_data(t, point_data={"T": pts[:, 0] * (k + 1)},
                         cell_data={"id": [np.array([7.0, 8.0]) + k]})
    src = adapters.open(path)
    np.testing.assert_allclose(src.times(), [0.0, 0.1, 0.2])
    assert src.mesh().n_cells_of("tetra") == 2
    np.testing.assert_allclose(src.read("T", 2).ravel(), pts[:, 0] * 3)
    np.testing.assert_allclose(src.read("id", 1).ravel(), [8.0, 9.0])


def test_vtkhdf_temporal_two_parts(tmp_path, cyl):
    pts, tets, tris, tags, u, p = cyl
    path = fx.write_vtkhdf_temporal(tmp_path / "run.vtkhdf", pts, tets, {"u": u, "p": p},
                                    TIMES, parts=2)
    assert adapters.detect(path) == "vtkhdf"
    src = adapters.open(path)
    np.testing.assert_allclose(src.times(), TIMES)
    mesh = src.mesh(1)
    assert mesh.n_cells_of("tetra") == len(tets)
    # parts duplicate their shared points: map merged points back to the originals
    merged = mesh.points
    orig_index = {tuple(np.round(x, 12)): i for i, x in enumerate(pts)}
    back = np.array([orig_index[tuple(np.round(x, 12))] for x in merged])
    np.testing.assert_allclose(src.read("u", 2), u[2][back])
    np.testing.assert_allclose(src.read("p", 0), p[0][back])
    assert sorted(map(tuple, np.sort(back[mesh.cells["tetra"]], 1))) == sorted(
        map(tuple, np.sort(tets, 1)))


def test_cgns_generated_with_time_and_families(tmp_path, cyl):
    pts, tets, tris, tags, u, p = cyl
    steps = [{"Velocity": u[s], "Pressure": p[s]} for s in range(3)]
    path = fx.write_cgns(tmp_path / "run.cgns", pts, tets, tris, tags, fx.TAG_NAMES, steps,
                         TIMES)
    assert adapters.detect(path) == "cgns"
    src = adapters.open(path)
    np.testing.assert_allclose(src.times(), TIMES)
    assert src.fields()["Velocity"].n_components == 3
    assert (src.fields()["Velocity"].unit, src.fields()["Pressure"].unit) == ("m/s", "Pa")
    np.testing.assert_allclose(src.read("Velocity", 1), u[1])
    np.testing.assert_allclose(src.read("Pressure", 2), p[2])
    mesh = src.mesh()
    assert mesh.boundary_names == ["BC_inlet", "BC_outlet", "BC_wall"]
    # family names are aliases of their BC
    assert len(mesh.boundary_triangles("wall")) == int((tags == fx.WALL).sum())


def test_fluent_cff_face_zones_and_data(tmp_path):
    pts = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
    faces = np.array([[0, 1, 2], [1, 3, 2], [0, 1, 4], [0, 2, 4]])
    zones = [(2, "interior-fluid", 2, 1, 1), (5, "inlet", 4, 2, 2), (6, "wall", 3, 3, 4)]
    wss = np.array([9.0, 1.0, 2.0, 3.0])
    case, dat = fx.write_fluent(tmp_path / "run", pts, faces, zones, {"wall-shear": wss})
    assert adapters.detect(case) == "fluent-cff"
    src = adapters.open(dat)  # the data file finds its case file by name
    assert src.metadata() == {"solver": "Ansys Fluent", "version": "24.1.0"}
    mesh = src.mesh()
    assert mesh.boundary_names == ["inlet", "wall"]  # interior faces are not boundary
    assert len(mesh.facets["triangle"]) == 3
    np.testing.assert_array_equal(mesh.boundary("wall")["triangle"], faces[2:])
    np.testing.assert_allclose(src.read("wall-shear", 0).ravel(), [1.0, 2.0, 3.0])
    assert src.fields()["wall-shear"].association == "facet"
    assert src.fields()["wall-shear"].unit == "Pa"  # Fluent writes SI
    assert src.times()[0] == 0.5


def test_memory_source_and_mesh_lookup_errors(cyl):
    pts, tets, tris, tags, u, p = cyl
    from datasets.adapters.memory import MemorySource

    mesh = Mesh(pts, {"tetra": tets}, {"triangle": tris}, {"triangle": tags}, fx.TAG_NAMES)
    src = MemorySource(mesh, {"u": ("point", u)}, TIMES)
    assert src.read("u", -1).shape == (len(pts), 3)
    with pytest.raises(IndexError):
        src.read("u", 3)
    with pytest.raises(KeyError, match="has \\['inlet', 'outlet', 'wall'\\]"):
        mesh.boundary("outlet7")


def test_xdmf_per_step_meshes_that_move(tmp_path, cyl):
    """Legacy DOLFIN layout (``/Mesh/<k>/mesh``, ``/VisualisationVector/<k>``), moving."""
    pts, tets, *_ = cyl
    grids = []
    with h5py.File(tmp_path / "ale.h5", "w") as f:
        for k in range(3):
            f[f"Mesh/{k}/mesh/geometry"] = pts * (1 + 0.1 * k)
            f[f"Mesh/{k}/mesh/topology"] = tets
            f[f"VisualisationVector/{k}"] = np.full((len(pts), 1), float(k))
            grids.append(
                f'<Grid Name="mesh" GridType="Uniform"><Topology NumberOfElements="{len(tets)}" '
                f'TopologyType="Tetrahedron" NodesPerElement="4"><DataItem Dimensions='
                f'"{len(tets)} 4" NumberType="UInt" Format="HDF">ale.h5:/Mesh/{k}/mesh/topology'
                f'</DataItem></Topology><Geometry GeometryType="XYZ"><DataItem Dimensions='
                f'"{len(pts)} 3" Format="HDF">ale.h5:/Mesh/{k}/mesh/geometry</DataItem>'
                f'</Geometry><Time Value="{k * 0.1}" /><Attribute Name="d" AttributeType='
                f'"Scalar" Center="Node"><DataItem Dimensions="{len(pts)} 1" Format="HDF">'
                f"ale.h5:/VisualisationVector/{k}</DataItem></Attribute></Grid>")
    (tmp_path / "ale.xdmf").write_text(
        '<?xml version="1.0"?><Xdmf Version="3.0"><Domain><Grid Name="TimeSeries_d" '
        'GridType="Collection" CollectionType="Temporal">' + "".join(grids)
        + "</Grid></Domain></Xdmf>")
    src = adapters.open(tmp_path / "ale.xdmf")
    assert src.moving_mesh is True
    np.testing.assert_allclose(src.mesh(2).points, pts * 1.2)
    np.testing.assert_allclose(src.mesh(0).points, pts)
    assert src.read("d", 2).max() == 2.0


def test_cgns_cell_centred_solution_in_element_id_order(tmp_path, cyl):
    pts, tets, tris, tags, u, p = cyl
    cell_id = np.arange(len(tets), dtype=float)  # value = element id - 1
    path = fx.write_cgns(tmp_path / "c.cgns", pts, tets, tris, tags, fx.TAG_NAMES,
                         [{"Pressure": p[0]}], None, cell_fields={"CellId": cell_id},
                         split_at=len(tets) // 3)
    src = adapters.open(path)
    assert src.n_steps == 1
    assert src.fields()["CellId"].association == "cell"
    mesh = src.mesh()
    values = src.read("CellId", 0).ravel()
    # sections were written out of id order; values must follow Mesh.cells order
    from datasets.adapters.base import match_rows

    original = match_rows(mesh.cells["tetra"], tets)  # index of each mesh cell in `tets`
    assert original.min() >= 0
    assert not np.array_equal(original, np.arange(len(tets)))  # the order really differs
    np.testing.assert_array_equal(values, cell_id[original])
    np.testing.assert_allclose(src.read("Pressure", 0), p[0])


def test_vtkhdf_temporal_cell_data(tmp_path, cyl):
    pts, tets, tris, tags, u, p = cyl
    cells = np.stack([np.arange(len(tets)) + 1000.0 * s for s in range(3)])
    path = fx.write_vtkhdf_temporal(tmp_path / "c.vtkhdf", pts, tets, {"p": p}, TIMES,
                                    parts=3, cell_fields={"id": cells})
    src = adapters.open(path)
    assert src.fields()["id"].association == "cell"
    np.testing.assert_array_equal(src.read("id", 2).ravel(), cells[2])


def test_fenics_reads_only_the_step_asked_for(tmp_path, cyl):
    pts, tets, tris, tags, u, p = cyl
    files = fx.write_fenics(tmp_path, pts, tets, {"p": p}, [1, 2, 3])
    with h5py.File(files["p"], "a") as f:  # damage step 2 only
        del f["p/vector_2"]
        f["p/vector_2"] = np.zeros(5)
        f["p/vector_2"].attrs["timestamp"] = 3.0
    src = adapters.open(files["mesh"], dt=1.0)
    np.testing.assert_allclose(src.read("p", 0), p[0])  # untouched by the bad step
    with pytest.raises(AdapterError, match="step 2 has 5 values"):
        src.read("p", 2)


def test_fenics_step_index_timestamps_without_dt_warn(tmp_path, cyl):
    pts, tets, tris, tags, u, p = cyl
    files = fx.write_fenics(tmp_path, pts, tets, {"u": u}, [200, 400, 600])
    with pytest.warns(UserWarning, match=r"\[200, 400, 600\].*time-step indices.*units\.dt"):
        src = adapters.open(files["mesh"])
    np.testing.assert_array_equal(src.times(), [200, 400, 600])  # still as written
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert adapters.open(files["mesh"], dt=0.951e-3).times()[0] == pytest.approx(0.1902)
        other = fx.write_fenics(tmp_path / "t", pts, tets, {"u": u}, [0.1, 0.2, 0.3])
        adapters.open(other["mesh"])  # real times: no warning
