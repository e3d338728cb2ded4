"""Validation metrics against values computed by hand."""

import math

import numpy as np
import pytest

from emulators.validation import metrics, validate
from emulators.validation.metrics import crps_gaussian, msll

# three runs, errors (y − μ) = 1, −2, 0; σ = 1, 2, 0.5
TRUTH = np.array([1.0, 2.0, 4.0])
MEAN = np.array([0.0, 4.0, 4.0])
VAR = np.array([1.0, 4.0, 0.25])


def test_error_metrics_by_hand():
    m = metrics(TRUTH, MEAN, VAR)
    assert m.rmse == pytest.approx(math.sqrt(5 / 3))
    assert m.mae == pytest.approx(1.0)
    assert m.max_abs_error == 2.0
    # MAPE = mean(|1/1|, |−2/2|, 0) = 2/3 → 66.67 %
    assert m.mape == pytest.approx(200 / 3)
    # ȳ = 7/3; SS_tot = 16/9 + 1/9 + 25/9 = 42/9; SS_res = 5
    assert m.r2 == pytest.approx(1 - 5 / (42 / 9))
    assert m.nrmse == pytest.approx(math.sqrt(5 / 3) / math.sqrt(42 / 27))
    # standardised errors 1, −1, 0 → mean e² = 2/3
    assert m.mse_std == pytest.approx(2 / 3)


def test_coverage_at_each_level_by_hand():
    # |e|/σ = 1, 1, 0: the 50% interval (±0.674σ) holds only run 3; 90% (±1.645σ) all
    m = metrics(TRUTH, MEAN, VAR, level=0.95)
    assert m.coverages[0.5] == pytest.approx(1 / 3)
    assert m.coverages[0.9] == 1.0 and m.coverages[0.95] == 1.0 and m.coverage == 1.0
    assert metrics(TRUTH, MEAN, VAR, level=0.6).coverage == pytest.approx(1 / 3)  # ±0.84σ


def test_crps_closed_form_by_hand():
    # at the mean (z = 0): σ (2φ(0) − 1/√π) = σ (√2 − 1)/√π
    assert crps_gaussian(np.array([0.0]), np.array([0.0]), np.array([4.0]))[0] == (
        pytest.approx(2 * (math.sqrt(2) - 1) / math.sqrt(math.pi)))
    # against numerical integration of ∫ (F(x) − 1{x ≥ y})² dx for z = 1.3, σ = 0.7
    def cdf(x):
        return 0.5 * (1 + np.vectorize(math.erf)(x / (0.7 * math.sqrt(2))))

    below, above = np.linspace(-10, 0.91, 200_001), np.linspace(0.91, 10, 200_001)
    integral = (np.trapezoid(cdf(below) ** 2, below)
                + np.trapezoid((1 - cdf(above)) ** 2, above))
    assert crps_gaussian(np.array([0.91]), np.array([0.0]), np.array([0.49]))[0] == (
        pytest.approx(integral, rel=1e-6))


def test_msll_by_hand():
    # one point: y = 1, μ = 0, σ² = 1; reference N(0, 4):
    # ½log(2π) + ½ − ½log(8π) − 1/8 = −½ log 4 + 3/8
    v = msll(np.array([1.0]), np.array([0.0]), np.array([1.0]), reference=(0.0, 4.0))
    assert v == pytest.approx(-0.5 * math.log(4) + 3 / 8)
    # predicting the reference itself scores 0
    y = np.array([1.0, 3.0])
    assert msll(y, np.full(2, 2.0), np.full(2, 1.0)) == pytest.approx(0.0)


def test_waveform_relative_l2_per_run_by_hand():
    truth = np.array([[3.0, 4.0], [1.0, 0.0]])
    mean = np.array([[3.0, 3.0], [0.0, 0.0]])
    m = metrics(truth, mean, np.ones_like(truth))
    np.testing.assert_allclose(m.rel_l2, [1 / 5, 1.0])
    d = m.to_dict()
    assert d["rel_l2"]["worst_run"] == 1 and d["rel_l2"]["max"] == pytest.approx(1.0)


def test_to_dict_shows_pressures_in_mmhg_with_the_unit():
    m = metrics(np.array([0.0, 133.322387415]), np.zeros(2), np.ones(2), unit="Pa")
    d = m.to_dict()
    assert d["unit"] == "mmHg"
    assert d["max_abs_error"] == pytest.approx(1.0)
    assert d["rmse"] == pytest.approx(1 / math.sqrt(2))
    assert m.to_dict(display=False)["unit"] == "Pa"


def test_validate_takes_units_from_the_model_and_the_table_shows_them():
    from emulators import GaussianProcess
    from tests.emulators.contract import SPACE, smooth_function

    X = SPACE.sample(20, method="lhs", seed=3)
    gp = GaussianProcess(restarts=1).fit(X, {"p": 1e4 * smooth_function(X)}, space=SPACE,
                                         units={"p": "Pa"})
    Xt = SPACE.sample(10, method="random", seed=4)
    res = validate(gp, Xt, {"p": 1e4 * smooth_function(Xt)})
    assert res.units == {"p": "Pa"} and res.input_names == ["a", "b"]
    assert "mmHg" in res.table().splitlines()[1]
    assert res.to_dict()["outputs"]["p"]["unit"] == "mmHg"
    assert res.to_dict()["outputs"]["p"]["rmse"] == pytest.approx(res["p"].rmse / 133.322387415)
