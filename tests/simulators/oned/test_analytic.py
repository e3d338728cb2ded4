"""The 1D solver against closed-form results (issue 3, "Validation").

Each tolerance is the issue's; the comment beside it gives the measured value.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulators.oned import load_network, simulate

from .conftest import NETWORKS, gaussian_inlet, network, vessel


def _peak(t: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Time and value of the maximum, refined by a parabola through three samples."""
    k = int(np.argmax(y))
    y0, y1, y2 = y[k - 1], y[k], y[k + 1]
    d = 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2)
    return t[k] + d * (t[1] - t[0]), y1 - 0.25 * (y0 - y2) * d


def test_single_pulse_speed_arrival_and_amplitude():
    """Case 1: c0 = √(2Eh/(3ρr0)), arrival L/c0 and P = Z0·Q within 1% (measured ≤ 0.4%)."""
    net = load_network(NETWORKS / "single_pulse.yaml")
    v = net.vessels[0]
    rho = net.blood.rho
    c0 = math.sqrt(2 * v.E * v.h0 / (3 * rho * v.Rp))
    z0 = rho * c0 / (math.pi * v.Rp**2)
    q_peak = net.inlet.flow.max()
    sol = simulate(net, sites=[("tube", 0.25), ("tube", 0.75)], max_cycles=1, min_cycles=1,
                   record_points=8000)
    ta, pa = _peak(sol.t, sol.P[0])
    tb, pb = _peak(sol.t, sol.P[1])
    t_in = net.inlet.period * net.inlet.phase[np.argmax(net.inlet.flow)]
    assert abs((0.5 * v.L / (tb - ta)) / c0 - 1) < 0.01          # wave speed: 0.13 %
    assert abs((ta - t_in) / (0.25 * v.L / c0) - 1) < 0.01       # arrival time: 0.13 %
    assert abs(pa / (z0 * q_peak) - 1) < 0.01                    # peak pressure: 0.17 %
    assert abs(pb / (z0 * q_peak) - 1) < 0.01                    # after 7.5 m: 0.39 %


@pytest.mark.parametrize("zeta", [2.0, 9.0])
def test_steady_poiseuille_pressure_drop(zeta):
    """ΔP = 2(ζ+2)πμLQ/A² within 0.5% in a stiff tube (measured 0.09 %)."""
    L, r, E, h, rho, mu, q = 0.2, 2e-3, 1e8, 1e-3, 1060.0, 4e-3, 1e-6
    c = math.sqrt(2 * E * h / (3 * rho * r))
    area = math.pi * r * r
    z0 = rho * c / area  # matched terminal resistance: no reflected transient
    net = network([vessel("p", "a", "b", L, r, E, h, 20, zeta=zeta)],
                  {"vessel": "p", "period": 0.2, "table": {"t": [0.0, 0.1], "Q": [q, q]}},
                  [{"vessel": "p", "type": "resistance", "R": z0, "Pout": 0.0}], rho=rho, mu=mu)
    sol = simulate(net, sites=[("p", 0.0), ("p", 1.0)], tol=1e-6, max_cycles=20,
                   p_init=z0 * q)
    assert sol.converged
    dp = sol.P[0].mean() - sol.P[1].mean()
    expected = 2 * (zeta + 2) * math.pi * mu * L * q / area**2
    assert abs(dp / expected - 1) < 0.005


def _y(r: float, E: float, h: float, rho: float) -> float:
    """Characteristic admittance Y = A/(ρc) (m^3 s^-1 Pa^-1)."""
    return math.pi * r * r / (rho * math.sqrt(2 * E * h / (3 * rho * r)))


@pytest.mark.parametrize("daughters", [[(0.006, 5e5)], [(0.008, 1e6), (0.005, 1e6)],
                                       [(0.004, 5e5), (0.004, 5e5), (0.005, 7e5)]])
