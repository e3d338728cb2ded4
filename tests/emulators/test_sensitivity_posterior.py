"""Sobol' indices of GP emulators: posterior function draws against the exact posterior,
closed-form indices of the mean against Monte Carlo, inert inputs staying inert."""

import numpy as np
import pytest

from emulators import GaussianProcess, runtime
from emulators.runtime.gp import kernel_matrix
from emulators.sensitivity import PathwiseSampler, analyse, analytic_sobol, sobol
from emulators.sensitivity.posterior import joint_draws, mean_function
from simulators.design import Parameter, ParameterSpace

SPACE5 = ParameterSpace([Parameter(f"x{i}", 0, 1) for i in range(1, 6)])


def inert_function(X):
    """Depends on x1, x2, x3 only; x4 and x5 are inert."""
    return np.sin(np.pi * X[:, 0]) * (1 + X[:, 1]) + 0.5 * X[:, 2] ** 2


@pytest.fixture(scope="module")
def inert_gp():
    X = SPACE5.sample(120, seed=0)
    return GaussianProcess(kernel="rbf", restarts=1).fit(X, inert_function(X), space=SPACE5)


def _exact_posterior(p, U, j=0):
    ls, os_ = p.lengthscale[j:j + 1], p.outputscale[j:j + 1]
    V = p.L_inv[j] @ kernel_matrix(p.kernel, p.U, U, ls, os_)[0]
    return p(U)[0][:, j], kernel_matrix(p.kernel, U, U, ls, os_)[0] - V.T @ V


def _small_gp(kernel):
    space = ParameterSpace([Parameter(f"x{i}", 0, 1) for i in range(3)])
    X = space.sample(30, seed=0)
    return GaussianProcess(kernel=kernel, restarts=1).fit(X, np.sin(3 * X[:, 0]) + X[:, 1] ** 2,
                                                          space=space)


def test_pathwise_draws_have_the_exact_posterior_mean_and_covariance_for_rbf():
    p = _small_gp("rbf")._predictor
    U = np.random.default_rng(1).random((15, 3))
    mean, cov = _exact_posterior(p, U)
    D = np.concatenate([PathwiseSampler(p, 300, seed=s)(U)[:, :, 0] for s in range(10)])
    sd = np.sqrt(np.diag(cov))
    # 3000 draws: Monte Carlo error of the mean 0.02 sd, of a variance ~3%
    assert np.max(np.abs(D.mean(axis=0) - mean) / sd) < 0.1
    np.testing.assert_allclose(D.std(axis=0) / sd, 1.0, atol=0.08)
    assert np.max(np.abs(np.cov(D.T) - cov)) < 0.08 * np.max(np.diag(cov))


def test_joint_draws_are_exact_for_matern():
    p = _small_gp("matern52")._predictor
    U = np.random.default_rng(1).random((15, 3))
    mean, cov = _exact_posterior(p, U)
    D = joint_draws(p, U, 3000, np.random.default_rng(2))[:, :, 0]
    sd = np.sqrt(np.diag(cov))
    assert np.max(np.abs(D.mean(axis=0) - mean) / sd) < 0.1
    np.testing.assert_allclose(D.std(axis=0) / sd, 1.0, atol=0.08)


def test_closed_form_indices_of_the_mean_equal_monte_carlo(inert_gp):
    exact = analytic_sobol(inert_gp)
    mc = sobol(mean_function(inert_gp), SPACE5, n=2**15, seed=3, n_boot=0)
    np.testing.assert_allclose(exact.S1[0], mc.S1[0], atol=0.005)
    np.testing.assert_allclose(exact.ST[0], mc.ST[0], atol=0.005)
    # and the GP's mean has the function's structure: x1 dominates, x4 and x5 are inert
    assert exact.ST[0, 0] > 0.5
    assert np.all(exact.ST[0, 3:] <= 0.005)


def test_closed_form_under_normal_and_log_uniform_inputs():
    space = ParameterSpace([
        Parameter("a", 0, 1),
        Parameter("b", 1, 10, dist="loguniform"),
        Parameter("c", -1, 1, dist="normal", mu=0.2, sigma=0.4),  # truncated to [-1, 1]
    ])
    X = space.sample(60, seed=0)
    y = np.sin(3 * X[:, 0]) + 0.5 * np.log(X[:, 1]) * X[:, 2] + X[:, 2] ** 2
    gp = GaussianProcess(kernel="rbf", restarts=1).fit(X, y, space=space)
    exact = analytic_sobol(gp)
    mc = sobol(mean_function(gp), space, n=2**15, seed=4, n_boot=0)
    np.testing.assert_allclose(exact.S1[0], mc.S1[0], atol=0.005)
    np.testing.assert_allclose(exact.ST[0], mc.ST[0], atol=0.005)
    assert exact.ST[0, 1] - exact.S1[0, 1] > 0.02  # b acts through its interaction with c


def test_matern_has_no_closed_form():
    with pytest.raises(ValueError, match="RBF"):
        analytic_sobol(_small_gp("matern52"))


def test_inert_inputs_stay_inert_over_the_posterior(inert_gp):
    rep = analyse(inert_gp, seed=5, n=4096, n_boot=100, posterior_draws=64, morris=False,
                  validation_passed=True)
    emu = rep.emulator_intervals()
    for est in (rep.mean.ST[0], rep.analytic["ST"][0], emu["ST"][1][0]):
        assert np.all(est[3:] <= 0.005), est
    # and the posterior agrees with the mean where the function acts
    assert emu["ST"][0][0, 0] <= rep.mean.ST[0, 0] <= emu["ST"][1][0, 0]
    assert rep.reliable, rep.warnings
    assert "pathwise" in rep.posterior["method"]


def test_an_exported_emulator_gives_the_same_indices(inert_gp, tmp_path):
    emu = runtime.load(inert_gp.export(tmp_path / "gp.safetensors"))
    kw = dict(seed=6, n=1024, n_boot=20, posterior_draws=16, morris=False)
    a, b = analyse(inert_gp, **kw), analyse(emu, **kw)
    np.testing.assert_allclose(b.mean.S1, a.mean.S1, atol=1e-10)
    np.testing.assert_allclose(b.posterior["ST_dev"], a.posterior["ST_dev"], atol=1e-10)
    np.testing.assert_allclose(b.analytic["ST"], a.analytic["ST"], atol=1e-10)
