"""Bad observations fail with a named error before any sampling; units are converted."""

from __future__ import annotations

import numpy as np
import pytest

from emulators.calibration import (
    ObservationError,
    PriorError,
    UnitError,
    calibrate,
    history_match,
    prepare,
)
from simulators.units import MMHG, convert
from tests.emulators.calibration.conftest import T


class CountingEmulator:
    """Wraps the GP and counts predictions, to prove that nothing was evaluated."""

    def __init__(self, gp):
        self.gp, self.space, self.outputs, self.calls = gp, gp.space, gp.outputs, 0

    def predict_dict(self, X):
        self.calls += 1
        return self.gp.predict_dict(X)


def _wave(values, unit="Pa", sd=150.0, **extra):
    return {"outputs": {"p_wave": {"values": list(values), "unit": unit, "sd": sd, **extra}}}


@pytest.mark.parametrize("obs, error, match", [
    (_wave(np.full(T, 7.0), unit="mL/s"), UnitError, "cannot convert 'mL/s'"),
    (_wave(np.full(T, 90.0), unit="mmhg"), UnitError, "unknown unit 'mmhg'"),
    ({"outputs": {"Q_wave": {"values": [1.0] * T, "unit": "mL/s", "sd": 0.1}}},
     ObservationError, "'Q_wave' is not an output of the emulator; its outputs are p_wave"),
    (_wave([*np.full(T - 1, 1e4), np.nan]), ObservationError, "NaN .* position 49"),
    (_wave(np.full(T - 3, 1e4)), ObservationError, "waveform of 50 phase points; got 47"),
    (_wave(np.full(T, 1e4), sd=0.0), ObservationError, "must be > 0"),
    (_wave(np.full(T, 1e4), sd="two"), ObservationError, "percentage"),
    (_wave([1e4, 1e4], index=[0.1, 1.2]), ObservationError, r"in \[0, 1\)"),
    ({"outputs": {"p_mean": {"values": [1.0, 2.0], "unit": "Pa", "sd": 1.0}}},
     ObservationError, "is a scalar"),
    ({"outputs": {"p_mean": {"values": 1e4, "sd": 1.0}}}, ObservationError, "missing 'unit'"),
    ({"outputs": {}}, ObservationError, "non-empty"),
])
def test_bad_observations_raise_before_any_prediction(twin, obs, error, match):
    emu = CountingEmulator(twin.gp)
    with pytest.raises(error, match=match):
        calibrate(emu, obs, steps=50, walkers=8, seed=0)
    with pytest.raises(error, match=match):
        history_match(emu, obs, n=100, seed=0)
    assert emu.calls == 0


def test_priors_outside_the_domain_are_refused(twin):
    obs = _wave(twin.clean["p_wave"])
    with pytest.raises(PriorError, match=r"leaves the emulator's domain"):
        calibrate(twin.gp, obs, priors={"R_p": {"low": 0.5e8}}, steps=50, walkers=8)
    with pytest.raises(PriorError, match="unknown parameters"):
        calibrate(twin.gp, obs, priors={"Rp": {"low": 1e8}}, steps=50, walkers=8)


def test_units_are_converted_to_the_emulators():
    assert convert(1.0, "mmHg", "Pa") == pytest.approx(133.322387415)
    assert convert(6.0, "L/min", "mL/s") == pytest.approx(100.0)
    assert convert(2.0, "kPa", "mmHg") == pytest.approx(2000 / MMHG)


def test_observations_in_mmhg_match_those_in_pa(twin):
    z = twin.clean["p_wave"]
    a = prepare(_wave(z, unit="Pa", sd=150.0), twin.gp)["p_wave"]
    b = prepare(_wave(z / MMHG, unit="mmHg", sd=150.0 / MMHG), twin.gp)["p_wave"]
    np.testing.assert_allclose(b.values, a.values, rtol=1e-12)
    np.testing.assert_allclose(b.sd, a.sd, rtol=1e-12)
    c = prepare(_wave(z, unit="Pa", sd="2%"), twin.gp)["p_wave"]
    np.testing.assert_allclose(c.sd, 0.02 * np.abs(z))


def test_observations_at_chosen_phases_interpolate_the_waveform(twin):
    from emulators.calibration.likelihood import KOHModel
    from emulators.calibration.observations import prior_space

    idx = np.array([0.0, 0.105, 0.5, 0.99])
    data = prepare(_wave(np.zeros(4), index=idx.tolist()), twin.gp)
    model = KOHModel(twin.gp, data, prior_space(twin.gp.space, None), discrepancy=False)
    X = twin.space.sample(3, seed=0)
    m = model.eta(X)["p_wave"][0]
    full = twin.gp.predict_dict(X)["p_wave"][0]
    grid = np.arange(T) / T
    for j, phi in enumerate(idx):
        expect = [np.interp(phi, np.r_[grid, 1.0], np.r_[row, row[0]]) for row in full]
        np.testing.assert_allclose(m[:, j], expect, rtol=1e-12)
