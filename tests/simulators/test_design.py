"""Parameter spaces and designs."""

import numpy as np
import pytest
from scipy.spatial.distance import pdist
from scipy.stats import qmc

from simulators.design import Parameter, ParameterSpace
from simulators.errors import OutOfDomainError, ParameterError


@pytest.fixture
def space():
    return ParameterSpace([
        Parameter("R", 1e8, 2e8, unit="Pa s m^-3"),
        Parameter("C", 1e-9, 1e-7, unit="m^3/Pa", dist="loguniform"),
        Parameter("stenosis", 0.0, 0.8),
    ])


def test_lhs_is_stratified_on_each_parameter_scale(space):
    n = 20
    X = space.sample(n, method="lhs", seed=3)
    U = space.to_unit(X)
    for j in range(3):
        # one point in each of the n equal strata, on the log scale for C
        assert sorted(np.floor(U[:, j] * n).astype(int)) == list(range(n))
    assert space.check(X) is not None


def test_lhs_is_maximin_optimised(space):
    n = 16
    U = space.to_unit(space.sample(n, method="lhs", seed=0))
    plain = [pdist(qmc.LatinHypercube(3, rng=s).random(n)).min() for s in range(32)]
    assert pdist(U).min() > np.median(plain)


def test_designs_are_reproducible_and_seed_zero_counts(space):
    a = space.sample(8, method="sobol", seed=0)
    b = space.sample(8, method="sobol", seed=0)
    c = space.sample(8, method="sobol", seed=1)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_sobol_warns_when_not_a_power_of_two(space):
    with pytest.warns(UserWarning, match="power of two"):
        space.sample(10, method="sobol", seed=0)


def test_out_of_domain_message_names_value_bounds_and_column(space):
    msg = r"stenosis=0.93 outside \[0, 0.8\] \(row 1, column 2\)"
    with pytest.raises(OutOfDomainError, match=msg):
        space.check([[1.5e8, 1e-8, 0.1], [1.5e8, 1e-8, 0.93]])


def test_unit_scaling_round_trip_and_log_scale(space):
    X = space.sample(50, seed=1)
    np.testing.assert_allclose(space.from_unit(space.to_unit(X)), X, rtol=1e-12)
    # geometric mean of the C bounds maps to the middle of the unit interval
    assert space.to_unit([[1.5e8, 1e-8, 0.4]])[0, 1] == pytest.approx(0.5)


def test_truncated_normal_stays_in_bounds_with_its_mean():
    sp = ParameterSpace([Parameter("E", 0.2e6, 0.8e6, dist="normal", mu=0.5e6, sigma=0.1e6)])
    x = sp.sample(4000, method="random", seed=2)[:, 0]
    assert x.min() >= 0.2e6 and x.max() <= 0.8e6
    assert x.mean() == pytest.approx(0.5e6, rel=0.01)
    assert x.std() == pytest.approx(0.1e6 * 0.986, rel=0.05)  # truncation at ±3σ


@pytest.mark.parametrize("kwargs, match", [
    ({"name": "a", "low": 2, "high": 1}, "low < high"),
    ({"name": "a", "low": 0, "high": 1, "dist": "loguniform"}, "low > 0"),
    ({"name": "a", "low": 0, "high": 1, "dist": "normal"}, "mu and sigma"),
    ({"name": "a b", "low": 0, "high": 1}, "identifier"),
    ({"name": "a", "low": 0, "high": 1, "dist": "beta"}, "unknown distribution"),
])
def test_bad_parameters_are_rejected(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        Parameter(**kwargs)


def test_duplicate_names_and_dict_round_trip(space):
    with pytest.raises(ParameterError, match="duplicate"):
        ParameterSpace([Parameter("a", 0, 1), Parameter("a", 0, 2)])
    again = ParameterSpace.from_dict(space.to_dict())
    assert again == space


def test_inside_agrees_with_check(space):
    X = np.array([[1.5e8, 1e-8, 0.4], [1.5e8, 1e-8, 0.8 * (1 + 1e-12)], [2.1e8, 1e-8, 0.4],
                  [np.nan, 1e-8, 0.4]])
    np.testing.assert_array_equal(space.inside(X), [True, True, False, False])
    space.check(X[:2])  # the rows inside pass check, edge tolerance included
