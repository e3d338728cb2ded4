"""Flat arrays of a network for the compiled kernels: topology, geometry and parameters.

Cells of vessel ``v`` are ``off[v] .. off[v+1]-1`` of the state arrays; its faces are
``foff[v] .. foff[v+1]-1`` (one more than cells).  Junction ``j`` joins the vessel ends
``jv[joff[j]:joff[j+1]]``, with ``jend = 1`` for a vessel whose distal end (x = L) meets it
(a parent) and ``0`` for a proximal end (a daughter).

Per-cell parameter rows (``cp``) and per-face rows (``fp``), see :data:`ROWS`::

    K   = β / A_ref                      (Pa m^-1)   tube law P = Poff + K (√A − √A_ref)
    sA  = √A_ref                         (m)
    dK  = dK/dx,  dsA = d√A_ref/dx       (taper)
    Poff= P_ext + P_ref                  (Pa)
    fr  = 2 (ζ + 2) π μ / ρ              (m^2 s^-1)  friction −fr Q/A (Smith et al. 2002)
    gam = Γ / ρ                          Kelvin–Voigt wall (m^3 s^-1), Γ in Pa s m
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulators.errors import ConfigurationError
from simulators.oned.params import OUTLET_TYPES, Network, Vessel

ROWS = ("K", "sA", "dK", "dsA", "Poff", "fr", "gam")
NROWS = len(ROWS)
OUT_ROWS = ("kind", "R1", "R2", "C", "Pout", "Rt")


@dataclass(frozen=True)
class Layout:
    """Topology and sizes, shared by every parameter set of one network."""

    labels: tuple[str, ...]
    off: np.ndarray      # (nv+1,) int64
    foff: np.ndarray     # (nv+1,) int64
    inlet_v: int
    out_v: np.ndarray    # (nout,) int64
    joff: np.ndarray     # (nj+1,) int64
    jv: np.ndarray       # (m,) int64
    jend: np.ndarray     # (m,) int64

    @property
    def ncell(self) -> int:
        return int(self.off[-1])

    @property
    def nvessel(self) -> int:
        return len(self.labels)


def layout(net: Network) -> Layout:
    """Check the topology of ``net`` and return its flat layout.

    Raises ConfigurationError for a dangling vessel end, an inlet or outlet that is not a
    free end, or a vessel with two boundary conditions at one end.
    """
    labels = tuple(v.label for v in net.vessels)
    idx = {lab: i for i, lab in enumerate(labels)}
    cells = np.array([net.cells(v) for v in net.vessels], dtype=np.int64)
    off = np.concatenate([[0], np.cumsum(cells)]).astype(np.int64)
    foff = off + np.arange(len(cells) + 1, dtype=np.int64)
    ends: dict[str, list[tuple[int, int]]] = {}
    for i, v in enumerate(net.vessels):
        if v.source == v.target:
            raise ConfigurationError(f"vessel {v.label!r} starts and ends at node {v.source!r}")
        ends.setdefault(v.source, []).append((i, 0))
        ends.setdefault(v.target, []).append((i, 1))
    if net.inlet.vessel not in idx:
        raise ConfigurationError(f"inlet vessel {net.inlet.vessel!r} is not in the network")
    inlet_v = idx[net.inlet.vessel]
    bc_ends = {(inlet_v, 0): "inlet"}
    out_v = []
    for o in net.outlets:
        if o.vessel not in idx:
            raise ConfigurationError(f"outlet vessel {o.vessel!r} is not in the network")
        if o.kind not in OUTLET_TYPES:
            raise ConfigurationError(f"outlet of {o.vessel!r}: type {o.kind!r} not in "
                                     f"{OUTLET_TYPES}")
        key = (idx[o.vessel], 1)
        if key in bc_ends:
            raise ConfigurationError(f"vessel {o.vessel!r} has two outlet conditions")
        bc_ends[key] = "outlet"
        out_v.append(idx[o.vessel])
    joff, jv, jend = [0], [], []
    for node, members in ends.items():
        bcs = [m for m in members if m in bc_ends]
        if bcs:
            if len(members) != 1:
                names = [labels[i] for i, _ in members]
                raise ConfigurationError(
                    f"node {node!r}: the {bc_ends[bcs[0]]} of {labels[bcs[0][0]]!r} must be a "
                    f"free vessel end, but the node also joins {names}")
            continue
        if len(members) == 1:
            i, e = members[0]
            raise ConfigurationError(
                f"the {'distal' if e else 'proximal'} end of vessel {labels[i]!r} (node "
                f"{node!r}) is connected to nothing: add an outlet or another vessel")
        for i, e in members:
            jv.append(i)
            jend.append(e)
        joff.append(len(jv))
    return Layout(labels, off, foff, inlet_v, np.array(out_v, dtype=np.int64),
                  np.array(joff, dtype=np.int64), np.array(jv, dtype=np.int64),
                  np.array(jend, dtype=np.int64))


def _rows(v: Vessel, x: np.ndarray, rho: float, mu: float) -> np.ndarray:
    """Parameter rows (NROWS, len(x)) of vessel ``v`` at positions ``x`` (m)."""
    def k_sa(xx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = v.radius(xx)
        a_ref = math.pi * r * r
        return v.beta(xx) / a_ref, np.sqrt(a_ref)

    k, sa = k_sa(x)
    d = 1e-4 * v.L  # central difference of smooth closed forms (exact for a linear taper)
    kp, sap = k_sa(x + d)
    km, sam = k_sa(x - d)
    out = np.empty((NROWS, len(x)))
    out[0], out[1] = k, sa
    out[2], out[3] = (kp - km) / (2 * d), (sap - sam) / (2 * d)
    out[4] = v.Pext + v.P_ref
    out[5] = 2.0 * (v.zeta + 2.0) * math.pi * mu / rho
    out[6] = v.Gamma / rho
    return out


@dataclass
class MemberArrays:
    """Parameters of one parameter set, as flat float arrays (see module docstring)."""

    dx: np.ndarray     # (nv,)
    cp: np.ndarray     # (NROWS, ncell)
    fp: np.ndarray     # (NROWS, nface)
    outp: np.ndarray   # (6, nout)
    inflow: np.ndarray  # (2,) scale, period
    tab_phase: np.ndarray
    tab_flow: np.ndarray
    rho: float
    p_init: float


def member_arrays(net: Network, lay: Layout, p_init: float | None = None) -> MemberArrays:
    """Flat parameter arrays of ``net`` on layout ``lay`` (cell counts taken from ``lay``).

    ``p_init``: initial pressure (Pa) of the whole network at rest; None estimates it as
    P_out + R_total·Q̄ (the cycle-mean pressure of a resistive network), which shortens the
    transient to the periodic state.
    """
    rho, mu = net.blood.rho, net.blood.mu
    nv = lay.nvessel
    ncell = lay.ncell
    dx = np.empty(nv)
    cp = np.empty((NROWS, ncell))
    fp = np.empty((NROWS, ncell + nv))
    for i, v in enumerate(net.vessels):
        n = int(lay.off[i + 1] - lay.off[i])
        h = v.L / n
        dx[i] = h
        cp[:, lay.off[i]:lay.off[i + 1]] = _rows(v, (np.arange(n) + 0.5) * h, rho, mu)
        fp[:, lay.foff[i]:lay.foff[i + 1]] = _rows(v, np.arange(n + 1) * h, rho, mu)
    outp = np.zeros((len(OUT_ROWS), len(net.outlets)))
    for k, o in enumerate(net.outlets):
        outp[:, k] = (OUTLET_TYPES.index(o.kind), o.R1, o.R2, o.C, o.Pout, o.Rt)
    if p_init is None:
        rt = net.total_resistance()
        pouts = [o.Pout for o in net.outlets if o.kind != "reflection"]
        pout = float(np.mean(pouts)) if pouts else 0.0
        p_init = pout + rt * net.inlet.mean() if math.isfinite(rt) else pout
    return MemberArrays(dx, cp, fp, outp, np.array([net.inlet.scale, net.inlet.period]),
                        np.asarray(net.inlet.phase, float), np.asarray(net.inlet.flow, float),
                        rho, float(p_init))


def probe_index(net: Network, lay: Layout, label: str, frac: float) -> tuple[int, int, float]:
    """Cell-centre interpolation of site (``label``, x = ``frac``·L): (vessel, cell i0, w).

    The value at the site is ``(1−w)·f[i0] + w·f[i0+1]`` (linear; extrapolated over the half
    cell next to an end).
    """
    if not 0.0 <= frac <= 1.0:
        raise ConfigurationError(f"site {label!r}: x={frac} must be a fraction in [0, 1]")
    v = net.index(label)
    n = int(lay.off[v + 1] - lay.off[v])
    s = frac * n - 0.5
    i0 = min(max(int(math.floor(s)), 0), n - 2)
    return v, int(lay.off[v]) + i0, s - i0
