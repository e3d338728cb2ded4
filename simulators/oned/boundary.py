"""Compiled boundary conditions: states (A, Q) on a vessel's end face at t^{n+1/2}.

Each end face takes one outgoing Riemann invariant from the interior and one condition
from outside.  With c = κ A^{1/4}, κ = √(K/(2ρ)) (wave speed of the tube law), the
invariants relative to the reference state are (Sherwin et al. 2003, eq. 9)::

    W1 = u + 4 (c − c_ref),   W2 = u − 4 (c − c_ref),   c_ref = κ √A_ref^{1/2}

W1 leaves through the distal end (sign = +1), W2 through the proximal end (sign = −1).
Its value at the face at t^{n+1/2} is traced back along dx/dt = u ± c to t^n and
interpolated linearly between the two cells next to the end (second order), and its
source along the characteristic (friction and taper)::

    dW/dt = −fr u/A − (K'/ρ)(√A − √A_ref) + (K/ρ)(√A_ref)' ± 4 λ (κ' A^{1/4} − c_ref')

is integrated over the half step (without it a tapered vessel is only first order).

Newton iterations solve for the face area; all functions are allocation-free.
"""

from __future__ import annotations

import math

from numba import njit

NEWTON_MAX = 40
NEWTON_RTOL = 1e-13


@njit(cache=True)
def wave_speed(k: float, a: float, rho: float) -> float:
    """c = √(K/(2ρ)) A^{1/4} (m/s): tube law P = Poff + K(√A − √A_ref)."""
    return math.sqrt(0.5 * k / rho) * a ** 0.25


@njit(cache=True)
def outgoing_invariant(a, q, cp, i_end, i_in, sign, dt, dx, rho):
    """Outgoing invariant W (m/s) at the end face at t^{n+1/2}.

    ``i_end``: index of the end cell, ``i_in``: its interior neighbour; ``sign`` = +1 at
    the distal end (W1), −1 at the proximal end (W2).
    """
    ae, qe = a[i_end], q[i_end]
    ai, qi = a[i_in], q[i_in]
    ue, ui = qe / ae, qi / ai
    ke, ki = cp[0, i_end], cp[0, i_in]
    ce = wave_speed(ke, ae, rho)
    ci = wave_speed(ki, ai, rho)
    c0e = math.sqrt(0.5 * ke / rho) * math.sqrt(cp[1, i_end])
    c0i = math.sqrt(0.5 * ki / rho) * math.sqrt(cp[1, i_in])
    we = ue + sign * 4.0 * (ce - c0e)
    wi = ui + sign * 4.0 * (ci - c0i)
    lam = ue + sign * ce
    s = 0.5 - sign * lam * dt / (2.0 * dx)   # foot of the characteristic, in cells
    w = we + s * (we - wi)
    # source along the characteristic over dt/2: friction and taper (derived from the
    # (A, u) form; it vanishes at rest, A = A_ref, for any taper)
    kap = math.sqrt(0.5 * ke / rho)
    dkap = cp[2, i_end] / (4.0 * rho * kap)
    sa, dsa = cp[1, i_end], cp[3, i_end]
    dc0 = dkap * math.sqrt(sa) + kap * dsa / (2.0 * math.sqrt(sa))
    src = (-cp[5, i_end] * ue / ae - cp[2, i_end] / rho * (math.sqrt(ae) - sa)
           + ke / rho * dsa + sign * 4.0 * lam * (dkap * ae ** 0.25 - dc0))
    return w + 0.5 * dt * src


@njit(cache=True)
def u_of_a(w, a, kf, saf, sign, rho):
    """Velocity on the face from the invariant: u = W − sign·4(c(A) − c_ref); and c(A)."""
    kap = math.sqrt(0.5 * kf / rho)
    c = kap * a ** 0.25
    return w - sign * 4.0 * (c - kap * math.sqrt(saf)), c


@njit(cache=True)
def inlet_face(w2, qin, a0, kf, saf, rho):
    """Proximal face with prescribed flow ``qin``: solve A (W2 + 4(c−c_ref)) = qin.

    Returns (A, ok).  g'(A) = u + c > 0 in subcritical flow, so Newton converges from the
    end-cell area.
    """
    a = a0
    for _ in range(NEWTON_MAX):
        u, c = u_of_a(w2, a, kf, saf, -1.0, rho)
        g = a * u - qin
        dg = u + c
        da = -g / dg
        a += da
        if a <= 0.0 or not math.isfinite(a):
            return a, False
        if abs(da) <= NEWTON_RTOL * a:
            return a, True
    return a, False


@njit(cache=True)
def rcr_face(w1, pc, r1, a0, kf, saf, poff, rho):
    """Distal face of a Windkessel (or resistance): P(A) − pc = R1·Q, Q = A·u(A).

    ``pc``: pressure (Pa) behind R1 (the capacitor, or P_out for a pure resistance).
    Returns (A, ok).
    """
    a = a0
    for _ in range(NEWTON_MAX):
        u, c = u_of_a(w1, a, kf, saf, 1.0, rho)
        sa = math.sqrt(a)
        g = poff + kf * (sa - saf) - pc - r1 * a * u
        dg = 0.5 * kf / sa - r1 * (u - c)
        da = -g / dg
        a += da
        if a <= 0.0 or not math.isfinite(a):
            return a, False
        if abs(da) <= NEWTON_RTOL * a:
            return a, True
    return a, False


@njit(cache=True)
def reflection_face(w1, rt, kf, saf, rho):
    """Distal face with W2 = −Rt·W1: u = (W1+W2)/2, c − c_ref = (W1−W2)/8.  Returns (A, u).

    The invariants are measured from the reference state (A_ref, u = 0), not from the
    operating state: Rt reflects the whole wave relative to A_ref (exact for pulses on a
    state at rest at A_ref, as in the tests; Alastruey et al. 2011 measure it from the
    initial state instead, which differs when the outlet is not at A_ref).
    """
    w2 = -rt * w1
    kap = math.sqrt(0.5 * kf / rho)
    c = kap * math.sqrt(saf) + (w1 - w2) / 8.0
    a = (c / kap) ** 4
    return a, 0.5 * (w1 + w2)


@njit(cache=True)
def windkessel_advance(pc, q, dt, r2, c, pout):
    """Exact step of C dPc/dt = Q − (Pc − Pout)/R2 with Q constant over ``dt`` (stable)."""
    tau = r2 * c
    if not tau > 0.0:   # guarded: never a ZeroDivisionError from compiled code (caller: NaN)
        return math.nan
    peq = pout + r2 * q
    return peq + (pc - peq) * math.exp(-dt / tau)


@njit(cache=True)
def inflow(t, tab_ph, tab_q, period, scale):
    """Periodic piecewise-linear inflow (m^3/s) at time ``t`` from a table over phase."""
    ph = t / period
    ph -= math.floor(ph)
    n = tab_ph.shape[0]
    if ph < tab_ph[0]:
        x0, y0 = tab_ph[n - 1] - 1.0, tab_q[n - 1]
        x1, y1 = tab_ph[0], tab_q[0]
    elif ph >= tab_ph[n - 1]:
        x0, y0 = tab_ph[n - 1], tab_q[n - 1]
        x1, y1 = tab_ph[0] + 1.0, tab_q[0]
    else:
        lo, hi = 0, n - 1
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if tab_ph[mid] <= ph:
                lo = mid
            else:
                hi = mid
        x0, y0, x1, y1 = tab_ph[lo], tab_q[lo], tab_ph[hi], tab_q[hi]
    return scale * (y0 + (y1 - y0) * (ph - x0) / (x1 - x0))
