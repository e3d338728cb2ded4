"""Run a network to its periodic state: orchestration in Python, time stepping in kernels.

:func:`simulate` runs one network; :func:`simulate_batch` advances many parameter sets of
one network (same topology and cell counts) in a single compiled call, as campaigns do.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simulators.errors import ConfigurationError, SimulationError
from simulators.oned import kernels
from simulators.oned.network import Layout, layout, member_arrays, probe_index
from simulators.oned.params import Network
from simulators.oned.record import Solution

#: Defaults of the periodic-state loop (documented in :func:`simulate`).
DEFAULTS = {"cfl": 0.9, "max_cycles": 30, "min_cycles": 2, "tol": 1e-3, "record_points": 200}


@dataclass(frozen=True)
class Options:
    """Validated solver options (see :func:`simulate`)."""

    cfl: float = DEFAULTS["cfl"]
    max_cycles: int = DEFAULTS["max_cycles"]
    min_cycles: int = DEFAULTS["min_cycles"]
    tol: float = DEFAULTS["tol"]
    record_points: int = DEFAULTS["record_points"]

    def __post_init__(self) -> None:
        if not 0 < self.cfl <= 1:
            raise ConfigurationError(f"cfl={self.cfl} must be in (0, 1]")
        if not 1 <= self.min_cycles <= self.max_cycles:
            raise ConfigurationError(f"need 1 ≤ min_cycles ({self.min_cycles}) ≤ max_cycles "
                                     f"({self.max_cycles})")
        if not self.tol > 0:
            raise ConfigurationError(f"tol={self.tol} must be > 0")
        if self.record_points < 4:
            raise ConfigurationError(f"record_points={self.record_points} must be ≥ 4")


def default_sites(net: Network) -> list[tuple[str, float]]:
    """Inlet, middle and outlet (x = 0, 0.5, 1) of every vessel."""
    return [(v.label, x) for v in net.vessels for x in (0.0, 0.5, 1.0)]


def site_distances(net: Network, sites: Sequence[tuple[str, float]]) -> np.ndarray:
    """Shortest path length (m) along the vessels from the inlet to each site."""
    adj: dict[str, list[tuple[str, float]]] = {}
    for v in net.vessels:
        adj.setdefault(v.source, []).append((v.target, v.L))
        adj.setdefault(v.target, []).append((v.source, v.L))
    start = net.vessel(net.inlet.vessel).source
    dist = {start: 0.0}
    heap = [(0.0, start)]
    while heap:
        d, n = heapq.heappop(heap)
        if d > dist.get(n, math.inf):
            continue
        for m, w in adj.get(n, []):
            if d + w < dist.get(m, math.inf):
                dist[m] = d + w
                heapq.heappush(heap, (d + w, m))
    out = []
    for lab, x in sites:
        v = net.vessel(lab)
        ds, dt = dist.get(v.source, math.inf), dist.get(v.target, math.inf)
        out.append(ds + x * v.L if ds <= dt else dt + (1 - x) * v.L)
    return np.array(out)


def _initial_state(cp: np.ndarray, p_init: float) -> tuple[np.ndarray, np.ndarray]:
    """Uniform pressure ``p_init`` at rest: √A = √A_ref + (P − Poff)/K (clamped > 0)."""
    sa = cp[1] + (p_init - cp[4]) / cp[0]
    sa = np.maximum(sa, 0.5 * cp[1])
    return sa * sa, np.zeros_like(sa)


def _probes(net: Network, lay: Layout, sites) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cell index and weight of each site; and its boundary face (x = 0 or 1), else −1."""
    idx = [probe_index(net, lay, lab, float(x)) for lab, x in sites]
    faces = []
    for (_, x), (v, _, _) in zip(sites, idx, strict=True):
        x = float(x)
        faces.append(int(lay.foff[v]) if x == 0.0 else
                     int(lay.foff[v + 1]) - 1 if x == 1.0 else -1)
    return (np.array([i for _, i, _ in idx], dtype=np.int64),
            np.array([w for _, _, w in idx], dtype=float), np.array(faces, dtype=np.int64))