def test_junction_reflection_coefficient(daughters):
    """R = (Y_p − ΣY_d)/(Y_p + ΣY_d) within 0.02 from a single pulse.

    Measured errors: peak ratio ≤ 0.0035, pulse-area ratio ≤ 0.0001.
    """
    rho, h, n = 1000.0, 1e-3, 1600
    vs = [vessel("p", "a", "j", 4.0, 0.01, 5e5, h, n)]
    outs = []
    for k, (r, E) in enumerate(daughters):
        vs.append(vessel(f"d{k}", "j", f"o{k}", 4.0, r, E, h, n))
        outs.append({"vessel": f"d{k}", "type": "reflection", "Rt": 0.0})
    net = network(vs, gaussian_inlet("p", 1.6, q_peak=1e-6), outs, rho=rho)
    sol = simulate(net, sites=[("p", 0.5)], max_cycles=1, min_cycles=1, record_points=3200)
    yp = _y(0.01, 5e5, h, rho)
    yd = sum(_y(r, E, h, rho) for r, E in daughters)
    expected = (yp - yd) / (yp + yd)
    cp = math.sqrt(2 * 5e5 * h / (3 * rho * 0.01))
    p, t = sol.P[0], sol.t
    inc = np.abs(t - (0.05 + 2.0 / cp)) < 0.15     # incident pulse passes x = 2 m
    ref = np.abs(t - (0.05 + 6.0 / cp)) < 0.15     # reflected pulse comes back
    peak_ratio = p[ref][np.argmax(np.abs(p[ref]))] / p[inc].max()
    area_ratio = p[ref].sum() / p[inc].sum()
    assert abs(peak_ratio - expected) < 0.02
    assert abs(area_ratio - expected) < 0.02
    # mass through the junction: exact to round-off at every step
    assert sol.diagnostics["junction_mass_residual"] < 1e-8


def test_rcr_mean_pressure_and_mass(networks_dir):
    """Converged cycle mean P = (R1+R2)·Q̄ + P_out within 0.5% (measured 0.001 %)."""
    net = load_network(networks_dir / "boileau_cca.yaml")
    o = net.outlets[0]
    sol = simulate(net, sites=[("common_carotid_artery", 1.0)])
    assert sol.converged and sol.cycles <= 30
    expected = (o.R1 + o.R2) * net.inlet.mean() + o.Pout
    assert abs(sol.P[0].mean() / expected - 1) < 0.005
    assert abs(sol.diagnostics["mass_balance_error"]) < 1e-10
    # the periodic-state criterion that stopped the run
    assert np.all(sol.change < 1e-3)


def _smooth_case(n: int, power: int = 1):
    """Tapered viscous vessel with an RCR outlet, inflow Q = 2e-4 ((1 − cos 2πt/T)/2)^power.

    Started from rest, the inflow's first ``2·power − 1`` derivatives are continuous at
    t = 0: power 1 (the default; C¹, q'' jumps) sends a front whose weak singularity limits
    the observed order on fine grids (see ``test_tapered_vessel_is_second_order``); power 3
    is C⁵.
    """
    period = 0.5
    t = np.linspace(0.0, period, 4001)[:-1]
    q = 2e-4 * ((1 - np.cos(2 * np.pi * t / period)) / 2) ** power   # start from rest
    return network([vessel("v", "a", "b", 0.5, (0.010, 0.008), 4e5, 1.2e-3, n, zeta=9.0)],
                   {"vessel": "v", "period": period, "table": {"t": t.tolist(), "Q": q.tolist()}},
                   [{"vessel": "v", "type": "rcr", "R1": 1.2e7, "R2": 1e8, "C": 1e-8,
                     "Pout": 0.0}], rho=1060.0, mu=4e-3)


def test_observed_order_of_accuracy():
    """Grid refinement on a tapered, viscous vessel with an RCR outlet: order ≥ 1.8.

    Measured (P, Q): 1.93, 1.86 on grids of 50, 100, 200 cells (the x = 0, 1 sites read
    the boundary faces; with cell extrapolation there: 1.96, 1.98).
    """
    res = {}
    for n in (50, 100, 200):
        sol = simulate(_smooth_case(n), sites=[("v", 0.0), ("v", 0.5), ("v", 1.0)],
                       max_cycles=1, min_cycles=1, record_points=100, p_init=0.0)
        res[n] = (sol.P, sol.Q)
    for k in (0, 1):
        e1 = np.sqrt(np.mean((res[50][k] - res[100][k]) ** 2))
        e2 = np.sqrt(np.mean((res[100][k] - res[200][k]) ** 2))
        assert math.log2(e1 / e2) >= 1.8


