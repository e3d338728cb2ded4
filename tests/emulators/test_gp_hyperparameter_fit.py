"""Per-output hyperparameter fits: exact gradients, honest stopping, ARD against sklearn."""

import gpytorch
import numpy as np
import pytest
import torch
from scipy.optimize import approx_fprime

from emulators import GaussianProcess
from emulators.gp.fit import fit_mll
from emulators.gp.hyper import default_start, fit_output, maximin_subset, nll_and_grad
from emulators.gp.model import BatchIndependentGP, make_likelihood
from simulators.design import Parameter, ParameterSpace


@pytest.mark.parametrize("kernel", ["matern52", "matern32", "rbf"])
def test_gradient_matches_finite_differences(kernel):
    rng = np.random.default_rng(0)
    U = rng.random((40, 3))
    y = np.sin(3 * U[:, 0]) + U[:, 1]
    theta = np.log([0.4, 0.7, 1.3, 1.2, 1e-2, 1.0])
    theta[-1] = 0.1  # the constant mean is not log-scaled
    loss, grad = nll_and_grad(theta, U, y, kernel)
    fd = approx_fprime(theta, lambda t: nll_and_grad(t, U, y, kernel)[0], 1e-6)
    np.testing.assert_allclose(grad, fd, rtol=1e-4, atol=1e-4)


def test_loss_is_gpytorchs_exact_marginal_likelihood():
    rng = np.random.default_rng(1)
    U = rng.random((30, 2))
    y = np.cos(4 * U[:, 0]) * U[:, 1]
    ls, sf2, sn2, c = np.array([0.3, 0.8]), 1.7, 1e-3, 0.2
    ours, _ = nll_and_grad(np.r_[np.log(ls), np.log(sf2), np.log(sn2), c], U, y, "matern52")
    x = torch.tensor(U)[None]
    lik = make_likelihood(1, 1e-6).double()
    model = BatchIndependentGP(x, torch.tensor(y)[None], lik, "matern52").double()
    model.covar_module.base_kernel.lengthscale = torch.tensor(ls).reshape(1, 1, 2)
    model.covar_module.outputscale = torch.tensor([sf2])
    lik.noise = torch.tensor([[sn2]])
    with torch.no_grad():
        model.mean_module.constant.fill_(c)
    mll = gpytorch.mlls.ExactMarginalLogLikelihood(lik, model)
    with torch.no_grad(), gpytorch.settings.fast_computations(False, False, False):
        ref = -float(mll(model(x), torch.tensor(y)[None])) * len(y)
    assert ours == pytest.approx(ref, rel=1e-6)  # gpytorch may add ~1e-8 diagonal jitter


def test_start_stopped_by_its_budget_is_not_converged():
    rng = np.random.default_rng(2)
    U = rng.random((60, 4))
    y = np.sin(5 * U[:, 0]) + U[:, 1] ** 2
    y = (y - y.mean()) / y.std()
    start = default_start(4, y, 1e-6)
    _, short = fit_output(U, y, "matern52", [start], noise_floor=1e-6, max_iter=3)
    assert short.status == "max_iter" and not short.success
    _, full = fit_output(U, y, "matern52", [start], noise_floor=1e-6, max_iter=500)
    assert full.status == "converged"
    assert full.loss < short.loss


def test_mll_loop_does_not_read_a_spent_evaluation_budget_as_convergence():
    rng = np.random.default_rng(3)
    x = torch.tensor(rng.random((40, 3)))[None]
    y = torch.tensor(np.sin(6 * rng.random(40)))[None]
    lik = make_likelihood(1, 1e-6).double()
    model = BatchIndependentGP(x, y, lik, "matern52").double()
    mll = gpytorch.mlls.ExactMarginalLogLikelihood(lik, model)
    # 2 evaluations per 25-iteration chunk: every chunk ends on its budget
    report = fit_mll(mll, max_iter=6, chunk=25, max_eval=2)
    assert report.status == "max_iter"


def test_abandoned_restart_is_reported_and_loses():
    rng = np.random.default_rng(4)
    U = rng.random((80, 3))
    y = np.sin(4 * U[:, 0])
    y = (y - y.mean()) / y.std()
    good = default_start(3, y, 1e-6)
    bad = default_start(3, y, 1e-6)
    bad.lengthscale = np.array([0.011, 0.011, 0.011])  # white-noise basin
    bad.noise = 5.0
    _, rep = fit_output(U, y, "matern52", [good, bad], noise_floor=1e-6, patience=5)
    assert rep.starts[0][0] == "converged"
    assert rep.starts[1][0] == "abandoned"
    assert rep.status == "converged"


