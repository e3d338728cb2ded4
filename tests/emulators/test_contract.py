"""The emulator contract, on every emulator kind."""

import numpy as np
import pytest

from emulators import GaussianProcess, MultiFidelityGP, runtime
from emulators.errors import NotFittedError
from simulators.errors import OutOfDomainError
from tests.emulators.contract import SPACE, smooth_function, training_data, waveform

FACTORIES = {"gp": lambda: GaussianProcess(restarts=2, pca=0.99999, seed=0),
             "mfgp": lambda: MultiFidelityGP(restarts=2, pca=0.99999, seed=0)}


def _fit_two_levels(emu, X, Y):
    """A cheaper level below the training data: 40 more points, a scaled caricature."""
    Xc = np.concatenate([X, SPACE.sample(40, method="lhs", seed=2)])
    low = {"y": 0.7 * smooth_function(Xc) + 0.2 * Xc[:, 0], "w": 0.8 * waveform(Xc) + 0.1}
    return emu.fit([(Xc, low), (X, Y)], space=SPACE)


#: How each kind is fitted on the contract's data (default: ``fit(X, Y, space=SPACE)``).
FITTERS = {"mfgp": _fit_two_levels}


@pytest.fixture(scope="module", params=sorted(FACTORIES))
def fitted(request):
    X, Y = training_data()
    fit = FITTERS.get(request.param, lambda emu, X, Y: emu.fit(X, Y, space=SPACE))
    return fit(FACTORIES[request.param](), X, Y)


def test_predict_shapes_and_accuracy(fitted):
    Xt = SPACE.sample(100, method="random", seed=7)
    pred = fitted.predict_dict(Xt)
    assert pred["y"][0].shape == (100,) and pred["w"][0].shape == (100, 40)
    rmse = np.sqrt(np.mean((pred["y"][0] - smooth_function(Xt)) ** 2))
    assert rmse < 0.01 * np.std(smooth_function(Xt))
    wrmse = np.sqrt(np.mean((pred["w"][0] - waveform(Xt)) ** 2))
    assert wrmse < 0.01 * np.std(waveform(Xt))
    mean, var = fitted.predict(Xt)
    assert mean.shape == var.shape == (100, 41) and np.all(var > 0)


def test_export_round_trip_is_exact(fitted, tmp_path):
    path = fitted.export(tmp_path / "emu.safetensors")
    emu = runtime.load(path)
    Xt = SPACE.sample(50, method="random", seed=8)
    m1, v1 = fitted.predict(Xt)
    m2, v2 = emu.predict(Xt)
    np.testing.assert_allclose(m2, m1, rtol=1e-12, atol=0)
    np.testing.assert_allclose(v2, v1, rtol=1e-12, atol=0)
    assert emu.card["training_data_sha256"] == fitted.training_hash


def test_out_of_domain_is_refused(fitted):
    with pytest.raises(OutOfDomainError, match=r"b=12 outside \[1, 10\]"):
        fitted.predict([[0.5, 12.0]])


def test_samples_match_mean_and_variance(fitted):
    Xt = SPACE.sample(5, method="random", seed=9)
    draws = fitted.sample(Xt, 4000, seed=0)
    mean, var = fitted.predict(Xt)
    assert draws.shape == (4000, 5, 41)
    # Latent-function draws: their spread is the predictive variance minus the noise and
    # PCA residual terms, so it may only be smaller; their mean is the predictive mean.
    sd = np.sqrt(var)
    assert np.all(np.abs(draws.mean(0) - mean) < 5 * sd / np.sqrt(4000) + 1e-12)
    assert np.all(draws.var(0) <= var * 1.15)


def test_unfitted_emulator_refuses_to_predict():
    for make in FACTORIES.values():
        with pytest.raises(NotFittedError, match="call fit first"):
            make().predict([[0.5, 2.0]])
