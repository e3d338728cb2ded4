"""Compiled junction solver: any number of parents (distal ends) and daughters (proximal ends).

Unknowns: the face areas A_k of the n vessel ends at t^{n+1/2}; each face velocity follows
from that vessel's outgoing invariant, u_k = W_k − s_k·4(c(A_k) − c_ref,k) (s_k = +1 for a
parent, −1 for a daughter).  Equations (Sherwin et al. 2003, eqs. 12–13)::

    Σ_k s_k A_k u_k = 0                                    conservation of mass
    P_1 + ρu_1²/2 = P_k + ρu_k²/2,   k = 2..n              total pressure  (or P_1 = P_k)

The Jacobian has an arrow shape (row 1 full, the others touch A_1 and A_k only), so each
Newton step is solved in O(n) without allocating.
"""

from __future__ import annotations

import math

from numba import njit

from simulators.oned.boundary import NEWTON_MAX, outgoing_invariant, u_of_a


@njit(cache=True)
def _ptot(poff, kf, saf, a, u, rho, total):
    p = poff + kf * (math.sqrt(a) - saf)
    return p + 0.5 * rho * u * u if total else p


@njit(cache=True)
def solve_junctions(a, q, cp, fp, off, foff, dx, joff, jv, jend, jw, ja, fa, fq, dt, rho,
                    total):
    """Set the junction faces of ``fa``/``fq``; return (ok, mass residual, closure gap).

    ``mass residual``: worst |Σ s_k Q_k| / Σ|Q_k| after the closing member's flow is set
    (round-off by construction: it checks the bookkeeping, not the Newton solve).
    ``closure gap``: worst |Q_closing − A·u(A, W)| / max(max_k |Q_k|, 1e-4 Σ A c), how far
    the closing member's flow is from its own characteristic relation, i.e. the mass error the
    Newton solve would leave without the closure (→ 0 with the Newton tolerance).
    ``jw``, ``ja``: workspaces with one slot per junction member.
    """
    worst = 0.0
    gap = 0.0
    for j in range(joff.shape[0] - 1):
        m0, m1 = joff[j], joff[j + 1]
        for m in range(m0, m1):
            v, e = jv[m], jend[m]
            if e == 1:
                ie, ii, sg = off[v + 1] - 1, off[v + 1] - 2, 1.0
            else:
                ie, ii, sg = off[v], off[v] + 1, -1.0
            jw[m] = outgoing_invariant(a, q, cp, ie, ii, sg, dt, dx[v], rho)
            ja[m] = a[ie]
        ok = False
        for _ in range(NEWTON_MAX):
            # residuals and arrow Jacobian
            f0 = 0.0
            den = 0.0
            num = 0.0
            v0 = jv[m0]
            fi0 = foff[v0 + 1] - 1 if jend[m0] == 1 else foff[v0]
            s0 = 1.0 if jend[m0] == 1 else -1.0
            u0, c0 = u_of_a(jw[m0], ja[m0], fp[0, fi0], fp[1, fi0], s0, rho)
            pt0 = _ptot(fp[4, fi0], fp[0, fi0], fp[1, fi0], ja[m0], u0, rho, total)
            dp0 = 0.5 * fp[0, fi0] / math.sqrt(ja[m0])
            if total:
                dp0 += rho * u0 * (-s0 * c0 / ja[m0])
            f0 += s0 * ja[m0] * u0
            j00 = s0 * u0 - c0
            for m in range(m0 + 1, m1):
                v = jv[m]
                fi = foff[v + 1] - 1 if jend[m] == 1 else foff[v]
                s = 1.0 if jend[m] == 1 else -1.0
                u, c = u_of_a(jw[m], ja[m], fp[0, fi], fp[1, fi], s, rho)
                f0 += s * ja[m] * u
                fi_res = pt0 - _ptot(fp[4, fi], fp[0, fi], fp[1, fi], ja[m], u, rho, total)
                b = 0.5 * fp[0, fi] / math.sqrt(ja[m])
                if total:
                    b += rho * u * (-s * c / ja[m])
                j0i = s * u - c
                den += j0i / b
                num += j0i * fi_res / b
            d0 = (-f0 - num) / (j00 + dp0 * den)
            step = abs(d0) / ja[m0]
            # back-substitute δ_i = (f_i + a δ0) / b_i (recomputing f_i, b_i)
            for m in range(m0 + 1, m1):
                v = jv[m]
                fi = foff[v + 1] - 1 if jend[m] == 1 else foff[v]
                s = 1.0 if jend[m] == 1 else -1.0
                u, c = u_of_a(jw[m], ja[m], fp[0, fi], fp[1, fi], s, rho)
                fi_res = pt0 - _ptot(fp[4, fi], fp[0, fi], fp[1, fi], ja[m], u, rho, total)
                b = 0.5 * fp[0, fi] / math.sqrt(ja[m])
                if total:
                    b += rho * u * (-s * c / ja[m])
                di = (fi_res + dp0 * d0) / b
                ja[m] += di
                step = max(step, abs(di) / ja[m])
                if not ja[m] > 0.0:
                    return False, worst, gap
            ja[m0] += d0
            if not ja[m0] > 0.0:
                return False, worst, gap
            if step < 1e-14:
                ok = True
                break
        if not ok:
            return False, worst, gap
        # write faces; the last member's flow closes the mass balance exactly, so mass is
        # conserved to round-off (its invariant relation holds to the Newton tolerance)
        res = 0.0
        tot = 0.0
        scale = 0.0
        qmax = 0.0
        for m in range(m0, m1):
            v = jv[m]
            fi = foff[v + 1] - 1 if jend[m] == 1 else foff[v]
            s = 1.0 if jend[m] == 1 else -1.0
            u, c = u_of_a(jw[m], ja[m], fp[0, fi], fp[1, fi], s, rho)
            scale += ja[m] * c
            fa[fi] = ja[m]
            fq[fi] = ja[m] * u
            res += s * fq[fi]
            tot += abs(fq[fi])
            qmax = max(qmax, abs(fq[fi]))
        last = jv[m1 - 1]
        fl = foff[last + 1] - 1 if jend[m1 - 1] == 1 else foff[last]
        sl = 1.0 if jend[m1 - 1] == 1 else -1.0
        closing = -sl * (res - sl * fq[fl])
        # closure gap relative to the largest member flow, floored at 1e-4 of the wave flux
        # Σ A c (near rest the round-off of A·u, ~1e-16 A c, would dominate)
        gap = max(gap, abs(closing - fq[fl]) / max(qmax, 1e-4 * scale))
        fq[fl] = closing
        res = 0.0
        for m in range(m0, m1):
            v = jv[m]
            fi = foff[v + 1] - 1 if jend[m] == 1 else foff[v]
            res += (1.0 if jend[m] == 1 else -1.0) * fq[fi]
        # relative to the flow through the junction (floor: 1e-9 of the wave flux A c)
        worst = max(worst, abs(res) / max(tot, 1e-9 * scale))
    return True, worst, gap
