"""Sobol' indices against closed forms, and against SALib on the same problem."""

import numpy as np
import pytest

from emulators.sensitivity import sobol
from simulators.design import Parameter, ParameterSpace
from simulators.testfunctions import IshigamiSimulator, ishigami, ishigami_indices


def test_ishigami_indices_match_the_closed_form():
    space = IshigamiSimulator().space
    res = sobol(ishigami, space, n=8192, seed=0, n_boot=200)
    S1, ST = ishigami_indices()
    # Saltelli/Jansen estimators at N = 8192: standard errors ≈ 0.01-0.02
    np.testing.assert_allclose(res.S1, S1, atol=0.03)
    np.testing.assert_allclose(res.ST, ST, atol=0.03)
    # the 95% bootstrap intervals contain the truth for (nearly) every index
    inside = ((res.S1_low <= S1 + 0.01) & (S1 - 0.01 <= res.S1_high)).sum() + \
             ((res.ST_low <= ST + 0.01) & (ST - 0.01 <= res.ST_high)).sum()
    assert inside >= 5
    assert res.names == ["x1", "x2", "x3"]


def test_linear_model_indices_are_squared_weights():
    # f = Σ a_i x_i with independent uniforms: S1_i = ST_i = a_i² / Σ a_j²
    space = ParameterSpace([Parameter(f"x{i}", 0, 1) for i in range(4)])
    a = np.array([1.0, 2.0, 0.5, 0.0])
    res = sobol(lambda X: X @ a, space, n=4096, seed=1, n_boot=0)
    expected = a**2 / np.sum(a**2)
    np.testing.assert_allclose(res.S1, expected, atol=0.02)
    np.testing.assert_allclose(res.ST, expected, atol=0.02)


def test_several_outputs_give_inputs_last_arrays():
    space = IshigamiSimulator().space
    res = sobol(lambda X: np.column_stack([ishigami(X), X[:, 2]]), space, n=1024, seed=2,
                n_boot=20, output_names=["y", "x3"])
    assert res.S1.shape == res.ST.shape == (2, 3)
    np.testing.assert_allclose(res.S1[1], [0, 0, 1], atol=0.03)
    assert "x3" in res.table(1)


def test_agrees_with_salib_on_the_same_problem():
    SALib = pytest.importorskip("SALib")  # noqa: F841 - the peer, in the test extra
    from SALib.analyze import sobol as salib_sobol
    from SALib.sample import sobol as salib_sample

    problem = {"num_vars": 3, "names": ["x1", "x2", "x3"], "bounds": [[-np.pi, np.pi]] * 3}
    P = salib_sample.sample(problem, 4096, calc_second_order=False, seed=3)
    ref = salib_sobol.analyze(problem, ishigami(P), calc_second_order=False, seed=3)
    ours = sobol(ishigami, IshigamiSimulator().space, n=4096, seed=3, n_boot=0)
    np.testing.assert_allclose(ours.S1, ref["S1"], atol=0.04)
    np.testing.assert_allclose(ours.ST, ref["ST"], atol=0.04)


def test_bad_arguments():
    space = IshigamiSimulator().space
    with pytest.raises(ValueError, match="conf_level"):
        sobol(ishigami, space, conf_level=95)
    with pytest.raises(TypeError, match="predict"):
        sobol(42, space)


def test_a_large_output_offset_changes_nothing():
    # Pressures in Pa have a mean far above their spread: the indices and their intervals
    # must not depend on that offset (the outputs are centred before estimation).
    space = IshigamiSimulator().space
    base = sobol(ishigami, space, n=2048, seed=5, n_boot=100)
    shifted = sobol(lambda X: ishigami(X) + 1e5, space, n=2048, seed=5, n_boot=100)
    np.testing.assert_allclose(shifted.S1, base.S1, atol=1e-6)
    np.testing.assert_allclose(shifted.S1_conf, base.S1_conf, atol=1e-6)


def test_indices_over_the_cardiac_cycle():
    # y(t) = x1 sin 2πt + x2 cos 2πt with x1, x2 ~ U(-1, 1): S1_1(t) = sin²2πt, S1_2 = cos²2πt
    space = ParameterSpace([Parameter("x1", -1, 1), Parameter("x2", -1, 1)])
    phase = np.arange(20) / 20
    res = sobol(lambda X: np.outer(X[:, 0], np.sin(2 * np.pi * phase))
                + np.outer(X[:, 1], np.cos(2 * np.pi * phase)), space, n=4096, seed=4, n_boot=0)
    assert res.S1.shape == (20, 2)
    np.testing.assert_allclose(res.S1[:, 0], np.sin(2 * np.pi * phase) ** 2, atol=0.03)
    np.testing.assert_allclose(res.ST[:, 1], np.cos(2 * np.pi * phase) ** 2, atol=0.03)
