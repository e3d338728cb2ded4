"""Units: one table, conversions checked against hand values, named errors."""

import numpy as np
import pytest

from simulators.units import ML, MMHG, UnitError, convert, dimension, display_unit, to_display


@pytest.mark.parametrize("value, frm, to, expect", [
    (1.0, "mmHg", "Pa", 133.322387415),          # NIST SP 811: 1 mmHg = 133.322 387 415 Pa
    (120.0, "mmHg", "kPa", 15.9986864898),
    (13332.2387415, "Pa", "mmHg", 100.0),
    (10.0, "dyn/cm2", "Pa", 1.0),                # 1 dyn/cm^2 = 0.1 Pa
    (1.0, "Pa", "dyn/cm2", 10.0),
    (1.0, "cmH2O", "mmHg", 98.0665 / 133.322387415),
    (5.0, "L/min", "mL/s", 5000.0 / 60.0),       # a resting cardiac output, 83.3 mL/s
    (83.3, "mL/s", "m^3/s", 8.33e-5),
    (1.0, "m3/s", "L/min", 60000.0),
    (70.0, "mL", "m^3", 7e-5),
    (5.0, "mm", "m", 5e-3),
    (2.0, "cm", "mm", 20.0),
    (951.0, "ms", "s", 0.951),
    (70.0, "bpm", "Hz", 70.0 / 60.0),
    (1.0, "mm/ms", "m/s", 1.0),
    (1.0, "mmHg s/mL", "Pa s/m^3", 133.322387415e6),  # a peripheral resistance unit
    (1.0, "mL/mmHg", "m^3/Pa", 1e-6 / 133.322387415),
])
def test_conversions_match_hand_values(value, frm, to, expect):
    assert convert(value, frm, to) == pytest.approx(expect, rel=1e-12)
    assert convert(convert(value, frm, to), to, frm) == pytest.approx(value, rel=1e-12)


def test_arrays_convert_elementwise_and_constants_agree():
    np.testing.assert_allclose(convert(np.array([80.0, 120.0]), "mmHg", "Pa"),
                               [80 * 133.322387415, 120 * 133.322387415], rtol=1e-15)
    assert (MMHG, ML) == (133.322387415, 1e-6)


@pytest.mark.parametrize("frm, to, message", [
    ("mmHg", "mL/s", r"cannot convert 'mmHg' \(pressure\) to 'mL/s' \(flow\)"),
    ("furlong", "m", "unknown unit 'furlong'"),
    ("Pa", "psi", "unknown unit 'psi'"),
])
def test_incompatible_or_unknown_units_raise_unit_error(frm, to, message):
    with pytest.raises(UnitError, match=message) as err:
        convert(1.0, frm, to)
    assert isinstance(err.value, ValueError)


def test_display_units_pressure_in_mmhg_flow_in_ml_per_s():
    assert [display_unit(u) for u in ("Pa", "kPa", "dyn/cm2", "m^3/s", "L/min", "m^3",
                                      "m/s", "1", "widgets")] == [
        "mmHg", "mmHg", "mmHg", "mL/s", "mL/s", "mL", "m/s", "1", "widgets"]
    assert dimension("dyn/cm^2") == "pressure"
    value, unit = to_display(13332.2387415, "Pa")
    assert unit == "mmHg" and value == pytest.approx(100.0, rel=1e-12)
    assert to_display(3.0, "m/s") == (3.0, "m/s")


def test_report_and_qoi_use_the_same_factors():
    from datasets.qoi import SourceUnits
    from emulators.report import display_unit as report_display

    assert report_display("Pa") == ("mmHg", pytest.approx(1 / 133.322387415, rel=1e-15))
    assert report_display("m^3/s") == ("mL/s", pytest.approx(1e6, rel=1e-15))
    assert SourceUnits(pressure="mmHg").pressure_factor == 133.322387415
    assert SourceUnits(length="mm", time="ms").velocity_factor == pytest.approx(1.0)


def test_display_of_a_variance_squares_the_factor():
    from simulators.units import MMHG, to_display

    v, u = to_display(MMHG**2, "Pa", variance=True)
    assert u == "mmHg" and float(v) == pytest.approx(1.0)
