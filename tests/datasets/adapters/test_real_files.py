"""Every adapter on the real reference files in ../shared/data/cfd (skipped where absent)."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest

from datasets import adapters
from datasets.errors import AdapterError, CorruptFileError, UnsupportedFormat
from datasets.mesh import boundary_triangles, tag_caps, triangle_geometry
from datasets.qoi import surface_flow


@pytest.fixture(scope="module")
def cfd(shared_data):
    path = shared_data / "cfd"
    if not path.is_dir():
        pytest.skip("shared_data/cfd is absent")
    return path


# -- legacy FEniCS HDF5File (VaMPy) ------------------------------------------------------

@pytest.fixture(scope="module")
def vampy(cfd):
    sol = cfd / "vampy_artery" / "Solutions"
    src = adapters.open({"mesh": sol / "mesh.h5", "u": sol / "u.h5", "p": sol / "p.h5"},
                        dt=0.951e-3)
    yield src
    src.close()


def test_vampy_detect_and_counts(cfd, vampy):
    sol = cfd / "vampy_artery" / "Solutions"
    for name in ("mesh.h5", "u.h5", "p.h5", "u_mean.h5"):
        assert adapters.detect(sol / name) == "fenics-hdf5"
    mesh = vampy.mesh()
    assert mesh.n_points == 5508
    assert mesh.n_cells_of("tetra") == 30136
    assert set(vampy.fields()) == {"u", "p"}
    assert vampy.fields()["u"].n_components == 3
    # timestamps are step indices 200..1000; dt = 0.951 ms
    np.testing.assert_allclose(vampy.times(), [0.1902, 0.3804, 0.5706, 0.7608, 0.951])
    assert vampy.time_unit == "s"


def test_vampy_fields_through_dof_map(vampy):
    p0 = vampy.read("p", 0)
    assert p0.shape == (5508, 1)
    assert p0.min() == pytest.approx(0.2174819008, rel=1e-9)
    assert p0.max() == pytest.approx(0.7931576718, rel=1e-9)
    u = vampy.read("u", 2)
    assert u.shape == (5508, 3)
    # no-slip: every wall vertex has zero velocity -- only true if the dof map is right
    mesh = vampy.mesh()
    wall = np.unique(mesh.facets["triangle"])
    interior = np.setdiff1d(np.arange(mesh.n_points), wall)
    caps = tag_caps(mesh, _centres(vampy))
    wall_only = np.unique(caps.boundary_triangles("wall"))
    assert np.abs(u[wall_only]).max() == 0.0
    assert np.abs(u[interior]).max() > 0.1


def _centres(vampy):
    info = json.loads((vampy.path.parents[1] / "artery_info.json").read_text())
    return {k: info[k] for k in ("inlet", "outlet0", "outlet1")}


def test_vampy_single_file_open_finds_mesh(cfd):
    with pytest.warns(UserWarning, match="set units.dt|Set units.dt"), \
            adapters.open(cfd / "vampy_artery" / "Solutions" / "u.h5") as src:
        assert list(src.fields()) == ["velocity"]
        np.testing.assert_array_equal(src.times(), [200, 400, 600, 800, 1000])
        assert src.time_unit == ""  # no dt given: timestamps as written
        assert src.mesh().n_points == 5508


def test_vampy_caps_areas_and_mass_balance(vampy):
    info = json.loads((vampy.path.parents[1] / "artery_info.json").read_text())
    mesh = tag_caps(vampy.mesh(), _centres(vampy))
    assert mesh.boundary_names == ["wall", "inlet", "outlet0", "outlet1"]
    for name in ("inlet", "outlet0", "outlet1"):
        area = triangle_geometry(mesh.points, boundary_triangles(mesh, name))[0].sum()
        assert area == pytest.approx(info[f"{name}_area"], rel=0.03)  # mm^2
    u = vampy.read("u", 0)
    q = {k: surface_flow(mesh.points, boundary_triangles(mesh, k), u)
         for k in ("inlet", "outlet0", "outlet1")}
    assert q["inlet"] < 0  # inflow through the outward normal
    assert q["outlet0"] + q["outlet1"] == pytest.approx(-q["inlet"], rel=0.02)
    assert q["outlet0"] / (q["outlet0"] + q["outlet1"]) == pytest.approx(0.5875, abs=0.01)


# -- XDMF ----------------------------------------------------------------------------------

def test_xdmf_dolfin_checkpoint_equals_visualisation_output(cfd):
    ck = adapters.open(cfd / "xdmf_dolfin" / "checkpoint.xdmf")
    nc = adapters.open(cfd / "xdmf_dolfin" / "no_checkpoint.xdmf")
    assert adapters.detect(cfd / "xdmf_dolfin" / "checkpoint.xdmf") == "xdmf"
    for src in (ck, nc):
        assert src.mesh().n_points == 729
        assert src.mesh().n_cells_of("tetra") == 3072
        np.testing.assert_array_equal(src.times(), [0, 1, 2, 3, 4])
        assert src.moving_mesh is False  # per-step meshes, identical geometry
    assert list(ck.fields()) == ["label_u"] and list(nc.fields()) == ["f_5"]
    # match vertices by coordinates: the checkpoint (dof-mapped) equals the plain output
    a, b = ck.mesh().points, nc.mesh().points
    ka = np.lexsort(a.T[::-1])
    kb = np.lexsort(b.T[::-1])
    np.testing.assert_allclose(a[ka], b[kb])
    for step in range(5):
        va, vb = ck.read("label_u", step), nc.read("f_5", step)
        assert va.min() == pytest.approx(step) and va.max() == pytest.approx(step + 1)
        np.testing.assert_allclose(va[ka], vb[kb], atol=1e-12)


def test_xdmf_meshio_time_series(cfd):
    src = adapters.open(cfd / "xdmf_meshio" / "out.xdmf")
    mesh = src.mesh()
    assert mesh.n_points == 4 and mesh.n_cells_of("triangle") == 2
    np.testing.assert_allclose(src.times(), [0, 0.25, 0.5, 0.75, 1.0])
    info = src.fields()
    assert (info["phi"].association, info["u"].n_components, info["a"].association) == (
        "point", 2, "cell")
    for k, t in enumerate(src.times()):
        np.testing.assert_allclose(src.read("phi", k), t)
    np.testing.assert_allclose(src.read("a", 3).ravel(), [3.0, 4.2])


def test_xdmf_heavy_data_file_alone_is_explained(cfd):
    with pytest.raises(UnsupportedFormat, match="checkpoint.xdmf"):
        adapters.detect(cfd / "xdmf_dolfin" / "checkpoint.h5")


# -- VTKHDF --------------------------------------------------------------------------------

def test_vtkhdf_static_unstructured(cfd):
    src = adapters.open(cfd / "vtkhdf" / "can-vtu.hdf")
    assert src.format == "vtkhdf"
    mesh = src.mesh()
    assert mesh.n_points == 6724 and mesh.n_cells_of("hexahedron") == 4800
    assert set(src.fields()) == {"ACCL", "DISPL", "GlobalNodeId", "PedigreeNodeId", "VEL", "EQPS"}
    eqps = src.read("EQPS", 0)
    assert eqps.shape == (4800, 1)
    assert eqps.min() == pytest.approx(0.021583130583, rel=1e-9)
    assert eqps.max() == pytest.approx(2.893941640853, rel=1e-9)
    assert src.read("VEL", 0).shape == (6724, 3)
    ids = src.read("GlobalNodeId", 0).ravel()
    np.testing.assert_array_equal(np.sort(ids), np.arange(1, 6725))  # a permutation
    assert src.n_steps == 1 and not src.moving_mesh


def test_vtkhdf_temporal_partitioned_polydata(cfd):
    src = adapters.open(cfd / "vtkhdf" / "warping_spheres.vtkhdf")
    t = src.times()
    assert len(t) == 100
    assert t[1] == pytest.approx(0.06283186, rel=1e-6)
    assert src.moving_mesh
    m0, m99 = src.mesh(0), src.mesh(99)
    assert m0.n_points == 1684 and m0.n_cells_of("triangle") == 3360  # two parts merged
    assert m0.cells["triangle"].max() == 1683
    assert not np.allclose(m0.points, m99.points)
    v = src.read("SpatioTemporalHarmonics", 0)
    assert v.shape == (1684, 1)
    assert v.min() == pytest.approx(-6.402709, rel=1e-6)
    assert v.max() == pytest.approx(6.402999, rel=1e-5)


# -- CGNS ------------------------------------------------------------------------------------

def test_cgns_zone_sections_bcs_and_solution(cfd):
    path = cfd / "cgns" / "cgnslib_vers-4400.cgns"
    assert adapters.detect(path) == "cgns"
    src = adapters.open(path)
    mesh = src.mesh()
    assert mesh.n_points == 3213 and mesh.n_cells_of("hexahedron") == 2560
    assert len(mesh.facets["quad"]) == 128 + 128 + 960
    assert mesh.boundary_names == ["Ilo", "Ihi", "Walls"]
    assert src.boundary_conditions() == {"Ilo": "BCTunnelInflow", "Ihi": "BCExtrapolate",
                                         "Walls": "BCWallInviscid"}
    # element-section names resolve to the same facets as their BC
    np.testing.assert_array_equal(mesh.boundary("InflowElem")["quad"],
                                  mesh.boundary("Ilo")["quad"])
    area = triangle_geometry(mesh.points, mesh.boundary_triangles("Walls"))[0].sum()
    assert area == pytest.approx(960.0)
    assert set(src.fields()) == {"Density", "Pressure"}
    assert src.fields()["Pressure"].unit == ""  # no DimensionalUnits: nondimensional
    rho, p = src.read("Density", 0), src.read("Pressure", 0)
    assert (rho.min(), rho.max(), p.min(), p.max()) == (0.0, 20.0, 0.0, 16.0)
    assert src.metadata()["version"] == "4.40"


# -- bad inputs ------------------------------------------------------------------------------

def test_truncated_hdf5_is_a_corrupt_file(cfd, tmp_path):
    bad = tmp_path / "p.h5"
    bad.write_bytes((cfd / "vampy_artery" / "Solutions" / "p.h5").read_bytes()[:4096])
    with pytest.raises(CorruptFileError, match="truncated"):
        adapters.open(bad)


def test_foreign_hdf5_names_what_it_holds(tmp_path):
    path = tmp_path / "foreign.h5"
    with h5py.File(path, "w") as f:
        f["weights/layer1"] = np.zeros(3)
    with pytest.raises(UnsupportedFormat, match=r"top level holds \[weights\]"):
        adapters.open(path)
    assert issubclass(UnsupportedFormat, AdapterError)


def test_format_hint_is_checked_against_content(cfd, tmp_path):
    copy = tmp_path / "mesh.vtkhdf"  # a misleading extension changes nothing
    shutil.copy(cfd / "vampy_artery" / "Solutions" / "mesh.h5", copy)
    assert adapters.detect(copy) == "fenics-hdf5"
    with pytest.raises(UnsupportedFormat):
        adapters.open(copy, format="cgns")


def test_vampy_steady_mean_field_beside_the_series(cfd):
    with adapters.open(cfd / "vampy_artery" / "Solutions" / "mesh.h5", dt=0.951e-3) as src:
        assert set(src.fields()) == {"velocity", "pressure", "u_mean"}
        assert src.n_steps == 5  # u_mean (one vector, no timestamp) is steady
        np.testing.assert_array_equal(src.read("u_mean", 4), src.read("u_mean", 0))
        assert src.read("u_mean", 0).shape == (5508, 3)
        assert len(src.files()) == 4
