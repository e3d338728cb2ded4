"""KOH calibration on a synthetic Windkessel patient with known parameters."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from emulators.calibration import ConvergenceWarning, IdentifiabilityWarning, calibrate
from tests.emulators.calibration.conftest import TRUTH, T

THETA = {k: TRUTH[k] for k in ("R_p", "C")}


def _quiet(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return calibrate(*args, **kwargs)


def test_single_trial_covers_truth_and_converges(twin):
    res = _quiet(twin.gp, twin.observations(seed=100), steps=1500, walkers=24, seed=0)
    assert res.converged
    assert all(res.covers(THETA).values())
    assert max(res.rhat.values()) < 1.1
    assert min(res.ess.values()) > 200
    # the posterior mean is within 2% of the truth for the identified parameters
    mean = res.flat().mean(axis=0)
    assert abs(mean[0] / TRUTH["R_p"] - 1) < 0.02
    assert abs(mean[1] / TRUTH["C"] - 1) < 0.05


@pytest.mark.slow
def test_credible_intervals_cover_truth_in_20_trials(twin):
    hits = {k: 0 for k in THETA}
    for trial in range(20):
        res = _quiet(twin.gp, twin.observations(seed=trial), steps=1000, walkers=24,
                     seed=trial)
        for k, ok in res.covers(THETA, level=0.95).items():
            hits[k] += ok
    assert hits["R_p"] >= 18 and hits["C"] >= 18, hits


def test_posterior_narrows_as_data_are_added(twin):
    few = twin.observations(seed=7, index=np.arange(0, T, 5))  # 10 phases
    full = twin.observations(seed=7)                            # 50 phases
    sd = {}
    for key, obs in (("few", few), ("full", full)):
        res = _quiet(twin.gp, obs, discrepancy=False, steps=600, walkers=24, seed=1)
        sd[key] = res.flat()[:, :2].std(axis=0)
    # i.i.d. noise: s.d. ∝ 1/√n ⇒ ratio ≈ √(10/50) = 0.45
    assert np.all(sd["full"] < 0.75 * sd["few"]), sd


def test_discrepancy_recovers_truth_that_plain_calibration_misses(twin):
    # a smooth systematic model error: 500 Pa (3.8 mmHg) sinusoid over the cycle
    bias = 500.0 * np.sin(2 * np.pi * np.arange(T) / T)
    obs = twin.observations(seed=1, bias=bias)
    plain = _quiet(twin.gp, obs, discrepancy=False, steps=800, walkers=24, seed=0)
    koh = _quiet(twin.gp, obs, discrepancy=True, steps=800, walkers=24, seed=0)
    assert not all(plain.covers(THETA).values()), plain.interval()
    assert all(koh.covers(THETA).values()), koh.interval()
    # and KOH learns a discrepancy of the right size (amplitude 500 Pa, RMS 354 Pa)
    lo, hi = koh.interval()["delta_sd_p_wave"]
    assert lo < 354 < hi


def test_input_without_influence_is_reported_non_identifiable(twin):
    with pytest.warns(IdentifiabilityWarning, match="'dummy' is not identifiable"):
        res = calibrate(twin.gp, twin.observations(seed=3), steps=600, walkers=24, seed=2)
    assert res.identifiable == {"R_p": True, "C": True, "dummy": False}
    assert res.contraction["dummy"] < 0.2
    assert res.contraction["R_p"] > 0.9
    assert "NOT IDENTIFIED" in res.table().splitlines()[4]


def test_short_run_is_marked_not_converged(twin):
    with pytest.warns(ConvergenceWarning, match="has not converged"):
        res = calibrate(twin.gp, twin.observations(seed=4), steps=20, walkers=8, seed=0)
    assert not res.converged
    assert "NOT CONVERGED" in res.table()


def test_runtime_emulator_file_calibrates_like_the_gp(twin, tmp_path):
    from emulators import runtime

    path = twin.gp.export(tmp_path / "wk.safetensors")
    emu = runtime.load(path)
    obs = twin.observations(seed=5)
    a = _quiet(twin.gp, obs, discrepancy=False, steps=400, walkers=16, seed=3)
    b = _quiet(emu, obs, discrepancy=False, steps=400, walkers=16, seed=3)
    np.testing.assert_allclose(a.flat(), b.flat(), rtol=1e-6)


def test_samples_file_is_read_by_arviz(twin, tmp_path):
    az = pytest.importorskip("arviz")
    res = _quiet(twin.gp, twin.observations(seed=6), steps=100, walkers=16, seed=0)
    path = res.to_netcdf(tmp_path / "posterior.nc")
    idata = az.from_netcdf(path)
    post = idata.posterior
    assert dict(post.sizes) == {"chain": 16, "draw": 50}
    np.testing.assert_array_equal(post["R_p"].values, res.theta[:, :, 0])
    np.testing.assert_array_equal(post["delta_sd_p_wave"].values, res.hyper[:, :, 0])
    assert idata.observed_data["p_wave"].shape == (T,)
    assert idata.sample_stats["lp"].shape == (16, 50)
    # arviz's own R-hat agrees with ours to 0.02
    r = float(az.rhat(idata, var_names=["R_p"])["R_p"])
    assert abs(r - res.rhat["R_p"]) < 0.02
