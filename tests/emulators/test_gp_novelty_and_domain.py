"""Distance to the training design, domain policies, constant outputs."""

import warnings

import numpy as np
import pytest

from emulators import GaussianProcess, runtime
from emulators.errors import OutOfDomainError
from emulators.runtime.emulator import DomainWarning
from simulators.design import Parameter, ParameterSpace

SPACE = ParameterSpace([Parameter(f"x{j}", 0, 1) for j in range(3)])


def f(X):
    return np.sin(4 * X[:, 0]) + X[:, 1] * X[:, 2]


def test_novelty_flags_a_point_far_from_a_clustered_design(tmp_path):
    rng = np.random.default_rng(0)
    X = np.clip(0.5 + 0.08 * rng.standard_normal((80, 3)), 0, 1)  # one cluster mid-box
    gp = GaussianProcess(restarts=1).fit(X, f(X), space=SPACE)
    inside = np.clip(0.5 + 0.05 * rng.standard_normal((20, 3)), 0, 1)
    far = np.array([[0.02, 0.97, 0.05]])
    assert not gp.novelty(inside)["flag"].any()
    nov = gp.novelty(far)
    assert nov["flag"][0] and nov["score"][0] > 2
    # the predictive/prior variance ratio grows away from the data too
    assert nov["variance_ratio"][0, 0] > 10 * gp.novelty(inside)["variance_ratio"].max()
    emu = runtime.load(gp.export(tmp_path / "c.safetensors"))
    np.testing.assert_allclose(emu.novelty(far)["score"], nov["score"], rtol=1e-12)
    assert emu.card["model"]["novelty"]["threshold"][0] > 0


def test_arrays_without_a_space_warn_just_outside_the_box():
    X = SPACE.sample(60, seed=1)
    gp = GaussianProcess(restarts=1).fit(X, f(X))  # bounding box of X
    lo = X.min(axis=0)
    q = (lo - 0.01)[None, :]
    with pytest.warns(DomainWarning, match="extrapolated"):
        mean, var = gp.predict(q)
    assert np.isfinite(mean).all() and abs(mean[0] - f(q)[0]) < 0.1
    with pytest.raises(OutOfDomainError):
        gp.predict(q, domain="raise")


def test_runtime_domain_policies(tmp_path):
    X = SPACE.sample(40, seed=2)
    gp = GaussianProcess(restarts=1).fit(X, f(X), space=SPACE)
    path = gp.export(tmp_path / "d.safetensors")
    q = np.array([[1.2, 0.5, 0.5]])
    with pytest.raises(OutOfDomainError, match="x0=1.2"):
        runtime.load(path).predict(q)
    with pytest.warns(DomainWarning, match="clipped"):
        m_clip, _ = runtime.load(path, domain="clip").predict(q)
    m_edge, _ = runtime.load(path).predict(np.array([[1.0, 0.5, 0.5]]))
    np.testing.assert_allclose(m_clip, m_edge, rtol=1e-12)
    emu = runtime.load(path)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        emu.predict(q, domain="warn")
    assert any(issubclass(x.category, DomainWarning) for x in w)
    with pytest.raises(ValueError, match="domain"):
        runtime.load(path, domain="ignore")


def test_constant_output_variance_follows_its_scale():
    X = SPACE.sample(30, seed=3)
    Y = np.c_[f(X), np.full(30, 5.0e4)]
    with pytest.warns(UserWarning, match="constant"):
        gp = GaussianProcess(restarts=1).fit(X, Y, space=SPACE)
    mean, var = gp.predict(SPACE.sample(10, method="random", seed=4))
    np.testing.assert_allclose(mean[:, 1], 5.0e4, rtol=1e-9)
    # noise_floor 1e-6 × value²: a relative s.d. of 0.1%, whatever the unit
    np.testing.assert_allclose(np.sqrt(var[:, 1]) / 5.0e4, 1e-3, rtol=0.05)
