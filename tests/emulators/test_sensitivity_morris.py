"""Morris screening on a function whose elementary effects are known exactly."""

import numpy as np
import pytest

from emulators.sensitivity import morris
from emulators.sensitivity.morris import morris_design
from simulators.design import Parameter, ParameterSpace

SPACE = ParameterSpace([Parameter(f"x{i}", 0, 1) for i in range(1, 6)])


def known(X):
    """EE(x1) = 10, EE(x2) = 5 (linear: σ = 0); x3, x4 interact (EE(x3) = 2 x4, σ > 0); x5
    does nothing."""
    return 10 * X[:, 0] + 5 * X[:, 1] + 2 * X[:, 2] * X[:, 3]


def test_morris_ranks_inputs_and_finds_the_inert_one():
    res = morris(known, SPACE, r=40, seed=0)
    assert res.ranking()[:2] == ["x1", "x2"]
    assert res.ranking()[-1] == "x5"
    np.testing.assert_allclose(res.mu_star[:2], [10, 5], rtol=1e-12)
    np.testing.assert_allclose(res.sigma[:2], 0, atol=1e-12)  # linear: no spread
    assert res.sigma[2] > 0.3 and res.sigma[3] > 0.3  # the interaction shows in σ
    # EE(x3) = 2 x4 with x4 on the grid {0, 1/3, 2/3, 1}: μ* ≈ 2 · 0.5
    assert 0.6 < res.mu_star[2] < 1.4
    assert res.mu_star[4] == 0 and res.inert() == ["x5"]
    assert res.mu_star_low[0] <= 10 <= res.mu_star_high[0]


def test_trajectories_move_every_input_once_by_delta():
    P, moved, step = morris_design(4, 10, 4, np.random.default_rng(1))
    assert P.shape == (10, 5, 4)
    assert np.all(np.sort(moved, axis=1) == np.arange(4))
    np.testing.assert_allclose(np.abs(step), 2 / 3)
    assert np.all((P >= 0) & (P <= 1))
    diff = np.abs(np.diff(P, axis=1))
    assert np.all(np.count_nonzero(diff > 1e-12, axis=2) == 1)


def test_same_elementary_effects_as_salib_on_the_same_trajectories():
    pytest.importorskip("SALib")
    from SALib.analyze import morris as salib_morris

    rng = np.random.default_rng(2)
    P, _, _ = morris_design(5, 30, 4, rng)
    X = P.reshape(-1, 5)
    problem = {"num_vars": 5, "names": SPACE.names, "bounds": [[0, 1]] * 5}
    ref = salib_morris.analyze(problem, X, known(X), num_levels=4, seed=2)
    ours = morris(known, SPACE, r=30, seed=np.random.default_rng(2), n_boot=0)
    np.testing.assert_allclose(ours.mu_star, ref["mu_star"], atol=1e-12)
    np.testing.assert_allclose(ours.sigma, ref["sigma"], atol=1e-12)


def test_bad_arguments():
    with pytest.raises(ValueError, match="levels"):
        morris(known, SPACE, levels=3)
    with pytest.raises(ValueError, match="trajectories"):
        morris(known, SPACE, r=1)
