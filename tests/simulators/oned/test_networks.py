"""Boileau et al. 2015 cases 2–6: 3D reference waveforms, mass, periodic state, ranges."""

from __future__ import annotations

import numpy as np
import pytest

from simulators.oned import load_network, simulate
from simulators.oned.validation import compare

from .conftest import NETWORKS

MMHG = 133.322387415


@pytest.mark.parametrize("case", ["cca", "uta"])
def test_against_3d_reference(case, shared_data):
    """P error ≤ 3 % at inlet, mid, outlet; Q error ≤ 10 % of max |Q| (issue 3).

    Measured (diastolic-form networks): CCA P 0.81 %, 0.71 %, 0.60 %; UTA P 1.49 %, 1.42 %,
    1.35 %, Q 4.3 %, 3.7 %.
    """
    res = compare(case, shared_data / "oned/digitised_3d", NETWORKS, tol=1e-4, max_cycles=60)
    assert res.solution.converged
    assert {x for x, _ in res.errors} == {0.0, 0.5, 1.0}
    for (_, kind), err in res.errors.items():
        assert err <= (0.03 if kind == "P" else 0.10)
    # the time shift comes from the inflow alone; its spread over the digitised copies of
    # the inflow moves the errors but keeps them within the criteria
    assert len(res.shifts) == (3 if case == "cca" else 2)
    for (_, kind), (lo, hi) in res.error_spread.items():
        assert max(lo, hi) <= (0.03 if kind == "P" else 0.10)
    if case == "cca":   # 58.2 / 54.6 / 54.8 ms
        assert 0.050 < min(res.shifts.values()) and max(res.shifts.values()) < 0.062
        d = res.pressure_drop   # reported only: RMS error well below the 3D ΔP amplitude
        assert d is not None and d["rms_Pa"] < 0.2 * d["ref_max_Pa"]


def _check_network(net, sol):
    assert sol.converged and sol.cycles < 40
    assert np.all(sol.change <= 1e-3)
    d = sol.diagnostics
    assert d["junction_mass_residual"] < 1e-8
    assert abs(d["mass_balance_error"]) < 1e-8
    # mean flow in = sum of mean flows out (over the periodic cycle)
    q_out = sum(sol.flow(o.vessel, 1.0).mean() for o in net.outlets)
    assert q_out == pytest.approx(net.inlet.mean(), rel=2e-3)
    p = sol.P / MMHG
    assert 40 < p.min() and p.max() < 180          # physiological, mmHg
    assert np.all(sol.A > 0)


def test_case4_aortic_bifurcation():
    net = load_network(NETWORKS / "boileau_ibif.yaml")
    sol = simulate(net)
    _check_network(net, sol)
    # symmetric daughters carry equal flows
    np.testing.assert_allclose(sol.flow("d1", 0.5), sol.flow("d2", 0.5), rtol=1e-10,
                               atol=1e-9 * np.abs(sol.flow("d1", 0.5)).max())


@pytest.mark.slow
def test_case5_37_artery():
    net = load_network(NETWORKS / "matthys2007_37artery.yaml")
    sol = simulate(net)
    _check_network(net, sol)


@pytest.mark.slow
def test_case6_adan56():
    net = load_network(NETWORKS / "adan56.yaml")
    sol = simulate(net)
    _check_network(net, sol)
    # openBF variant (uniform E = 225 kPa).  Aortic root: mean 80–110 mmHg (measured 104.8),
    # pulse pressure 25–60 mmHg, the adult central range (measured 38.0)
    root = sol.pressure("aortic_arch_I", 0.0) / MMHG
    assert 80 < root.mean() < 110
    assert 25 < np.ptp(root) < 60
    # distal amplification of the pulse pressure (> 1; measured radial 1.14, femoral 2.0,
    # posterior tibial 2.5); the mean pressure falls distally
    for site in [("radial_R", 1.0), ("femoral_R_II", 0.5), ("posterior_tibial_R", 1.0)]:
        p = sol.pressure(*site) / MMHG
        assert np.ptp(p) > 1.05 * np.ptp(root), site
        assert p.mean() < root.mean(), site
