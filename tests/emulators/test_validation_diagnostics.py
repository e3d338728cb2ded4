"""Bastos & O'Hagan diagnostics: the Mahalanobis test flags an over-confident emulator
(variance × 0.1) and passes a calibrated one; pivoted Cholesky and the F reference."""

import numpy as np
import pytest
from scipy import stats

from emulators import GaussianProcess
from emulators.validation import diagnose
from emulators.validation.diagnostics import (
    mahalanobis,
    mahalanobis_reference,
    pivoted_cholesky,
    pivoted_errors,
    predictive_covariance,
)
from tests.emulators.contract import SPACE, smooth_function


@pytest.fixture(scope="module")
def fitted():
    X = SPACE.sample(30, method="lhs", seed=5)
    gp = GaussianProcess(restarts=2).fit(X, {"y": smooth_function(X)}, space=SPACE)
    Xt = SPACE.sample(20, method="random", seed=6)
    return gp, Xt


def calibrated_truth(gp, Xt, seed):
    """Draws from the emulator's own joint predictive: calibrated by construction."""
    mean, cov = predictive_covariance(gp, Xt)
    z = np.random.default_rng(seed).multivariate_normal(mean[:, 0], cov[0])
    t = gp.outputs
    return {"y": z * t.y_std[0] + t.y_mean[0]}


def test_reference_is_the_scaled_f_of_bastos_ohagan():
    # E[D²] = m: the F(m, n − q) mean (n−q)/(n−q−2) times the scale m(n−q−2)/(n−q)
    lo, hi = mahalanobis_reference(20, 30, q=1)
    scale = 20 * 27 / 29
    assert lo == pytest.approx(scale * stats.f.ppf(0.025, 20, 29))
    assert hi == pytest.approx(scale * stats.f.ppf(0.975, 20, 29))
    assert stats.f.mean(20, 29) * scale == pytest.approx(20)


def test_pivoted_cholesky_factors_and_its_errors_sum_to_d2():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(6, 6))
    V = A @ A.T + 0.1 * np.eye(6)
    G, order = pivoted_cholesky(V)
    np.testing.assert_allclose(G @ G.T, V[np.ix_(order, order)], rtol=1e-12, atol=1e-12)
    assert order[0] == np.argmax(np.diag(V))  # first pivot: the largest variance
    y, mu = rng.normal(size=6), rng.normal(size=6)
    assert np.sum(pivoted_errors(y, mu, V) ** 2) == pytest.approx(mahalanobis(y, mu, V))
    assert mahalanobis(y, mu, V) == pytest.approx((y - mu) @ np.linalg.solve(V, y - mu))


def test_mahalanobis_passes_a_calibrated_emulator_and_flags_an_overconfident_one(fitted):
    gp, Xt = fitted
    passed, flagged = 0, 0
    for seed in range(60):
        Y = calibrated_truth(gp, Xt, seed)
        if diagnose(gp, Xt, Y)["y"].mahalanobis[0].verdict.ok:
            passed += 1
        over = diagnose(gp, Xt, Y, variance_scale=0.1)["y"].mahalanobis[0].verdict
        flagged += over.status == "over-confident"
    # the F reference is wider than the plug-in chi-squared: ≥ 95% pass in expectation;
    # with D² ×10 (E = 200 against an upper bound ≈ 40) every draw is flagged
    assert passed >= 54
    assert flagged == 60


def test_verdicts_in_words(fitted):
    gp, Xt = fitted
    Y = calibrated_truth(gp, Xt, 0)
    ok = diagnose(gp, Xt, Y)["y"]
    assert ok.headline == "calibrated" and "consistent" in ok.verdicts[0].text
    over = diagnose(gp, Xt, Y, variance_scale=0.01)["y"]
    assert "over-confident" in over.headline
    assert any("intervals are too narrow" in v.text for v in over.verdicts)
    under = diagnose(gp, Xt, Y, variance_scale=100.0)["y"]
    assert "under-confident" in under.headline


def test_misfit_region_is_named():
    # a GP that never saw a > 0.6 mispredicts there: the verdict names the input and side
    X = SPACE.sample(40, method="lhs", seed=2)
    X = X[X[:, 0] < 0.6]
    f = lambda X: np.sin(3 * X[:, 0]) + 4 * np.maximum(X[:, 0] - 0.6, 0) ** 2 * 10  # noqa: E731
    gp = GaussianProcess(restarts=1, noise_floor=1e-8).fit(X, {"y": f(X)}, space=SPACE)
    Xt = SPACE.sample(30, method="random", seed=3)
    d = diagnose(gp, Xt, {"y": f(Xt)})["y"]
    texts = " ".join(v.text for v in d.verdicts)
    assert "misfit region" in d.headline
    assert "highest third of a" in texts
