"""Quantities of interest against analytic answers (Poiseuille flow in a tetrahedral pipe)."""

from __future__ import annotations

import numpy as np
import pytest

from datasets.adapters.base import Mesh
from datasets.adapters.memory import MemorySource
from datasets.errors import QoIError
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
