"""The 1D solver as a twinemu :class:`~simulators.base.Simulator`.

Hydra builds it from ``conf/simulator/oned_*.yaml``::

    _target_: simulators.oned.OneDSimulator
    network: simulator/networks/boileau_cca.yaml    # absolute, or relative to conf/
    parameters:                                     # the design space; each has a target
      - {name: R2_scale, low: 0.7, high: 1.3, unit: "1", target: "outlets.*.R2:scale"}
    sites:                                          # probes: name -> vessel label + x in [0,1]
      inlet: {vessel: common_carotid_artery, x: 0.0}
    outputs: [P_sys, P_dia, P_mean, PP, Q_mean, Q_max, P_wave, Q_wave]   # for every site
                           # (optional; default P_sys, P_dia, P_mean, PP, P_wave)
    pwv: [{name: pwv_ab, from: a, to: b}]  # optional: foot-to-foot PWV (m/s) between sites;
                           # meaningful over long paths (tens of cm): over a short segment the
                           # foot delay is dominated by reflections
    solver: {cfl: 0.9, max_cycles: 30, min_cycles: 2, tol: 1.0e-3}      # optional
    refine: 1.0            # optional: multiplies every vessel's cell count
    threads: 1             # optional: Numba threads over the members of run_batch
    phase_points: 100      # optional: waveform length T (phase grid k/T)
    fidelity: 1d           # optional

``target`` syntax: see :mod:`simulators.oned.targets`.  Parameter keys besides ``target``
are those of :class:`simulators.design.Parameter`.  Output ``<quantity>_<site>``: pressures
in Pa (P_sys, P_dia, P_mean, PP, P_wave), flows in mL/s (Q_mean, Q_max, Q_wave), area in
mm^2 (A_wave), velocity in m/s (u_wave).  Unknown keys raise ConfigurationError.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from simulators.base import DEFAULT_PHASE_POINTS, OutputSpec
from simulators.design import Parameter, ParameterSpace
from simulators.errors import ConfigurationError, ParameterError, SimulationError
from simulators.oned import targets as tg
from simulators.oned.io import load_network, to_dict
from simulators.oned.params import Network
from simulators.oned.record import Solution, flow_summary, pressure_summary, pulse_wave_velocity
from simulators.oned.solver import DEFAULTS, simulate_batch, site_distances
from simulators.units import ML  # m^3 per mL

__version__ = "1.0"
OVERSAMPLE = 4  # record 4 samples per phase-grid point; scalars use the finer record

_QUANTITIES = {
    "P_sys": ("Pa", "systolic (maximum) pressure"),
    "P_dia": ("Pa", "diastolic (minimum) pressure"),
    "P_mean": ("Pa", "cycle-mean pressure"),
    "PP": ("Pa", "pulse pressure"),
    "Q_mean": ("mL/s", "cycle-mean flow"),
    "Q_max": ("mL/s", "peak flow"),
    "P_wave": ("Pa", "pressure over one cycle"),
    "Q_wave": ("mL/s", "flow over one cycle"),
    "A_wave": ("mm^2", "lumen area over one cycle"),
    "u_wave": ("m/s", "mean velocity over one cycle"),
}
_KEYS = {"network", "parameters", "sites", "outputs", "pwv", "solver", "refine",
         "phase_points", "fidelity", "threads"}


def _plain(obj: Any) -> Any:
    """OmegaConf containers (as Hydra passes them) → plain dicts and lists."""
    if type(obj).__module__.startswith("omegaconf"):
        from omegaconf import OmegaConf
        return OmegaConf.to_container(obj, resolve=True)
    return obj


def _integer(value: Any, name: str, minimum: int) -> int:
    """``value`` as an int ≥ ``minimum`` (a float with an integral value is accepted)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value) or int(value) != value:
        raise ConfigurationError(f"{name}={value!r} must be a whole number ≥ {minimum}")
    if value < minimum:
        raise ConfigurationError(f"{name}={int(value)} must be ≥ {minimum}")
    return int(value)


def resolve_network_path(path: str | Path) -> Path:
    """An absolute path, or one relative to the config tree (a checkout's ``conf/`` or the
    copy installed with the package, :func:`simulators.paths.conf_dir`)."""
    from simulators.paths import conf_dir

    p = Path(path)
    if not p.is_absolute():
        p = conf_dir() / p
    if not p.is_file():
        raise ConfigurationError(f"network file {p} not found (relative paths are taken "
                                 f"from twinemu's conf/ directory)")
    return p


