"""Sobol' indices against closed forms (Ishigami, Sobol' G), and against SALib on the same
samples."""

import numpy as np
import pytest

from emulators.sensitivity import design_from_matrices, sobol, sobol_result
from simulators.design import Parameter, ParameterSpace
from simulators.testfunctions import IshigamiSimulator, ishigami, ishigami_indices

G_A = np.array([0, 1, 4.5, 9, 99, 99, 99, 99], dtype=float)


def g_function(X, a=G_A):
    """Sobol' G-function on [0, 1]^8 (Saltelli & Sobol' 1995)."""
    return np.prod((np.abs(4 * X - 2) + a) / (1 + a), axis=1)


def g_indices(a=G_A):
    """Closed forms: V_i = 1 / (3 (1 + a_i)²), V = Π (1 + V_i) − 1, V_Ti = V_i Π_{j≠i}(1 + V_j)."""
    Vi = 1 / (3 * (1 + a) ** 2)
    V = np.prod(1 + Vi) - 1
    return Vi / V, Vi * np.prod(1 + Vi) / (1 + Vi) / V


def _inside(res, S1, ST, slack=0.0):
    return (np.all((res.S1_low - slack <= S1) & (S1 <= res.S1_high + slack))
            and np.all((res.ST_low - slack <= ST) & (ST <= res.ST_high + slack)))


def test_ishigami_indices_match_the_closed_form_at_the_default_size():
    res = sobol(ishigami, IshigamiSimulator().space, seed=0, n_boot=200)
    S1, ST = ishigami_indices()
    assert res.n == 2**14
    np.testing.assert_allclose(res.S1, S1, atol=0.01)
    np.testing.assert_allclose(res.ST, ST, atol=0.01)
    assert _inside(res, S1, ST)  # the 95% bootstrap intervals contain every exact index
    assert res.names == ["x1", "x2", "x3"]


def test_sobol_g_function_indices_match_the_closed_form_at_the_default_size():
    space = ParameterSpace([Parameter(f"x{i + 1}", 0, 1) for i in range(8)])
    res = sobol(g_function, space, seed=1, n_boot=200)
    S1, ST = g_indices()
    np.testing.assert_allclose(res.S1, S1, atol=0.01)
    np.testing.assert_allclose(res.ST, ST, atol=0.01)
    # intervals contain the truth; the inert inputs (a = 99, S ≈ 3e-5) within 1e-3
    assert _inside(res, S1, ST, slack=1e-3)
    assert np.all(res.ST[4:] < 0.001)


def test_ishigami_second_order_indices():
    # only x1 and x3 interact: S13 = V13 / V, every other pair 0
    space = IshigamiSimulator().space
    res = sobol(ishigami, space, n=2**13, seed=2, n_boot=100, second_order=True)
    S1, ST = ishigami_indices()
    S13 = ST[2]  # x3 acts only through its interaction with x1
    assert res.S2.shape == (3, 3)
    assert res.S2[0, 2] == pytest.approx(res.S2[2, 0], abs=1e-15)
    np.testing.assert_allclose(res.S2[0, 2], S13, atol=0.03)
    np.testing.assert_allclose([res.S2[0, 1], res.S2[1, 2]], 0.0, atol=0.03)
    assert res.S2_low[0, 2] <= S13 <= res.S2_high[0, 2]
    assert np.isnan(res.S2[1, 1])


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


def test_identical_to_salib_on_the_same_samples():
    pytest.importorskip("SALib")
    from SALib.analyze import sobol as salib_sobol
    from SALib.sample import sobol as salib_sample

    problem = {"num_vars": 3, "names": ["x1", "x2", "x3"], "bounds": [[-np.pi, np.pi]] * 3}
    N, d = 1024, 3
    P = salib_sample.sample(problem, N, calc_second_order=True, seed=3)
    Y = ishigami(P)
    ref = salib_sobol.analyze(problem, Y, calc_second_order=True, seed=3, num_resamples=10)
    # SALib's rows come in blocks of 2d + 2: A, AB_1..AB_d, BA_1..BA_d, B
    step = 2 * d + 2
    design = design_from_matrices(P[0::step], P[step - 1::step], second_order=True)
    blocks = P.reshape(N, step, d)
    np.testing.assert_array_equal(design.AB, blocks[:, 1:d + 1].transpose(1, 0, 2))
    np.testing.assert_array_equal(design.BA, blocks[:, d + 1:2 * d + 1].transpose(1, 0, 2))
    ours = sobol_result(design, ishigami(design.points()), problem["names"], single=True)
    np.testing.assert_allclose(ours.S1, ref["S1"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.ST, ref["ST"], rtol=0, atol=1e-12)
    iu = np.triu_indices(3, 1)
    np.testing.assert_allclose(ours.S2[iu], ref["S2"][iu], rtol=0, atol=1e-12)


def test_bad_arguments():
    space = IshigamiSimulator().space
    with pytest.raises(ValueError, match="conf_level"):
        sobol(ishigami, space, conf_level=95)
    with pytest.raises(ValueError, match="n_boot"):
        sobol(ishigami, space, n_boot=-1)
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


def test_aggregated_indices_of_a_waveform():
    # y(t) = x1 sin 2πt + 2 x2 cos 2πt: over a whole period Σ_t V_1(t) = V/2 · 1, Σ_t V_2(t)
    # = 4 V/2, so the generalised indices (Gamboa et al. 2014) are 1/5 and 4/5, while the
    # per-phase indices swing between 0 and 1.
    space = ParameterSpace([Parameter("x1", -1, 1), Parameter("x2", -1, 1)])
    phase = np.arange(20) / 20
    res = sobol(lambda X: np.outer(X[:, 0], np.sin(2 * np.pi * phase))
                + np.outer(2 * X[:, 1], np.cos(2 * np.pi * phase)), space, n=4096, seed=6,
                n_boot=50, groups={"wave": list(range(20))})
    assert res.outputs == ["wave"] and res.S1.shape == (1, 2)
    np.testing.assert_allclose(res.S1[0], [0.2, 0.8], atol=0.01)
    np.testing.assert_allclose(res.ST[0], [0.2, 0.8], atol=0.01)
    assert res.S1_low[0, 0] <= 0.2 <= res.S1_high[0, 0]
