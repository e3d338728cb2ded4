"""The sparse (inducing-point) GP: chosen above a size, accurate, same runtime file."""

import numpy as np

from emulators import GaussianProcess, runtime
from emulators.validation import metrics
from simulators.design import Parameter, ParameterSpace

SPACE = ParameterSpace([Parameter(f"x{j}", 0, 1) for j in range(3)])


def f(X):
    return np.sin(3 * X[:, 0]) + np.cos(2 * X[:, 1]) * X[:, 2]


def test_sparse_gp_on_noisy_runs(tmp_path):
    rng = np.random.default_rng(0)
    X = SPACE.sample(4000, method="random", seed=1)
    y = f(X) + 0.05 * rng.standard_normal(len(X))
    gp = GaussianProcess(restarts=1, sparse_above=3000, inducing=200).fit(X, y, space=SPACE)
    card = gp._card_model()
    assert card["inducing"] and card["sparse"]["inducing_points"] == 200
    Xt = SPACE.sample(1000, method="random", seed=2)
    mean, var = gp.predict(Xt)
    assert np.sqrt(np.mean((mean - f(Xt)) ** 2)) < 0.02  # noise s.d. 0.05
    yt = f(Xt) + 0.05 * rng.standard_normal(len(Xt))
    assert 0.90 <= metrics(yt, mean, var).coverage <= 0.98
    emu = runtime.load(gp.export(tmp_path / "s.safetensors"))
    m2, v2 = emu.predict(Xt)
    np.testing.assert_allclose(m2, mean, rtol=1e-12)
    np.testing.assert_allclose(v2, var, rtol=1e-12)
    assert emu.training_mask(X[:5]).all()  # the design, not the inducing points
    assert emu.predictor.U.shape == (200, 3)


def test_exact_below_the_switch():
    X = SPACE.sample(100, seed=3)
    gp = GaussianProcess(restarts=1).fit(X, f(X), space=SPACE)
    assert not gp._card_model()["sparse"]