def parse_parameters(parameters: Sequence[Mapping], net: Network
                     ) -> tuple[dict[str, list[tg.Target]], ParameterSpace]:
    """The ``parameters:`` list of a network simulator → (targets per name, space).

    Each entry holds :class:`~simulators.design.Parameter` keys and a ``target`` (a string
    or a list of them, checked against ``net``).  Shared by :class:`OneDSimulator` and the
    lumped twin, so both read the same YAML into the same space.
    """
    targets: dict[str, list[tg.Target]] = {}
    plist = []
    for p in (dict(p) for p in _plain(parameters)):
        if "target" not in p:
            raise ConfigurationError(f"parameter {p.get('name')!r}: missing 'target' "
                                     f"(e.g. 'outlets.*.R2:scale')")
        t = p.pop("target")
        ts = [t] if isinstance(t, str) else list(t)
        try:
            par = Parameter(**p)
        except TypeError as exc:
            raise ConfigurationError(f"parameter {p.get('name')!r}: {exc}") from exc
        targets[par.name] = [tg.parse(x, net) for x in ts]
        plist.append(par)
    return targets, ParameterSpace(plist)


class OneDSimulator:
    """1D network solver run to its periodic state; see the module docstring for keys."""

    name = "oned"
    version = __version__

    def __init__(self, network: str | Path | Network, parameters: Sequence[Mapping] = (),
                 sites: Mapping[str, Mapping] | None = None,
                 outputs: Sequence[str] = ("P_sys", "P_dia", "P_mean", "PP", "P_wave"),
                 pwv: Sequence[Mapping] = (), solver: Mapping[str, Any] | None = None,
                 refine: float = 1.0, phase_points: int = DEFAULT_PHASE_POINTS,
                 fidelity: str = "1d", threads: int = 1, **unknown: Any):
        if unknown:
            raise ConfigurationError(f"OneDSimulator: unknown key(s) {sorted(unknown)}; "
                                     f"allowed: {sorted(_KEYS)}")
        if isinstance(network, Network):
            self.network_path = None
            net = network
        else:
            self.network_path = resolve_network_path(network)
            net = load_network(self.network_path)
        if isinstance(refine, bool) or not isinstance(refine, numbers.Real) \
                or not math.isfinite(refine) or refine <= 0:
            raise ConfigurationError(f"refine={refine!r} must be a number > 0 (it multiplies "
                                     f"every vessel's cell count)")
        if refine != 1.0:
            net = net.with_resolution(float(refine))
        self.refine = float(refine)
        self.base = net
        self.targets, self.space = parse_parameters(parameters, net)
        self.sites = self._sites(_plain(sites), net)
        self.output_quantities = list(_plain(outputs))
        bad = [q for q in self.output_quantities if q not in _QUANTITIES]
        if bad:
            raise ConfigurationError(f"outputs {bad} unknown; choose from {list(_QUANTITIES)}")
        self.pwv = [dict(d) for d in _plain(pwv)]
        for d in self.pwv:
            if set(d) != {"name", "from", "to"} or d["from"] not in self.sites \
                    or d["to"] not in self.sites:
                raise ConfigurationError(f"pwv entry {d}: needs name, from, to (site names "
                                         f"among {list(self.sites)})")
        opts = _plain(solver) or {}
        if not isinstance(opts, Mapping):
            raise ConfigurationError(f"solver: expected a mapping of options, got {opts!r}")
        opts = dict(opts)
        unknown_opts = set(opts) - (set(DEFAULTS) - {"record_points"})
        if unknown_opts:
            raise ConfigurationError(f"solver: unknown option(s) {sorted(unknown_opts)}; "
                                     f"allowed: {sorted(set(DEFAULTS) - {'record_points'})}")
        for key, val in opts.items():
            if key in ("max_cycles", "min_cycles"):
                opts[key] = _integer(val, f"solver.{key}", 1)
            elif isinstance(val, bool) or not isinstance(val, numbers.Real) \
                    or not math.isfinite(val):
                raise ConfigurationError(f"solver.{key}={val!r} must be a finite number")
        self.solver_options = {**{k: v for k, v in DEFAULTS.items() if k != "record_points"},
                               **opts}
        self.phase_points = _integer(phase_points, "phase_points", 2)
        self.fidelity = fidelity
        self.threads = _integer(threads, "threads", 1)
        self.outputs = self._output_specs()

    @staticmethod
    def _sites(sites: Mapping | None, net: Network) -> dict[str, tuple[str, float]]:
        if not sites:
            raise ConfigurationError("OneDSimulator: give 'sites' (name: {vessel, x})")
        out = {}
        for name, d in sites.items():
            if not isinstance(d, Mapping) or set(d) != {"vessel", "x"}:
                raise ConfigurationError(f"site {name!r}: expected {{vessel: label, x: 0..1}}")
            net.vessel(str(d["vessel"]))
            x = float(d["x"])
            if not 0.0 <= x <= 1.0:
                raise ConfigurationError(f"site {name!r}: x={x} must be in [0, 1]")
            out[str(name)] = (str(d["vessel"]), x)
        return out

    def _output_specs(self) -> list[OutputSpec]:
        specs = []
        for site, (lab, x) in self.sites.items():
            for q in self.output_quantities:
                unit, desc = _QUANTITIES[q]
                shape = (self.phase_points,) if q.endswith("_wave") else ()
                specs.append(OutputSpec(f"{q}_{site}", unit, shape,
                                        f"{desc} at {lab} x={x:g}"))
        for d in self.pwv:
            specs.append(OutputSpec(d["name"], "m/s", (), f"foot-to-foot PWV {d['from']} → "
                                                           f"{d['to']}"))
        return specs

    def config(self) -> dict[str, Any]:
        """JSON-able description (hashed into each run's provenance)."""
        return {
            "simulator": self.name, "version": self.version, "fidelity": self.fidelity,
            "network_path": str(self.network_path) if self.network_path else None,
            "network": to_dict(self.base),
            "space": self.space.to_dict(),
            "targets": {k: [str(t) for t in v] for k, v in self.targets.items()},
            "sites": {k: list(v) for k, v in self.sites.items()},
            "outputs": [o.to_dict() for o in self.outputs], "pwv": self.pwv,
            "solver": self.solver_options, "refine": self.refine,
            "phase_points": self.phase_points,
        }

    def network_for(self, params: Mapping[str, float]) -> Network:
        """The network with ``params`` applied (checked against the space)."""
        self.space.check(params)
        return tg.apply(self.base, tg.assignments(self.targets, params))

    def __call__(self, params: Mapping[str, float]) -> dict[str, np.ndarray]:
        """Outputs of one run; raises :class:`SimulationError` (with ``params``) when the
        parameters are invalid or the run fails."""
        out = self.run_batch([params])[0]
        if isinstance(out, SimulationError):
            raise out
        return out

    def run_batch(self, points: Sequence[Mapping[str, float]]
                  ) -> list[dict[str, np.ndarray] | SimulationError]:
        """Run many parameter sets in one compiled call; failures come back as errors.

        A member whose values give an invalid network (a :class:`ParameterError` from
        :func:`~simulators.oned.targets.apply`, e.g. a compliance scaled to 0) comes back as
        a :class:`SimulationError` carrying its parameters; the other members run.
        """
        points = [dict(p) for p in points]
        nets: list[Network | None] = []
        bad: dict[int, SimulationError] = {}
        for k, p in enumerate(points):
            self.space.check(p)          # malformed points (names, bounds) still raise
            asg = tg.assignments(self.targets, p)
            try:
                nets.append(tg.apply(self.base, asg))
            except ParameterError as exc:
                nets.append(None)
                shown = {n: v for n, v in p.items() if isinstance(v, numbers.Real)}
                bad[k] = SimulationError(f"invalid parameters: {exc}", shown)
        good = [k for k, n in enumerate(nets) if n is not None]
        sols_good = simulate_batch(
            [nets[k] for k in good], sites=list(self.sites.values()),
            params=[points[k] for k in good], record_points=self.phase_points * OVERSAMPLE,
            threads=self.threads, **self.solver_options) if good else []
        sols: list[Any] = [bad.get(k) for k in range(len(points))]
        for k, s in zip(good, sols_good, strict=True):
            sols[k] = s
        res: list[dict[str, np.ndarray] | SimulationError] = []
        for p, s, net in zip(points, sols, nets, strict=True):
            if isinstance(s, SimulationError):
                res.append(s)
            elif not s.converged:
                change = (f"{np.nanmax(s.change):.3g}" if np.isfinite(s.change).any()
                          else "unknown")
                res.append(SimulationError(
                    f"no periodic state after {s.cycles} cycles (largest cycle-to-cycle "
                    f"change {change} of pulse pressure > tol "
                    f"{self.solver_options['tol']:g})", p))
            else:
                res.append(self._outputs(s, net))
        return res

    def _outputs(self, s: Solution, net: Network) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for k, site in enumerate(self.sites):
            p, q, a = s.P[k], s.Q[k], s.A[k]
            vals = {**pressure_summary(p), **flow_summary(q / ML)}
            for name in self.output_quantities:
                key = f"{name}_{site}"
                if name == "P_wave":
                    out[key] = p[::OVERSAMPLE].copy()
                elif name == "Q_wave":
                    out[key] = q[::OVERSAMPLE] / ML
                elif name == "A_wave":
                    out[key] = a[::OVERSAMPLE] * 1e6
                elif name == "u_wave":
                    out[key] = q[::OVERSAMPLE] / a[::OVERSAMPLE]
                else:
                    out[key] = np.float64(vals[name])
        if self.pwv:
            names = list(self.sites)
            dist = site_distances(net, list(self.sites.values()))
            for d in self.pwv:
                ka, kb = names.index(d["from"]), names.index(d["to"])
                out[d["name"]] = np.float64(pulse_wave_velocity(
                    s.P[ka], s.P[kb], s.period, dist[kb] - dist[ka]))
        return out

    def __repr__(self) -> str:
        return (f"OneDSimulator(network={self.base.name!r}, inputs={self.space.names}, "
                f"outputs={len(self.outputs)})")
