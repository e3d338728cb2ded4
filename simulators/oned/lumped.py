"""The lumped (0D) twin of a 1D network: its three-element Windkessel equivalent.

A network is lumped into the RCR Windkessel seen from its inlet (Westerhof et al. 2009,
Med Biol Eng Comput 47:131; Alastruey et al. 2011 for the 1D→0D reduction)::

    Zc      = ρ c / A                   root vessel at its inlet (x = 0)
    R_total = (P̄_in − P_th) / Q̄        steady (mean-flow) input resistance of the network:
                                        vessels' viscous resistances + outlets' R1 + R2
    C_total = Σ_vessels ∫ dA/dP dx + Σ_outlets C

and solved for its periodic state by :func:`simulators.zerod.solve_rcr` with ``R1 = Zc``,
``R2 = R_total − Zc`` and ``P_out = P_th``, driven by the network's own inflow waveform.

Choices (all evaluated at the *mean operating state*, the steady pressures under the mean
inflow, since A, c and dA/dP depend on the pressure through the tube law
``P = P_off + β/A_ref (√A − √A_ref)``):

- wave speed ``c = √(β √A / (2 ρ A_ref))`` and ``dA/dP = 2 A_ref √A / β = A/(ρc²)``;
- viscous resistance of a vessel ``∫ 2(ζ+2)πμ / A² dx`` (the friction term of the 1D model,
  Poiseuille for ζ = 2), always included (it is 0.66 % of R_total for the common carotid and
  5.5 % for the 37-artery network at their reference parameters); the steady pressures come
  from a nodal (Kirchhoff) solve of the network's resistances, iterated because A depends on
  P (loops are allowed);
- outlets: ``rcr`` conducts 1/(R1+R2) to its P_out and adds its C; ``resistance`` 1/R to
  P_out; ``reflection`` (W2 = −Rt W1) its linearised resistance ρc/A (1+Rt)/(1−Rt) to the
  vessel's reference pressure (Rt = 1: closed, no conductance);
- ``P_th`` is the pressure at the inlet with no flow (the outlets' P_out averaged with their
  conductances), so the cycle mean of the lumped pressure is ``P_th + R_total Q̄`` exactly;
- left out: wall viscoelasticity (Γ), convective momentum and junction pressure losses, and
  all wave propagation and reflection (the cause of the pulse-pressure differences; see
  ``simulators/oned/README.md`` for the measured agreement).

SI units: Pa, m^3/s, s, Pa s m^-3, m^3/Pa.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulators.errors import ConfigurationError, SimulationError
from simulators.oned.params import Network, Vessel

#: Gauss–Legendre points per vessel for ∫ dx/A² and ∫ dA/dP dx (exact to round-off for a
#: linear taper at these pressures; the integrands are smooth in x).
QUAD_POINTS = 16
#: Fixed-point iterations for the pressure-dependent resistances, and their tolerance on
#: the relative change of the node pressures.
MAX_ITER = 50
RTOL = 1e-10


@dataclass(frozen=True)
class LumpedNetwork:
    """The Windkessel equivalent of a network, with its parts.

    ``Zc`` (Pa s m^-3), ``R_total`` (Pa s m^-3), ``C_total`` (m^3/Pa), ``P_th`` (Pa, the
    no-flow inlet pressure), ``Q_mean`` (m^3/s), ``P_mean`` (Pa, = P_th + R_total Q_mean);
    ``R_outlets`` (outlet resistances alone, in parallel, Pa s m^-3; inf if none conduct),
    ``C_vessels``, ``C_outlets`` (m^3/Pa), ``node_pressure`` (node name → mean Pa).
    """

    Zc: float
    R_total: float
    C_total: float
    P_th: float
    Q_mean: float
    P_mean: float
    R_outlets: float
    C_vessels: float
    C_outlets: float
    node_pressure: dict

    @property
    def R_viscous_fraction(self) -> float:
        """Share of the input resistance not due to the outlets (vessels' friction)."""
        return 1.0 - self.R_outlets / self.R_total if math.isfinite(self.R_outlets) else 1.0


def _area(v: Vessel, x: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                              np.ndarray]:
    """Reference area, β and area (m^2, Pa m, m^2) at ``x`` (m) under pressure ``p`` (Pa).

    Inverse of the tube law P = P_off + β/A_ref (√A − √A_ref) (Formaggia et al. 2003).
    """
    a_ref = math.pi * v.radius(x) ** 2
    beta = v.beta(x)
    sqrt_a = np.sqrt(a_ref) + (p - v.Pext - v.P_ref) * a_ref / beta
    if np.any(sqrt_a <= 0):
        raise SimulationError(f"lumping: the mean pressure collapses vessel {v.label!r} "
                              f"(tube law gives A ≤ 0)")
    return a_ref, beta, sqrt_a ** 2


def _gauss(v: Vessel) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes (fraction of L in (0, 1)) and weights (m) along ``v``."""
    s, w = np.polynomial.legendre.leggauss(QUAD_POINTS)
    return 0.5 * (s + 1.0), 0.5 * w * v.L


def _vessel_resistance(v: Vessel, mu: float, p0: float, p1: float) -> float:
    """∫ 2(ζ+2)πμ / A(x)² dx (Pa s m^-3), pressure linear from p0 (x=0) to p1 (x=L)."""
    f, w = _gauss(v)
    _, _, a = _area(v, f * v.L, p0 + (p1 - p0) * f)
    return float(2.0 * (v.zeta + 2.0) * math.pi * mu * np.sum(w / a ** 2))


def _vessel_compliance(v: Vessel, p0: float, p1: float) -> float:
    """∫ dA/dP dx = ∫ 2 A_ref √A / β dx (m^3/Pa), pressure linear from p0 to p1."""
    f, w = _gauss(v)
    a_ref, beta, a = _area(v, f * v.L, p0 + (p1 - p0) * f)
    return float(np.sum(w * 2.0 * a_ref * np.sqrt(a) / beta))


def _wave_speed(v: Vessel, x: float, p: float, rho: float) -> tuple[float, float]:
    """c (m/s) and A (m^2) at ``x`` under ``p``: c² = (A/ρ) dP/dA = β√A / (2ρA_ref)."""
    a_ref, beta, a = _area(v, np.asarray(x), np.asarray(p))
    return float(np.sqrt(beta * np.sqrt(a) / (2.0 * rho * a_ref))), float(a)


def _outlet_terms(net: Network, node_p: dict[str, float]) -> list[tuple[str, float, float]]:
    """(node, conductance 1/Pa s m^-3, far-end pressure Pa) of each conducting outlet."""
    terms = []
    for o in net.outlets:
        v = net.vessel(o.vessel)
        if o.kind == "rcr":
            terms.append((v.target, 1.0 / (o.R1 + o.R2), o.Pout))
        elif o.kind == "resistance":
            terms.append((v.target, 1.0 / o.R1, o.Pout))
        elif o.Rt < 1.0:
            # W2 = −Rt W1 linearised about the reference state: P − P_off = ρc/A (1+Rt)/(1−Rt) Q
            c, a = _wave_speed(v, v.L, node_p.get(v.target, v.Pext + v.P_ref), net.blood.rho)
            z = net.blood.rho * c / a * (1.0 + o.Rt) / (1.0 - o.Rt)
            if z > 0:
                terms.append((v.target, 1.0 / z, v.Pext + v.P_ref))
    return terms


def _nodal_solve(net: Network, nodes: dict[str, int], g_vessel: np.ndarray,
                 outlets: list[tuple[str, float, float]], q_in: float) -> np.ndarray:
    """Steady node pressures (Pa): Kirchhoff's current law with ``q_in`` into the inlet."""
    n = max(nodes.values()) + 1
    lap = np.zeros((n, n))
    rhs = np.zeros(n)
    for g, v in zip(g_vessel, net.vessels, strict=True):
        i, j = nodes[v.source], nodes[v.target]
        lap[i, i] += g
        lap[j, j] += g
        lap[i, j] -= g
        lap[j, i] -= g
    for node, g, p_far in outlets:
        k = nodes[node]
        lap[k, k] += g
        rhs[k] += g * p_far
    rhs[nodes[net.vessel(net.inlet.vessel).source]] += q_in
    try:
        return np.linalg.solve(lap, rhs)
    except np.linalg.LinAlgError as exc:
        raise ConfigurationError(
            f"network {net.name!r}: no outlet conducts flow away (all outlets closed), so "
            f"it has no steady state to lump; give it a resistive or Windkessel outlet"
        ) from exc


def lump(net: Network) -> LumpedNetwork:
    """The Windkessel equivalent of ``net`` at its mean operating state (module docstring).

    Raises :class:`ConfigurationError` for a network with no conducting outlet and
    :class:`SimulationError` when the mean pressure would collapse a vessel or the
    resistances do not settle.
    """
    names = sorted({v.source for v in net.vessels} | {v.target for v in net.vessels})
    mu = net.blood.mu
    # inviscid blood (μ = 0): no vessel resistance, every node at one mean pressure
    nodes = {name: (k if mu > 0 else 0) for k, name in enumerate(names)}
    q_mean = net.inlet.mean()
    # first pass: every vessel at its reference state (P = P_ref + P_ext)
    p = {name: 0.0 for name in names}
    for v in net.vessels:
        p[v.source] = p[v.target] = v.Pext + v.P_ref
    for _ in range(MAX_ITER):
        g = np.array([1.0 / _vessel_resistance(v, mu, p[v.source], p[v.target]) if mu > 0
                      else 0.0 for v in net.vessels])
        outlets = _outlet_terms(net, p)
        sol = _nodal_solve(net, nodes, g, outlets, q_mean)
        scale = max(float(np.max(np.abs(sol))), 1.0)
        change = max(abs(sol[k] - p[name]) for name, k in nodes.items()) / scale
        p = {name: float(sol[k]) for name, k in nodes.items()}
        if change <= RTOL:
            break
    else:
        raise SimulationError(f"lumping {net.name!r}: the pressure-dependent vessel "
                              f"resistances did not settle in {MAX_ITER} iterations")
    root = net.vessel(net.inlet.vessel)
    p_in = p[root.source]
    p_th = float(_nodal_solve(net, nodes, g, outlets, 0.0)[nodes[root.source]])
    if q_mean > 0:
        r_total = (p_in - p_th) / q_mean
    else:   # no mean flow: the same linear network's resistance
        r_total = float(_nodal_solve(net, nodes, g, outlets, 1.0)[nodes[root.source]]) - p_th
    g_out = sum(gk for _, gk, _ in outlets)
    c_vessels = sum(_vessel_compliance(v, p[v.source], p[v.target]) for v in net.vessels)
    c_outlets = sum(o.C for o in net.outlets if o.kind == "rcr")
    c, a = _wave_speed(root, 0.0, p_in, net.blood.rho)
    return LumpedNetwork(
        Zc=net.blood.rho * c / a, R_total=float(r_total), C_total=c_vessels + c_outlets,
        P_th=p_th, Q_mean=q_mean, P_mean=float(p_in),
        R_outlets=1.0 / g_out if g_out > 0 else math.inf,
        C_vessels=c_vessels, C_outlets=c_outlets, node_pressure=p)


def _inflow(net: Network):
    """``net.inlet.q`` (m^3/s at t in s) with its periodic table built once, for the ODE
    right-hand side (3× faster than ``Inlet.q``, which rebuilds it per call)."""
    inl = net.inlet
    xp = np.concatenate([inl.phase, [inl.phase[0] + 1.0]])
    fp = inl.scale * np.concatenate([inl.flow, [inl.flow[0]]])
    period = inl.period

    def q(t):
        return np.interp(np.mod(np.asarray(t, dtype=float) / period, 1.0), xp, fp)

    return q


def lumped_windkessel(network: Network) -> tuple[float, float, float]:
    """``(Zc, R_total, C_total)`` of ``network``: Pa s m^-3, Pa s m^-3, m^3/Pa.

    See :func:`lump` (and the module docstring) for what each includes.
    """
    lw = lump(network)
    return lw.Zc, lw.R_total, lw.C_total


# ---------------------------------------------------------------------------------------
# The twinemu simulator

#: Quantities the lumped twin gives at the inlet site (units as OneDSimulator's).
LUMPED_QUANTITIES = ("P_sys", "P_dia", "P_mean", "PP", "Q_mean", "Q_max", "P_wave", "Q_wave")
_KEYS = {"network", "parameters", "sites", "outputs", "phase_points", "fidelity"}
OVERSAMPLE = 10   # solve on a grid 10x finer than the phase grid; scalars use it
#: RK45 tolerances of the Windkessel solve (atol in Pa): within 0.1 Pa (1e-5 of the mean
#: pressure) of zerod's default 1e-9 solve for both shipped networks, 3-4x faster.
RK_RTOL, RK_ATOL = 1e-7, 1e-4


class LumpedNetworkSimulator:
    """The lumped (0D) twin of a 1D network simulator, with the same inputs and names.

    Hydra builds it from ``conf/simulator/oned_*_lumped.yaml``, whose ``network`` and
    ``parameters`` are those of the 1D twin (same targets, hence the same
    :class:`~simulators.design.ParameterSpace`)::

        _target_: simulators.oned.LumpedNetworkSimulator
        network: simulator/networks/boileau_cca.yaml
        parameters: [...]                    # as in oned_cca.yaml
        sites: {inlet: {vessel: common_carotid_artery, x: 0.0}}   # the inlet only
        outputs: [P_sys, P_dia, P_mean, PP, Q_mean, Q_max, P_wave]
        phase_points: 100
        fidelity: 0d

    A run applies the parameters to the network (:func:`simulators.oned.targets.apply`),
    lumps it (:func:`lump`) and solves the Windkessel's periodic state with
    :func:`simulators.zerod.solve_rcr` under the network's inflow.  Outputs are named
    ``<quantity>_<site>`` like :class:`~simulators.oned.OneDSimulator`'s: pressures in Pa,
    flows in mL/s, waveforms on the phase grid ``k/T`` of the cycle starting at t = 0.
    """

    name = "oned_lumped"
    version = "1.0"

    def __init__(self, network, parameters=(), sites=None,
                 outputs=("P_sys", "P_dia", "P_mean", "PP", "P_wave"),
                 phase_points: int = 100, fidelity: str = "0d", **unknown):
        from simulators.oned.io import load_network
        from simulators.oned.simulator import (
            OneDSimulator,
            _integer,
            _plain,
            parse_parameters,
            resolve_network_path,
        )
        if unknown:
            raise ConfigurationError(
                f"LumpedNetworkSimulator: unknown key(s) {sorted(unknown)}; allowed: "
                f"{sorted(_KEYS)} (the 1D solver's keys solver, refine, pwv, threads do not "
                f"apply to the lumped model)")
        if isinstance(network, Network):
            self.network_path = None
            self.base = network
        else:
            self.network_path = resolve_network_path(network)
            self.base = load_network(self.network_path)
        self.targets, self.space = parse_parameters(parameters, self.base)
        self.sites = OneDSimulator._sites(_plain(sites), self.base)
        inlet = (self.base.inlet.vessel, 0.0)
        wrong = {k: v for k, v in self.sites.items() if v != inlet}
        if len(self.sites) != 1 or wrong:
            raise ConfigurationError(
                f"LumpedNetworkSimulator: the lumped model has one site, the network inlet "
                f"{{vessel: {inlet[0]}, x: 0.0}}; got sites {dict(self.sites)}")
        self.site = next(iter(self.sites))
        self.output_quantities = list(_plain(outputs))
        bad = [q for q in self.output_quantities if q not in LUMPED_QUANTITIES]
        if bad:
            raise ConfigurationError(f"outputs {bad} not given by the lumped model; choose "
                                     f"from {list(LUMPED_QUANTITIES)}")
        self.phase_points = _integer(phase_points, "phase_points", 2)
        self.fidelity = fidelity
        self.outputs = self._output_specs()

    def _output_specs(self):
        from simulators.base import OutputSpec
        from simulators.oned.simulator import _QUANTITIES
        specs = []
        for q in self.output_quantities:
            unit, desc = _QUANTITIES[q]
            shape = (self.phase_points,) if q.endswith("_wave") else ()
            specs.append(OutputSpec(f"{q}_{self.site}", unit, shape,
                                    f"{desc} at the inlet of the lumped (RCR) network"))
        return specs

    def config(self) -> dict:
        """JSON-able description (hashed into each run's provenance)."""
        from simulators.oned.io import to_dict
        return {
            "simulator": self.name, "version": self.version, "fidelity": self.fidelity,
            "network_path": str(self.network_path) if self.network_path else None,
            "network": to_dict(self.base), "space": self.space.to_dict(),
            "targets": {k: [str(t) for t in v] for k, v in self.targets.items()},
            "sites": {k: list(v) for k, v in self.sites.items()},
            "outputs": [o.to_dict() for o in self.outputs],
            "phase_points": self.phase_points,
        }

    def network_for(self, params) -> Network:
        """The network with ``params`` applied (checked against the space)."""
        from simulators.oned import targets as tg
        self.space.check(params)
        return tg.apply(self.base, tg.assignments(self.targets, params))

    def windkessel_for(self, params) -> LumpedNetwork:
        """The lumped Windkessel of the network at ``params``."""
        return lump(self.network_for(params))

    def __call__(self, params) -> dict[str, np.ndarray]:
        """Outputs of one run; raises :class:`SimulationError` (with ``params``)."""
        from simulators.errors import ParameterError
        from simulators.zerod import solve_rcr
        try:
            net = self.network_for(params)
            lw = lump(net)
            if not lw.R_total > lw.Zc:
                raise SimulationError(
                    f"lumped network: input resistance {lw.R_total:.4g} ≤ Zc {lw.Zc:.4g} "
                    f"Pa s m^-3 leaves no peripheral resistance")
            res = solve_rcr(_inflow(net), net.inlet.period, lw.Zc, lw.R_total - lw.Zc,
                            lw.C_total, p_out=lw.P_th,
                            n_points=OVERSAMPLE * self.phase_points, rtol=RK_RTOL, atol=RK_ATOL)
        except (SimulationError, ParameterError) as exc:
            shown = {k: v for k, v in dict(params).items() if isinstance(v, (int, float))}
            raise SimulationError(str(exc).split(" (parameters")[0], shown) from exc
        p, q = res.pressure, res.flow / 1e-6
        vals = {"P_sys": p.max(), "P_dia": p.min(), "P_mean": p.mean(),
                "PP": p.max() - p.min(), "Q_mean": q.mean(), "Q_max": q.max()}
        out: dict[str, np.ndarray] = {}
        for name in self.output_quantities:
            key = f"{name}_{self.site}"
            if name == "P_wave":
                out[key] = p[::OVERSAMPLE].copy()
            elif name == "Q_wave":
                out[key] = q[::OVERSAMPLE].copy()
            else:
                out[key] = np.float64(vals[name])
        return out

    def run_batch(self, points) -> list[dict[str, np.ndarray] | SimulationError]:
        """Run each point (~0.2 s each for the carotid, ~0.7 s for the 37-artery network, of
        which ~0.5 s is the lumping); failures come back as errors."""
        res: list[dict[str, np.ndarray] | SimulationError] = []
        for p in points:
            self.space.check(dict(p))    # malformed points still raise
            try:
                res.append(self(p))
            except SimulationError as exc:
                res.append(exc)
        return res

    def __repr__(self) -> str:
        return (f"LumpedNetworkSimulator(network={self.base.name!r}, "
                f"inputs={self.space.names}, outputs={len(self.outputs)})")