def _failure(code: int, info: np.ndarray, diag: np.ndarray, lay: Layout, cycles: int) -> str:
    what = kernels.STATUS.get(code, f"status {code}")
    cell = int(info[1])
    where = ""
    if cell >= 0:
        v = int(np.searchsorted(lay.off, cell, side="right") - 1)
        where = f" in vessel {lay.labels[v]!r} (cell {cell - lay.off[v]})"
    when = (f"at t={diag[kernels.D_TFAIL]:.6g} s of cycle {cycles}" if cycles > 0
            else "before the first cycle")
    return f"{what}{where} {when}"


def simulate(network: Network, *, sites: Sequence[tuple[str, float]] | None = None,
             p_init: float | None = None, raise_on_failure: bool = True,
             params: dict | None = None, **options) -> Solution:
    """Run cardiac cycles until the periodic state and return the last cycle.

    Parameters
    ----------
    network : Network
        From :func:`simulators.oned.load_network`.
    sites : list of (vessel label, x fraction in [0, 1]), optional
        Where to record P, Q, A; default: x = 0, 0.5, 1 of every vessel.  x = 0 and 1 read
        the boundary face (the inlet flow is the prescribed one); other sites interpolate
        cell values.
    p_init : float, optional
        Initial uniform pressure (Pa); default P_out + R_total·Q̄.
    cfl : float
        Courant number of Δt = cfl·min Δx/(|u|+c) (default 0.9).
    max_cycles, min_cycles : int
        Cap on cycles (default 30) and least number run (default 2).
    tol : float
        Periodic-state tolerance: RMS cycle-to-cycle pressure change ≤ tol × pulse
        pressure at every site (default 1e-3, i.e. 0.1 %).
    record_points : int
        Samples per cycle of the recorded waveforms (default 200).
    raise_on_failure : bool
        Raise :class:`SimulationError` for an unstable run (default); else return a
        Solution with ``converged=False`` and the reason in ``diagnostics['status']``.
        A run fails when the state is non-finite or leaves the physical range (A/A_ref
        outside [0.05, 20], |u| ≥ c, P outside [−10, 100] kPa: :data:`kernels.STATUS`), or
        a boundary, junction or Windkessel (R2·C ≤ 0) condition fails; the error names the
        vessel, the time and the reason.
    params : dict, optional
        The parameters that produced ``network``, carried by the :class:`SimulationError`.

    Non-convergence within ``max_cycles`` is not an error here: check
    ``solution.converged``.
    """
    out = simulate_batch([network], sites=sites, p_init=p_init,
                         params=None if params is None else [params], **options)[0]
    if isinstance(out, SimulationError):
        if raise_on_failure:
            raise out
        return out.solution  # type: ignore[attr-defined]
    return out


