"""The result of a periodic run and the quantities derived from its waveforms.

Waveforms are sampled over the last cycle at phases k/T (``simulators.base.phase_grid``).
Units: P in Pa, Q in m^3/s, A in m^2, u in m/s, t in s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simulators.errors import ConfigurationError


@dataclass
class Solution:
    """Last cycle of a run at the recorded sites.

    ``t`` (T,) s from 0; ``P``, ``Q``, ``A`` (nsite, T); ``sites`` [(vessel label, x
    fraction)]; ``cycles`` run and ``converged``; ``change`` the last cycle-to-cycle RMS
    pressure change per site, relative to its pulse pressure; ``diagnostics``:
    ``junction_mass_residual``, worst |Σ±Q|/Σ|Q| at a junction over all steps once the
    closing member's flow is set (round-off by construction: a bookkeeping check);
    ``junction_closure_gap``, worst |Q_closing − A·u(A, W)|/max|Q| at a junction, how far the
    closing member's flow is from its characteristic relation (a real check of the Newton
    solve: the mass it would lose without the closure; → 0 with the Newton tolerance);
    ``mass_balance_error``, (ΔV − ∫(Q_in − Q_out) dt)/∫Q_in dt over the last cycle (round-off
    for this conservative scheme: it checks that no face flux is lost, not the accuracy);
    steps per cycle, smallest time step (s), cell updates.
    ``final_state``: the cell state at the end of the run (for restarts and checks).
    """

    t: np.ndarray
    period: float
    sites: list[tuple[str, float]]
    P: np.ndarray
    Q: np.ndarray
    A: np.ndarray
    cycles: int
    converged: bool
    change: np.ndarray
    diagnostics: dict = field(default_factory=dict)
    wall_time: float = 0.0
    distances: np.ndarray | None = None   # (nsite,) path length from the inlet (m)
    final_state: dict | None = None       # cell areas "A", flows "Q", outlet pressures "Pc"

    def site_index(self, label: str, x: float) -> int:
        for k, (lab, fx) in enumerate(self.sites):
            if lab == label and abs(fx - x) < 1e-9:
                return k
        shown = ", ".join(f"({lab!r}, {fx:g})" for lab, fx in self.sites[:12])
        raise ConfigurationError(
            f"site ({label!r}, {x:g}) was not recorded; recorded: {shown}"
            f"{' ...' if len(self.sites) > 12 else ''}. Pass it in simulate(..., sites=[...]).")

    def pressure(self, label: str, x: float) -> np.ndarray:
        """Pressure (Pa) over the last cycle at ``x`` (fraction of the length) of ``label``."""
        return self.P[self.site_index(label, x)]

    def flow(self, label: str, x: float) -> np.ndarray:
        """Volumetric flow (m^3/s) over the last cycle."""
        return self.Q[self.site_index(label, x)]

    def area(self, label: str, x: float) -> np.ndarray:
        """Lumen area (m^2) over the last cycle."""
        return self.A[self.site_index(label, x)]

    def velocity(self, label: str, x: float) -> np.ndarray:
        """Mean velocity u = Q/A (m/s) over the last cycle."""
        k = self.site_index(label, x)
        return self.Q[k] / self.A[k]

    def summary(self, label: str, x: float) -> dict[str, float]:
        """Derived scalars at a site (Pa, m^3/s): see :func:`pressure_summary`."""
        k = self.site_index(label, x)
        return {**pressure_summary(self.P[k]), **flow_summary(self.Q[k])}

    def pwv(self, site_a: tuple[str, float], site_b: tuple[str, float]) -> float:
        """Foot-to-foot pulse-wave velocity (m/s) between two sites (path length / delay)."""
        if self.distances is None:
            raise ConfigurationError("this solution has no site distances")
        ka, kb = self.site_index(*site_a), self.site_index(*site_b)
        return pulse_wave_velocity(self.P[ka], self.P[kb], self.period,
                                   self.distances[kb] - self.distances[ka])


def pressure_summary(p: np.ndarray) -> dict[str, float]:
    """Systolic (max), diastolic (min), mean (cycle average) and pulse pressure."""
    return {"P_sys": float(p.max()), "P_dia": float(p.min()), "P_mean": float(p.mean()),
            "PP": float(p.max() - p.min())}


def flow_summary(q: np.ndarray) -> dict[str, float]:
    """Mean (cycle average) and peak flow."""
    return {"Q_mean": float(q.mean()), "Q_max": float(q.max())}


def foot_time(p: np.ndarray, period: float) -> float:
    """Time of the wave foot (s) by the intersecting-tangent method on a periodic waveform.

    The systolic upstroke is searched in the half cycle before the systolic peak: the
    tangent at its steepest point meets the horizontal through the minimum that precedes it.
    """
    n = len(p)
    dt = period / n
    dp = (np.roll(p, -1) - np.roll(p, 1)) / (2 * dt)
    kmax = int(np.argmax(p))
    before = (kmax - np.arange(n // 2)) % n          # kmax, kmax-1, ... (wrapped)
    j = int(np.argmax(dp[before]))
    k = int(before[j])
    # refine the steepest point and the preceding minimum between samples (parabolas), so
    # the foot time varies smoothly with the waveform rather than jumping sample by sample
    tk, slope = _vertex(dp, k, dt)
    pk = p[k] + (tk - k * dt) * dp[k]
    m = int(before[j:][np.argmin(p[before[j:]])])   # the diastolic foot precedes k
    pmin = _vertex(p, m, dt)[1]
    return tk - (pk - pmin) / slope


def _vertex(y: np.ndarray, k: int, dt: float) -> tuple[float, float]:
    """Time and value of the extremum of the parabola through y[k-1], y[k], y[k+1]."""
    n = len(y)
    y0, y1, y2 = y[(k - 1) % n], y[k], y[(k + 1) % n]
    den = y0 - 2 * y1 + y2
    d = 0.5 * (y0 - y2) / den if den != 0 else 0.0
    d = min(max(d, -0.5), 0.5)
    return (k + d) * dt, y1 - 0.25 * (y0 - y2) * d


def pulse_wave_velocity(pa: np.ndarray, pb: np.ndarray, period: float,
                        distance: float) -> float:
    """PWV (m/s) from the foot-to-foot delay between waveforms ``pa`` and ``pb``."""
    delay = (foot_time(pb, period) - foot_time(pa, period)) % period
    if delay > 0.5 * period:
        delay -= period
    if delay == 0.0:
        return float("inf")
    return distance / delay
