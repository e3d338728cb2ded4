"""The Windkessel against its closed-form results."""

import math

import numpy as np
import pytest

from simulators.errors import ConfigurationError, ParameterError
from simulators.zerod import ML, WindkesselSimulator, half_sine_inflow, solve_rcr


def test_mean_pressure_equals_resistance_times_mean_flow():
    # Integrating C dPc/dt = Q - (Pc - Pout)/R2 over a periodic cycle gives
    # mean(P) = Pout + (R1 + R2) Q̄ exactly; the solver must match to its tolerance.
    R1, R2, C, T, sv, pout = 6e6, 1.1e8, 1.3e-8, 0.8, 70 * ML, 666.0
    res = solve_rcr(half_sine_inflow(sv, T), T, R1, R2, C, p_out=pout, n_points=4000)
    q_mean = sv / T
    expected = pout + (R1 + R2) * q_mean
    assert res.pressure.mean() == pytest.approx(expected, rel=2e-5)
    # the inflow integrates to the stroke volume
    assert res.flow.mean() * T == pytest.approx(sv, rel=1e-5)


def test_two_element_sinusoid_matches_frequency_response():
    # R1 = 0: P(ω) = Z(ω) Q(ω) with Z = R / (1 + iωRC)  (two-element Windkessel).
    R, C, T = 1.2e8, 1.5e-8, 0.9
    w = 2 * math.pi / T
    q0, q1 = 8e-5, 6e-5

    def q(t):
        return q0 + q1 * np.sin(w * np.asarray(t))

    res = solve_rcr(q, T, 0.0, R, C, n_points=400)
    Z = R / (1 + 1j * w * R * C)
    exact = R * q0 + abs(Z) * q1 * np.sin(w * res.t + np.angle(Z))
    err = np.max(np.abs(res.pressure - exact)) / np.ptp(exact)
    assert err < 1e-5


def test_three_element_sinusoid_adds_characteristic_impedance():
    R1, R2, C, T = 8e6, 1.0e8, 1.2e-8, 0.75
    w = 2 * math.pi / T
    res = solve_rcr(lambda t: 1e-4 * np.cos(w * np.asarray(t)), T, R1, R2, C, n_points=300)
    Z = R1 + R2 / (1 + 1j * w * R2 * C)
    exact = abs(Z) * 1e-4 * np.cos(w * res.t + np.angle(Z))
    assert np.max(np.abs(res.pressure - exact)) / np.ptp(exact) < 1e-5


def test_simulator_outputs_are_consistent():
    sim = WindkesselSimulator(
        [{"name": "R_p", "low": 0.8e8, "high": 1.6e8}],
        fixed={"Zc": 6e6, "C": 1.4e-8, "HR": 75.0, "SV": 70.0, "P_out": 0.0})
    out = sim({"R_p": 1.0e8})
    assert out["p_wave"].shape == (100,)
    assert out["p_pulse"] == pytest.approx(out["p_sys"] - out["p_dia"])
    assert out["p_dia"] < out["p_mean"] < out["p_sys"]
    q_mean = 70 * ML * 75 / 60
    assert out["p_mean"] == pytest.approx((6e6 + 1e8) * q_mean, rel=1e-4)
    # physiological range for these textbook values: 50-100 mmHg diastolic/systolic band
    assert 40 < out["p_dia"] / 133.32 < 100 < 80 + out["p_pulse"] / 133.32


@pytest.mark.parametrize("kwargs, match", [
    ({"fixed": {"Zc": 1, "C": 1, "HR": 1, "SV": 1}}, "P_out"),
    ({"fixed": {"Zc": 1, "C": 1, "HR": 1, "SV": 1, "P_out": 0, "Rq": 2}}, "unknown"),
    ({"fixed": {"Zc": 1, "C": 1, "HR": 1, "SV": 1, "P_out": 0, "R_p": 2}}, "both"),
])
def test_configuration_errors_name_the_problem(kwargs, match):
    with pytest.raises(ConfigurationError, match=match):
        WindkesselSimulator([{"name": "R_p", "low": 1e8, "high": 2e8}], **kwargs)


def test_bad_physical_values_raise_parameter_error():
    with pytest.raises(ParameterError, match="C must be positive"):
        solve_rcr(lambda t: 0 * t, 1.0, 1e6, 1e8, -1.0)
