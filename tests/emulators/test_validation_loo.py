"""Closed-form leave-one-out of a GP equals refitting without each run (fixed
hyperparameters); k-fold works for any emulator."""

import numpy as np
import pytest

from emulators import GaussianProcess
from emulators.runtime.gp import kernel_matrix
from emulators.validation import leave_one_out
from emulators.validation.crossval import gp_predictor, loo_latent
from tests.emulators.contract import SPACE, training_data


@pytest.fixture(scope="module")
def gp():
    X, Y = training_data(25)
    return GaussianProcess(restarts=1, pca=3).fit(X, Y, space=SPACE,
                                                  units={"y": "Pa", "w": "m^3/s"}), X, Y


def brute_force(pred, z):
    """Refit without run i (same hyperparameters) and predict it: (n, m) means, variances."""
    n = len(pred.U)
    means, variances = np.zeros_like(z), np.zeros_like(z)
    for i in range(n):
        keep = np.arange(n) != i
        U, u = pred.U[keep], pred.U[i:i + 1]
        K = kernel_matrix(pred.kernel, U, U, pred.lengthscale, pred.outputscale)
        K = K + pred.noise[:, None, None] * np.eye(n - 1)
        k = kernel_matrix(pred.kernel, U, u, pred.lengthscale, pred.outputscale)[:, :, 0]
        for j in range(z.shape[1]):
            a = np.linalg.solve(K[j], z[keep, j] - pred.const[j])
            b = np.linalg.solve(K[j], k[j])
            means[i, j] = pred.const[j] + k[j] @ a
            variances[i, j] = pred.outputscale[j] + pred.noise[j] - k[j] @ b
    return means, variances


def test_closed_form_loo_equals_brute_force_refits(gp):
    model, _, _ = gp
    pred = gp_predictor(model)
    z, mean, var = loo_latent(pred)
    bm, bv = brute_force(pred, z)
    np.testing.assert_allclose(mean, bm, rtol=0, atol=1e-8)
    # variances to 1e-8 of the prior variance σ² + σn²: the brute force computes
    # σ² + σn² − kᵀK⁻¹k, which cancels to ~1e-6 of σ² and loses digits there
    prior = pred.outputscale + pred.noise
    np.testing.assert_allclose(var / prior, bv / prior, rtol=0, atol=1e-8)
    assert np.max(np.abs(var - bv) / prior) > 0  # a real comparison, not two copies
    assert z.shape == (25, 1 + 3)  # y and three principal components of w


def test_loo_result_in_physical_units_and_on_an_exported_file(gp, tmp_path):
    from emulators import runtime

    model, X, Y = gp
    res = leave_one_out(model, Y)
    assert res.method == "LOO" and res.r2_label == "Q²" and res.n == 25
    np.testing.assert_allclose(res.predictions["y"][0], Y["y"])
    np.testing.assert_allclose(res.X, X, rtol=1e-12)
    assert 0.9 < res["y"].r2 < 1.0  # Q² of a smooth function from 24 runs
    # LOO truth rebuilt from the latent targets equals the scalar training outputs
    np.testing.assert_allclose(leave_one_out(model).predictions["y"][0], Y["y"], rtol=1e-8)
    emu = runtime.load(model.export(tmp_path / "e.safetensors"))
    res_file = leave_one_out(emu, Y)
    np.testing.assert_allclose(res_file.predictions["w"][1], res.predictions["w"][1],
                               rtol=1e-12)
    assert res.to_dict()["outputs"]["w"]["unit"] == "mL/s"


def test_loo_refuses_a_model_without_a_gp():
    with pytest.raises(TypeError, match="needs an exact GP"):
        leave_one_out(object())
