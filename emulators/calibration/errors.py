"""Named exceptions of :mod:`emulators.calibration` (subclasses of builtins)."""

from __future__ import annotations

from simulators.units import UnitError  # noqa: F401  (re-exported)


class ObservationError(ValueError):
    """Observations are malformed or do not fit the emulator (names, shapes, NaN, units)."""


class PriorError(ValueError):
    """A prior override is malformed or lies outside the emulator's domain of validity."""


class ConvergenceWarning(UserWarning):
    """An MCMC run has not converged (R-hat too large or too few effective samples)."""


class IdentifiabilityWarning(UserWarning):
    """The data barely constrain a parameter (little prior-to-posterior contraction)."""