def test_observed_order_of_accuracy_with_junction():
    """Smooth three-vessel bifurcation (total-pressure junction, RCR outlets), sites at both
    ends and the middle of each vessel, grids of 40/80/160/320 cells per vessel.

    With the C¹ start of ``_bifurcation`` (Q ∝ (1 − cos)/2 from rest) the measured orders
    (P, Q, all sites) were 1.64, 1.80 and 1.65, 1.65 — the "junction shortfall" of the earlier
    README.  With a C⁵ start (((1 − cos)/2)³, as in ``test_tapered_vessel_is_second_order``)
    they are 1.96, 2.01 and 1.95, 2.01 (mid-vessel sites 1.98, 1.98 and 1.98, 1.97): the
    junction is second order; the shortfall came from the front's weak singularity.
    """
    from dataclasses import replace

    from simulators.oned.io import table_inlet

    from .test_physical_limits_and_diagnostics import _bifurcation

    def case(n):
        t = np.linspace(0.0, 0.5, 2001)[:-1]
        q = 1e-4 * ((1 - np.cos(2 * np.pi * t / 0.5)) / 2) ** 3
        return replace(_bifurcation(n), inlet=table_inlet("p", t, q, 0.5))

    ns = (40, 80, 160, 320)
    sites = [(lab, x) for lab in ("p", "d1", "d2") for x in (0.0, 0.5, 1.0)]
    res = {}
    for n in ns:
        sol = simulate(case(n), sites=sites, max_cycles=1, min_cycles=1,
                       record_points=100, p_init=0.0)
        res[n] = (sol.P, sol.Q)
    for k in (0, 1):
        e = [np.sqrt(np.mean((res[a][k] - res[b][k]) ** 2))
             for a, b in zip(ns, ns[1:], strict=False)]
        orders = [math.log2(e[i] / e[i + 1]) for i in range(len(e) - 1)]
        assert min(orders) >= 1.85, orders


def test_static_pressure_junction_option():
    """junction_pressure: static makes P continuous; total makes P + ρu²/2 continuous."""
    base = [vessel("p", "a", "j", 0.2, 0.01, 4e5, 1e-3, 40),
            vessel("d", "j", "b", 0.2, 0.005, 4e5, 1e-3, 40)]
    inlet = {"vessel": "p", "period": 0.5, "table": {"t": [0.0, 0.25], "Q": [3e-4, 3e-4]}}
    outs = [{"vessel": "d", "type": "resistance", "R": 3e7, "Pout": 0.0}]
    gaps = {}
    for mode in ("static", "total"):
        net = network(base, inlet, outs, rho=1060.0, mu=0.0, junction_pressure=mode)
        sol = simulate(net, sites=[("p", 1.0), ("d", 0.0)], p_init=9e3, max_cycles=40)
        u_p, u_d = sol.velocity("p", 1.0)[-1], sol.velocity("d", 0.0)[-1]
        dp = sol.P[0][-1] - sol.P[1][-1]
        gaps[mode] = (dp, 0.5 * 1060.0 * (u_d**2 - u_p**2))
    # static: no pressure jump (to the O(dx²) of end-point extrapolation)
    assert abs(gaps["static"][0]) < 0.02 * gaps["total"][1]
    # total: the pressure jump is the dynamic-pressure difference
    assert abs(gaps["total"][0] / gaps["total"][1] - 1) < 0.02


def test_kelvin_voigt_wall_damps_a_pulse():
    """A visco-elastic wall (Γ > 0) attenuates and broadens a pulse; mass still conserved."""
    peaks = {}
    for gamma in (0.0, 5.0):
        net = network([vessel("t", "a", "b", 3.0, 0.01, 5e5, 1e-3, 600, Gamma=gamma)],
                      gaussian_inlet("t", 1.0, q_peak=1e-5),
                      [{"vessel": "t", "type": "reflection", "Rt": 0.0}], rho=1000.0)
        sol = simulate(net, sites=[("t", 0.8)], max_cycles=1, min_cycles=1,
                       record_points=2000)
        peaks[gamma] = sol.P[0].max()
        assert abs(sol.diagnostics["mass_balance_error"]) < 1e-8
    assert peaks[5.0] < 0.9 * peaks[0.0]


@pytest.mark.parametrize("rt", [0.5, -0.3])
def test_terminal_reflection_coefficient(rt):
    """A reflection outlet returns Rt × the incident pressure pulse (measured error 1e-4)."""
    rho, r, E, h = 1000.0, 0.01, 5e5, 1e-3
    net = network([vessel("t", "a", "b", 4.0, r, E, h, 1600)],
                  gaussian_inlet("t", 1.6, q_peak=1e-6),
                  [{"vessel": "t", "type": "reflection", "Rt": rt}], rho=rho)
    sol = simulate(net, sites=[("t", 0.5)], max_cycles=1, min_cycles=1, record_points=3200)
    c = math.sqrt(2 * E * h / (3 * rho * r))
    p, t = sol.P[0], sol.t
    inc = np.abs(t - (0.05 + 2.0 / c)) < 0.15
    ref = np.abs(t - (0.05 + 6.0 / c)) < 0.15
    assert abs(p[ref].sum() / p[inc].sum() - rt) < 0.02


