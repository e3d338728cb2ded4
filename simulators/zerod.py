"""Zero-dimensional (lumped) models of the arterial tree.

The three-element Windkessel (RCR; Westerhof et al. 2009, Med Biol Eng Comput 47:131)
relates the inflow ``Q(t)`` at the aortic root to the pressure there::

    P(t)  = P_c(t) + R1 Q(t)                      (characteristic impedance R1 = Z_c)
    C dP_c/dt = Q(t) - (P_c(t) - P_out) / R2      (compliance C, peripheral resistance R2)

Driven by a periodic inflow, the pressure tends to a periodic steady state whose cycle
mean is ``P_out + (R1 + R2) Q̄`` exactly.  It is the lowest fidelity level of twinemu.
SI units throughout: Pa, m^3/s, s, Pa s m^-3, m^3/Pa.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulators.base import DEFAULT_PHASE_POINTS, OutputSpec, phase_grid
from simulators.design import Parameter, ParameterSpace
from simulators.errors import ConfigurationError, ParameterError, SimulationError
from simulators.units import ML  # m^3 per mL

__version__ = "1.0"


def half_sine_inflow(stroke_volume: float, period: float, systolic_fraction: float = 0.35
                     ) -> Callable[[np.ndarray], np.ndarray]:
    """Aortic inflow as a half sine during ejection and zero in diastole.

    ``Q(t) = Q_max sin(π t / T_s)`` for ``t mod T < T_s``, with ``T_s`` the ejection time and
    ``Q_max = π SV / (2 T_s)`` so that one beat ejects ``SV`` (m^3).  Returns ``Q(t)`` in m^3/s.
    """
    ts = systolic_fraction * period
    qmax = math.pi * stroke_volume / (2.0 * ts)

    def q(t: np.ndarray) -> np.ndarray:
        tau = np.mod(t, period)
        return np.where(tau < ts, qmax * np.sin(np.pi * np.minimum(tau, ts) / ts), 0.0)

    return q


@dataclass(frozen=True)
class WindkesselResult:
    """Periodic steady state of a Windkessel over one cycle.

    ``t`` (s, from 0 to T excluded), ``pressure`` (Pa) and ``flow`` (m^3/s) on that grid.
    """

    t: np.ndarray
    pressure: np.ndarray
    flow: np.ndarray
    period: float


def solve_rcr(
    flow: Callable[[np.ndarray], np.ndarray],
    period: float,
    R1: float,
    R2: float,
    C: float,
    *,
    p_out: float = 0.0,
    n_points: int = DEFAULT_PHASE_POINTS,
    rtol: float = 1e-9,
    atol: float = 1e-6,
) -> WindkesselResult:
    """Periodic steady state of the RCR Windkessel under a periodic inflow.

    The ODE is linear, so the periodic initial state follows from one shot: integrating
    from ``P_c(0) = s`` gives ``P_c(T) = e^{-T/(R2 C)} s + b`` (``b`` from a run with
    ``s = 0``), and periodicity ``P_c(T) = s`` gives ``s = b / (1 - e^{-T/(R2 C)})``.
    Integration is ``scipy.integrate.solve_ivp`` (RK45) with tight tolerances.

    Parameters
    ----------
    flow : callable
        ``Q(t)`` in m^3/s, periodic with ``period``.
    period : float
        Cardiac period T (s).
    R1, R2 : float
        Characteristic impedance and peripheral resistance (Pa s m^-3); ``R1 = 0`` gives
        the two-element Windkessel.
    C : float
        Compliance (m^3/Pa).
    p_out : float
        Venous (outflow) pressure (Pa).
    n_points : int
        Points of the returned phase grid.
    """
    from scipy.integrate import solve_ivp

    for name, value in (("R2", R2), ("C", C), ("period", period)):
        if not (math.isfinite(value) and value > 0):
            raise ParameterError(f"{name} must be positive and finite, got {value}")
    if not (math.isfinite(R1) and R1 >= 0):
        raise ParameterError(f"R1 must be >= 0 and finite, got {R1}")
    tau = R2 * C

    def rhs(t: float, pc: np.ndarray) -> np.ndarray:
        return (flow(np.asarray(t)) - (pc - p_out) / R2) / C

    t_eval = phase_grid(n_points) * period
    t_span = (0.0, period)
    max_step = period / 200.0

    def shoot(s: float):
        return solve_ivp(rhs, t_span, [s], method="RK45", t_eval=np.append(t_eval, period),
                         rtol=rtol, atol=atol, max_step=max_step)

    zero = shoot(0.0)
    if not zero.success:
        raise SimulationError(f"Windkessel integration failed: {zero.message}")
    decay = math.exp(-period / tau)
    s = zero.y[0, -1] / (1.0 - decay)
    sol = shoot(s)
    if not sol.success or not np.all(np.isfinite(sol.y)):
        raise SimulationError(f"Windkessel integration failed: {sol.message}")
    pc = sol.y[0, :-1]
    q = flow(t_eval)
    return WindkesselResult(t=t_eval, pressure=pc + R1 * q, flow=q, period=period)


_OUTPUTS = [
    OutputSpec("p_sys", "Pa", (), "systolic (maximum) aortic pressure"),
    OutputSpec("p_dia", "Pa", (), "diastolic (minimum) aortic pressure"),
    OutputSpec("p_mean", "Pa", (), "cycle-mean aortic pressure"),
    OutputSpec("p_pulse", "Pa", (), "pulse pressure p_sys - p_dia"),
]

#: Inputs the Windkessel simulator understands, with their units.
WINDKESSEL_INPUTS = {
    "Zc": "Pa s m^-3",   # characteristic impedance R1
    "R_p": "Pa s m^-3",  # total peripheral resistance R2
    "C": "m^3 Pa^-1",    # total arterial compliance
    "HR": "1/min",       # heart rate
    "SV": "mL",          # stroke volume
    "P_out": "Pa",       # venous pressure
}


class WindkesselSimulator:
    """Three-element Windkessel driven by a half-sine ejection, as a twinemu simulator.

    Inputs (any subset may vary; the rest take the ``fixed`` values):
    ``Zc`` (Pa s m^-3), ``R_p`` (Pa s m^-3), ``C`` (m^3/Pa), ``HR`` (beats/min),
    ``SV`` (mL), ``P_out`` (Pa).  Outputs: ``p_sys``, ``p_dia``, ``p_mean``, ``p_pulse``
    (Pa) and the aortic pressure waveform ``p_wave`` (Pa) on the phase grid.

    Parameters
    ----------
    parameters : list of Parameter or mappings
        The varying inputs, with bounds and distributions.
    fixed : mapping
        Values of the inputs that do not vary.  Every input must be either varying or fixed.
    systolic_fraction : float
        Ejection time as a fraction of the period.
    phase_points : int
        Length of the waveform output.
    fidelity : str
        Level name written to the archive.
    """

    name = "windkessel3"
    version = __version__

    def __init__(
        self,
        parameters: Sequence[Parameter | Mapping[str, Any]],
        fixed: Mapping[str, float] | None = None,
        *,
        systolic_fraction: float = 0.35,
        phase_points: int = DEFAULT_PHASE_POINTS,
        fidelity: str = "0d",
    ):
        self.space = ParameterSpace([p if isinstance(p, Parameter) else Parameter(**dict(p))
                                     for p in parameters])
        self.fixed = {k: float(v) for k, v in dict(fixed or {}).items()}
        unknown = [n for n in [*self.space.names, *self.fixed] if n not in WINDKESSEL_INPUTS]
        if unknown:
            raise ConfigurationError(
                f"unknown Windkessel inputs {unknown}; valid names are "
                f"{', '.join(WINDKESSEL_INPUTS)}"
            )
        both = sorted(set(self.space.names) & set(self.fixed))
        if both:
            raise ConfigurationError(f"inputs {both} are both varying and fixed; choose one")
        missing = [n for n in WINDKESSEL_INPUTS if n not in self.space.names
                   and n not in self.fixed]
        if missing:
            raise ConfigurationError(
                f"Windkessel inputs {missing} are neither parameters nor fixed values; "
                f"give each a value under 'fixed' (e.g. P_out: 0.0)"
            )
        if not 0 < systolic_fraction < 1:
            raise ConfigurationError(
                f"systolic_fraction must be in (0, 1), got {systolic_fraction}")
        self.systolic_fraction = float(systolic_fraction)
        self.phase_points = int(phase_points)
        self.fidelity = fidelity
        self.outputs = [*_OUTPUTS, OutputSpec("p_wave", "Pa", (self.phase_points,),
                                              "aortic pressure over one cycle (phase grid)")]

    def config(self) -> dict[str, Any]:
        return {
            "simulator": self.name,
            "version": self.version,
            "space": self.space.to_dict(),
            "fixed": self.fixed,
            "systolic_fraction": self.systolic_fraction,
            "phase_points": self.phase_points,
        }

    def __call__(self, params: Mapping[str, float]) -> dict[str, np.ndarray]:
        values = {**self.fixed, **{k: float(params[k]) for k in self.space.names}}
        period = 60.0 / values["HR"]
        q = half_sine_inflow(values["SV"] * ML, period, self.systolic_fraction)
        # Solve on a grid 10x finer than the phase grid, so that extremes and the cycle
        # mean are accurate to the integrator's tolerance; the waveform is every 10th point.
        try:
            res = solve_rcr(q, period, values["Zc"], values["R_p"], values["C"],
                            p_out=values["P_out"], n_points=10 * self.phase_points)
        except (SimulationError, ParameterError) as exc:
            raise SimulationError(str(exc).split(" (parameters")[0], params) from exc
        p = res.pressure
        return {
            "p_sys": np.float64(p.max()),
            "p_dia": np.float64(p.min()),
            "p_mean": np.float64(p.mean()),
            "p_pulse": np.float64(p.max() - p.min()),
            "p_wave": p[::10].copy(),
        }