def simulate_batch(networks: Sequence[Network], *, sites=None, p_init=None,
                   params: Sequence[dict] | None = None, threads: int = 1, **options
                   ) -> list[Solution | SimulationError]:
    """Advance many parameter sets of one network in one compiled call.

    All ``networks`` must share topology and cell counts (they differ in parameter values,
    as produced by :func:`simulators.oned.targets.apply`).  Unstable members come back as
    :class:`SimulationError` (carrying ``params[k]`` and a partial ``solution``); the others
    as :class:`Solution` — none is dropped.  ``threads`` > 1 spreads the members over that
    many Numba threads (same results); the default 1 runs them one after the other.
    """
    if int(threads) != threads or threads < 1:
        raise ConfigurationError(f"threads={threads} must be an integer ≥ 1")
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise ConfigurationError(f"unknown solver option(s) {sorted(unknown)}; allowed: "
                                 f"{sorted(DEFAULTS)} and sites, p_init")
    opt = Options(**options)
    if not networks:
        return []
    if params is not None and len(params) != len(networks):
        raise ConfigurationError(f"simulate_batch: {len(params)} parameter dicts for "
                                 f"{len(networks)} networks")
    net0 = networks[0]
    lay = layout(net0)
    sites = [(str(s[0]), float(s[1])) for s in (sites or default_sites(net0))]
    pr_i, pr_w, pr_f = _probes(net0, lay, sites)
    members = [member_arrays(n, lay, p_init) for n in networks]
    for n, m in zip(networks, members, strict=True):
        if (len(n.vessels) != lay.nvessel or [v.label for v in n.vessels] != list(lay.labels)
                or m.tab_phase.shape != members[0].tab_phase.shape
                or not np.array_equal(m.tab_flow, members[0].tab_flow)):
            raise ConfigurationError("simulate_batch: members must share the network topology "
                                     "and the inflow table (scale and period may differ)")
    b = len(members)
    cp = np.stack([m.cp for m in members])
    a0 = np.empty((b, lay.ncell))
    q0 = np.empty((b, lay.ncell))
    for k, m in enumerate(members):
        a0[k], q0[k] = _initial_state(m.cp, m.p_init)
    pc = np.stack([np.full(len(n.outlets), m.p_init) for n, m in zip(networks, members,
                                                                        strict=True)])
    npr, nrec = len(sites), opt.record_points
    rec = np.zeros((b, npr, 3, nrec))
    err = np.full((b, npr), np.nan)
    diag = np.zeros((b, kernels.NDIAG))
    info = np.zeros((b, 4), dtype=np.int64)
    status = np.zeros(b, dtype=np.int64)
    t0 = time.perf_counter()
    run = kernels.run_batch
    if threads > 1 and b > 1:
        import numba

        numba.set_num_threads(min(int(threads), numba.config.NUMBA_NUM_THREADS))
        run = kernels.run_batch_parallel
    run(
        a0, q0, pc, cp, np.stack([m.fp for m in members]), np.stack([m.dx for m in members]),
        lay.off, lay.foff, lay.inlet_v, members[0].tab_phase, members[0].tab_flow,
        np.array([m.inflow[0] for m in members]), np.array([m.inflow[1] for m in members]),
        lay.out_v, np.stack([m.outp for m in members]), lay.joff, lay.jv, lay.jend,
        net0.junction_pressure == "total", np.array([m.rho for m in members]), opt.cfl,
        pr_i, pr_w, pr_f, nrec, opt.max_cycles, opt.min_cycles, opt.tol, rec, err, diag, info,
        status)
    wall = (time.perf_counter() - t0) / b
    dist = site_distances(net0, sites)
    results: list[Solution | SimulationError] = []
    for k, n in enumerate(networks):
        d = diag[k]
        vin = d[kernels.D_VIN]
        mass = ((d[kernels.D_V1] - d[kernels.D_V0]) - (vin - d[kernels.D_VOUT])) / max(
            abs(vin), 1e-30)
        sol = Solution(
            t=np.arange(nrec) * n.inlet.period / nrec, period=n.inlet.period, sites=sites,
            P=rec[k, :, 0].copy(), Q=rec[k, :, 1].copy(), A=rec[k, :, 2].copy(),
            cycles=int(info[k, 0]), converged=bool(status[k] == 0), change=err[k].copy(),
            diagnostics={"status": kernels.STATUS.get(int(status[k]), str(status[k])),
                         "junction_mass_residual": float(d[kernels.D_JRES]),
                         "junction_closure_gap": float(d[kernels.D_JCHAR]),
                         "mass_balance_error": float(mass),
                         "steps_per_cycle": int(d[kernels.D_STEPS]),
                         "dt_min": float(d[kernels.D_DTMIN]),
                         "cell_updates": float(d[kernels.D_CELLUPD]),
                         "cells": lay.ncell},
            wall_time=wall, distances=dist,
            final_state={"A": a0[k].copy(), "Q": q0[k].copy(), "Pc": pc[k].copy()})
        if status[k] >= 2:
            err_k = SimulationError(
                f"{n.name}: " + _failure(int(status[k]), info[k], d, lay, int(info[k, 0])),
                (params[k] if params else {}))
            err_k.solution = sol  # type: ignore[attr-defined]
            results.append(err_k)
        else:
            results.append(sol)
    return results
