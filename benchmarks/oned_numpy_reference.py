"""A whole-vessel vectorised NumPy implementation of the same scheme, for speed comparison.

It advances one vessel with a prescribed inflow and an RCR outlet (the common carotid case)
exactly as :mod:`simulators.oned.kernels` does — Richtmyer Lax–Wendroff over all cells as
NumPy array operations, the two boundary conditions through the pure-Python versions of
the compiled boundary functions — so the only difference is NumPy versus Numba.  Used by
``oned_speed.py``; ``check()`` verifies that both give the same state to round-off.
"""

from __future__ import annotations

import math
import time

import numpy as np

from simulators.oned import boundary as bc
from simulators.oned.network import layout, member_arrays
from simulators.oned.params import Network
from simulators.oned.solver import _initial_state


def run_cycles(net: Network, cycles: int, cfl: float = 0.9) -> tuple[np.ndarray, np.ndarray,
                                                                     float]:
    """Advance ``cycles`` periods from the solver's initial state; return (A, Q, wall s)."""
    lay = layout(net)
    if lay.nvessel != 1 or net.outlets[0].kind != "rcr":
        raise ValueError("the NumPy reference handles one vessel with an RCR outlet")
    m = member_arrays(net, lay)
    cp, fp, dx, rho = m.cp, m.fp, float(m.dx[0]), m.rho
    k, sa, dk, dsa, fr = cp[0], cp[1], cp[2], cp[3], cp[5]
    kf, saf, dkf, dsaf, frf = fp[0], fp[1], fp[2], fp[3], fp[5]
    _, r1, r2, c_wk, pout, _ = m.outp[:, 0]
    period, scale = float(m.inflow[1]), float(m.inflow[0])
    a, q = _initial_state(cp, m.p_init)
    pc, qo = m.p_init, 0.0
    n = len(a)
    fa = np.empty(n + 1)
    fq = np.empty(n + 1)
    t0 = time.perf_counter()
    for _ in range(cycles):
        t = 0.0
        while t < period * (1.0 - 1e-13):
            sq = np.sqrt(a)
            dt = cfl * float(np.min(dx / (np.abs(q / a) + np.sqrt(0.5 * k * sq / rho))))
            dt = min(dt, period - t)
            f = q * q / a + k * a * sq / (3.0 * rho)
            s = -fr * q / a + (a / rho) * (dk * (sa - (2.0 / 3.0) * sq) + k * dsa)
            h = 0.5 * dt / dx
            fa[1:-1] = 0.5 * (a[:-1] + a[1:]) - h * (q[1:] - q[:-1])
            fq[1:-1] = 0.5 * (q[:-1] + q[1:]) - h * (f[1:] - f[:-1]) + 0.25 * dt * (s[:-1]
                                                                                   + s[1:])
            w2 = bc.outgoing_invariant.py_func(a, q, cp, 0, 1, -1.0, dt, dx, rho)
            qin = bc.inflow.py_func(t + 0.5 * dt, m.tab_phase, m.tab_flow, period, scale)
            fa[0], _ = bc.inlet_face.py_func(w2, qin, a[0], kf[0], saf[0], rho)
            fq[0] = qin
            w1 = bc.outgoing_invariant.py_func(a, q, cp, n - 1, n - 2, 1.0, dt, dx, rho)
            pch = bc.windkessel_advance.py_func(pc, qo, 0.5 * dt, r2, c_wk, pout)
            aa, _ = bc.rcr_face.py_func(w1, pch, r1, a[-1], kf[-1], saf[-1], fp[4, -1], rho)
            kap = math.sqrt(0.5 * kf[-1] / rho)
            fa[-1] = aa
            fq[-1] = aa * (w1 - 4.0 * kap * (aa ** 0.25 - math.sqrt(saf[-1])))
            pc = bc.windkessel_advance.py_func(pc, fq[-1], dt, r2, c_wk, pout)
            qo = fq[-1]
            sqf = np.sqrt(fa)
            g = fq * fq / fa + kf * fa * sqf / (3.0 * rho)
            sf = -frf * fq / fa + (fa / rho) * (dkf * (saf - (2.0 / 3.0) * sqf) + kf * dsaf)
            r = dt / dx
            a = a - r * (fq[1:] - fq[:-1])
            q = q - r * (g[1:] - g[:-1]) + 0.5 * dt * (sf[:-1] + sf[1:])
            t += dt
    return a, q, time.perf_counter() - t0


def check(net: Network, cycles: int = 1) -> float:
    """Largest relative difference of the cell areas after ``cycles`` (NumPy vs Numba)."""
    from simulators.oned import simulate

    a_np, _, _ = run_cycles(net, cycles)
    sol = simulate(net, max_cycles=cycles, min_cycles=cycles)
    return float(np.max(np.abs(a_np / sol.final_state["A"] - 1.0)))
