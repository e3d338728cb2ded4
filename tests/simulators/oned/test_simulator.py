"""OneDSimulator: the twinemu Simulator protocol, Hydra construction, batches and failures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from simulators.base import Simulator
from simulators.errors import ConfigurationError, OutOfDomainError, SimulationError
from simulators.oned import OneDSimulator, load_network

from .conftest import NETWORKS

CONF = Path(__file__).resolve().parents[3] / "conf"
SITES = {"inlet": {"vessel": "common_carotid_artery", "x": 0.0},
         "outlet": {"vessel": "common_carotid_artery", "x": 1.0}}


@pytest.fixture(scope="module")
def cca_sim():
    omegaconf = pytest.importorskip("omegaconf")
    hydra_utils = pytest.importorskip("hydra.utils")
    cfg = omegaconf.OmegaConf.load(CONF / "simulator/oned_cca.yaml")
    return hydra_utils.instantiate(cfg)


def test_hydra_builds_a_simulator(cca_sim):
    assert isinstance(cca_sim, Simulator)
    assert (cca_sim.name, cca_sim.fidelity) == ("oned", "1d")
    assert cca_sim.space.names == ["E_scale", "R2_scale", "C_scale", "Q_scale"]
    json.dumps(cca_sim.config())  # JSON-able, for the provenance hash


def test_outputs_follow_specs_and_physics(cca_sim):
    point = {"E_scale": 1.1, "R2_scale": 0.8, "C_scale": 1.2, "Q_scale": 0.9}
    out = cca_sim(point)
    assert set(out) == {o.name for o in cca_sim.outputs}
    for spec in cca_sim.outputs:
        assert np.shape(out[spec.name]) == spec.shape
        assert np.all(np.isfinite(out[spec.name]))
    net = load_network(NETWORKS / "boileau_cca.yaml")
    o = net.outlets[0]
    expected = (o.R1 + 0.8 * o.R2) * 0.9 * net.inlet.mean()
    assert out["P_mean_outlet"] == pytest.approx(expected, rel=0.005)
    assert out["Q_mean_inlet"] == pytest.approx(0.9 * net.inlet.mean() * 1e6, rel=1e-3)
    assert out["PP_outlet"] == pytest.approx(out["P_sys_outlet"] - out["P_dia_outlet"])
    assert out["P_wave_mid"].mean() == pytest.approx(out["P_mean_mid"], rel=2e-3)


def test_batch_equals_single_calls_and_keeps_failures():
    net = load_network(NETWORKS / "boileau_cca.yaml")
    sim = OneDSimulator(net, parameters=[
        {"name": "Q_scale", "low": 0.0, "high": 50.0, "target": "inlet.Q:scale"}],
        sites=SITES, outputs=["P_mean", "P_wave"], refine=0.5)
    points = [{"Q_scale": 1.0}, {"Q_scale": 40.0}, {"Q_scale": 1.5}]
    out = sim.run_batch(points)
    assert isinstance(out[1], SimulationError)
    assert out[1].params == {"Q_scale": 40.0} and "common_carotid_artery" in out[1].reason
    for k in (0, 2):
        single = sim(points[k])
        for key, value in single.items():
            np.testing.assert_allclose(out[k][key], value, rtol=1e-12)
    assert out[2]["P_mean_outlet"] == pytest.approx(1.5 * out[0]["P_mean_outlet"], rel=0.005)
    with pytest.raises(SimulationError):
        sim({"Q_scale": 40.0})


def test_non_convergence_is_a_simulation_error():
    sim = OneDSimulator("simulator/networks/boileau_cca.yaml",
                        parameters=[{"name": "R2_scale", "low": 0.5, "high": 2.0,
                                     "target": "outlets.*.R2:scale"}],
                        sites=SITES, solver={"max_cycles": 2, "tol": 1e-9}, refine=0.5)
    with pytest.raises(SimulationError, match="no periodic state after 2 cycles"):
        sim({"R2_scale": 1.0})


def test_out_of_domain_and_bad_config():
    kw = dict(parameters=[{"name": "E_scale", "low": 0.5, "high": 2.0,
                           "target": "vessels.*.E:scale"}], sites=SITES, refine=0.5)
    sim = OneDSimulator("simulator/networks/boileau_cca.yaml", **kw)
    with pytest.raises(OutOfDomainError):
        sim({"E_scale": 3.0})
    with pytest.raises(ConfigurationError, match="unknown key"):
        OneDSimulator("simulator/networks/boileau_cca.yaml", cells=10, **kw)
    with pytest.raises(ConfigurationError, match="not found"):
        OneDSimulator("simulator/networks/nope.yaml", **kw)
    with pytest.raises(ConfigurationError, match="missing 'target'"):
        OneDSimulator("simulator/networks/boileau_cca.yaml", sites=SITES,
                      parameters=[{"name": "E", "low": 1.0, "high": 2.0}])
    with pytest.raises(ConfigurationError, match="outputs"):
        OneDSimulator("simulator/networks/boileau_cca.yaml", outputs=["P_max"], **kw)
    with pytest.raises(ConfigurationError, match="solver"):
        OneDSimulator("simulator/networks/boileau_cca.yaml", solver={"CFL": 0.5}, **kw)


def test_37artery_config_builds():
    omegaconf = pytest.importorskip("omegaconf")
    hydra_utils = pytest.importorskip("hydra.utils")
    sim = hydra_utils.instantiate(omegaconf.OmegaConf.load(CONF / "simulator/oned_37artery.yaml"))
    assert sim.space.names == ["R_scale", "E_scale", "Q_scale"]
    assert sum(o.is_waveform for o in sim.outputs) == 4


def test_length_and_period_targets():
    """Vessel length changes Δx (not the cell count); the mean viscous pressure drop along
    the vessel scales with L; the heart period stretches the inflow (Q̄ unchanged)."""
    sim = OneDSimulator("simulator/networks/boileau_cca.yaml", parameters=[
        {"name": "L_scale", "low": 0.5, "high": 2.0, "target": "vessels.*.L:scale"},
        {"name": "T", "low": 0.6, "high": 1.5, "unit": "s", "target": "inlet.period:set"}],
        sites=SITES, outputs=["P_mean", "Q_mean", "P_wave"], refine=0.5)
    out = sim.run_batch([{"L_scale": 1.0, "T": 1.1}, {"L_scale": 2.0, "T": 1.1},
                         {"L_scale": 1.0, "T": 0.8}])
    drop = [o["P_mean_inlet"] - o["P_mean_outlet"] for o in out]
    assert drop[1] / drop[0] == pytest.approx(2.0, rel=0.02)
    assert out[2]["Q_mean_inlet"] == pytest.approx(out[0]["Q_mean_inlet"], rel=1e-3)
    assert out[2]["P_wave_inlet"].shape == (100,)


def test_threaded_batch_gives_identical_results():
    kw = dict(parameters=[{"name": "E_scale", "low": 0.5, "high": 2.0,
                           "target": "vessels.*.E:scale"}], sites=SITES,
              outputs=["P_wave", "Q_max"], refine=0.5)
    points = [{"E_scale": e} for e in (0.7, 0.9, 1.1, 1.3)]
    serial = OneDSimulator("simulator/networks/boileau_cca.yaml", **kw).run_batch(points)
    threaded = OneDSimulator("simulator/networks/boileau_cca.yaml", threads=2,
                             **kw).run_batch(points)
    for a, b in zip(serial, threaded, strict=True):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    with pytest.raises(ConfigurationError, match="threads"):
        OneDSimulator("simulator/networks/boileau_cca.yaml", threads=0, **kw)
