"""History matching on functions with known NROY regions."""

from __future__ import annotations

import numpy as np
import pytest

from datasets import Archive
from emulators import GaussianProcess
from emulators.calibration import history_match, history_match_waves, implausibility
from simulators.design import Parameter, ParameterSpace
from simulators.testfunctions import PoiseuilleSimulator

SPACE = ParameterSpace([Parameter("x1", 0.0, 1.0), Parameter("x2", 0.0, 1.0)])
SIGMA = 0.05


def _sum_cdf(t: float) -> float:
    """CDF of x1 + x2 for independent U(0, 1) inputs (triangular on [0, 2])."""
    t = min(max(t, 0.0), 2.0)
    return t * t / 2 if t <= 1 else 1 - (2 - t) ** 2 / 2


@pytest.fixture(scope="module")
def plane_gp():
    X = SPACE.sample(30, seed=0)
    Y = {"y": X[:, 0] + X[:, 1], "w": X[:, 0] - X[:, 1]}
    return GaussianProcess(restarts=1).fit(X, Y, space=SPACE)


def test_nroy_fraction_matches_the_analytic_band(plane_gp):
    s = 0.8
    obs = {"outputs": {"y": {"values": s, "unit": "1", "sd": SIGMA}}}
    res = history_match(plane_gp, obs, n=40000, cutoff=3.0, seed=1)
    analytic = _sum_cdf(s + 3 * SIGMA) - _sum_cdf(s - 3 * SIGMA)  # 0.2355
    assert abs(res.fraction / analytic - 1) < 0.10, (res.fraction, analytic)
    # a known discrepancy variance widens the band exactly as sqrt(Var δ + Var ε)
    wide = history_match(plane_gp, obs, n=40000, discrepancy_sd=SIGMA, seed=1)
    c = 3 * np.hypot(SIGMA, SIGMA)
    assert abs(wide.fraction / (_sum_cdf(s + c) - _sum_cdf(s - c)) - 1) < 0.10


def test_truth_is_never_ruled_out(plane_gp):
    truths = SPACE.sample(200, method="random", seed=2)
    for rule in ("max", "second"):
        worst = 0.0
        for t in truths:
            obs = {"outputs": {"y": {"values": t[0] + t[1], "unit": "1", "sd": SIGMA},
                               "w": {"values": t[0] - t[1], "unit": "1", "sd": SIGMA}}}
            worst = max(worst, float(implausibility(plane_gp, obs, t[None], rule=rule)[0][0]))
        assert worst < 3.0, (rule, worst)


def test_second_largest_rule_keeps_at_least_as_much(plane_gp):
    obs = {"outputs": {"y": {"values": 1.0, "unit": "1", "sd": SIGMA},
                       "w": {"values": 0.3, "unit": "1", "sd": SIGMA}}}
    strict = history_match(plane_gp, obs, n=20000, seed=3)
    loose = history_match(plane_gp, obs, n=20000, rule="second", seed=3)
    assert np.all(strict.nroy <= loose.nroy)
    # max rule: the intersection of two orthogonal bands of width 6σ/√2 ≈ 0.212 each
    assert abs(strict.fraction / (6 * SIGMA / np.sqrt(2)) ** 2 - 1) < 0.15


def test_waves_refocus_and_record_the_nroy_fraction(tmp_path):
    sim = PoiseuilleSimulator([
        Parameter("radius", 2.5e-3, 3.5e-3, unit="m"),
        Parameter("length", 0.1, 0.2, unit="m"),
        Parameter("flow", 5e-6, 1e-5, unit="m^3/s"),
    ])
    truth = {"radius": 3.0e-3, "length": 0.15, "flow": 7.5e-6}
    z = float(sim(truth)["dp"])
    sd = 0.02 * z
    obs = {"outputs": {"dp": {"values": z, "unit": "Pa", "sd": sd}}}
    with Archive.create(tmp_path / "hm.h5", sim.space, sim.outputs) as archive:
        res = history_match_waves(sim, obs, archive, waves=3, runs_per_wave=12,
                                  n_candidates=10000, seed=4)
        stored = archive.extra["history_matching"]
        n_runs = len(archive)
    assert n_runs == 36
    fractions = [w["nroy_fraction"] for w in res.waves]
    assert stored == res.waves and len(fractions) == 3
    assert all(b <= a for a, b in zip(fractions, fractions[1:], strict=False))
    # the NROY region converges to the true one (simulator itself, no emulator variance)
    true_I = np.abs(z - np.array([sim(p)["dp"] for p in sim.space.points(res.X)])) / sd
    analytic = float(np.mean(true_I <= 3))
    assert abs(fractions[-1] / analytic - 1) < 0.10, (fractions, analytic)
    nearest = np.argmin(np.sum(((res.X - [*truth.values()]) / np.ptp(sim.space.bounds,
                                                                       axis=1)) ** 2, axis=1))
    assert res.nroy[nearest]
