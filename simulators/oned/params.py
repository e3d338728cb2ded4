"""Frozen, SI-unit description of a 1D arterial network (no numerics here).

Units: m, s, Pa, kg m^-3, Pa s, m^3 s^-1; resistances Pa s m^-3, compliances m^3 Pa^-1.

Tube law (Formaggia et al. 2003; Boileau et al. 2015 eq. 3)::

    P = P_ext + P_ref + β / A_ref · (√A − √A_ref),    β = (4/3) √π E h

With ``P_ref = 0`` and ``A_ref = A0`` this is the zero-transmural-pressure form; with
``P_ref = P_d`` and ``A_ref = A_d`` it is Boileau's diastolic-reference form (the radius and
the wall thickness are then those measured at the diastolic pressure ``P_d``).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field, replace

import numpy as np

from simulators.errors import ConfigurationError

#: Avolio's empirical wall thickness h = r (a e^{b r} + c e^{d r}), r in cm (openBF, ADAN).
AVOLIO = (0.2802, -5.053, 0.1324, -0.1114)


def avolio_thickness(r: np.ndarray | float) -> np.ndarray | float:
    """Wall thickness (m) from the lumen radius ``r`` (m): h = r (a e^{b r} + c e^{d r})."""
    a, b, c, d = AVOLIO
    rc = np.asarray(r) * 100.0  # cm
    return np.asarray(r) * (a * np.exp(b * rc) + c * np.exp(d * rc))


@dataclass(frozen=True)
class Blood:
    """Density ``rho`` (kg m^-3) and dynamic viscosity ``mu`` (Pa s)."""

    rho: float
    mu: float


@dataclass(frozen=True)
class Vessel:
    """One linearly tapered segment.

    ``Rp``/``Rd``: reference lumen radius (m) at the proximal (x=0) and distal (x=L) ends,
    measured at the reference pressure ``P_ref`` (Pa); ``h0``: wall thickness (m), a number or
    ``"avolio"`` for the empirical formula evaluated at the local radius; ``E``: Young's modulus
    (Pa); ``zeta``: velocity-profile order (2 Poiseuille, 9 flatter); ``Pext``: external pressure
    (Pa); ``Gamma``: Kelvin–Voigt wall viscosity coefficient Γ (Pa s m), 0 for a purely elastic
    wall; ``cells``: number of finite volumes (None: from the network's ``dx``).
    ``source`` and ``target`` are node names; blood flows from ``source`` to ``target`` when
    Q > 0.
    """

    label: str
    source: str
    target: str
    L: float
    Rp: float
    Rd: float
    E: float
    h0: float | str
    zeta: float
    Pext: float = 0.0
    P_ref: float = 0.0
    Gamma: float = 0.0
    cells: int | None = None

    def radius(self, x: np.ndarray) -> np.ndarray:
        """Reference radius (m) at ``x`` (m from the proximal end): linear taper."""
        return self.Rp + (self.Rd - self.Rp) * np.asarray(x) / self.L

    def thickness(self, x: np.ndarray) -> np.ndarray:
        """Wall thickness (m) at ``x``."""
        if isinstance(self.h0, str):
            return avolio_thickness(self.radius(x))
        return np.full_like(np.asarray(x, dtype=float), float(self.h0))

    def beta(self, x: np.ndarray) -> np.ndarray:
        """β = (4/3) √π E h (Pa m), Formaggia et al. 2003."""
        return (4.0 / 3.0) * math.sqrt(math.pi) * self.E * self.thickness(x)

    def wave_speed_ref(self, x: float, rho: float) -> float:
        """c at the reference state: c = √(β/(2ρA_ref)) A_ref^{1/4} = √(2Eh/(3ρr)) (m/s)."""
        r = float(self.radius(x))
        h = float(self.thickness(x))
        return math.sqrt(2.0 * self.E * h / (3.0 * rho * r))


@dataclass(frozen=True)
class Inlet:
    """Prescribed volumetric inflow at the proximal end of ``vessel``.

    ``phase`` (in [0, 1), increasing) and ``flow`` (m^3/s) tabulate one cycle of period
    ``period`` (s); the flow is linearly interpolated and periodic.  ``scale`` multiplies it.
    """

    vessel: str
    period: float
    phase: np.ndarray
    flow: np.ndarray
    scale: float = 1.0

    def q(self, t: np.ndarray | float) -> np.ndarray:
        """Inflow (m^3/s) at time ``t`` (s)."""
        ph = np.mod(np.asarray(t, dtype=float) / self.period, 1.0)
        xp = np.concatenate([self.phase, [self.phase[0] + 1.0]])
        fp = np.concatenate([self.flow, [self.flow[0]]])
        return self.scale * np.interp(ph, xp, fp)

    def mean(self) -> float:
        """Cycle-mean inflow (m^3/s), exact for the piecewise-linear table."""
        xp = np.concatenate([self.phase, [self.phase[0] + 1.0]])
        fp = np.concatenate([self.flow, [self.flow[0]]])
        return self.scale * float(np.sum(0.5 * (fp[1:] + fp[:-1]) * np.diff(xp)))


OUTLET_TYPES = ("rcr", "resistance", "reflection")


@dataclass(frozen=True)
class Outlet:
    """Terminal condition at the distal end of ``vessel``.

    ``rcr``: three-element Windkessel (R1, R2 in Pa s m^-3, C in m^3/Pa, Pout in Pa);
    ``resistance``: P − Pout = R1·Q; ``reflection``: W2 = −Rt·W1 (Riemann invariants relative to
    the reference state), Rt in [−1, 1].
    """

    vessel: str
    kind: str
    R1: float = 0.0
    R2: float = 0.0
    C: float = 0.0
    Pout: float = 0.0
    Rt: float = 0.0


@dataclass(frozen=True)
class Network:
    """A vessel network with one inlet and terminal outlets; junctions follow from the nodes.

    ``junction_pressure``: ``"total"`` (continuity of P + ρu²/2, default of Sherwin et al.
    2003) or ``"static"`` (continuity of P).  ``dx``: target cell size (m) for vessels without
    ``cells``.  ``meta``: provenance; ``meta["defaults_used"]`` lists the documented defaults
    a file reader took for keys the file omitted (see :attr:`defaults_used`).
    """

    name: str
    blood: Blood
    vessels: tuple[Vessel, ...]
    inlet: Inlet
    outlets: tuple[Outlet, ...]
    junction_pressure: str = "total"
    dx: float | None = None
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        labels = [v.label for v in self.vessels]
        if len(set(labels)) != len(labels):
            dup = sorted({x for x in labels if labels.count(x) > 1})
            raise ConfigurationError(f"network {self.name!r}: duplicate vessel labels {dup}")
        if self.junction_pressure not in ("total", "static"):
            raise ConfigurationError(
                f"junction_pressure={self.junction_pressure!r}: use 'total' or 'static'")

    @property
    def defaults_used(self) -> tuple[str, ...]:
        """Defaults taken for optional keys the source file omitted, e.g.
        ``('junction_pressure=total', 'vessels[cca].Pext=0.0')``; empty if none."""
        return tuple(self.meta.get("defaults_used", ()))

    def vessel(self, label: str) -> Vessel:
        for v in self.vessels:
            if v.label == label:
                return v
        raise ConfigurationError(
            f"network {self.name!r} has no vessel {label!r}; vessels: "
            f"{', '.join(v.label for v in self.vessels[:20])}"
            f"{' ...' if len(self.vessels) > 20 else ''}")

    def index(self, label: str) -> int:
        return [v.label for v in self.vessels].index(self.vessel(label).label)

    def cells(self, v: Vessel) -> int:
        """Number of cells of vessel ``v`` (at least 3)."""
        if v.cells is not None:
            n = int(v.cells)
        elif self.dx is not None:
            n = int(math.ceil(v.L / self.dx - 1e-9))
        else:
            raise ConfigurationError(
                f"vessel {v.label!r} has no 'cells' and network {self.name!r} has no 'dx'")
        return max(n, 3)

    def with_resolution(self, factor: float) -> Network:
        """The same network with every vessel's cell count multiplied by ``factor``.

        Raises ConfigurationError for a factor that is not a number > 0 or that leaves a
        vessel with fewer than 3 cells (named in the message).
        """
        if isinstance(factor, bool) or not isinstance(factor, numbers.Real) \
                or not math.isfinite(factor) or factor <= 0:
            raise ConfigurationError(f"refine={factor!r} must be a finite number > 0 (it "
                                     f"multiplies every vessel's cell count)")
        vs = []
        for v in self.vessels:
            n = int(round(self.cells(v) * factor))
            if n < 3:
                raise ConfigurationError(
                    f"refine={factor:g} leaves vessel {v.label!r} with {n} cell(s) (from "
                    f"{self.cells(v)}); a vessel needs at least 3: use a larger refine")
            vs.append(replace(v, cells=n))
        return replace(self, vessels=tuple(vs))

    def total_resistance(self) -> float:
        """Parallel combination of outlet resistances R1 + R2 (Pa s m^-3); inf if none."""
        g = sum(1.0 / (o.R1 + o.R2) for o in self.outlets
                if o.kind in ("rcr", "resistance") and o.R1 + o.R2 > 0)
        return 1.0 / g if g > 0 else math.inf
