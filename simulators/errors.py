"""Named exceptions raised by :mod:`simulators`.

Each subclasses the builtin that fits the error, so ``except ValueError`` still works.
"""

from __future__ import annotations

from collections.abc import Mapping


class ParameterError(ValueError):
    """A parameter space or a parameter value is ill-formed (bad bounds, unknown name...)."""


class OutOfDomainError(ValueError):
    """A point lies outside the bounds of its parameter space."""


class ConfigurationError(ValueError):
    """A simulator or network definition is incomplete or has unknown keys."""


class SimulationError(RuntimeError):
    """A simulation went unstable or failed to converge.

    Attributes
    ----------
    params : dict
        The parameters of the failed run, so a campaign can record them.
    reason : str
        One line saying what went wrong (for the archive's status column).
    """

    def __init__(self, reason: str, params: Mapping[str, float] | None = None):
        self.reason = reason
        self.params = dict(params or {})
        msg = reason
        if self.params:
            shown = ", ".join(f"{k}={v:.6g}" for k, v in self.params.items())
            msg = f"{reason} (parameters: {shown})"
        super().__init__(msg)
