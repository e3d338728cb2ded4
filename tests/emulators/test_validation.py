"""Validation metrics on cases with known values."""

import numpy as np
import pytest

from emulators import GaussianProcess
from emulators.validation import cross_validate, metrics
from tests.emulators.contract import SPACE, training_data


def test_perfect_prediction():
    y = np.linspace(0, 1, 50)
    m = metrics(y, y, np.full(50, 0.01))
    assert m.rmse == 0 and m.r2 == 1 and m.coverage == 1


def test_calibrated_gaussian_errors_cover_95_percent():
    rng = np.random.default_rng(0)
    n = 20000
    truth = rng.normal(size=n)
    sd = rng.uniform(0.1, 1.0, n)
    mean = truth + sd * rng.normal(size=n)
    m = metrics(truth, mean, sd**2, level=0.95)
    assert m.coverage == pytest.approx(0.95, abs=0.005)  # binomial s.e. 0.0015
    assert m.mse_std == pytest.approx(1.0, abs=0.03)
    m90 = metrics(truth, mean, sd**2, level=0.90)
    assert m90.coverage == pytest.approx(0.90, abs=0.007)


def test_r2_of_predicting_the_mean_is_zero():
    y = np.arange(10.0)
    assert metrics(y, np.full(10, y.mean()), np.ones(10)).r2 == pytest.approx(0.0)


def test_cross_validation_of_a_gp():
    X, Y = training_data(30)
    res = cross_validate(lambda: GaussianProcess(restarts=1), X, {"y": Y["y"]}, k=5,
                         space=SPACE)
    assert res.method == "5-fold CV" and res.n == 30
    assert res["y"].r2 > 0.98
    with pytest.raises(ValueError, match="k must be"):
        cross_validate(lambda: GaussianProcess(), X, {"y": Y["y"]}, k=1)