def test_maximin_subset_spreads_out():
    rng = np.random.default_rng(5)
    U = rng.random((500, 2))
    idx = maximin_subset(U, 50, rng)
    rand = rng.choice(500, 50, replace=False)

    def min_gap(ix):
        D = np.sqrt(((U[ix, None] - U[None, ix]) ** 2).sum(-1)) + np.eye(len(ix)) * 9
        return D.min()

    assert len(np.unique(idx)) == 50
    assert min_gap(idx) > 2 * min_gap(rand)


def _forty_inputs(n, seed):
    d, active = 42, 5
    c = np.random.default_rng(99)
    a = c.normal(size=(3, active))
    b = c.uniform(0, 2 * np.pi, size=(3, active))
    X = np.random.default_rng(seed).random((n, d))
    Y = np.einsum("mk,nmk->nm", a, np.sin(2.5 * X[:, None, :active] + b[None]))
    Y[:, 1] += X[:, 0] * X[:, 1]
    return X, Y


@pytest.mark.slow
def test_ard_on_42_inputs_matches_sklearn():
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    X, Y = _forty_inputs(300, 0)
    Xt, Yt = _forty_inputs(1000, 1)
    space = ParameterSpace([Parameter(f"x{j}", 0, 1) for j in range(X.shape[1])])
    gp = GaussianProcess(restarts=2, seed=0).fit(X, Y, space=space)
    mu, _ = gp.predict(Xt)

    def r2(m, t):
        return 1 - ((m - t) ** 2).sum(0) / ((t - t.mean(0)) ** 2).sum(0)

    ours = r2(mu, Yt)
    ref = []
    for j in range(Y.shape[1]):
        k = (ConstantKernel(1.0, (1e-4, 1e4))
             * Matern(np.full(X.shape[1], 0.5), (1e-2, 1e2), nu=2.5)
             + WhiteKernel(1e-4, (1e-6, 10)))
        sk = GaussianProcessRegressor(k, normalize_y=True, n_restarts_optimizer=1,
                                      random_state=0).fit(X, Y[:, j])
        ref.append(r2(sk.predict(Xt)[:, None], Yt[:, j:j + 1])[0])
    ref = np.array(ref)
    assert ours.mean() >= ref.mean() - 1e-3, (ours, ref)
    assert ours.min() >= ref.min() - 5e-3, (ours, ref)
    # ARD switches the 37 inactive inputs off: their lengthscales exceed the active ones
    ls = gp.hyperparameters["lengthscale"]
    assert np.all(np.median(ls[:, 5:], axis=1) > 3 * np.max(ls[:, :5], axis=1))
    assert all(r.status in ("converged", "stalled") for r in gp.fit_reports)


def test_card_reports_each_outputs_optimiser_in_a_readable_line(tmp_path):
    from emulators import runtime
    from emulators.runtime.gp import describe_fit

    space = ParameterSpace([Parameter("a", 0, 1), Parameter("b", 0, 1)])
    X = space.sample(30, seed=0)
    gp = GaussianProcess(restarts=2, max_iter=2).fit(
        X, {"p": np.sin(3 * X[:, 0]), "q": X[:, 1] ** 2}, space=space)
    card = runtime.load(gp.export(tmp_path / "f.safetensors")).card
    lines = describe_fit(card["model"])
    assert len(lines) == 2
    assert lines[0].startswith("p: max_iter after 2 iterations")  # budget, not converged
    assert lines[1].startswith("q: ")
    assert describe_fit({"fit": ["converged", "max_iter"]}) == ["start 0: converged",
                                                                 "start 1: max_iter"]


def test_spacing_start_finds_a_short_period():
    # sin 8πx on 50 points (Perdikaris et al. 2017's low fidelity): from lengthscale 0.5, 5
    # and one random start in [0.05, 2], an RBF GP ended in a constant fit on 5 designs of
    # 10 (R² 0); the start at the design's neighbour spacing (0.02) finds the period.
    from simulators.testfunctions import nested_design, perdikaris_low

    space = ParameterSpace([Parameter("x", 0.0, 1.0)])
    Xt = np.linspace(0, 1, 400)[:, None]
    yt = perdikaris_low(Xt)
    for s in (0, 1, 4, 5, 9):  # the designs that failed
        X, _ = nested_design([(0.0, 1.0)], 50, 14, s)
        gp = GaussianProcess(kernel="rbf", restarts=3, seed=s).fit(X, perdikaris_low(X),
                                                                   space=space)
        r2 = 1 - np.mean((gp.predict(Xt)[0] - yt) ** 2) / yt.var()
        assert r2 > 0.999, (s, r2)
        losses = [loss for _, _, loss in gp.fit_reports[0].starts]  # 0.5, 5, spacing
        assert losses[2] == min(losses) < min(losses[:2]) - 0.1, losses  # the spacing start won
