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
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from datasets.adapters.base import Mesh, RunSource, match_rows
from datasets.errors import QoIError
from datasets.mesh import boundary_triangles, facet_owner, tag_caps, triangle_geometry

_LENGTH = {"m": 1.0, "cm": 1e-2, "mm": 1e-3, "um": 1e-6}
_TIME = {"s": 1.0, "ms": 1e-3}
_PRESSURE = {"Pa": 1.0, "kPa": 1e3, "mmHg": 133.322387415, "dyn/cm2": 0.1, "dyn/cm^2": 0.1,
             "barye": 0.1}
_FLOW = {"m3/s": 1.0, "m^3/s": 1.0, "mL/s": 1e-6, "ml/s": 1e-6, "L/min": 1e-3 / 60,
         "cm3/s": 1e-6}


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


def time_weights(times: np.ndarray, period: float | None = None) -> np.ndarray:
    """Quadrature weights (s) of samples over one period, periodic trapezoid rule.

    ``w_i = (t_{i+1} - t_{i-1}) / 2`` with wrap-around; the weights sum to the period.
    One sample gets weight 1 (a steady run).  ``period`` defaults to the span plus one
    median spacing (samples that tile the cycle uniformly).
    """
    t = np.asarray(times, dtype=float)
    if t.size == 1:
        return np.ones(1)
    T = infer_period(t) if period is None else float(period)
    nxt = np.append(t[1:], t[0] + T)
    prv = np.insert(t[:-1], 0, t[-1] - T)
    return (nxt - prv) / 2.0


