"""One home for units (DESIGN.md "One home for units"): SI factors, conversion, display.

Archives and simulators store SI (Pa, m^3/s, m, s); people read pressures in mmHg and
flows in mL/s.  Every conversion in twinemu goes through :func:`convert`, and every
displayed unit through :func:`display_unit`, so the console, JSON, report and
``twinemu predict`` show the same unit for the same quantity.  numpy only.

>>> round(convert(120.0, "mmHg", "Pa"), 4)
15998.6865
>>> round(convert(5.0, "L/min", "mL/s"), 4)
83.3333
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Pa per mmHg: the conventional millimetre of mercury, 13.5951 g/cm^3 x 9.80665 m/s^2 x
#: 1 mm (NIST SP 811, B.8); not the torr (101325/760 = 133.3224 Pa)
MMHG = 133.322387415
#: Pa per cmH2O (conventional, 1 cm of water at g = 9.80665 m s^-2)
CMH2O = 98.0665
#: m^3 per mL
ML = 1e-6
#: Pa per dyn/cm^2 (1 dyn = 1e-5 N, 1 cm^2 = 1e-4 m^2)
DYN_CM2 = 0.1


class UnitError(ValueError):
    """A unit is unknown, or two units measure different quantities."""


# unit -> (dimension, SI units per unit)
_UNITS: dict[str, tuple[str, float]] = {
    "1": ("dimensionless", 1.0), "": ("dimensionless", 1.0), "-": ("dimensionless", 1.0),
    "%": ("dimensionless", 0.01),
    # pressure and stress
    "Pa": ("pressure", 1.0), "kPa": ("pressure", 1e3), "MPa": ("pressure", 1e6),
    "mmHg": ("pressure", MMHG), "cmH2O": ("pressure", CMH2O),
    "dyn/cm2": ("pressure", DYN_CM2), "dyn/cm^2": ("pressure", DYN_CM2),
    "barye": ("pressure", DYN_CM2), "bar": ("pressure", 1e5),
    # volume flow
    "m3/s": ("flow", 1.0), "m^3/s": ("flow", 1.0), "mL/s": ("flow", ML),
    "ml/s": ("flow", ML), "cm3/s": ("flow", ML), "cm^3/s": ("flow", ML),
    "L/min": ("flow", 1e-3 / 60.0), "l/min": ("flow", 1e-3 / 60.0),
    "mL/min": ("flow", ML / 60.0),
    # volume
    "m3": ("volume", 1.0), "m^3": ("volume", 1.0), "mL": ("volume", ML), "ml": ("volume", ML),
    "cm3": ("volume", ML), "L": ("volume", 1e-3),
    # length, time, velocity, frequency
    "m": ("length", 1.0), "cm": ("length", 1e-2), "mm": ("length", 1e-3),
    "um": ("length", 1e-6),
    "s": ("time", 1.0), "ms": ("time", 1e-3), "min": ("time", 60.0),
    "m/s": ("velocity", 1.0), "cm/s": ("velocity", 1e-2), "mm/s": ("velocity", 1e-3),
    "mm/ms": ("velocity", 1.0),
    "Hz": ("frequency", 1.0), "1/s": ("frequency", 1.0), "1/min": ("frequency", 1 / 60.0),
    "bpm": ("frequency", 1 / 60.0),
    # lumped parameters: resistance, compliance
    "Pa s/m^3": ("resistance", 1.0), "Pa s m^-3": ("resistance", 1.0),
    "mmHg s/mL": ("resistance", MMHG / ML),
    "m^3/Pa": ("compliance", 1.0), "m^3 Pa^-1": ("compliance", 1.0),
    "mL/mmHg": ("compliance", ML / MMHG),
}

#: the unit people read for each quantity (others are shown as stored)
_DISPLAY = {"pressure": "mmHg", "flow": "mL/s", "volume": "mL"}


def dimension(unit: str) -> str:
    """The quantity ``unit`` measures (``"pressure"``, ``"flow"``, ``"length"``...)."""
    return _entry(unit)[0]


def si_factor(unit: str) -> float:
    """SI units per ``unit`` (``si_factor("mmHg") == 133.322...``)."""
    return _entry(unit)[1]


def units_of(dim: str) -> dict[str, float]:
    """Every known unit of dimension ``dim`` with its SI factor."""
    return {u: f for u, (d, f) in _UNITS.items() if d == dim}


def _entry(unit: str) -> tuple[str, float]:
    key = str(unit).strip()
    if key not in _UNITS:
        raise UnitError(f"unknown unit {unit!r}; known units: {sorted(k for k in _UNITS if k)}")
    return _UNITS[key]


def factor(from_unit: str, to_unit: str) -> float:
    """Multiply a value in ``from_unit`` by this to express it in ``to_unit``."""
    return float(convert(1.0, from_unit, to_unit))


def convert(value: Any, from_unit: str, to_unit: str) -> Any:
    """``value`` (scalar or array) in ``from_unit`` expressed in ``to_unit``.

    Raises :class:`UnitError` for an unknown unit or units of different quantities
    (``convert(1, "mmHg", "mL/s")``).
    """
    d_from, f_from = _entry(from_unit)
    d_to, f_to = _entry(to_unit)
    if d_from != d_to:
        raise UnitError(f"cannot convert {from_unit!r} ({d_from}) to {to_unit!r} ({d_to})")
    factor = f_from / f_to
    if np.ndim(value) == 0 and not isinstance(value, np.ndarray):
        return float(value) * factor
    return np.asarray(value, dtype=float) * factor


def display_unit(unit: str) -> str:
    """The unit to show a quantity stored in ``unit`` in: pressures in mmHg, flows in mL/s,
    volumes in mL; any other (or unknown) unit as it is."""
    try:
        return _DISPLAY.get(dimension(unit), unit)
    except UnitError:
        return unit


def to_display(value: Any, unit: str, *, variance: bool = False) -> tuple[Any, str]:
    """``(value in display_unit(unit), display_unit(unit))``; with ``variance=True`` the
    value is a variance (unit²) and the factor is squared."""
    shown = display_unit(unit)
    if shown == unit:
        return value, unit
    f = convert(1.0, unit, shown)
    return np.asarray(value, dtype=float) * (f * f if variance else f), shown


__all__ = ["CMH2O", "DYN_CM2", "ML", "MMHG", "UnitError", "convert", "dimension", "factor",
           "display_unit", "si_factor", "to_display", "units_of"]
