"""Quantities of interest of a 3D CFD run, reduced from a :class:`~datasets.adapters.RunSource`.

Pure estimators work on SI arrays (metres, seconds, m/s, Pa); :func:`compute_qois` walks a
run one step at a time (never holding more than one step of a field), converts the source's
units (:class:`SourceUnits`: FEniCS pipelines often write mm, ms and kinematic pressure
p/rho) and returns plain numpy outputs for the campaign archive.

Definitions (Ku 1985; Himburg et al. 2002; Di Achille et al. 2014)::

    Q_k(t)  = sum_f A_f (u_f . n_f)                     flow out of boundary k
    p_k(t)  = sum_f A_f p_f / sum_f A_f                 area-mean pressure
    tau     = -mu (G + G^T) n + ((mu (G + G^T) n) . n) n  wall shear stress (n outward)
    TAWSS   = 1/T int |tau| dt
    OSI     = 1/2 (1 - |int tau dt| / int |tau| dt)
    RRT     = 1 / ((1 - 2 OSI) TAWSS)
    ECAP    = OSI / TAWSS

Time integrals and waveforms use the samples of the last full period only
(``t > t_end - T``, :func:`last_cycle`).  Point fields are integrated exactly on P1
triangles; face-centred (Fluent) and cell-centred (CGNS ``CellCenter``) fields use the
face sums above directly, and WSS, which needs point velocity on tetrahedra, is then
skipped with a note.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from datasets.adapters.base import Mesh, RunSource, match_rows
from datasets.errors import QoIError
from datasets.mesh import (
    BoundaryFaces,
    boundary_faces,
    boundary_triangles,
    facet_owner,
    facet_vector_areas,
    tag_caps,
    triangle_geometry,
    triangulate,
)
from simulators.units import units_of

# SI factors of the units a source or an archive may use (simulators.units is their home)
_LENGTH = units_of("length")
_TIME = {k: v for k, v in units_of("time").items() if k in ("s", "ms")}
_PRESSURE = units_of("pressure")
_FLOW = units_of("flow")


def _lookup(table: Mapping[str, float], key: str, what: str) -> float:
    if key not in table:
        raise QoIError(f"unknown {what} unit {key!r}; use one of {sorted(table)}")
    return table[key]


@dataclass(frozen=True)
class SourceUnits:
    """Units of a CFD source and the fluid properties needed to reach SI.

    Attributes
    ----------
    length, time : str
        Units of coordinates and time (``"mm"``, ``"ms"``...).  Velocity is length/time.
    pressure : str
        ``"kinematic"`` (p/rho, in (length/time)^2, Oasis/VaMPy) or a static pressure unit
        (``"Pa"``, ``"mmHg"``, ``"dyn/cm2"``).
    density : float
        Fluid density, kg m^-3 (turns kinematic pressure into Pa).
    viscosity : float
        Dynamic viscosity mu, Pa s (wall shear stress).
    """

    length: str = "m"
    time: str = "s"
    pressure: str = "Pa"
    density: float = 1060.0
    viscosity: float = 3.5e-3

    def __post_init__(self) -> None:
        _lookup(_LENGTH, self.length, "length")
        _lookup(_TIME, self.time, "time")
        if self.pressure != "kinematic":
            _lookup(_PRESSURE, self.pressure, "pressure")
        if not (self.density > 0 and self.viscosity > 0):
            raise QoIError(f"density {self.density} and viscosity {self.viscosity} must be > 0")

    @property
    def length_factor(self) -> float:
        """Metres per source length unit."""
        return _LENGTH[self.length]

    @property
    def time_factor(self) -> float:
        """Seconds per source time unit."""
        return _TIME[self.time]

    @property
    def velocity_factor(self) -> float:
        return self.length_factor / self.time_factor

    @property
    def pressure_factor(self) -> float:
        """Pa per source pressure unit (kinematic: rho (L/T)^2)."""
        if self.pressure == "kinematic":
            return self.density * self.velocity_factor**2
        return _PRESSURE[self.pressure]


# -- pure estimators (SI arrays) ---------------------------------------------------------

def _scalar(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    return v[:, 0] if v.ndim == 2 else v


def surface_flow(points: np.ndarray, tris: np.ndarray, velocity: np.ndarray) -> float:
    """Flow ``Q = int u . n dA`` through triangles (n by right-hand rule), m^3/s.

    Exact for velocity linear on each facet (P1): ``Q = sum_f A_f mean(u_f) . n_f``.
    """
    area, normal, _ = triangle_geometry(points, tris)
    u_mean = velocity[tris].mean(axis=1)
    return float(np.sum(area * np.einsum("ij,ij->i", u_mean, normal)))


def surface_mean(points: np.ndarray, tris: np.ndarray, values: np.ndarray) -> float:
    """Area-weighted mean of a point scalar over triangles, ``sum A_f p_f / sum A_f``."""
    area, _, _ = triangle_geometry(points, tris)
    return float(np.sum(area * _scalar(values)[tris].mean(axis=1)) / np.sum(area))


def face_flow(vector_area: np.ndarray, velocity: np.ndarray) -> float:
    """Flow through facets from face-centred velocity, ``Q = sum_f A_f u_f . n_f``, m^3/s.

    ``vector_area`` is ``A_f n_f`` ``(m, 3)`` (outward), ``velocity`` ``(m, 3)`` per facet.
    """
    return float(np.einsum("ij,ij->", vector_area, velocity))


def face_mean(vector_area: np.ndarray, values: np.ndarray) -> float:
    """Area-weighted mean of a face-centred scalar, ``sum_f A_f p_f / sum_f A_f``."""
    area = np.linalg.norm(vector_area, axis=1)
    return float(np.sum(area * _scalar(values)) / np.sum(area))


def velocity_gradient(points: np.ndarray, tets: np.ndarray, velocity: np.ndarray) -> np.ndarray:
    """Constant gradient ``G_ij = du_i/dx_j`` of a P1 field on each tetrahedron, ``(n, 3, 3)``.

    With edge matrix ``D = [x1-x0; x2-x0; x3-x0]`` and ``dU = [u1-u0; ...]``, ``D G^T = dU``.
    """
    x, u = points[tets], velocity[tets]
    D = x[:, 1:] - x[:, :1]
    dU = u[:, 1:] - u[:, :1]
    vol6 = np.abs(np.linalg.det(D))
    scale = np.linalg.norm(D, axis=(1, 2)) ** 3
    flat = vol6 <= 1e-12 * scale
    if flat.any():
        raise QoIError(f"{int(flat.sum())} degenerate (zero-volume) tetrahedra next to the "
                       f"wall, e.g. cells {np.flatnonzero(flat)[:5].tolist()}; the gradient "
                       f"there is undefined -- repair the mesh")
    return np.transpose(np.linalg.solve(D, dU), (0, 2, 1))


@dataclass
class WallOperator:
    """Precomputed geometry for wall shear stress on one wall (P1 tetrahedra).

    ``tris`` are outward-oriented wall triangles; each uses the gradient of its owning
    tetrahedron.
    """

    points: np.ndarray
    tets: np.ndarray
    tris: np.ndarray
    owner: np.ndarray = field(init=False)
    area: np.ndarray = field(init=False)
    normal: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.owner = facet_owner(self.tets, self.tris)
        if np.any(self.owner < 0):
            raise QoIError("wall facets must be faces of the tetrahedra")
        self.area, self.normal, _ = triangle_geometry(self.points, self.tris)

    def moved(self, points: np.ndarray) -> WallOperator:
        """The same wall on moved points (same topology); keeps the facet owners."""
        new = object.__new__(WallOperator)
        new.points, new.tets, new.tris, new.owner = points, self.tets, self.tris, self.owner
        new.area, new.normal, _ = triangle_geometry(points, self.tris)
        return new

    def wss(self, velocity: np.ndarray, mu: float) -> np.ndarray:
        """Wall shear stress vector per wall facet ``(m, 3)``, Pa (velocity in m/s).

        Traction of the fluid on the wall, ``t = -mu (G + G^T) n`` with n pointing out of the
        fluid; its tangential part ``t - (t . n) n`` is the WSS.
        """
        G = velocity_gradient(self.points, self.tets[self.owner], velocity)
        S = G + np.transpose(G, (0, 2, 1))
        t = -mu * np.einsum("fij,fj->fi", S, self.normal)
        return t - np.einsum("fi,fi->f", t, self.normal)[:, None] * self.normal


def last_cycle(times: np.ndarray, period: float) -> np.ndarray:
    """Mask of the samples in the last full period, ``t > t_end - T``, ``(n,)`` bool.

    A run written over several cycles (spin-up, then the periodic state) is reduced on its
    last cycle; samples that tile one cycle (span below ``T``) are all kept, and a sample
    exactly one period before the last one (the cycle's closing duplicate) is dropped.
    Raises :class:`QoIError` when fewer than 2 samples remain.
    """
    t = np.asarray(times, dtype=float)
    if t.size <= 1:
        return np.ones(t.size, bool)
    T = float(period)
    if not T > 0:
        raise QoIError(f"the period must be > 0 s, got {T:g}")
    spacing = float(np.median(np.abs(np.diff(t)))) or T
    keep = t > t[-1] - T + 1e-6 * min(T, spacing)
    if keep.sum() < 2:
        raise QoIError(
            f"the samples span {t[-1] - t[0]:g} s ({t.size} samples from {t[0]:g} to "
            f"{t[-1]:g} s) but only {int(keep.sum())} lies within the last period of {T:g} s "
            f"(t > {t[-1] - T:g} s); a cycle needs at least 2 samples -- check qois.period "
            f"and the time unit (units.time, units.dt)")
    return keep


def time_weights(times: np.ndarray, period: float | None = None) -> np.ndarray:
    """Quadrature weights (s) of samples over the last period, periodic trapezoid rule.

    ``w_i = (t_{i+1} - t_{i-1}) / 2`` with wrap-around over the samples of the last full
    period (:func:`last_cycle`); earlier samples get weight 0, so the weights are never
    negative and sum to the period.  One sample gets weight 1 (a steady run).  ``period``
    defaults to the span plus one median spacing (samples that tile the cycle uniformly).
    """
    t = np.asarray(times, dtype=float)
    if t.size == 1:
        return np.ones(1)
    T = infer_period(t) if period is None else float(period)
    keep = last_cycle(t, T)
    tk = t[keep]
    nxt = np.append(tk[1:], tk[0] + T)
    prv = np.insert(tk[:-1], 0, tk[-1] - T)
    w = np.zeros(t.size)
    w[keep] = (nxt - prv) / 2.0
    return w


def infer_period(times: np.ndarray) -> float:
    """Span of uniformly spaced samples plus one spacing (seconds)."""
    t = np.asarray(times, dtype=float)
    if t.size < 2:
        return 1.0
    return float(t[-1] - t[0] + np.median(np.diff(t)))


def repeats(times: np.ndarray, values: np.ndarray, period: float, rtol: float = 0.05) -> int:
    """How many times a waveform repeats within ``period`` (1 when it does not).

    The smallest ``k >= 2`` (with at least 4 samples per repeat) for which the waveform
    shifted by ``period / k`` (periodic linear interpolation) matches itself within
    ``rtol`` of its range.  A constant waveform counts as 1.
    """
    t = np.asarray(times, float)
    y = np.asarray(values, float).ravel()
    span = float(np.ptp(y)) if y.size else 0.0
    if t.size < 8 or not span > 1e-12 * float(np.max(np.abs(y))):
        return 1
    for k in range(2, t.size // 4 + 1):
        shifted = np.interp(t + period / k, t, y, period=period)
        if np.max(np.abs(shifted - y)) <= rtol * span:
            return k
    return 1


def _warn_inferred_period(k: int, T: float) -> None:
    if k > 1:
        warnings.warn(
            f"no period was given, so it was inferred as the sample span plus one step "
            f"({T:g} s), but the waveform repeats {k} times within it: the data hold several "
            f"cycles, which are averaged and resampled as one. Set qois.period (s) to the "
            f"cardiac cycle so that only the last cycle is used.", UserWarning, stacklevel=3)


class WSSAccumulator:
    """Streaming TAWSS / OSI / RRT / ECAP over time steps (one step of WSS at a time)."""

    def __init__(self, n_facets: int) -> None:
        self.int_vec = np.zeros((n_facets, 3))  # int tau dt
        self.int_mag = np.zeros(n_facets)  # int |tau| dt
        self.total = 0.0

    def add(self, tau: np.ndarray, weight: float) -> None:
        self.int_vec += weight * tau
        self.int_mag += weight * np.linalg.norm(tau, axis=1)
        self.total += weight

    def result(self) -> dict[str, np.ndarray]:
        """Per-facet ``tawss`` (Pa), ``osi`` (-), ``rrt`` (1/Pa), ``ecap`` (1/Pa)."""
        if self.total <= 0:
            raise QoIError("no time steps were accumulated")
        tawss = self.int_mag / self.total
        mag_mean = np.linalg.norm(self.int_vec, axis=1) / self.total
        with np.errstate(divide="ignore", invalid="ignore"):
            # OSI = 1/2 (1 - |int tau| / int |tau|)   (Ku et al. 1985)
            osi = np.where(tawss > 0, 0.5 * (1.0 - mag_mean / np.where(tawss > 0, tawss, 1)), 0.0)
            osi = np.clip(osi, 0.0, 0.5)
            # RRT = 1 / ((1 - 2 OSI) TAWSS) = 1 / |time-mean tau|  (Himburg et al. 2002)
            rrt = np.where(mag_mean > 0, 1.0 / mag_mean, np.inf)
            # ECAP = OSI / TAWSS  (Di Achille et al. 2014)
            ecap = np.where(tawss > 0, osi / tawss, np.inf)
        return {"tawss": tawss, "osi": osi, "rrt": rrt, "ecap": ecap}


def wss_indices(tau: np.ndarray, times: np.ndarray, period: float | None = None
                ) -> dict[str, np.ndarray]:
    """TAWSS/OSI/RRT/ECAP from WSS vectors ``(n_t, m, 3)`` (Pa) at ``times`` (s)."""
    w = time_weights(times, period)
    acc = WSSAccumulator(tau.shape[1])
    for k in range(len(w)):
        acc.add(tau[k], w[k])
    return acc.result()


def weighted_percentile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Area-weighted percentile (``q`` in 0..100), midpoint interpolation."""
    order = np.argsort(values)
    v, w = values[order], weights[order]
    cdf = (np.cumsum(w) - 0.5 * w) / np.sum(w)
    return float(np.interp(q / 100.0, cdf, v))


def regional_stats(values: np.ndarray, area: np.ndarray, *,
                   percentiles: Sequence[float] = (10, 50, 90),
                   low_threshold: float | None = None) -> dict[str, float]:
    """Area-weighted ``mean``, ``p<q>`` percentiles and ``low_fraction`` (area below threshold)."""
    v = np.asarray(values, float)
    ok = np.isfinite(v)
    v, a = v[ok], np.asarray(area, float)[ok]
    out = {"mean": float(np.sum(a * v) / np.sum(a))}
    for q in percentiles:
        out[f"p{q:g}"] = weighted_percentile(v, a, q)
    if low_threshold is not None:
        out["low_fraction"] = float(np.sum(a[v < low_threshold]) / np.sum(a))
    return out


def resample_phase(times: np.ndarray, values: np.ndarray, n_points: int, *,
                   period: float | None = None, t0: float = 0.0) -> np.ndarray:
    """Periodic linear interpolation of a waveform onto phases ``k/n`` (k = 0..n-1).

    Only the samples of the last full period are used (:func:`last_cycle`).  The phase of
    a sample is ``((t - t0) / T) mod 1``; ``T`` defaults to :func:`infer_period`, with a
    warning when the waveform plainly repeats within it (several cycles, no period given).
    A single sample gives a constant waveform.
    """
    t = np.asarray(times, float)
    y = np.asarray(values, float)
    grid = np.arange(n_points) / n_points
    if t.size == 1:
        return np.full(n_points, y[0])
    if period is None:
        T = infer_period(t)
        _warn_inferred_period(repeats(t, y, T), T)
    else:
        T = float(period)
    keep = last_cycle(t, T)
    phase = np.mod((t[keep] - t0) / T, 1.0)
    order = np.argsort(phase)
    return np.interp(grid, phase[order], y[keep][order], period=1.0)


# -- run-level reduction -----------------------------------------------------------------

@dataclass
class QoISpec:
    """What to compute on a run (the manifest's ``qois:`` section).

    Boundaries are names or integer tags of the source's facet tags.  ``caps`` tags an
    untagged tetrahedral mesh from cap centres (source length unit) first.
    """

    velocity: str = "u"
    pressure: str | None = "p"
    displacement: str | None = None  # FSI (turtleFSI): mesh points + d at each step
    inlet: str | int | None = "inlet"
    outlets: list[str | int] = field(default_factory=list)
    wall: str | int | list[str | int] | None = "wall"
    #: named wall regions (subsets of the wall boundaries) with their own statistics
    regions: dict[str, str | int | list[str | int]] = field(default_factory=dict)
    caps: dict[str, list[float]] = field(default_factory=dict)
    cap_tags: dict[str, int] = field(default_factory=dict)
    wss: bool = True
    low_wss_threshold: float = 0.4  # Pa
    percentiles: list[float] = field(default_factory=lambda: [10.0, 50.0, 90.0])
    phase_points: int = 100
    period: float | None = None  # s
    #: which samples time averages and waveforms use: "last" = the last full period
    #: (t > t_end - period) of a run written over several cycles
    cycle: str = "last"
    units: SourceUnits = field(default_factory=SourceUnits)
    flow_unit: str = "mL/s"
    pressure_unit: str = "mmHg"
    steps: list[int] | None = None

    def __post_init__(self) -> None:
        _lookup(_FLOW, self.flow_unit, "flow")
        _lookup(_PRESSURE, self.pressure_unit, "pressure")
        if self.phase_points < 1:
            raise QoIError(f"phase_points must be >= 1, got {self.phase_points}")
        if self.cycle != "last":
            raise QoIError(f"cycle must be 'last' (time averages and waveforms over the last "
                           f"full period), got {self.cycle!r}")
        if self.period is not None and not self.period > 0:
            raise QoIError(f"period must be > 0 s, got {self.period}")
        for what, keys in (("boundaries (inlet and outlets)", self.boundaries()),
                           ("regions", list(self.regions))):
            seen: dict[str, str | int] = {}
            for key in keys:
                k = label(key)
                if k in seen:
                    raise QoIError(
                        f"{what} {seen[k]!r} and {key!r} both become {k!r} in output names "
                        f"(e.g. Q_{k}_mean), so one would overwrite the other; rename one")
                seen[k] = key

    def boundaries(self) -> list[str | int]:
        return ([self.inlet] if self.inlet is not None else []) + list(self.outlets)

    def outputs(self) -> list[tuple[str, str, tuple[int, ...], str]]:
        """``(name, unit, shape, description)`` of every output this spec produces."""
        T = (self.phase_points,)
        out = []
        for b in self.boundaries():
            k = label(b)
            out += [(f"Q_{k}", self.flow_unit, T, f"flow out of {b} over the cycle"),
                    (f"Q_{k}_mean", self.flow_unit, (), f"cycle-mean flow out of {b}")]
            if self.pressure:
                out += [(f"p_{k}", self.pressure_unit, T, f"area-mean pressure on {b}"),
                        (f"p_{k}_mean", self.pressure_unit, (), f"cycle-mean pressure on {b}")]
        for o in self.outlets:
            k = label(o)
            out.append((f"split_{k}", "1", (), f"fraction of total outlet flow through {o}"))
            if self.pressure and self.inlet is not None:
                out.append((f"dp_{k}_mean", self.pressure_unit, (),
                            f"cycle-mean pressure drop {self.inlet} -> {o}"))
        if self.wss and self.wall is not None:
            out += [("TAWSS_mean", "Pa", (), "area-mean time-averaged wall shear stress")]
            out += [(f"TAWSS_p{q:g}", "Pa", (), f"{q:g}th area percentile of TAWSS")
                    for q in self.percentiles]
            out += [("OSI_mean", "1", (), "area-mean oscillatory shear index"),
                    ("OSI_max", "1", (), "maximum oscillatory shear index"),
                    ("RRT_mean", "1/Pa", (), "area-mean relative residence time (finite)"),
                    ("ECAP_mean", "1/Pa", (), "area-mean endothelial cell activation potential"),
                    ("LSA_fraction", "1", (),
                     f"wall area fraction with TAWSS < {self.low_wss_threshold:g} Pa")]
            for r in self.regions:
                k = label(r)
                out += [(f"TAWSS_mean_{k}", "Pa", (), f"area-mean TAWSS on region {r}"),
                        (f"OSI_mean_{k}", "1", (), f"area-mean OSI on region {r}"),
                        (f"LSA_fraction_{k}", "1", (), f"low-shear area fraction of {r}")]
        return out


def label(key: str | int) -> str:
    """Output-name-safe label of a boundary."""
    return re.sub(r"\W+", "_", str(key) if not isinstance(key, int) else f"tag{key}")


def prepare_mesh(source: RunSource, spec: QoISpec, step: int = 0) -> Mesh:
    """The source's mesh, with caps tagged when ``spec.caps`` is given."""
    mesh = source.mesh(step)
    if spec.caps:
        mesh = tag_caps(mesh, spec.caps, tags=spec.cap_tags or None,
                        wall_name=str(spec.wall or "wall"))
    return mesh


def _finite_points(points: np.ndarray, when: str, source: RunSource) -> None:
    """QoIError when mesh coordinates hold NaN or inf (they would give NaN flows)."""
    finite = np.isfinite(points)
    if not finite.all():
        bad = int((~finite).any(axis=-1).sum()) if finite.ndim > 1 else int((~finite).sum())
        raise QoIError(f"the mesh coordinates{when} of {source.path.name} hold {bad} "
                       f"non-finite points (NaN or inf); the run is unusable for QoIs")


def _checked(source: RunSource, name: str, step: int, n_comp: int | None = None,
             rows: np.ndarray | None = None) -> np.ndarray:
    """One step of a field (only ``rows`` of it when given), finite, with ``n_comp``."""
    values = source.read(name, step)
    if rows is not None:
        values = values[rows]
    if not np.all(np.isfinite(values)):
        bad = int((~np.isfinite(values)).any(axis=1).sum())
        raise QoIError(f"field {name!r} has {bad} non-finite values at step {step} of "
                       f"{source.path.name}; the run is unusable for QoIs")
    if n_comp is not None and values.shape[1] != n_comp:
        raise QoIError(f"field {name!r} has {values.shape[1]} components, expected {n_comp}")
    return values


class _Boundary:
    """How one boundary is sampled: triangles for point fields, facet rows or owner
    cells for face- and cell-centred fields (a boundary cell's value stands for its face)."""

    def __init__(self, mesh: Mesh, key: str | int, needs_faces: bool) -> None:
        faces: BoundaryFaces = boundary_faces(mesh, key)
        if needs_faces and not faces.oriented:
            raise QoIError(
                f"boundary {key!r}: the mesh has no volume cells and its facets do not close "
                f"a surface, so the outward side of the face data (and the flow sign) cannot "
                f"be decided")
        self.key, self.faces = key, faces
        self.tris = triangulate(faces.facets)

    def rows(self, association: str, name: str) -> np.ndarray:
        if association == "facet":
            return self.faces.rows
        if self.faces.owner is None:
            raise QoIError(f"field {name!r} is cell-centred but the mesh has no volume cells "
                           f"to tie boundary {self.key!r} to")
        return self.faces.owner

    def vector_area(self, points: np.ndarray) -> np.ndarray:
        return facet_vector_areas(points, self.faces.facets)


def _skip_wss(spec: QoISpec, mesh: Mesh, assoc: str) -> str:
    """Why WSS cannot be computed on this run ("" when it can)."""
    if not (spec.wss and spec.wall is not None):
        return ""
    why = []
    if assoc != "point":
        why.append(f"velocity {spec.velocity!r} is {assoc}-centred")
    if "tetra" not in mesh.cells:
        why.append(f"the mesh has no tetrahedra ({sorted(mesh.cells) or 'no volume cells'})")
    if not why:
        return ""
    return (f"WSS metrics (TAWSS, OSI, RRT, ECAP, LSA) skipped: they need point velocity on "
            f"P1 tetrahedra, and {' and '.join(why)}")


def compute_qois(source: RunSource, spec: QoISpec) -> dict[str, Any]:
    """Reduce a run to the outputs of ``spec.outputs()`` (plus ``_times``, ``_extra`` and
    ``_notes``).

    Reads one step of velocity and pressure at a time, over the last full period only
    (:func:`last_cycle`).  Point fields are integrated exactly on P1 triangles; facet-
    (Fluent) and cell-centred (CGNS ``CellCenter``) fields give ``Q = sum_f A_f u_f . n_f``
    and ``p = sum_f A_f p_f / sum_f A_f`` on the boundary faces.  Wall shear stress needs
    point velocity on tetrahedra; otherwise the WSS outputs are left out and ``_notes``
    says why.  On a moving mesh the coordinates of each step are used (fixed topology);
    regional WSS statistics are weighted by the first step's facet areas.  Raises
    :class:`QoIError` for a missing field or boundary, NaNs, or too few samples in the
    last period.
    """
    fields = source.fields()
    for name in (spec.velocity, spec.pressure, spec.displacement):
        if name and name not in fields:
            raise QoIError(f"{source.path.name}: no field {name!r}; it has {sorted(fields)}")
    assoc = {name: fields[name].association for name in (spec.velocity, spec.pressure)
             if name}
    for name, a in assoc.items():
        if a not in ("point", "facet", "cell"):
            raise QoIError(f"field {name!r} is {a}-centred; QoIs need point, facet or cell "
                           f"fields")
    u_ = spec.units
    times = np.asarray(source.times(), float)
    if source.time_unit == "":  # as written by the solver: in the source's time unit
        times = times * u_.time_factor
    elif source.time_unit != "s":
        raise QoIError(f"{source.path.name}: times are in {source.time_unit!r}; give the "
                       f"time step (units.dt) so they can be converted to seconds")
    steps = list(range(len(times))) if spec.steps is None else list(spec.steps)
    times = times[steps]
    T = infer_period(times) if spec.period is None else float(spec.period)
    if len(times) > 1:  # spec.cycle == "last": the last full period only
        keep = last_cycle(times, T)
        steps, times = [s for s, k in zip(steps, keep, strict=True) if k], times[keep]
    mesh = prepare_mesh(source, spec)
    _finite_points(mesh.points, "", source)
    pts = mesh.points * u_.length_factor
    needs_faces = any(a != "point" for a in assoc.values())
    try:
        bnd = {b: _Boundary(mesh, b, needs_faces) for b in spec.boundaries()}
    except KeyError as exc:
        raise QoIError(str(exc.args[0])) from exc
    n_t = len(steps)
    flow = {b: np.zeros(n_t) for b in bnd}
    pres = {b: np.zeros(n_t) for b in bnd}
    notes = []
    wall_op = None
    skip = _skip_wss(spec, mesh, assoc[spec.velocity])
    if skip:
        notes.append(skip)
    elif spec.wss and spec.wall is not None:
        tets = mesh.cells["tetra"]
        walls = spec.wall if isinstance(spec.wall, list) else [spec.wall]
        try:
            parts = [boundary_triangles(mesh, w) for w in walls]
            region_tris = {r: [boundary_triangles(mesh, b) for b in
                               (v if isinstance(v, list) else [v])]
                           for r, v in spec.regions.items()}
        except KeyError as exc:
            raise QoIError(str(exc.args[0])) from exc
        wtris = np.concatenate(parts)
        region_index = {}
        for r, rt in region_tris.items():
            idx = match_rows(np.concatenate(rt), wtris)
            if np.any(idx < 0):
                raise QoIError(f"region {r!r} is not part of the wall {walls}")
            region_index[r] = idx
        wall_op = WallOperator(pts, tets, wtris)
        acc = WSSAccumulator(len(wtris))
        weights = time_weights(times, T)
    moving = bool(source.moving_mesh) or spec.displacement is not None
    step_pts, step_wall = pts, wall_op
    areas = {b: bb.vector_area(pts) for b, bb in bnd.items()} if needs_faces else {}
    for k, step in enumerate(steps):
        if moving:  # moving mesh (FSI, ALE): same topology, new coordinates at each step
            moved = source.mesh(step).points
            if spec.displacement is not None:  # x = X + d(t), d in the length unit
                moved = moved + _checked(source, spec.displacement, step, 3)
            _finite_points(moved, f" at step {step}", source)
            if moved.shape != mesh.points.shape:
                raise QoIError(f"the mesh at step {step} has {len(moved)} points, step 0 has "
                               f"{len(mesh.points)}: changing topology is not supported")
            step_pts = moved * u_.length_factor
            step_wall = wall_op.moved(step_pts) if wall_op is not None else None
            if needs_faces:
                areas = {b: bb.vector_area(step_pts) for b, bb in bnd.items()}
        whole = {}  # point fields are read once per step, face/cell rows per boundary
        for name in assoc:
            if assoc[name] == "point":
                n_comp = 3 if name == spec.velocity else None
                factor = u_.velocity_factor if name == spec.velocity else u_.pressure_factor
                whole[name] = _checked(source, name, step, n_comp) * factor
        for b, bb in bnd.items():
            if assoc[spec.velocity] == "point":
                flow[b][k] = surface_flow(step_pts, bb.tris, whole[spec.velocity])
            else:  # Q = sum_f A_f u_f . n_f (face-centred velocity, outward normals)
                u_f = _checked(source, spec.velocity, step, 3,
                               bb.rows(assoc[spec.velocity], spec.velocity))
                flow[b][k] = face_flow(areas[b], u_f * u_.velocity_factor)
            if spec.pressure and assoc[spec.pressure] == "point":
                pres[b][k] = surface_mean(step_pts, bb.tris, whole[spec.pressure])
            elif spec.pressure:  # p = sum_f A_f p_f / sum_f A_f
                p_f = _checked(source, spec.pressure, step, None,
                               bb.rows(assoc[spec.pressure], spec.pressure))
                pres[b][k] = face_mean(areas[b], p_f * u_.pressure_factor)
        if step_wall is not None:
            acc.add(step_wall.wss(whole[spec.velocity], u_.viscosity), weights[k])
    if spec.period is None and n_t > 1:
        _warn_inferred_period(max([repeats(times, f, T) for f in flow.values()] + [1]), T)
    fq = _FLOW[spec.flow_unit]
    fp = _PRESSURE[spec.pressure_unit]
    w = time_weights(times, T)
    w = w / w.sum()
    out: dict[str, Any] = {}
    for b in bnd:
        key = label(b)
        out[f"Q_{key}"] = resample_phase(times, flow[b] / fq, spec.phase_points, period=T)
        out[f"Q_{key}_mean"] = float(np.sum(w * flow[b]) / fq)
        if spec.pressure:
            out[f"p_{key}"] = resample_phase(times, pres[b] / fp, spec.phase_points, period=T)
            out[f"p_{key}_mean"] = float(np.sum(w * pres[b]) / fp)
    total = sum(out[f"Q_{label(o)}_mean"] for o in spec.outlets)
    for o in spec.outlets:
        key = label(o)
        out[f"split_{key}"] = float(out[f"Q_{key}_mean"] / total) if total else float("nan")
        if spec.pressure and spec.inlet is not None:
            out[f"dp_{key}_mean"] = out[f"p_{label(spec.inlet)}_mean"] - out[f"p_{key}_mean"]
    extra: dict[str, Any] = {"flow_si": {label(b): flow[b] for b in bnd},
                             "pressure_si": {label(b): pres[b] for b in bnd}}
    if wall_op is not None:
        idx = acc.result()
        area = wall_op.area
        stats = regional_stats(idx["tawss"], area, percentiles=spec.percentiles,
                               low_threshold=spec.low_wss_threshold)
        out["TAWSS_mean"] = stats["mean"]
        for q in spec.percentiles:
            out[f"TAWSS_p{q:g}"] = stats[f"p{q:g}"]
        out["LSA_fraction"] = stats["low_fraction"]
        out["OSI_mean"] = regional_stats(idx["osi"], area, percentiles=())["mean"]
        out["OSI_max"] = float(np.max(idx["osi"]))
        out["RRT_mean"] = regional_stats(idx["rrt"], area, percentiles=())["mean"]
        out["ECAP_mean"] = regional_stats(idx["ecap"], area, percentiles=())["mean"]
        for r, sel in region_index.items():
            k = label(r)
            rs = regional_stats(idx["tawss"][sel], area[sel], percentiles=(),
                                low_threshold=spec.low_wss_threshold)
            out[f"TAWSS_mean_{k}"] = rs["mean"]
            out[f"LSA_fraction_{k}"] = rs["low_fraction"]
            out[f"OSI_mean_{k}"] = regional_stats(idx["osi"][sel], area[sel], percentiles=())[
                "mean"]
        extra["wall"] = {**idx, "area": area}
    bad = [k for k, v in out.items() if not k.startswith("split_")
           and not np.all(np.isfinite(v))]
    if bad:  # finite inputs can still give NaN (a degenerate boundary): never an ok run
        raise QoIError(f"non-finite QoIs {bad[:6]}{' ...' if len(bad) > 6 else ''} of "
                       f"{source.path.name}; the run is unusable")
    out["_times"] = times
    out["_extra"] = extra
    out["_notes"] = notes
    return out
