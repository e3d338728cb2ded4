"""What every simulator promises: named parameters in, named outputs out.

A simulator is any object with the attributes and the call below; it never touches an
archive (the campaign runner in :mod:`datasets.campaign` does that).

Outputs are scalars (shape ``()``) or waveforms sampled on a common phase grid of one
cardiac cycle, shape ``(T,)``, with phase ``t/T_cycle`` in ``[0, 1)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from simulators.design import ParameterSpace

#: Number of points of the default phase grid of one cardiac cycle.
DEFAULT_PHASE_POINTS = 100


def phase_grid(n: int = DEFAULT_PHASE_POINTS) -> np.ndarray:
    """Phases ``k/n`` for ``k = 0..n-1``: the common grid of waveform outputs."""
    return np.arange(n, dtype=float) / n


def finite_rows(y: np.ndarray) -> np.ndarray:
    """Rows of outputs ``y`` (``(n,)`` or ``(n, ...)``) whose values are all finite (n ≥ 0)."""
    f = np.isfinite(y)
    return f.all(axis=tuple(range(1, f.ndim))) if f.ndim > 1 else f


@dataclass(frozen=True)
class OutputSpec:
    """One output of a simulator.

    ``shape`` is ``()`` for a scalar or ``(T,)`` for a waveform on the phase grid.
    """

    name: str
    unit: str = ""
    shape: tuple[int, ...] = ()
    description: str = ""

    @property
    def is_waveform(self) -> bool:
        return len(self.shape) == 1

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "unit": self.unit, "shape": list(self.shape),
                "description": self.description}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> OutputSpec:
        return cls(d["name"], d.get("unit", ""), tuple(d.get("shape", ())),
                   d.get("description", ""))


@runtime_checkable
class Simulator(Protocol):
    """The contract a simulator honours.

    Attributes
    ----------
    name, version : str
        Recorded in each run's provenance.
    fidelity : str
        Level name (``"0d"``, ``"1d"``, ``"3d"``...), stored with each run.
    space : ParameterSpace
        The inputs it accepts.
    outputs : list of OutputSpec
        What a call returns.
    """

    name: str
    version: str
    fidelity: str
    space: ParameterSpace
    outputs: list[OutputSpec]

    def __call__(self, params: Mapping[str, float]) -> dict[str, np.ndarray]:
        """Run once; return ``{output name: value}``.  Raises ``SimulationError``."""
        ...

    def config(self) -> dict[str, Any]:
        """Everything that defines the simulator (hashed into each run's provenance)."""
        ...
