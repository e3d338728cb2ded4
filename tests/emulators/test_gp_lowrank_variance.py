"""Low-rank variance: within its stated error of the exact variance; mean unchanged;
files with and without the new arrays load."""

import numpy as np
import pytest

from emulators import GaussianProcess, runtime
from emulators.runtime.gp import GPPredictor
from simulators.design import Parameter, ParameterSpace

SPACE = ParameterSpace([Parameter(f"x{j}", 0, 1) for j in range(4)])


def f(X):
    return np.sin(3 * X[:, 0]) * np.cos(2 * X[:, 1]) + X[:, 2] ** 2 + 0.1 * X[:, 3]


@pytest.fixture(scope="module")
def fitted():
    # Measured data (noise s.d. 5% of the spread): the kernel matrix's spectrum decays
    # below the noise fast, so a small rank carries the variance.  (For a deterministic
    # simulator under a Matérn kernel no rank below n/2 may meet the tolerance: then the
    # card says so and "lowrank" falls back to exact.)
    X = SPACE.sample(300, seed=0)
    noise = 0.05 * np.random.default_rng(1).standard_normal((300, 2))
    Y = np.c_[f(X), np.exp(X[:, 1]) - X[:, 0]] + noise
    return GaussianProcess(restarts=1, lowrank_tol=0.05).fit(X, Y, space=SPACE)


def test_lowrank_variance_within_stated_error(fitted):
    card = fitted._card_model()["lowrank"]
    tol = card["tol"]
    assert all(0 < r < 150 for r in card["rank"])  # much smaller than n = 300
    Xt = SPACE.sample(2000, method="random", seed=7)
    m_ex, v_ex = fitted.predict(Xt, variance="exact")
    m_lr, v_lr = fitted.predict(Xt, variance="lowrank")
    np.testing.assert_array_equal(m_lr, m_ex)
    rel = (v_lr - v_ex) / v_ex
    assert rel.min() >= -1e-9  # dropped terms are non-negative: never overconfident
    assert rel.max() <= tol
    m_none, v_none = fitted.predict(Xt, variance=None)
    assert v_none is None
    np.testing.assert_array_equal(m_none, m_ex)


def test_exported_file_predicts_the_same_both_ways(fitted, tmp_path):
    path = fitted.export(tmp_path / "e.safetensors")
    emu = runtime.load(path)
    Xt = SPACE.sample(50, method="random", seed=8)
    for mode in ("exact", "lowrank"):
        np.testing.assert_allclose(emu.predict(Xt, variance=mode)[1],
                                   fitted.predict(Xt, variance=mode)[1], rtol=1e-12)
    m_none, v_none = emu.predict(Xt, variance=None)
    assert v_none is None
    np.testing.assert_array_equal(m_none, emu.predict(Xt, variance="exact")[0])
    # mean only: the predictor skips the O(n²) variance altogether
    assert not emu.predictor(SPACE.to_unit(Xt), variance=None)[1].any()
    with pytest.raises(ValueError, match="variance"):
        emu.predict(Xt, variance="approximate")


def test_file_without_new_arrays_loads_and_predicts_uncalibrated(fitted):
    arrays = {k: v for k, v in fitted._arrays.items()
              if k not in ("gp.var_scale", "gp.lowrank")}
    old = GPPredictor({"model": {"kernel": "matern52"}}, arrays)
    U = SPACE.to_unit(SPACE.sample(20, method="random", seed=9))
    m_old, v_old = old(U)
    m_new, v_new = fitted._predictor(U)
    np.testing.assert_array_equal(m_old, m_new)
    np.testing.assert_allclose(v_old * fitted._arrays["gp.var_scale"], v_new, rtol=1e-12)
    assert old.novelty_threshold is None and not old.novelty(U)["flag"].any()


def _borehole_gp(n):
    from tests.emulators.test_gp_calibrated_coverage import BOREHOLE, borehole

    X = BOREHOLE.sample(n, seed=0)
    return BOREHOLE, borehole, GaussianProcess(restarts=2, seed=0).fit(X, borehole(X),
                                                                        space=BOREHOLE)


def test_deterministic_small_design_records_the_rank_it_would_need_and_uses_exact():
    # A deterministic simulator: the posterior variance sits near the noise floor and only
    # (nearly) every eigendirection gets k*ᵀK⁻¹k* within 5% of it (measured in
    # benchmarks/gp_lowrank_variance.py), so no factor is stored and "lowrank" is exact.
    space, fn, gp = _borehole_gp(60)
    card = gp._card_model()["lowrank"]
    assert card["rank"] is None and "gp.lowrank" not in gp._arrays
    assert all(r > 0.75 * 60 for r in card["rank_needed"])
    assert "exact variance" in card["error_measure"]
    Xt = space.sample(200, method="random", seed=3)
    np.testing.assert_array_equal(gp.predict(Xt, variance="lowrank")[1],
                                  gp.predict(Xt, variance="exact")[1])


@pytest.mark.slow
def test_borehole_1000_runs_gets_a_factor_within_its_stated_error():
    space, fn, gp = _borehole_gp(1000)
    card = gp._card_model()["lowrank"]
    (rank,) = card["rank"]
    assert rank <= 750  # at most 3/4 of n: the rank-r product is cheaper than L⁻¹'s
    assert card["probe_max_error"][0] <= 0.8 * card["tol"]  # the margin for unprobed points
    Xt = space.sample(2000, method="random", seed=11)  # not the fit's probe points
    m_ex, v_ex = gp.predict(Xt, variance="exact")
    m_lr, v_lr = gp.predict(Xt, variance="lowrank")
    np.testing.assert_array_equal(m_lr, m_ex)
    rel = (v_lr - v_ex) / v_ex
    assert -1e-9 <= rel.min() and rel.max() <= card["tol"]