def infer_period(times: np.ndarray) -> float:
    """Span of uniformly spaced samples plus one spacing (seconds)."""
    t = np.asarray(times, dtype=float)
    if t.size < 2:
        return 1.0
    return float(t[-1] - t[0] + np.median(np.diff(t)))


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

    The phase of a sample is ``((t - t0) / T) mod 1``; ``T`` defaults to
    :func:`infer_period`.  A single sample gives a constant waveform.
    """
    t = np.asarray(times, float)
    y = np.asarray(values, float)
    grid = np.arange(n_points) / n_points
    if t.size == 1:
        return np.full(n_points, y[0])
    T = infer_period(t) if period is None else float(period)
    phase = np.mod((t - t0) / T, 1.0)
    order = np.argsort(phase)
    return np.interp(grid, phase[order], y[order], period=1.0)


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
    units: SourceUnits = field(default_factory=SourceUnits)
    flow_unit: str = "mL/s"
    pressure_unit: str = "mmHg"
    steps: list[int] | None = None

    def __post_init__(self) -> None:
        _lookup(_FLOW, self.flow_unit, "flow")
        _lookup(_PRESSURE, self.pressure_unit, "pressure")
        if self.phase_points < 1:
            raise QoIError(f"phase_points must be >= 1, got {self.phase_points}")

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


def _checked(source: RunSource, name: str, step: int, n_comp: int | None = None) -> np.ndarray:
    values = source.read(name, step)
    if not np.all(np.isfinite(values)):
        bad = int((~np.isfinite(values)).any(axis=1).sum())
        raise QoIError(f"field {name!r} has {bad} non-finite values at step {step} of "
                       f"{source.path.name}; the run is unusable for QoIs")
    if n_comp is not None and values.shape[1] != n_comp:
        raise QoIError(f"field {name!r} has {values.shape[1]} components, expected {n_comp}")
    return values


def compute_qois(source: RunSource, spec: QoISpec) -> dict[str, Any]:
    """Reduce a run to the outputs of ``spec.outputs()`` (plus ``_times`` and ``_extra``).

    Reads one step of velocity and pressure at a time.  On a moving mesh the coordinates
    of each step are used (fixed topology); regional WSS statistics are weighted by the
    first step's facet areas.  Raises :class:`QoIError` for a
    missing field or boundary, NaNs, or a mesh without tetrahedra where WSS is asked for.
    """
    fields = source.fields()
    for name in (spec.velocity, spec.pressure, spec.displacement):
        if name and name not in fields:
            raise QoIError(f"{source.path.name}: no field {name!r}; it has {sorted(fields)}")
    if fields[spec.velocity].association != "point":
        raise QoIError(f"velocity {spec.velocity!r} must be a point field for P1 QoIs")
    if spec.pressure and fields[spec.pressure].association != "point":
        raise QoIError(f"pressure {spec.pressure!r} must be a point field")
    u_ = spec.units
    times = np.asarray(source.times(), float)
    if source.time_unit == "":  # as written by the solver: in the source's time unit
        times = times * u_.time_factor
    elif source.time_unit != "s":
        raise QoIError(f"{source.path.name}: times are in {source.time_unit!r}; give the "
                       f"time step (units.dt) so they can be converted to seconds")
    steps = list(range(len(times))) if spec.steps is None else list(spec.steps)
    times = times[steps]
    mesh = prepare_mesh(source, spec)
    pts = mesh.points * u_.length_factor
    try:
        tris = {b: boundary_triangles(mesh, b) for b in spec.boundaries()}
    except KeyError as exc:
        raise QoIError(str(exc.args[0])) from exc
    n_t = len(steps)
    flow = {b: np.zeros(n_t) for b in tris}
    pres = {b: np.zeros(n_t) for b in tris}
    wall_op = None
    if spec.wss and spec.wall is not None:
        tets = mesh.cells.get("tetra")
        if tets is None:
            raise QoIError("wall shear stress needs P1 tetrahedra; this mesh has "
                           f"{sorted(mesh.cells)}")
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
        weights = time_weights(times, spec.period)
    moving = bool(source.moving_mesh) or spec.displacement is not None
    step_pts, step_wall = pts, wall_op
    for k, step in enumerate(steps):
        if moving:  # moving mesh (FSI, ALE): same topology, new coordinates at each step
            moved = source.mesh(step).points
            if spec.displacement is not None:  # x = X + d(t), d in the length unit
                moved = moved + _checked(source, spec.displacement, step, 3)
            if moved.shape != mesh.points.shape:
                raise QoIError(f"the mesh at step {step} has {len(moved)} points, step 0 has "
                               f"{len(mesh.points)}: changing topology is not supported")
            step_pts = moved * u_.length_factor
            step_wall = wall_op.moved(step_pts) if wall_op is not None else None
        u = _checked(source, spec.velocity, step, 3) * u_.velocity_factor
        p = (_checked(source, spec.pressure, step) * u_.pressure_factor
             if spec.pressure else None)
        for b, t in tris.items():
            flow[b][k] = surface_flow(step_pts, t, u)
            if p is not None:
                pres[b][k] = surface_mean(step_pts, t, p)
        if step_wall is not None:
            acc.add(step_wall.wss(u, u_.viscosity), weights[k])
    fq = _FLOW[spec.flow_unit]
    fp = _PRESSURE[spec.pressure_unit]
    w = time_weights(times, spec.period)
    w = w / w.sum()
    out: dict[str, Any] = {}
    for b in tris:
        key = label(b)
        out[f"Q_{key}"] = resample_phase(times, flow[b] / fq, spec.phase_points,
                                         period=spec.period)
        out[f"Q_{key}_mean"] = float(np.sum(w * flow[b]) / fq)
        if spec.pressure:
            out[f"p_{key}"] = resample_phase(times, pres[b] / fp, spec.phase_points,
                                             period=spec.period)
            out[f"p_{key}_mean"] = float(np.sum(w * pres[b]) / fp)
    total = sum(out[f"Q_{label(o)}_mean"] for o in spec.outlets)
    for o in spec.outlets:
        key = label(o)
        out[f"split_{key}"] = float(out[f"Q_{key}_mean"] / total) if total else float("nan")
        if spec.pressure and spec.inlet is not None:
            out[f"dp_{key}_mean"] = out[f"p_{label(spec.inlet)}_mean"] - out[f"p_{key}_mean"]
    extra: dict[str, Any] = {"flow_si": {label(b): flow[b] for b in tris},
                             "pressure_si": {label(b): pres[b] for b in tris}}
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
    out["_times"] = times
    out["_extra"] = extra
    return out
