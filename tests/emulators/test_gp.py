"""The Gaussian-process emulator on functions with known answers."""

import numpy as np
import pytest

from datasets import Archive
from emulators import GaussianProcess
from emulators.runtime.gp import kernel_matrix
from simulators.design import Parameter, ParameterSpace
from simulators.testfunctions import PoiseuilleSimulator
from tests.emulators.contract import SPACE, smooth_function, training_data


def branin(X):
    x1, x2 = X[:, 0], X[:, 1]
    return ((x2 - 5.1 / (4 * np.pi**2) * x1**2 + 5 / np.pi * x1 - 6) ** 2
            + 10 * (1 - 1 / (8 * np.pi)) * np.cos(x1) + 10)


def test_branin_accuracy_and_calibration():
    space = ParameterSpace([Parameter("x1", -5, 10), Parameter("x2", 0, 15)])
    X = space.sample(60, seed=0)
    gp = GaussianProcess(kernel="matern52", restarts=3).fit(X, branin(X), space=space)
    Xt = space.sample(500, method="random", seed=1)
    mean, var = gp.predict(Xt)
    assert mean.shape == (500,)
    err = mean - branin(Xt)
    r2 = 1 - np.sum(err**2) / np.sum((branin(Xt) - branin(Xt).mean()) ** 2)
    assert r2 > 0.995
    coverage = np.mean(np.abs(err) < 1.96 * np.sqrt(var))
    assert 0.85 <= coverage <= 1.0
    assert all(r.status in ("converged", "max_iter") for r in gp.fit_reports)


def test_interpolates_training_points_of_a_deterministic_function():
    X, Y = training_data(30)
    gp = GaussianProcess(restarts=1).fit(X, Y["y"], space=SPACE)
    mean, var = gp.predict(X)
    # noise floor 1e-6 (standardised) ⇒ residual at the data ≲ 1e-3 of the spread
    assert np.max(np.abs(mean - Y["y"])) < 2e-3 * np.std(Y["y"])


@pytest.mark.parametrize("kernel", ["rbf", "matern32"])
def test_other_kernels_fit(kernel):
    X, Y = training_data(40)
    gp = GaussianProcess(kernel=kernel, restarts=1).fit(X, Y["y"], space=SPACE)
    Xt = SPACE.sample(100, method="random", seed=3)
    assert np.sqrt(np.mean((gp.predict(Xt)[0] - smooth_function(Xt)) ** 2)) < 0.02


def test_closed_form_predictions_agree_with_gpytorch():
    X, Y = training_data(30)
    gp = GaussianProcess(restarts=1).fit(X, Y["y"], space=SPACE)
    U = SPACE.to_unit(SPACE.sample(20, method="random", seed=4))
    m_torch, v_torch = gp.gpytorch_posterior(U)
    m_ours, v_ours = gp._predict(U)
    # gpytorch may add a diagonal jitter ~1e-8 to the (standardised) kernel matrix
    np.testing.assert_allclose(m_ours, m_torch, atol=1e-4)
    np.testing.assert_allclose(v_ours, v_torch, atol=1e-4)


def test_lengthscales_reflect_irrelevant_input():
    space = ParameterSpace([Parameter("u", 0, 1), Parameter("v", 0, 1)])
    X = space.sample(40, seed=5)
    gp = GaussianProcess(restarts=2).fit(X, np.sin(4 * X[:, 0]), space=space)
    ls = gp.hyperparameters["lengthscale"][0]
    assert ls[1] > 5 * ls[0]  # ARD switches the unused input off


def test_fit_from_archive_learns_poiseuille(tmp_path):
    from datasets.campaign import run_campaign

    sim = PoiseuilleSimulator()
    X = sim.space.sample(40, seed=6)
    with Archive.create(tmp_path / "p.h5", sim.space, sim.outputs) as a:
        run_campaign(sim, X, a, progress=False)
        gp = GaussianProcess(restarts=2).fit(a, outputs=["dp"])
    Xt = sim.space.sample(100, method="random", seed=7)
    truth = np.array([sim(p)["dp"] for p in sim.space.points(Xt)])
    mean = gp.predict_dict(Xt)["dp"][0]
    # ΔP spans 3+ decades: ask for 3% median relative error on the raw (linear) scale
    rel = np.abs(mean - truth) / np.abs(truth).max()
    assert np.median(rel) < 0.03
    assert gp.outputs.blocks[0].unit == "Pa"


def test_runtime_kernels_match_gpytorch_kernels():
    import gpytorch
    import torch

    U1, U2 = np.random.default_rng(0).random((5, 3)), np.random.default_rng(1).random((4, 3))
    ls = np.array([[0.3, 0.7, 1.1]])
    for kind, k in (("matern52", gpytorch.kernels.MaternKernel(nu=2.5, ard_num_dims=3)),
                    ("rbf", gpytorch.kernels.RBFKernel(ard_num_dims=3))):
        k = k.double()
        k.lengthscale = torch.tensor(ls)
        ref = k(torch.tensor(U1), torch.tensor(U2)).to_dense().detach().numpy()
        ours = kernel_matrix(kind, U1, U2, ls, np.array([1.0]))[0]
        np.testing.assert_allclose(ours, ref, rtol=1e-10)


@pytest.mark.parametrize("kwargs, match", [
    ({"kernel": "cosine"}, "unknown kernel"),
    ({"restarts": 0}, "restarts"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GaussianProcess(**kwargs)


def test_bad_training_data_is_refused():
    X, Y = training_data(10)
    with pytest.raises(ValueError, match="NaN"):
        GaussianProcess().fit(X, np.where(np.arange(10) == 3, np.nan, Y["y"]), space=SPACE)
    with pytest.raises(ValueError, match="rows"):
        GaussianProcess().fit(X, Y["y"][:5], space=SPACE)
