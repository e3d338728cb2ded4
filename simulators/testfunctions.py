"""Analytic test models with known answers, as twinemu simulators.

* Ishigami (Ishigami & Homma 1990): ``f = sin x1 + a sin² x2 + b x3⁴ sin x1`` on
  ``[-π, π]³``, whose Sobol' indices are known in closed form (:func:`ishigami_indices`).
* Poiseuille: the steady pressure drop of a rigid tube, ``ΔP = 8 μ L Q / (π r⁴)``.

They run in microseconds, so campaigns, resume and failure handling can be tested on a
real simulator without waiting.  ``delay`` (s) makes each run sleep, ``fail_above``
makes runs with ``x1`` above it raise ``SimulationError``, ``hang_above`` makes runs with
``x1`` above it hang (sleep ``hang`` s, a stiff solve that never ends) — for tests and demos
of failures and per-run time limits.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from simulators.base import OutputSpec
from simulators.design import Parameter, ParameterSpace
from simulators.errors import SimulationError


def ishigami(X: np.ndarray, a: float = 7.0, b: float = 0.1) -> np.ndarray:
    """Ishigami function of ``X`` ``(n, 3)``."""
    X = np.atleast_2d(X)
    return np.sin(X[:, 0]) + a * np.sin(X[:, 1]) ** 2 + b * X[:, 2] ** 4 * np.sin(X[:, 0])


def ishigami_indices(a: float = 7.0, b: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Exact first-order and total Sobol' indices of the Ishigami function.

    ``V = a²/8 + bπ⁴/5 + b²π⁸/18 + 1/2``, ``V1 = (1 + bπ⁴/5)²/2``, ``V2 = a²/8``,
    ``V13 = b²π⁸ (1/18 − 1/50)`` (Sobol' & Levitan 1999).
    """
    pi4 = math.pi**4
    V = a**2 / 8 + b * pi4 / 5 + b**2 * pi4**2 / 18 + 0.5
    V1 = 0.5 * (1 + b * pi4 / 5) ** 2
    V2 = a**2 / 8
    V13 = b**2 * pi4**2 * (1 / 18 - 1 / 50)
    S1 = np.array([V1, V2, 0.0]) / V
    ST = np.array([V1 + V13, V2, V13]) / V
    return S1, ST


class IshigamiSimulator:
    """The Ishigami function as a simulator (inputs ``x1, x2, x3``, output ``y``)."""

    name = "ishigami"
    version = "1.0"

    def __init__(self, a: float = 7.0, b: float = 0.1, *, delay: float = 0.0,
                 fail_above: float | None = None, hang_above: float | None = None,
                 hang: float = 3600.0, fidelity: str = "analytic"):
        self.a, self.b = float(a), float(b)
        self.hang_above = hang_above
        self.hang = float(hang)
        self.delay = float(delay)
        self.fail_above = fail_above
        self.fidelity = fidelity
        self.space = ParameterSpace([Parameter(f"x{i}", -math.pi, math.pi) for i in (1, 2, 3)])
        self.outputs = [OutputSpec("y", "1")]

    def config(self) -> dict[str, Any]:
        return {"simulator": self.name, "a": self.a, "b": self.b}

    def __call__(self, params: Mapping[str, float]) -> dict[str, np.ndarray]:
        if self.delay:
            time.sleep(self.delay)
        if self.hang_above is not None and params["x1"] > self.hang_above:
            time.sleep(self.hang)
        if self.fail_above is not None and params["x1"] > self.fail_above:
            raise SimulationError(f"x1 above {self.fail_above} (a deliberate failure)", params)
        x = np.array([[params["x1"], params["x2"], params["x3"]]])
        return {"y": np.float64(ishigami(x, self.a, self.b)[0])}

    def run_batch(self, points: list[Mapping[str, float]]
                  ) -> list[dict[str, np.ndarray] | SimulationError]:
        """Evaluate many points in one vectorised call; failures come back as errors."""
        if self.delay:
            time.sleep(self.delay * len(points))
        if self.hang_above is not None and any(p["x1"] > self.hang_above for p in points):
            time.sleep(self.hang)
        X = np.array([[p["x1"], p["x2"], p["x3"]] for p in points])
        y = ishigami(X, self.a, self.b)
        out: list[dict[str, np.ndarray] | SimulationError] = []
        for p, v in zip(points, y, strict=True):
            if self.fail_above is not None and p["x1"] > self.fail_above:
                out.append(SimulationError(f"x1 above {self.fail_above} (a deliberate failure)",
                                           p))
            else:
                out.append({"y": np.float64(v)})
        return out


class PoiseuilleSimulator:
    """Steady laminar flow in a rigid tube: ``ΔP = 8 μ L Q / (π r⁴)`` (Pa).

    Inputs ``radius`` (m), ``length`` (m), ``flow`` (m^3/s); blood viscosity ``mu`` (Pa s).
    """

    name = "poiseuille"
    version = "1.0"

    def __init__(self, parameters: list[Mapping[str, Any]] | None = None, mu: float = 4e-3,
                 fidelity: str = "analytic"):
        self.mu = float(mu)
        self.fidelity = fidelity
        self.space = ParameterSpace(parameters or [
            Parameter("radius", 1e-3, 5e-3, unit="m", dist="loguniform"),
            Parameter("length", 0.05, 0.3, unit="m"),
            Parameter("flow", 1e-6, 1e-4, unit="m^3/s", dist="loguniform"),
        ])
        self.outputs = [OutputSpec("dp", "Pa", (), "pressure drop")]

    def config(self) -> dict[str, Any]:
        return {"simulator": self.name, "mu": self.mu, "space": self.space.to_dict()}

    def __call__(self, params: Mapping[str, float]) -> dict[str, np.ndarray]:
        r, L, q = params["radius"], params["length"], params["flow"]
        return {"dp": np.float64(8 * self.mu * L * q / (math.pi * r**4))}
