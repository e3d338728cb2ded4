"""Compiled time stepping of a whole network: flat arrays in, nothing allocated per step.

Equations (Formaggia et al. 2003; Sherwin et al. 2003), U = (A, Q)::

    ∂A/∂t + ∂Q/∂x = 0
    ∂Q/∂t + ∂F/∂x = S,   F = Q²/A + K A^{3/2} / (3ρ)                      (flux)
    S = −fr Q/A + (A/ρ) [K' (√A_ref − (2/3)√A) + K (√A_ref)']              (friction, taper)

with the tube law P = Poff + K(√A − √A_ref), K = β/A_ref, fr = 2(ζ+2)πμ/ρ (Coriolis
coefficient 1, as in Boileau et al. 2015).

Scheme: two-step Richtmyer Lax–Wendroff finite volumes (conservative; second order in
space and time for smooth solutions, verified by the grid-refinement test):

    U*_{i+1/2} = ½(U_i + U_{i+1}) − Δt/(2Δx)(F_{i+1} − F_i) + Δt/4 (S_i + S_{i+1})
    U_i^{n+1}  = U_i − Δt/Δx (F*_{i+1/2} − F*_{i−1/2}) + Δt/2 (S*_{i−1/2} + S*_{i+1/2})

End faces take their half-step state from the boundary conditions (inlet, outlets,
junctions: :mod:`boundary`, :mod:`junctions`), so the flux of mass through a junction is
conserved to the Newton tolerance.  Δt = CFL · min Δx/(|u| + c).  An optional Kelvin–Voigt
wall adds ∂Q/∂t = (A/ρ) ∂/∂x(Γ/(A_ref√A) ∂Q/∂x), taken by an implicit (backward Euler)
split step per vessel with ∂Q/∂x = 0 at the vessel ends.  It is NOT first order at large Γ:
the observed grid order is 0.5–0.7 (tapered viscous vessel, RCR outlet, Γ = 2, 50–400 cells;
1.4–1.9 at Γ = 0.2); the stiff split step, ν Δt/Δx² ≈ 2–14, likely limits it; a one-sided
end flux using the boundary flow did not help.  Linear attenuation of a small wave agrees
with the dispersion relation to 0.4 % (Γ = 1) – 1 % (Γ = 2) over 1 m
(tests/simulators/oned/test_physical_limits_and_diagnostics.py).

Every step checks the physical range of the state (statuses 7–9): A/A_ref in
[A_REL_MIN, A_REL_MAX], subcritical |u| < c, P in [P_MIN, P_MAX].

Status codes returned by :func:`run_member`: see :data:`STATUS`.
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path

import numpy as np
from numba import njit, prange

from simulators.oned.boundary import (
    inflow,
    inlet_face,
    outgoing_invariant,
    rcr_face,
    reflection_face,
    windkessel_advance,
)
from simulators.oned.junctions import solve_junctions

STATUS = {0: "converged", 1: "not converged", 2: "non-finite or non-positive area",
          3: "inlet condition failed", 4: "outlet condition failed",
          5: "junction condition failed", 6: "time step collapsed",
          7: "area outside the physical range [0.05, 20] x A_ref",
          8: "supercritical flow |u| >= c (the characteristic boundary conditions assume "
             "subcritical flow)",
          9: "pressure outside the physical range [-10, 100] kPa",
          10: "Windkessel time constant R2*C <= 0"}
#: Physical range of the state, checked at every cell and step (status 7–9).  A/A_ref beyond
#: it means the tube law is used far outside its range (e.g. E ≈ 1 Pa); P is the absolute
#: pressure of the tube law (P_ext is 0 in the shipped networks): −10 kPa ≈ −75 mmHg,
#: 100 kPa ≈ 750 mmHg.
A_REL_MIN, A_REL_MAX = 0.05, 20.0
P_MIN, P_MAX = -10e3, 100e3


def _drop_stale_cache() -> None:
    """Delete this package's on-disk Numba cache when any kernel source has changed.

    Numba keys a cached function on its own file only, so a cached :func:`run_cycle` would
    keep an old copy of a helper edited in ``boundary.py`` or ``junctions.py``.  A digest of
    the three sources, stored beside the cache, detects that.
    """
    here = Path(__file__).resolve().parent
    cache = here / "__pycache__"
    if os.environ.get("NUMBA_CACHE_DIR") or not cache.is_dir():
        return
    digest = hashlib.sha256(b"".join((here / f).read_bytes() for f in (
        "kernels.py", "boundary.py", "junctions.py"))).hexdigest()
    stamp = cache / "oned_kernels.sha256"
    try:
        if stamp.is_file() and stamp.read_text() == digest:
            return
        for f in cache.glob("*.nb[ic]"):
            f.unlink()
        stamp.write_text(digest)
    except OSError:  # read-only install: numba then falls back to its own cache dir
        pass


_drop_stale_cache()
# diag slots
D_TFAIL, D_JRES, D_VIN, D_VOUT, D_V0, D_V1, D_STEPS, D_DTMIN, D_CELLUPD, D_JCHAR = range(10)
NDIAG = 10


@njit(cache=True)
def _flux_source(a, q, k, sa, dk, dsa, poff, fr, rho):
    """Momentum flux F (eq. above) and source S at one point."""
    return _flux_source_sq(a, math.sqrt(a), q, k, sa, dk, dsa, fr, rho)


@njit(cache=True)
def _flux_source_sq(a, sq, q, k, sa, dk, dsa, fr, rho):
    """:func:`_flux_source` given ``sq`` = √A."""
    f = q * q / a + k * a * sq / (3.0 * rho)
    s = -fr * q / a + (a / rho) * (dk * (sa - (2.0 / 3.0) * sq) + k * dsa)
    return f, s


@njit(cache=True)
def _volume(a, off, dx):
    vol = 0.0
    for v in range(off.shape[0] - 1):
        s = 0.0
        for i in range(off[v], off[v + 1]):
            s += a[i]
        vol += s * dx[v]
    return vol


@njit(cache=True)
def _probe(a, q, cp, pr_i, pr_w, out):
    """Write (P, Q, A) at each probe into ``out`` (nprobe, 3)."""
    for p in range(pr_i.shape[0]):
        i = pr_i[p]
        w = pr_w[p]
        p0 = cp[4, i] + cp[0, i] * (math.sqrt(a[i]) - cp[1, i])
        p1 = cp[4, i + 1] + cp[0, i + 1] * (math.sqrt(a[i + 1]) - cp[1, i + 1])
        out[p, 0] = (1.0 - w) * p0 + w * p1
        out[p, 1] = (1.0 - w) * q[i] + w * q[i + 1]
        out[p, 2] = (1.0 - w) * a[i] + w * a[i + 1]


@njit(cache=True)
def _viscous(a, q, cp, fp, fa, off, foff, dx, dt, wa, wb, wc, wd):
    """Backward-Euler Kelvin–Voigt step on Q, vessel by vessel (Thomas algorithm)."""
    for v in range(off.shape[0] - 1):
        i0, i1 = off[v], off[v + 1]
        f0 = foff[v]
        if cp[6, i0] <= 0.0:
            continue
        h2 = dx[v] * dx[v]
        for i in range(i0, i1):
            fl = f0 + (i - i0)
            gl = 0.0 if i == i0 else fp[6, fl] / (fp[1, fl] ** 2 * math.sqrt(fa[fl]))
            gr = 0.0 if i == i1 - 1 else fp[6, fl + 1] / (fp[1, fl + 1] ** 2
                                                          * math.sqrt(fa[fl + 1]))
            r = dt * a[i] / h2
            wa[i] = -r * gl
            wc[i] = -r * gr
            wb[i] = 1.0 + r * (gl + gr)
            wd[i] = q[i]
        for i in range(i0 + 1, i1):
            m = wa[i] / wb[i - 1]
            wb[i] -= m * wc[i - 1]
            wd[i] -= m * wd[i - 1]
        q[i1 - 1] = wd[i1 - 1] / wb[i1 - 1]
        for i in range(i1 - 2, i0 - 1, -1):
            q[i] = (wd[i] - wc[i] * q[i + 1]) / wb[i]


@njit(cache=True)
def run_cycle(a, q, pc, qo, cp, fp, dx, off, foff, inlet_v, tab_ph, tab_q, scale, period,
              out_v, outp, joff, jv, jend, total, rho, cfl, pr_i, pr_w, pr_f, rec, pold, pnew,
              f2, s2, fa, fq, jw, ja, wa, wb, wc, wd, visc, fh, fst, diag, info):
    """Advance the network over one period from t = 0; record probes on the phase grid.

    ``rec`` (nprobe, 3, T) receives (P, Q, A) at t_k = k·period/T; probes with a boundary
    face (``pr_f`` ≥ 0: x = 0 or 1) read that face (time-extrapolated from t^{n+1/2}; the
    inlet flow is evaluated from the table).  ``fh``, ``fst``: face-probe history kept
    across cycles.  Returns a status code.
    """
    ncell = a.shape[0]
    nv = off.shape[0] - 1
    nrec = rec.shape[2]
    t = 0.0
    # first cycle: probe the initial state; later cycles start from the previous cycle's last
    # sample (already in ``pold``; it holds the boundary-face values of the end probes)
    if fst[2] == 0.0:
        _probe(a, q, cp, pr_i, pr_w, pold)
    fst[2] = 1.0
    for p in range(pr_i.shape[0]):
        for c in range(3):
            rec[p, c, 0] = pold[p, c]
        if pr_f[p] == foff[inlet_v]:
            rec[p, 1, 0] = inflow(0.0, tab_ph, tab_q, period, scale)
    kn = 1
    diag[D_VIN] = 0.0
    diag[D_VOUT] = 0.0
    diag[D_V0] = _volume(a, off, dx)
    diag[D_STEPS] = 0.0
    iv0 = off[inlet_v]
    while t < period * (1.0 - 1e-13):
        # 1. CFL time step, state check, cell fluxes and sources
        dt = 1e300
        for v in range(nv):
            for i in range(off[v], off[v + 1]):
                ai = a[i]
                if not (ai > 0.0 and math.isfinite(q[i])):
                    diag[D_TFAIL] = t
                    info[1] = i
                    return 2
                sq = math.sqrt(ai)
                c = math.sqrt(0.5 * cp[0, i] * sq / rho)   # c² = K√A/(2ρ)
                # physical range (statuses 7–9): A/A_ref, subcritical |u| < c, tube-law P
                st = 0
                ar = ai / (cp[1, i] * cp[1, i])
                pi_ = cp[4, i] + cp[0, i] * (sq - cp[1, i])
                if not A_REL_MIN <= ar <= A_REL_MAX:
                    st = 7
                elif abs(q[i] / ai) >= c:
                    st = 8
                elif not P_MIN <= pi_ <= P_MAX:
                    st = 9
                if st != 0:
                    diag[D_TFAIL] = t
                    info[1] = i
                    return st
                lam = abs(q[i] / ai) + c
                d = dx[v] / lam
                if d < dt:
                    dt = d
                f2[i], s2[i] = _flux_source_sq(ai, sq, q[i], cp[0, i], cp[1, i], cp[2, i],
                                               cp[3, i], cp[5, i], rho)
        dt *= cfl
        if dt < 1e-12 * period:
            diag[D_TFAIL] = t
            info[1] = -1
            return 6
        if t + dt > period:
            dt = period - t
        diag[D_DTMIN] = min(diag[D_DTMIN], dt)
        # 2. interior faces: Richtmyer half step
        for v in range(nv):
            h = 0.5 * dt / dx[v]
            fo = foff[v] - off[v]
            for i in range(off[v], off[v + 1] - 1):
                f = i + fo + 1
                fa[f] = 0.5 * (a[i] + a[i + 1]) - h * (q[i + 1] - q[i])
                fq[f] = (0.5 * (q[i] + q[i + 1]) - h * (f2[i + 1] - f2[i])
                         + 0.25 * dt * (s2[i] + s2[i + 1]))
        # 3. end faces at t + dt/2
        th = t + 0.5 * dt
        w2 = outgoing_invariant(a, q, cp, iv0, iv0 + 1, -1.0, dt, dx[inlet_v], rho)
        fi = foff[inlet_v]
        qin = inflow(th, tab_ph, tab_q, period, scale)
        aa, ok = inlet_face(w2, qin, a[iv0], fp[0, fi], fp[1, fi], rho)
        if not ok:
            diag[D_TFAIL] = t
            info[1] = iv0
            return 3
        fa[fi] = aa
        fq[fi] = qin
        for k in range(out_v.shape[0]):
            v = out_v[k]
            ie = off[v + 1] - 1
            fi = foff[v + 1] - 1
            w1 = outgoing_invariant(a, q, cp, ie, ie - 1, 1.0, dt, dx[v], rho)
            kind = int(outp[0, k])
            if kind == 2:
                aa, uu = reflection_face(w1, outp[5, k], fp[0, fi], fp[1, fi], rho)
                fa[fi] = aa
                fq[fi] = aa * uu
            else:
                if kind == 0:
                    pch = windkessel_advance(pc[k], qo[k], 0.5 * dt, outp[2, k], outp[3, k],
                                             outp[4, k])
                else:
                    pch = outp[4, k]
                if not math.isfinite(pch):
                    diag[D_TFAIL] = t
                    info[1] = ie
                    return 4
                aa, ok = rcr_face(w1, pch, outp[1, k], a[ie], fp[0, fi], fp[1, fi],
                                  fp[4, fi], rho)
                if not ok:
                    diag[D_TFAIL] = t
                    info[1] = ie
                    return 4
                fa[fi] = aa
                kap = math.sqrt(0.5 * fp[0, fi] / rho)
                fq[fi] = aa * (w1 - 4.0 * kap * (aa ** 0.25 - math.sqrt(fp[1, fi])))
                if kind == 0:
                    pc[k] = windkessel_advance(pc[k], fq[fi], dt, outp[2, k], outp[3, k],
                                               outp[4, k])
                qo[k] = fq[fi]
            diag[D_VOUT] += dt * fq[fi]
        diag[D_VIN] += dt * qin
        ok, res, jchar = solve_junctions(a, q, cp, fp, off, foff, dx, joff, jv, jend, jw, ja,
                                         fa, fq, dt, rho, total)
        if not ok:
            diag[D_TFAIL] = t
            info[1] = -1
            return 5
        if res > diag[D_JRES]:
            diag[D_JRES] = res
        # end probes (x = 0, 1) read their boundary face at t^{n+1/2}
        for p in range(pr_f.shape[0]):
            f = pr_f[p]
            if f >= 0:
                fh[p, 0, 1] = fp[4, f] + fp[0, f] * (math.sqrt(fa[f]) - fp[1, f])
                fh[p, 1, 1] = fq[f]
                fh[p, 2, 1] = fa[f]
        if jchar > diag[D_JCHAR]:
            diag[D_JCHAR] = jchar
        # 4. face fluxes, then the full step
        for v in range(nv):
            fo = foff[v] - off[v]
            for f in range(foff[v], foff[v + 1]):
                f2f, s2f = _flux_source(fa[f], fq[f], fp[0, f], fp[1, f], fp[2, f], fp[3, f],
                                        fp[4, f], fp[5, f], rho)
                wa[f] = f2f  # face momentum flux (wa, wb reused as face workspaces)
                wb[f] = s2f
            r = dt / dx[v]
            for i in range(off[v], off[v + 1]):
                f = i + fo
                a[i] -= r * (fq[f + 1] - fq[f])
                q[i] += -r * (wa[f + 1] - wa[f]) + 0.5 * dt * (wb[f] + wb[f + 1])
        if visc:
            _viscous(a, q, cp, fp, fa, off, foff, dx, dt, wa, wb, wc, wd)
        t += dt
        diag[D_STEPS] += 1.0
        diag[D_CELLUPD] += ncell
        # 5. record on the phase grid
        _probe(a, q, cp, pr_i, pr_w, pnew)
        # end probes at t^{n+1}: linear extrapolation in time of the face states at
        # t^{n−1/2}, t^{n+1/2} (second order); the inlet flow is the prescribed one, exactly
        for p in range(pr_f.shape[0]):
            f = pr_f[p]
            if f < 0:
                continue
            th2 = 0.5 * dt / (0.5 * (fst[0] + dt)) if fst[1] > 0.0 else 0.0
            for c in range(3):
                pnew[p, c] = fh[p, c, 1] + th2 * (fh[p, c, 1] - fh[p, c, 0])
                fh[p, c, 0] = fh[p, c, 1]
            if f == foff[inlet_v]:
                pnew[p, 1] = inflow(t, tab_ph, tab_q, period, scale)
        fst[0] = dt
        fst[1] = 1.0
        while kn < nrec and kn * period / nrec <= t:
            th = (kn * period / nrec - (t - dt)) / dt
            for p in range(pr_i.shape[0]):
                for c in range(3):
                    rec[p, c, kn] = (1.0 - th) * pold[p, c] + th * pnew[p, c]
                if pr_f[p] == foff[inlet_v]:   # the prescribed inflow at the sample time
                    rec[p, 1, kn] = inflow(kn * period / nrec, tab_ph, tab_q, period, scale)
            kn += 1
        for p in range(pr_i.shape[0]):
            for c in range(3):
                pold[p, c] = pnew[p, c]
    for i in range(ncell):
        if not (a[i] > 0.0 and math.isfinite(q[i])):
            diag[D_TFAIL] = t
            info[1] = i
            return 2
    diag[D_V1] = _volume(a, off, dx)
    return 0


@njit(cache=True)
def run_member(a, q, pc, cp, fp, dx, off, foff, inlet_v, tab_ph, tab_q, scale, period,
               out_v, outp, joff, jv, jend, total, rho, cfl, pr_i, pr_w, pr_f, nrec, max_cycles,
               min_cycles, tol, rec, err, diag, info):
    """Run cycles from the state (a, q, pc) until the periodic state; keep the last cycle.

    Convergence: at every probe, RMS over the cycle of P − P_previous ≤ tol · max(max P −
    min P, 1 Pa) (the 1 Pa floor makes steady flows converge).  ``rec`` (nprobe, 3, nrec)
    holds the last cycle; ``err`` the last RMS change per probe (relative to the pulse
    pressure); ``info[0]`` the number of cycles run.
    Returns a status code (0 converged, 1 not converged, ≥ 2 failure).
    """
    ncell = a.shape[0]
    nface = fp.shape[1]
    npr = pr_i.shape[0]
    nout = out_v.shape[0]
    f2 = np.empty(ncell)
    s2 = np.empty(ncell)
    fa = np.empty(nface)
    fq = np.empty(nface)
    wa = np.empty(nface)
    wb = np.empty(nface)
    wc = np.empty(nface)
    wd = np.empty(nface)
    jw = np.empty(max(jv.shape[0], 1))
    ja = np.empty(max(jv.shape[0], 1))
    qo = np.zeros(nout)
    pold = np.empty((npr, 3))
    pnew = np.empty((npr, 3))
    prev = np.empty((npr, 3, nrec))
    fh = np.zeros((npr, 3, 2))
    fst = np.zeros(3)   # previous Δt, face history present, a cycle was run
    visc = False
    for i in range(ncell):
        if cp[6, i] > 0.0:
            visc = True
    diag[D_JRES] = 0.0
    diag[D_JCHAR] = 0.0
    diag[D_DTMIN] = 1e300
    for k in range(nout):   # Windkessel τ = R2·C > 0 (else the capacitor update divides by 0)
        if int(outp[0, k]) == 0 and not outp[2, k] * outp[3, k] > 0.0:
            diag[D_TFAIL] = 0.0
            info[1] = off[out_v[k] + 1] - 1
            info[0] = 0
            return 10
    diag[D_CELLUPD] = 0.0
    status = 1
    for cyc in range(max_cycles):
        st = run_cycle(a, q, pc, qo, cp, fp, dx, off, foff, inlet_v, tab_ph, tab_q, scale,
                       period, out_v, outp, joff, jv, jend, total, rho, cfl, pr_i, pr_w, pr_f,
                       rec, pold, pnew, f2, s2, fa, fq, jw, ja, wa, wb, wc, wd, visc, fh, fst,
                       diag, info)
        info[0] = cyc + 1
        if st != 0:
            return st
        if cyc >= 1:
            done = True
            for p in range(npr):
                pmax = -1e300
                pmin = 1e300
                s = 0.0
                for k in range(nrec):
                    x = rec[p, 0, k]
                    pmax = max(pmax, x)
                    pmin = min(pmin, x)
                    s += (x - prev[p, 0, k]) ** 2
                rms = math.sqrt(s / nrec)
                err[p] = rms / max(pmax - pmin, 1.0)  # floor 1 Pa: steady flows
                if err[p] > tol:
                    done = False
            if done and cyc + 1 >= min_cycles:
                status = 0
                break
        prev[:, :, :] = rec
    return status


@njit(cache=True)
def run_batch(a, q, pc, cp, fp, dx, off, foff, inlet_v, tab_ph, tab_q, scale, period,
              out_v, outp, joff, jv, jend, total, rho, cfl, pr_i, pr_w, pr_f, nrec, max_cycles,
              min_cycles, tol, rec, err, diag, info, status):
    """:func:`run_member` for each row of the batched arrays (leading axis = member)."""
    for b in range(a.shape[0]):
        status[b] = run_member(a[b], q[b], pc[b], cp[b], fp[b], dx[b], off, foff, inlet_v,
                               tab_ph, tab_q, scale[b], period[b], out_v, outp[b], joff, jv,
                               jend, total, rho[b], cfl, pr_i, pr_w, pr_f, nrec, max_cycles,
                               min_cycles, tol, rec[b], err[b], diag[b], info[b])


@njit(cache=True, parallel=True)
def run_batch_parallel(a, q, pc, cp, fp, dx, off, foff, inlet_v, tab_ph, tab_q, scale, period,
                       out_v, outp, joff, jv, jend, total, rho, cfl, pr_i, pr_w, pr_f, nrec,
                       max_cycles, min_cycles, tol, rec, err, diag, info, status):
    """:func:`run_batch` with the members spread over Numba threads (each member is serial
    and writes only its own rows, so the result is identical)."""
    for b in prange(a.shape[0]):
        status[b] = run_member(a[b], q[b], pc[b], cp[b], fp[b], dx[b], off, foff, inlet_v,
                               tab_ph, tab_q, scale[b], period[b], out_v, outp[b], joff, jv,
                               jend, total, rho[b], cfl, pr_i, pr_w, pr_f, nrec, max_cycles,
                               min_cycles, tol, rec[b], err[b], diag[b], info[b])
