"""Quantities of interest against analytic answers (Poiseuille flow in a tetrahedral pipe)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from datasets.adapters.base import Mesh
from datasets.adapters.memory import MemorySource
from datasets.errors import QoIError
from datasets.mesh import triangle_geometry
from datasets.qoi import (
    QoISpec,
    SourceUnits,
    WSSAccumulator,
    compute_qois,
    regional_stats,
    resample_phase,
    time_weights,
    weighted_percentile,
    wss_indices,
)
from tests.datasets.adapters import fixtures as fx

R, L, U, MU = 2e-3, 1e-2, 0.2, 3.5e-3  # m, m, m/s, Pa s
Q = U * np.pi * R**2  # m^3/s
TAU = 4 * MU * Q / (np.pi * R**3)  # Pa, Poiseuille wall shear stress
GRAD = 5000.0  # Pa/m imposed pressure gradient


@pytest.fixture(scope="module")
def pipe() -> Mesh:
    pts, tets = fx.cylinder(R, L, nr=10, nth=48, nz=6, grading=2.0)
    tris, tags = fx.cylinder_facets(pts, tets, L, R)
    return Mesh(pts, {"tetra": tets}, {"triangle": tris}, {"triangle": tags}, fx.TAG_NAMES)


def _spec(**kw) -> QoISpec:
    base = dict(outlets=["outlet"], flow_unit="m3/s", pressure_unit="Pa", phase_points=8,
                units=SourceUnits(viscosity=MU))
    base.update(kw)
    return QoISpec(**base)


def test_poiseuille_flow_pressure_drop_and_wss(pipe):
    u = fx.poiseuille(pipe.points, R, U)
    p = (1000.0 - GRAD * pipe.points[:, 2])[:, None]
    src = MemorySource(pipe, {"u": ("point", u[None]), "p": ("point", p[None])}, [0.0])
    out = compute_qois(src, _spec())
    assert out["Q_outlet_mean"] == pytest.approx(Q, rel=0.01)
    assert out["Q_inlet_mean"] == pytest.approx(-out["Q_outlet_mean"], rel=1e-12)
    assert out["dp_outlet_mean"] == pytest.approx(GRAD * L, rel=1e-9)  # linear p: exact
    assert out["p_inlet_mean"] == pytest.approx(1000.0, rel=1e-12)
    assert out["TAWSS_mean"] == pytest.approx(TAU, rel=0.05)
    assert out["TAWSS_p10"] == pytest.approx(TAU, rel=0.05)
    assert out["TAWSS_p90"] == pytest.approx(TAU, rel=0.05)
    assert out["OSI_mean"] == pytest.approx(0.0, abs=1e-12)
    assert out["RRT_mean"] == pytest.approx(1 / TAU, rel=0.05)
    assert out["ECAP_mean"] == pytest.approx(0.0, abs=1e-12)
    assert out["split_outlet"] == pytest.approx(1.0)
    np.testing.assert_allclose(out["Q_outlet"], Q, rtol=0.01)  # steady waveform
    # every wall facet, not only the mean, is within 5%
    tawss = out["_extra"]["wall"]["tawss"]
    assert np.abs(tawss / TAU - 1).max() < 0.05


def test_poiseuille_wss_converges_with_wall_spacing():
    errs = []
    for nr in (3, 12):
        pts, tets = fx.cylinder(R, L, nr=nr, nth=48, nz=3, grading=1.0)
        tris, tags = fx.cylinder_facets(pts, tets, L, R)
        mesh = Mesh(pts, {"tetra": tets}, {"triangle": tris}, {"triangle": tags}, fx.TAG_NAMES)
        src = MemorySource(mesh, {"u": ("point", fx.poiseuille(pts, R, U)[None])}, [0.0])
        out = compute_qois(src, _spec(pressure=None))
        errs.append(abs(out["TAWSS_mean"] / TAU - 1))
    assert errs[1] < errs[0] / 3  # first order in the wall spacing h/(2R)
    assert errs[1] < 0.05


def test_oscillating_flow_has_osi_one_half(pipe):
    times = np.arange(8) / 8  # one period of 1 s, uniform
    base = fx.poiseuille(pipe.points, R, U)
    u = np.stack([np.sin(2 * np.pi * t) * base for t in times])
    src = MemorySource(pipe, {"u": ("point", u)}, times)
    out = compute_qois(src, _spec(pressure=None, period=1.0))
    assert out["OSI_mean"] == pytest.approx(0.5, abs=1e-9)
    # TAWSS = time-mean |sin| * tau (periodic trapezoid over the 8 samples)
    mean_abs_sin = np.mean(np.abs(np.sin(2 * np.pi * times)))
    assert out["TAWSS_mean"] == pytest.approx(mean_abs_sin * TAU, rel=0.05)
    np.testing.assert_allclose(out["Q_outlet"], np.interp(
        np.arange(8) / 8, times, np.sin(2 * np.pi * times) * Q, period=1), rtol=0.02, atol=1e-12)


def test_units_mm_ms_kinematic_give_the_same_si_answers(pipe):
    u = fx.poiseuille(pipe.points, R, U)
    p = (1000.0 - GRAD * pipe.points[:, 2])[:, None]
    rho = 1060.0
    src_si = MemorySource(pipe, {"u": ("point", u[None]), "p": ("point", p[None])}, [0.0])
    mm = Mesh(pipe.points * 1e3, pipe.cells, pipe.facets, pipe.facet_tags, pipe.tag_names)
    # mm/ms == m/s, kinematic pressure in mm^2/ms^2 == m^2/s^2 = p / rho
    src_mm = MemorySource(mm, {"u": ("point", u[None]), "p": ("point", p[None] / rho)}, [0.0])
    a = compute_qois(src_si, _spec())
    b = compute_qois(src_mm, _spec(units=SourceUnits("mm", "ms", "kinematic", rho, MU),
                                   flow_unit="mL/s", pressure_unit="mmHg"))
    assert b["Q_outlet_mean"] == pytest.approx(a["Q_outlet_mean"] * 1e6, rel=1e-9)  # mL/s
    assert b["dp_outlet_mean"] == pytest.approx(a["dp_outlet_mean"] / 133.322387415, rel=1e-9)
    assert b["TAWSS_mean"] == pytest.approx(a["TAWSS_mean"], rel=1e-9)


def test_nan_in_a_field_is_a_qoi_error(pipe):
    u = fx.poiseuille(pipe.points, R, U)
    u[5, 2] = np.nan
    src = MemorySource(pipe, {"u": ("point", u[None])}, [0.0])
    with pytest.raises(QoIError, match="non-finite"):
        compute_qois(src, _spec(pressure=None))


def test_unknown_boundary_and_field_are_qoi_errors(pipe):
    src = MemorySource(pipe, {"u": ("point", fx.poiseuille(pipe.points, R, U)[None])}, [0.0])
    with pytest.raises(QoIError, match="outlet9"):
        compute_qois(src, _spec(pressure=None, outlets=["outlet9"]))
    with pytest.raises(QoIError, match="no field 'p'"):
        compute_qois(src, _spec())


def test_time_weights_resampling_and_indices():
    t = np.array([0.2, 0.4, 0.6, 0.8, 1.0])
    w = time_weights(t)
    assert w.sum() == pytest.approx(1.0)  # the inferred period
    np.testing.assert_allclose(w, 0.2)
    # phase of t = 1.0 wraps to 0: resampling reproduces a linear-in-phase periodic signal
    y = np.sin(2 * np.pi * t)
    got = resample_phase(t, y, 5)
    np.testing.assert_allclose(got, np.sin(2 * np.pi * np.arange(5) / 5), atol=1e-12)
    # OSI of a vector that reverses for a quarter of the cycle
    tau = np.zeros((4, 1, 3))
    tau[:, 0, 0] = [1.0, 1.0, 1.0, -1.0]
    idx = wss_indices(tau, np.arange(4) / 4, period=1.0)
    assert idx["osi"][0] == pytest.approx(0.5 * (1 - 0.5 / 1.0))
    assert idx["tawss"][0] == pytest.approx(1.0)
    assert idx["rrt"][0] == pytest.approx(1 / ((1 - 2 * 0.25) * 1.0))
    assert idx["ecap"][0] == pytest.approx(0.25)
    with pytest.raises(QoIError):
        WSSAccumulator(3).result()


def test_regional_statistics_are_area_weighted():
    values = np.array([0.1, 1.0, 2.0, 3.0])
    area = np.array([3.0, 1.0, 1.0, 1.0])
    s = regional_stats(values, area, percentiles=(50,), low_threshold=0.4)
    assert s["mean"] == pytest.approx((0.3 + 1 + 2 + 3) / 6)
    assert s["low_fraction"] == pytest.approx(0.5)
    assert weighted_percentile(values, area, 10) == pytest.approx(0.1)
    # midpoint CDF: 0.25 at 0.1, 7/12 at 1.0 -> the median interpolates to 0.775
    assert s["p50"] == pytest.approx(0.775)


def test_moving_mesh_uses_each_steps_geometry(pipe):
    scales = [1.0, 1.1, 1.2]

    class Dilating(MemorySource):
        moving_mesh = True

        def mesh(self, step: int = 0) -> Mesh:
            pts = pipe.points * [scales[step], scales[step], 1.0]
            return Mesh(pts, pipe.cells, pipe.facets, pipe.facet_tags, pipe.tag_names)

    u = np.stack([fx.poiseuille(pipe.points * [s, s, 1.0], R * s, U) for s in scales])
    src = Dilating(pipe, {"u": ("point", u)}, [0.0, 1 / 3, 2 / 3])
    out = compute_qois(src, _spec(pressure=None, period=1.0, phase_points=3))
    flows = out["_extra"]["flow_si"]["outlet"]
    np.testing.assert_allclose(flows, [Q * s**2 for s in scales], rtol=0.01)
    # Poiseuille WSS scales as 4 mu U / (R s): the wall operator moved with the mesh
    mean_tau = np.mean([4 * MU * U / (R * s) for s in scales])
    assert out["TAWSS_mean"] == pytest.approx(mean_tau, rel=0.05)


def test_fsi_displacement_field_moves_the_mesh(pipe):
    scales = [1.0, 1.15]
    d = np.stack([pipe.points * [s - 1, s - 1, 0.0] for s in scales])
    u = np.stack([fx.poiseuille(pipe.points * [s, s, 1.0], R * s, U) for s in scales])
    src = MemorySource(pipe, {"u": ("point", u), "d": ("point", d)}, [0.0, 0.5])
    out = compute_qois(src, _spec(pressure=None, displacement="d", period=1.0))
    np.testing.assert_allclose(out["_extra"]["flow_si"]["outlet"],
                               [Q * s**2 for s in scales], rtol=0.01)


def test_regional_statistics_on_part_of_the_wall(pipe):
    """Split the wall at mid-length into two tags; region values come from their facets."""
    tris, tags = pipe.facets["triangle"], pipe.facet_tags["triangle"].copy()
    zc = pipe.points[tris][:, :, 2].mean(axis=1)
    tags[(tags == fx.WALL) & (zc > L / 2)] = 4
    names = {**fx.TAG_NAMES, 4: "distal"}
    mesh = Mesh(pipe.points, pipe.cells, {"triangle": tris}, {"triangle": tags}, names)
    z = pipe.points[:, 2]
    # a profile that steepens with z: distal WSS up to 2x (continuity is irrelevant here)
    u = fx.poiseuille(pipe.points, R, U) * (1 + z / L)[:, None]
    src = MemorySource(mesh, {"u": ("point", u[None])}, [0.0])
    out = compute_qois(src, _spec(pressure=None, wall=["wall", "distal"],
                                  regions={"distal": "distal", "proximal": "wall"},
                                  low_wss_threshold=1.5 * TAU))
    assert out["TAWSS_mean_distal"] > out["TAWSS_mean_proximal"]
    # areas are equal, so the whole-wall mean is the mean of the two halves
    assert out["TAWSS_mean"] == pytest.approx(
        0.5 * (out["TAWSS_mean_distal"] + out["TAWSS_mean_proximal"]), rel=0.02)
    assert out["LSA_fraction_proximal"] == pytest.approx(1.0)
    assert 0.0 < out["LSA_fraction_distal"] < 1.0
    with pytest.raises(QoIError, match="not part of the wall"):
        compute_qois(src, _spec(pressure=None, wall="wall", regions={"d": "distal"}))


def test_degenerate_wall_tetrahedron_is_a_qoi_error():
    from datasets.qoi import velocity_gradient

    pts = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
    tets = np.array([[0, 1, 2, 4], [0, 1, 2, 3]])  # the second is flat (z = 0)
    u = np.zeros((5, 3))
    u[:, 0] = pts[:, 2]  # du_x/dz = 1
    G = velocity_gradient(pts, tets[:1], u)
    np.testing.assert_allclose(G[0], [[0, 0, 1], [0, 0, 0], [0, 0, 0]], atol=1e-15)
    with pytest.raises(QoIError, match="degenerate"):
        velocity_gradient(pts, tets, u)


# -- several cycles: the last full period only -----------------------------------------

def test_time_weights_over_two_cycles_keep_the_last_period():
    t = np.arange(0, 2, 0.1)
    w = time_weights(t, 1.0)
    assert w.min() >= 0  # was -0.4 at both ends
    np.testing.assert_allclose(w[:10], 0.0)  # the first cycle (t <= 0.9) is left out
    np.testing.assert_allclose(w[10:], 0.1)
    assert w.sum() == pytest.approx(1.0)
    # a sample one period before the last one closes the cycle: counted once, not twice
    np.testing.assert_allclose(time_weights(np.linspace(0, 1, 11), 1.0)[1:], 0.1)
    with pytest.raises(QoIError, match=r"span 5 s .* last period of 1 s"):
        time_weights(np.array([0.0, 5.0]), 1.0)


def _two_cycles(pipe, spin_up: float):
    """u = a(t) sin(2 pi t) Poiseuille over t in [0, 2) s; the first cycle scaled by
    ``spin_up`` (a run that had not settled yet)."""
    times = np.arange(16) / 8
    amp = np.where(times < 1, spin_up, 1.0) * np.sin(2 * np.pi * times)
    base = fx.poiseuille(pipe.points, R, U)
    return times, MemorySource(pipe, {"u": ("point", amp[:, None, None] * base)}, times)


def test_two_cycles_with_a_period_use_the_last_cycle(pipe):
    times, src = _two_cycles(pipe, spin_up=0.3)
    out = compute_qois(src, _spec(pressure=None, period=1.0))
    np.testing.assert_allclose(out["_times"], times[8:])
    assert out["OSI_mean"] == pytest.approx(0.5, abs=1e-9)
    assert out["Q_outlet_mean"] == pytest.approx(0.0, abs=1e-12 * Q)
    mean_abs_sin = np.mean(np.abs(np.sin(2 * np.pi * times[8:])))
    assert out["TAWSS_mean"] == pytest.approx(mean_abs_sin * TAU, rel=0.05)
    # one cycle on the phase grid k/8: the analytic sine (not a mix of the two cycles)
    q_p1 = out["_extra"]["flow_si"]["outlet"].max()  # the P1 pipe's peak flow (~Q)
    assert q_p1 == pytest.approx(Q, rel=0.01)
    np.testing.assert_allclose(out["Q_outlet"], q_p1 * np.sin(2 * np.pi * np.arange(8) / 8),
                               atol=1e-12 * Q)


def test_inferred_period_over_several_cycles_warns(pipe):
    times, src = _two_cycles(pipe, spin_up=1.0)
    with pytest.warns(UserWarning, match=r"inferred .* \(2 s\).* repeats 2 times"):
        compute_qois(src, _spec(pressure=None))
    with pytest.warns(UserWarning, match="qois.period"):
        resample_phase(times, np.sin(2 * np.pi * times), 8)
    with warnings.catch_warnings():  # one cycle, no period: nothing to say
        warnings.simplefilter("error")
        t1 = np.arange(8) / 8
        resample_phase(t1, np.sin(2 * np.pi * t1), 8)


def test_cycle_option_is_validated():
    assert QoISpec().cycle == "last"
    with pytest.raises(QoIError, match="cycle must be 'last'"):
        QoISpec(cycle="all")


def test_boundary_names_that_collide_as_output_labels_are_rejected():
    with pytest.raises(QoIError, match=r"'out-1' and 'out_1' both become 'out_1'"):
        QoISpec(outlets=["out-1", "out_1"])


# -- face- and cell-centred data (Fluent CFF, CGNS CellCenter) --------------------------

def _fluent_run(tmp_path, inward: bool = True):
    """A closed cylinder surface as a Fluent case (an interior face, then inlet, outlet and
    wall zones) with random face velocity and pressure; faces written inward if asked."""
    pts, tets = fx.cylinder(R, L, nr=2, nth=12, nz=2)
    tris, tags = fx.cylinder_facets(pts, tets, L, R)
    order = np.argsort(tags, kind="stable")  # inlet, outlet, wall faces contiguous
    tris, tags = tris[order], tags[order]
    interior = tets[:1, :3]
    faces = np.concatenate([interior, tris[:, ::-1] if inward else tris])
    n = [int((tags == t).sum()) for t in (fx.INLET, fx.OUTLET, fx.WALL)]
    zones = [(1, "interior-fluid", 2, 1, 1), (5, "inlet", 10, 2, 1 + n[0]),
             (6, "outlet", 5, 2 + n[0], 1 + n[0] + n[1]),
             (7, "wall", 3, 2 + n[0] + n[1], 1 + sum(n))]
    rng = np.random.default_rng(3)
    vel = rng.normal(size=(len(faces), 3))
    p = rng.uniform(1e3, 2e3, size=len(faces))
    case, _ = fx.write_fluent(tmp_path / "run", pts, faces,
                              zones, {"velocity": vel, "pressure": p})
    area = triangle_geometry(pts, tris)[0]
    expect = {}
    for tag, name, nz in ((fx.INLET, "inlet", -1.0), (fx.OUTLET, "outlet", 1.0)):
        sel = tags == tag
        fv, fp = vel[1:][sel], p[1:][sel]  # face data after the interior face
        expect[f"Q_{name}_mean"] = float(np.sum(area[sel] * fv[:, 2] * nz))
        expect[f"p_{name}_mean"] = float(np.sum(area[sel] * fp) / np.sum(area[sel]))
    return case, expect


@pytest.mark.parametrize("inward", [True, False])
def test_fluent_face_data_give_flow_and_mean_pressure(tmp_path, inward):
    from datasets import adapters

    case, expect = _fluent_run(tmp_path, inward)
    with adapters.open(case) as src:
        out = compute_qois(src, QoISpec(velocity="velocity", pressure="pressure",
                                        outlets=["outlet"], flow_unit="m3/s",
                                        pressure_unit="Pa", phase_points=4))
    for key, value in expect.items():
        assert out[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert out["dp_outlet_mean"] == pytest.approx(
        expect["p_inlet_mean"] - expect["p_outlet_mean"], rel=1e-9)
    assert "TAWSS_mean" not in out  # WSS skipped, with the reason
    assert "WSS metrics" in out["_notes"][0] and "facet-centred" in out["_notes"][0]


def test_face_data_on_an_open_surface_cannot_be_oriented(tmp_path):
    """Inlet and outlet discs without the wall: their vector areas cancel, but the surface
    is open, so which side is out is unknown."""
    from datasets import adapters

    case, _ = _fluent_run(tmp_path)
    with adapters.open(case) as src:
        mesh = src.mesh()
    keep = mesh.facet_tags["triangle"] != 7  # the wall zone
    open_mesh = Mesh(mesh.points, {}, {"triangle": mesh.facets["triangle"][keep]},
                     {"triangle": mesh.facet_tags["triangle"][keep]}, mesh.tag_names)
    faces = {"velocity": ("facet", np.ones((1, int(keep.sum()), 3)))}
    src = MemorySource(open_mesh, faces, [0.0])
    with pytest.raises(QoIError, match="do not close a surface"):
        compute_qois(src, QoISpec(velocity="velocity", pressure=None, outlets=["outlet"]))


def test_cgns_cell_centred_solution_gives_flow_and_pressure(tmp_path):
    from datasets import adapters
    from datasets.mesh import facet_owner

    pts, tets = fx.cylinder(R, L, nr=2, nth=12, nz=3)
    tris, tags = fx.cylinder_facets(pts, tets, L, R)
    rng = np.random.default_rng(5)
    uc = rng.normal(size=(len(tets), 3))
    pc = rng.uniform(0, 100, size=len(tets))
    path = fx.write_cgns(tmp_path / "c.cgns", pts, tets, tris, tags, fx.TAG_NAMES, [{}], None,
                         cell_fields={"VelocityX": uc[:, 0], "VelocityY": uc[:, 1],
                                      "VelocityZ": uc[:, 2], "CellPressure": pc})
    with adapters.open(path) as src:
        assert src.fields()["Velocity"].association == "cell"
        out = compute_qois(src, _spec(velocity="Velocity", pressure="CellPressure"))
        mesh, u, p = src.mesh(), src.read("Velocity", 0), src.read("CellPressure", 0)[:, 0]
    for name, nz in (("inlet", -1.0), ("outlet", 1.0)):
        t = mesh.boundary_triangles(name)
        own = facet_owner(mesh.cells["tetra"], t)
        area = triangle_geometry(mesh.points, t)[0]
        assert out[f"Q_{name}_mean"] == pytest.approx(np.sum(area * u[own, 2]) * nz, rel=1e-9)
        assert out[f"p_{name}_mean"] == pytest.approx(np.sum(area * p[own]) / area.sum(),
                                                      rel=1e-9)
    assert "cell-centred" in out["_notes"][0]


def test_facets_that_bound_no_tetrahedron_are_an_error(pipe):
    from datasets.mesh import boundary_triangles

    tris, tags = pipe.facets["triangle"].copy(), pipe.facet_tags["triangle"]
    far = int(np.argmax(pipe.points[:, 2]))
    k = np.flatnonzero(tags == fx.INLET)[0]
    tris[k, 0] = far  # a triangle spanning the pipe: no tetrahedron has it as a face
    mesh = Mesh(pipe.points, pipe.cells, {"triangle": tris}, {"triangle": tags}, fx.TAG_NAMES)
    n_inlet = int((tags == fx.INLET).sum())
    with pytest.raises(QoIError, match=rf"1 of the {n_inlet} triangle facets of boundary "
                                       r"'inlet' are faces of no volume cell"):
        boundary_triangles(mesh, "inlet")
    src = MemorySource(mesh, {"u": ("point", fx.poiseuille(pipe.points, R, U)[None])}, [0.0])
    with pytest.raises(QoIError, match="faces of no volume cell"):
        compute_qois(src, _spec(pressure=None))
