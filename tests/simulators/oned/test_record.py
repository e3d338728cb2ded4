"""Derived quantities and plots of a Solution."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulators.errors import ConfigurationError
from simulators.oned import load_network, simulate
from simulators.oned.plots import plot_sites
from simulators.oned.record import foot_time, pressure_summary, pulse_wave_velocity

from .conftest import NETWORKS


def test_foot_time_of_a_shifted_wave():
    t = np.arange(400) / 400
    base = np.where(t < 0.3, np.sin(np.pi * t / 0.3) ** 2, 0.0)
    f0 = foot_time(base, 1.0)
    f1 = foot_time(np.roll(base, 20), 1.0)
    assert (f1 - f0) == pytest.approx(0.05, abs=1e-9)
    assert pulse_wave_velocity(base, np.roll(base, 20), 1.0, 0.4) == pytest.approx(8.0)


def test_summary_and_sites():
    p = np.array([1.0, 3.0, 2.0, 2.0])
    assert pressure_summary(p) == {"P_sys": 3.0, "P_dia": 1.0, "P_mean": 2.0, "PP": 2.0}
    net = load_network(NETWORKS / "boileau_ibif.yaml")
    sol = simulate(net)
    with pytest.raises(ConfigurationError, match="not recorded"):
        sol.pressure("d1", 0.3)
    # foot-to-foot PWV, parent inlet to daughter outlet (17 cm): c ≈ 7 m/s at diastolic
    # pressure; the foot-to-foot estimate over so short a path, with reflections, reads ≈ 9
    assert 7.0 < sol.pwv(("parent", 0.0), ("d1", 1.0)) < 12.0
    assert sol.distances[sol.site_index("d1", 1.0)] == pytest.approx(
        net.vessel("parent").L + net.vessel("d1").L)
    fig = plot_sites(sol, [("parent", 0.0), ("d1", 1.0)])
    assert len(fig.axes[0].lines) == 2 and len(fig.axes[1].lines) == 2
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(),
                               sol.pressure("parent", 0.0) / 133.322387415)
    assert math.isfinite(sol.summary("d1", 1.0)["Q_mean"])