def test_function_inlet_and_period_target():
    """An inflow given as a Python function; the cycle mean pressure follows R·Q̄."""
    from simulators.oned.io import function_inlet

    def q(t):
        return 5e-6 + 4e-6 * math.sin(2 * math.pi * t / 0.8) ** 2

    inlet = function_inlet("v", q, 0.8)
    assert inlet.mean() == pytest.approx(7e-6, rel=1e-9)
    base = network([vessel("v", "a", "b", 0.1, 3e-3, 7e5, 3e-4, 20, zeta=2.0)],
                   {"vessel": "v", "period": 0.8, "table": {"t": [0.0, 0.4], "Q": [1.0, 1.0]}},
                   [{"vessel": "v", "type": "rcr", "R1": 2e8, "R2": 1.8e9, "C": 2e-10,
                     "Pout": 1000.0}], rho=1060.0, mu=4e-3)
    from dataclasses import replace

    sol = simulate(replace(base, inlet=inlet), sites=[("v", 1.0)])
    assert sol.converged
    assert sol.P[0].mean() == pytest.approx(2e9 * 7e-6 + 1000.0, rel=0.005)


def test_diastolic_reference_form_equals_zero_pressure_form(networks_dir):
    """Boileau's P = P_d + β_d/A_d(√A − √A_d) is the zero-pressure law with the same β/A:
    √A0 = √A_d − P_d A_d/β_d, h0 = h_d A0/A_d.  Both give the same waveforms (round-off)."""
    from dataclasses import replace

    net = load_network(networks_dir / "boileau_cca.yaml")
    v = net.vessels[0]
    p_d, r_d, h_d = 10.9e3, 3.0e-3, 0.3e-3                   # diastolic description
    a_d = math.pi * r_d**2
    k = (4.0 / 3.0) * math.sqrt(math.pi) * v.E * h_d / a_d    # β_d / A_d
    sa0 = math.sqrt(a_d) - p_d / k
    r0 = sa0 / math.sqrt(math.pi)
    diastolic = replace(net, vessels=(replace(v, Rp=r_d, Rd=r_d, h0=h_d, P_ref=p_d),))
    zero = replace(net, vessels=(replace(v, Rp=r0, Rd=r0, h0=h_d * r0**2 / r_d**2,
                                         P_ref=0.0),))
    sites = [(v.label, 0.0), (v.label, 1.0)]
    s1 = simulate(diastolic, sites=sites, p_init=12e3)
    s2 = simulate(zero, sites=sites, p_init=12e3)
    assert s1.cycles == s2.cycles
    np.testing.assert_allclose(s1.P, s2.P, rtol=1e-9)
    np.testing.assert_allclose(s1.Q, s2.Q, rtol=1e-7, atol=1e-13)


def _orders(case, ns, sites):
    """Observed orders from successive grids: {(quantity 0=P 1=Q, site): [orders]}."""
    res = {}
    for n in ns:
        sol = simulate(case(n), sites=sites, max_cycles=1, min_cycles=1, record_points=100,
                       p_init=0.0)
        res[n] = (sol.P, sol.Q)
    out = {}
    for k in (0, 1):
        for s in range(len(sites)):
            e = [np.sqrt(np.mean((res[a][k][s] - res[b][k][s]) ** 2))
                 for a, b in zip(ns, ns[1:], strict=False)]
            if min(e) > 0:
                out[(k, s)] = [math.log2(e[i] / e[i + 1]) for i in range(len(e) - 1)]
    return out


def test_tapered_vessel_is_second_order():
    """The tapered vessel with a C⁵ start (power 3) on 100/200/400/800 cells: every site's P
    and Q converge at second order.  Measured: P at x = 0, 0.5, 1: 2.03, 1.87 / 2.00, 2.01 /
    2.03, 1.94; Q at x = 0.5, 1: 2.01, 2.04 / 2.06, 1.93 (x = 0: 2.41 on 400/800/1600).

    With the default C¹ start (power 1: q'' jumps at t = 0) the same grids gave P orders at
    x = 0 of 1.55, 1.48 (1.34 on 800/1600) — the "order falls to ~1.4 under refinement" of
    the earlier README.  That is the test problem, not the taper treatment: the error is
    second order at every sample except those the front from t = 0 crosses (the reflected
    front reaches the inlet at t ≈ 0.175 s, where the error ratio per refinement is 2.4–2.5
    instead of 4), and it is the same without the boundary's taper source terms.
    """
    orders = _orders(lambda n: _smooth_case(n, power=3), (100, 200, 400, 800),
                     [("v", 0.0), ("v", 0.5), ("v", 1.0)])
    assert len(orders) == 5          # Q at x = 0 is the prescribed inflow, exact
    for key, o in orders.items():
        assert min(o) >= 1.8, ("PQ"[key[0]], key[1], o)
