"""Analytic test models with known answers, as twinemu simulators.

* Ishigami (Ishigami & Homma 1990): ``f = sin x1 + a sin² x2 + b x3⁴ sin x1`` on
  ``[-π, π]³``, whose Sobol' indices are known in closed form (:func:`ishigami_indices`).
* Poiseuille: the steady pressure drop of a rigid tube, ``ΔP = 8 μ L Q / (π r⁴)``.
* Branin (Dixon & Szegő 1978): a smooth 2-input function, here with inert inputs added
  (:func:`branin`), the usual test of whether a method finds the few inputs that matter
  (Wang et al. 2016, JAIR 55: Branin embedded in higher dimensions).

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


def branin(X: np.ndarray) -> np.ndarray:
    """Branin function of ``X`` ``(n, d)``, ``d >= 2``, on ``x1 ∈ [-5, 10]``, ``x2 ∈ [0, 15]``;
    columns after the second are inert (they do not change the value).

    ``f = (x2 − 5.1 x1²/(4π²) + 5 x1/π − 6)² + 10 (1 − 1/(8π)) cos x1 + 10``
    (Dixon & Szegő 1978; Surjanovic & Bingham's Virtual Library of Simulation Experiments).
    """
    X = np.atleast_2d(X)
    x1, x2 = X[:, 0], X[:, 1]
    return ((x2 - 5.1 / (4 * math.pi**2) * x1**2 + 5 / math.pi * x1 - 6) ** 2
            + 10 * (1 - 1 / (8 * math.pi)) * np.cos(x1) + 10)


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
    Inputs left out of ``parameters`` take their value from ``fixed``.
    """

    name = "poiseuille"
    version = "1.0"

    def __init__(self, parameters: list[Mapping[str, Any]] | None = None, mu: float = 4e-3,
                 fidelity: str = "analytic", fixed: Mapping[str, float] | None = None):
        self.mu = float(mu)
        self.fixed = {k: float(v) for k, v in (fixed or {}).items()}
        self.fidelity = fidelity
        self.space = ParameterSpace(parameters or [
            Parameter("radius", 1e-3, 5e-3, unit="m", dist="loguniform"),
            Parameter("length", 0.05, 0.3, unit="m"),
            Parameter("flow", 1e-6, 1e-4, unit="m^3/s", dist="loguniform"),
        ])
        self.outputs = [OutputSpec("dp", "Pa", (), "pressure drop")]

    def config(self) -> dict[str, Any]:
        return {"simulator": self.name, "mu": self.mu, "space": self.space.to_dict(),
                "fixed": self.fixed}

    def __call__(self, params: Mapping[str, float]) -> dict[str, np.ndarray]:
        params = {**self.fixed, **params}  # inputs not in the space are held at ``fixed``
        r, L, q = params["radius"], params["length"], params["flow"]
        return {"dp": np.float64(8 * self.mu * L * q / (math.pi * r**4))}


# -- multi-fidelity pairs ---------------------------------------------------------------
# Each pair is (low, high) on the stated domain.  Forrester, Currin, Park and borehole
# follow the multi-fidelity benchmark set of Xiong, Qian & Wu (2013, J. Mech. Des. 135,
# 071001); the nonlinear pair is Perdikaris et al. (2017, Proc. R. Soc. A 473, 20160751).

def forrester_high(X: np.ndarray) -> np.ndarray:
    """Forrester et al. (2007, Proc. R. Soc. A 463, eq. 8): ``(6x − 2)² sin(12x − 4)``."""
    x = np.atleast_2d(X)[:, 0]
    return (6 * x - 2) ** 2 * np.sin(12 * x - 4)


def forrester_low(X: np.ndarray) -> np.ndarray:
    """Forrester et al. (2007, eq. 9): ``0.5 f_h(x) + 10 (x − 0.5) − 5``."""
    x = np.atleast_2d(X)[:, 0]
    return 0.5 * forrester_high(X) + 10 * (x - 0.5) - 5


def currin_high(X: np.ndarray) -> np.ndarray:
    """Currin et al. (1991) exponential function on ``[0, 1]²`` (Xiong et al. 2013, eq. 21)."""
    X = np.atleast_2d(X)
    x1, x2 = X[:, 0], X[:, 1]
    with np.errstate(divide="ignore"):
        a = 1 - np.exp(-1 / (2 * x2))  # x2 = 0: exp(-inf) = 0
    return a * (2300 * x1**3 + 1900 * x1**2 + 2092 * x1 + 60) / (
        100 * x1**3 + 500 * x1**2 + 4 * x1 + 20)


def currin_low(X: np.ndarray) -> np.ndarray:
    """Low-fidelity Currin (Xiong et al. 2013, eq. 22): the mean of four shifted copies."""
    X = np.atleast_2d(X)
    x1, x2 = X[:, 0], X[:, 1]
    up, down = x2 + 0.05, np.maximum(0.0, x2 - 0.05)
    f = currin_high
    return 0.25 * (f(np.c_[x1 + 0.05, up]) + f(np.c_[x1 + 0.05, down])) \
        + 0.25 * (f(np.c_[x1 - 0.05, up]) + f(np.c_[x1 - 0.05, down]))


def park_high(X: np.ndarray) -> np.ndarray:
    """Park (1991) function on ``(0, 1]⁴`` (Xiong et al. 2013, eq. 23)."""
    X = np.atleast_2d(X)
    x1, x2, x3, x4 = X.T
    return x1 / 2 * (np.sqrt(1 + (x2 + x3**2) * x4 / x1**2) - 1) \
        + (x1 + 3 * x4) * np.exp(1 + np.sin(x3))


def park_low(X: np.ndarray) -> np.ndarray:
    """Low-fidelity Park (Xiong et al. 2013, eq. 24)."""
    X = np.atleast_2d(X)
    x1, x2, x3, _ = X.T
    return (1 + np.sin(x1) / 10) * park_high(X) - 2 * x1 + x2**2 + x3**2 + 0.5


#: Borehole inputs (Morris et al. 1993): r_w, r, T_u, H_u, T_l, H_l, L, K_w.
BOREHOLE_BOUNDS = np.array([[0.05, 0.15], [100, 50000], [63070, 115600], [990, 1110],
                            [63.1, 116], [700, 820], [1120, 1680], [9855, 12045]])


def _borehole(X: np.ndarray, a: float, b: float) -> np.ndarray:
    rw, r, Tu, Hu, Tl, Hl, L, Kw = np.atleast_2d(X).T
    lg = np.log(r / rw)
    return a * Tu * (Hu - Hl) / (lg * (b + 2 * L * Tu / (lg * rw**2 * Kw) + Tu / Tl))


def borehole_high(X: np.ndarray) -> np.ndarray:
    """Borehole water flow, m³/yr (Morris et al. 1993; Xiong et al. 2013, eq. 25)."""
    return _borehole(X, 2 * np.pi, 1.0)


def borehole_low(X: np.ndarray) -> np.ndarray:
    """Low-fidelity borehole (Xiong et al. 2013, eq. 26): ``2π → 5``, ``1 → 1.5``."""
    return _borehole(X, 5.0, 1.5)


def perdikaris_low(X: np.ndarray) -> np.ndarray:
    """``sin(8πx)`` (Perdikaris et al. 2017, eq. 9)."""
    return np.sin(8 * np.pi * np.atleast_2d(X)[:, 0])


def perdikaris_high(X: np.ndarray) -> np.ndarray:
    """``(x − √2) f_l(x)²`` (Perdikaris et al. 2017, eq. 9)."""
    x = np.atleast_2d(X)[:, 0]
    return (x - np.sqrt(2)) * perdikaris_low(X) ** 2


def multifidelity_pairs() -> dict[str, dict[str, Any]]:
    """``{name: {"low", "high", "bounds" (d, 2), "n_low", "n_high"}}``: the benchmark
    pairs with their customary design sizes (Xiong et al. 2013; Perdikaris et al. 2017)."""
    return {
        "forrester": {"low": forrester_low, "high": forrester_high,
                      "bounds": np.array([[0.0, 1.0]]), "n_low": 11, "n_high": 4},
        "currin": {"low": currin_low, "high": currin_high,
                   "bounds": np.array([[0.0, 1.0]] * 2), "n_low": 12, "n_high": 5},
        "park": {"low": park_low, "high": park_high,
                 "bounds": np.array([[0.0, 1.0]] * 4), "n_low": 30, "n_high": 5},
        "borehole": {"low": borehole_low, "high": borehole_high,
                     "bounds": BOREHOLE_BOUNDS, "n_low": 60, "n_high": 5},
        "perdikaris": {"low": perdikaris_low, "high": perdikaris_high,
                       "bounds": np.array([[0.0, 1.0]]), "n_low": 50, "n_high": 14},
    }


def nested_design(bounds: np.ndarray, n_low: int, n_high: int, seed: int) -> tuple[
        np.ndarray, np.ndarray]:
    """Nested design ``(X_low (n_low, d), X_high (n_high, d))`` on a box: a maximin Latin
    hypercube for the low level and a greedy maximin subset of it for the high level, so
    ``X_high ⊂ X_low`` (Le Gratiet & Garnier 2014, §3.1); see :func:`simulators.design.nested`."""
    from simulators.design import Parameter, ParameterSpace, nested

    space = ParameterSpace([Parameter(f"x{j}", lo, hi)
                            for j, (lo, hi) in enumerate(np.asarray(bounds, dtype=float))])
    X_low, X_high = nested(space, [n_low, n_high], method="lhs", seed=seed)
    return X_low, X_high
