"""One home for physical units: conversion factors, conversions and display units.

numpy-free and import-light (the twin runtime may use it).  Units are strings as modellers
write them (``"Pa"``, ``"mmHg"``, ``"mL/s"``, ``"m^3/s"``); each belongs to one quantity
(a *dimension*) and converts to that quantity's SI unit by a factor.  People read
pressures in mmHg and flows in mL/s: :func:`display_unit` says so, and console, JSON,
reports and ``twinemu predict`` all ask it.
"""

from __future__ import annotations

from typing import Any

#: 1 mmHg in Pa (ISO 80000-4: 133.322 387 415 Pa exactly, by definition of the mmHg).
MMHG = 133.322387415

#: unit → (dimension, factor to the dimension's SI unit)
UNITS: dict[str, tuple[str, float]] = {
    # pressure (SI: Pa)
    "Pa": ("pressure", 1.0), "kPa": ("pressure", 1e3), "mmHg": ("pressure", MMHG),
    "dyn/cm2": ("pressure", 0.1), "dyn/cm^2": ("pressure", 0.1), "barye": ("pressure", 0.1),
    "bar": ("pressure", 1e5), "cmH2O": ("pressure", 98.0665),
    # volume flow (SI: m^3/s)
    "m^3/s": ("flow", 1.0), "m3/s": ("flow", 1.0), "mL/s": ("flow", 1e-6),
    "ml/s": ("flow", 1e-6), "cm^3/s": ("flow", 1e-6), "cm3/s": ("flow", 1e-6),
    "L/min": ("flow", 1e-3 / 60.0), "l/min": ("flow", 1e-3 / 60.0),
    "mL/min": ("flow", 1e-6 / 60.0),
    # length (SI: m)
    "m": ("length", 1.0), "cm": ("length", 1e-2), "mm": ("length", 1e-3),
    "um": ("length", 1e-6), "µm": ("length", 1e-6),
    # time (SI: s)
    "s": ("time", 1.0), "ms": ("time", 1e-3), "min": ("time", 60.0),
    # frequency
    "1/s": ("frequency", 1.0), "Hz": ("frequency", 1.0), "1/min": ("frequency", 1 / 60.0),
    "bpm": ("frequency", 1 / 60.0),
    # volume (SI: m^3)
    "m^3": ("volume", 1.0), "m3": ("volume", 1.0), "mL": ("volume", 1e-6),
    "ml": ("volume", 1e-6), "L": ("volume", 1e-3),
    # velocity (SI: m/s)
    "m/s": ("velocity", 1.0), "cm/s": ("velocity", 1e-2), "mm/s": ("velocity", 1e-3),
    # resistance (SI: Pa s m^-3) and compliance (SI: m^3 Pa^-1)
    "Pa s m^-3": ("resistance", 1.0), "Pa s/m^3": ("resistance", 1.0),
    "mmHg s/mL": ("resistance", MMHG / 1e-6),
    "m^3 Pa^-1": ("compliance", 1.0), "m^3/Pa": ("compliance", 1.0),
    "mL/mmHg": ("compliance", 1e-6 / MMHG),
    # dimensionless
    "": ("dimensionless", 1.0), "1": ("dimensionless", 1.0), "-": ("dimensionless", 1.0),
    "%": ("dimensionless", 0.01),
}

#: How people read each quantity.
DISPLAY = {"pressure": "mmHg", "flow": "mL/s"}


class UnitError(ValueError):
    """A unit is unknown, or two units measure different quantities."""


def dimension(unit: str) -> str:
    """The quantity ``unit`` measures (``"pressure"``, ``"flow"``, ...)."""
    try:
        return UNITS[str(unit).strip()][0]
    except KeyError:
        raise UnitError(f"unknown unit {unit!r}; known units: "
                        f"{', '.join(sorted(u for u in UNITS if u))}") from None


def factor(from_unit: str, to_unit: str) -> float:
    """Multiply a value in ``from_unit`` by this to get it in ``to_unit``."""
    fa, fb = str(from_unit).strip(), str(to_unit).strip()
    if fa == fb:
        return 1.0
    da, db = dimension(fa), dimension(fb)
    if da != db:
        raise UnitError(f"cannot convert {from_unit!r} ({da}) to {to_unit!r} ({db})")
    return UNITS[fa][1] / UNITS[fb][1]


def convert(value: Any, from_unit: str, to_unit: str) -> Any:
    """``value`` (a number or numpy array) in ``from_unit``, expressed in ``to_unit``.

    >>> round(convert(120.0, "mmHg", "Pa"), 3)
    15998.687
    """
    f = factor(from_unit, to_unit)
    return value if f == 1.0 else value * f


def display_unit(unit: str) -> str:
    """The unit people read ``unit``'s quantity in (mmHg for pressures, mL/s for flows);
    ``unit`` itself for other or unknown units."""
    entry = UNITS.get(str(unit).strip())
    return DISPLAY.get(entry[0], unit) if entry else unit


def to_display(value: Any, unit: str, *, variance: bool = False) -> tuple[Any, str]:
    """``(value, display unit)``; with ``variance=True`` the factor is squared."""
    shown = display_unit(unit)
    if shown == unit:
        return value, unit
    f = factor(unit, shown)
    return (value * f * f if variance else value * f), shown
