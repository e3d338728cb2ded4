"""Minimal unit conversion for observations (pressures, flows, volumes, times, lengths).

A stand-in with the interface of ``simulators.units`` (``convert(value, from_unit, to_unit)``
raising :class:`UnitError`), so that the two merge trivially: once ``simulators/units.py``
exists, this module should import from it.  Units are written as in twinemu's cards
(``"Pa"``, ``"mmHg"``, ``"mL/s"``, ``"m^3/s"``, ...).  Only multiplicative conversions
between units of the same dimension are supported.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class UnitError(ValueError):
    """A unit is unknown, or two units measure different quantities."""


MMHG = 133.322387415  # Pa per mmHg

# unit -> (dimension, factor to the SI unit of that dimension)
_UNITS: dict[str, tuple[str, float]] = {
    "Pa": ("pressure", 1.0), "kPa": ("pressure", 1e3), "mmHg": ("pressure", MMHG),
    "dyn/cm^2": ("pressure", 0.1), "cmH2O": ("pressure", 98.0665),
    "m^3/s": ("flow", 1.0), "m3/s": ("flow", 1.0), "mL/s": ("flow", 1e-6),
    "ml/s": ("flow", 1e-6), "L/min": ("flow", 1e-3 / 60.0), "mL/min": ("flow", 1e-6 / 60.0),
    "cm^3/s": ("flow", 1e-6),
    "m^3": ("volume", 1.0), "mL": ("volume", 1e-6), "L": ("volume", 1e-3),
    "s": ("time", 1.0), "ms": ("time", 1e-3),
    "m": ("length", 1.0), "cm": ("length", 1e-2), "mm": ("length", 1e-3),
    "m/s": ("velocity", 1.0), "cm/s": ("velocity", 1e-2),
    "mm^2": ("area", 1e-6), "cm^2": ("area", 1e-4), "m^2": ("area", 1.0),
    "1": ("dimensionless", 1.0), "": ("dimensionless", 1.0), "-": ("dimensionless", 1.0),
}


def known_units() -> list[str]:
    """Units :func:`convert` understands."""
    return sorted(u for u in _UNITS if u)


def convert(value: Any, from_unit: str, to_unit: str) -> Any:
    """``value`` (scalar or array) expressed in ``from_unit``, converted to ``to_unit``.

    Raises :class:`UnitError` for an unknown unit or units of different dimensions.
    """
    src, dst = _lookup(from_unit), _lookup(to_unit)
    if src[0] != dst[0]:
        raise UnitError(f"cannot convert {from_unit!r} ({src[0]}) to {to_unit!r} ({dst[0]})")
    if from_unit == to_unit:
        return value
    return np.asarray(value, dtype=float) * (src[1] / dst[1])


def _lookup(unit: str) -> tuple[str, float]:
    key = str(unit).strip()
    if key not in _UNITS:
        raise UnitError(f"unknown unit {unit!r}; known units are {', '.join(known_units())}")
    return _UNITS[key]
