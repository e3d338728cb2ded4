"""Unit conversions against hand-computed values; mismatched quantities refused."""

import numpy as np
import pytest

from simulators.units import UnitError, convert, display_unit, to_display


def test_conversions_match_hand_values():
    assert convert(1.0, "mmHg", "Pa") == pytest.approx(133.322387415, rel=1e-12)
    assert convert(100.0, "mL/s", "m^3/s") == pytest.approx(1e-4, rel=1e-12)
    assert convert(6.0, "L/min", "mL/s") == pytest.approx(100.0, rel=1e-12)
    assert convert(10.0, "dyn/cm2", "Pa") == pytest.approx(1.0, rel=1e-12)
    np.testing.assert_allclose(convert(np.array([1.0, 2.0]), "kPa", "mmHg"),
                               [7.500615758, 15.001231517], rtol=1e-9)


def test_display_units_and_variances():
    assert display_unit("Pa") == "mmHg" and display_unit("m^3/s") == "mL/s"
    assert display_unit("1/min") == "1/min" and display_unit("furlong") == "furlong"
    v, u = to_display(133.322387415**2, "Pa", variance=True)
    assert u == "mmHg" and v == pytest.approx(1.0)


def test_mismatched_or_unknown_units_are_named():
    with pytest.raises(UnitError, match=r"'mmHg' \(pressure\) to 'mL/s' \(flow\)"):
        convert(1.0, "mmHg", "mL/s")
    with pytest.raises(UnitError, match="unknown unit 'psi'"):
        convert(1.0, "psi", "Pa")
