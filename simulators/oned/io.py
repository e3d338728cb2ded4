"""Read and write networks: twinemu's YAML format and openBF's network YAML.

twinemu format (``format: twinemu-oned/1``; SI units; every key listed, none guessed)::

    format: twinemu-oned/1
    name: boileau_cca
    blood: {rho: 1060.0, mu: 4.0e-3}                 # kg m^-3, Pa s
    junction_pressure: total                         # optional: total (default) | static
    dx: 1.0e-3                                       # optional: cell size (m) when a vessel
                                                     #   has no `cells`
    vessels:
      - {label: cca, from: n1, to: n2, L: 0.126, R0: 2.6485e-3, E: 700.0e3, h0: 0.24e-3,
         zeta: 2, cells: 64}
      # R0 or (Rp, Rd) for a linear taper; h0 a number or "avolio";
      # optional: Pext (0), P_ref (0: R0 is the zero-pressure radius; P_d: diastolic
      #   reference of Boileau et al. 2015), Gamma (Kelvin–Voigt, 0), cells
    inlet:
      vessel: cca
      period: 1.1                                    # s
      table: {t: [...], Q: [...]}                    # t in [0, period), Q in m^3/s
      # or fourier: {a0: .., a: [..], b: [..]}: Q = a0 + Σ a_n cos(2πnt/T) + b_n sin(2πnt/T)
    outlets:
      - {vessel: cca, type: rcr, R1: .., R2: .., C: .., Pout: 0.0}
      # type resistance: {R, Pout};  type reflection: {Rt}

Unknown keys and missing values raise :class:`ConfigurationError`.  openBF files are
converted on reading (see :func:`from_openbf`); their known input defects are refused, not
copied (see ``../shared/data/README.md``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from simulators.errors import ConfigurationError
from simulators.oned.params import Blood, Inlet, Network, Outlet, Vessel

FORMAT = "twinemu-oned/1"
FOURIER_SAMPLES = 1024


class OpenBFInputWarning(UserWarning):
    """An openBF input quirk was accepted on request (``strict=False``)."""


def _keys(d: Any, where: str, required: set[str], optional: set[str]) -> None:
    if not isinstance(d, Mapping):
        raise ConfigurationError(f"{where}: expected a mapping, got {type(d).__name__}")
    unknown = set(d) - required - optional
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown key(s) {sorted(unknown)}; allowed: "
            f"{sorted(required | optional)}")
    missing = required - set(d)
    if missing:
        raise ConfigurationError(f"{where}: missing key(s) {sorted(missing)}")


def _num(d: Mapping, key: str, where: str, positive: bool = False) -> float:
    try:
        x = float(d[key])
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"{where}: {key}={d[key]!r} is not a number") from exc
    if not math.isfinite(x) or (positive and x <= 0):
        raise ConfigurationError(f"{where}: {key}={x} must be {'> 0' if positive else 'finite'}")
    return x


def load_network(path: str | Path, *, strict: bool = True) -> Network:
    """Read a network from our YAML or an openBF YAML file (sniffed from its keys).

    ``strict=False`` lets openBF quirks through with an :class:`OpenBFInputWarning` (the
    spaced key ``gamma profile``; an outlet with R1 but no R2, read as a pure resistance).
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read network file {path}: {exc}") from exc
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{path}: not a YAML mapping")
    if data.get("format") == FORMAT:
        return from_dict(data, where=str(path))
    if "network" in data and "project_name" in data:
        return from_openbf(data, base=path.parent, strict=strict, where=str(path))
    raise ConfigurationError(
        f"{path}: neither a twinemu network (needs 'format: {FORMAT}') nor an openBF network "
        f"(needs 'project_name' and 'network')")


def _inlet(d: Mapping, where: str) -> Inlet:
    _keys(d, where, {"vessel", "period"}, {"table", "fourier", "scale"})
    period = _num(d, "period", where, positive=True)
    if ("table" in d) == ("fourier" in d):
        raise ConfigurationError(f"{where}: give exactly one of 'table' or 'fourier'")
    if "table" in d:
        _keys(d["table"], f"{where}.table", {"t", "Q"}, set())
        t = np.asarray(d["table"]["t"], dtype=float)
        q = np.asarray(d["table"]["Q"], dtype=float)
        return table_inlet(str(d["vessel"]), t, q, period, where=where,
                           scale=float(d.get("scale", 1.0)))
    f = d["fourier"]
    _keys(f, f"{where}.fourier", {"a0", "a", "b"}, set())
    a = np.asarray(f["a"], float)
    b = np.asarray(f["b"], float)
    if a.shape != b.shape:
        raise ConfigurationError(f"{where}.fourier: 'a' and 'b' need the same length")
    ph = np.arange(FOURIER_SAMPLES) / FOURIER_SAMPLES
    n = np.arange(1, len(a) + 1)[:, None]
    q = float(f["a0"]) + (a[:, None] * np.cos(2 * np.pi * n * ph)
                          + b[:, None] * np.sin(2 * np.pi * n * ph)).sum(axis=0)
    return Inlet(str(d["vessel"]), period, ph, q, float(d.get("scale", 1.0)))


def table_inlet(vessel: str, t: np.ndarray, q: np.ndarray, period: float, *,
                where: str = "inlet", scale: float = 1.0) -> Inlet:
    """An inlet from a table over one period (a final sample at t = period is dropped)."""
    if t.ndim != 1 or t.shape != q.shape or len(t) < 2:
        raise ConfigurationError(f"{where}: t and Q must be 1D arrays of the same length ≥ 2")
    bad = np.flatnonzero(np.diff(t) <= 0)
    if bad.size or t[0] < 0:
        at = f" (row {bad[0] + 2}: t={t[bad[0] + 1]!r} after {t[bad[0]]!r})" if bad.size else ""
        raise ConfigurationError(f"{where}: inflow t must start at ≥ 0 and increase strictly"
                                 f"{at}; sort or clean the table")
    ph = t / period
    if abs(ph[-1] - 1.0) < 1e-9:
        ph, q = ph[:-1], q[:-1]
    if ph[-1] >= 1.0:
        raise ConfigurationError(f"{where}: t runs past the period {period} s")
    return Inlet(vessel, period, ph, q, scale)


def function_inlet(vessel: str, q, period: float, *, samples: int = FOURIER_SAMPLES,
                   scale: float = 1.0) -> Inlet:
    """An inlet from a Python function ``q(t)`` (m^3/s, t in s), sampled at ``samples``
    phases of one period and then interpolated linearly like any table."""
    t = np.arange(samples) / samples * period
    flow = np.asarray([float(q(x)) for x in t])
    if not np.all(np.isfinite(flow)):
        raise ConfigurationError(f"inlet function for {vessel!r} returned non-finite values")
    return Inlet(vessel, float(period), t / period, flow, scale)


_VESSEL_REQ = {"label", "from", "to", "L", "E", "h0", "zeta"}
_VESSEL_OPT = {"R0", "Rp", "Rd", "Pext", "P_ref", "Gamma", "cells"}


def _radii(d: Mapping, where: str) -> tuple[float, float]:
    if "R0" in d:
        if "Rp" in d or "Rd" in d:
            raise ConfigurationError(f"{where}: give R0 or (Rp, Rd), not both")
        r = _num(d, "R0", where, positive=True)
        return r, r
    if "Rp" in d and "Rd" in d:
        return _num(d, "Rp", where, positive=True), _num(d, "Rd", where, positive=True)
    raise ConfigurationError(f"{where}: missing radius: give R0, or Rp and Rd for a taper")


def _h0(d: Mapping, key: str, where: str) -> float | str:
    h = d[key]
    if isinstance(h, str):
        if h != "avolio":
            raise ConfigurationError(f"{where}: {key}={h!r}: a number (m) or 'avolio'")
        return h
    return _num(d, key, where, positive=True)


def from_dict(data: Mapping, where: str = "network") -> Network:
    """Build a :class:`Network` from a twinemu-format mapping."""
    _keys(data, where, {"format", "name", "blood", "vessels", "inlet", "outlets"},
          {"junction_pressure", "dx", "description"})
    _keys(data["blood"], f"{where}.blood", {"rho", "mu"}, set())
    blood = Blood(_num(data["blood"], "rho", where, True), _num(data["blood"], "mu", where))
    if blood.mu < 0:
        raise ConfigurationError(f"{where}.blood: mu={blood.mu} must be ≥ 0")
    vessels = []
    for k, d in enumerate(data["vessels"]):
        w = f"{where}.vessels[{k}]"
        _keys(d, w, _VESSEL_REQ, _VESSEL_OPT)
        rp, rd = _radii(d, w)
        cells = d.get("cells")
        if cells is not None and (int(cells) != cells or cells < 3):
            raise ConfigurationError(f"{w}: cells={cells} must be an integer ≥ 3")
        vessels.append(Vessel(
            str(d["label"]), str(d["from"]), str(d["to"]), _num(d, "L", w, True), rp, rd,
            _num(d, "E", w, True), _h0(d, "h0", w), _num(d, "zeta", w, True),
            _num(d, "Pext", w) if "Pext" in d else 0.0,
            _num(d, "P_ref", w) if "P_ref" in d else 0.0,
            _num(d, "Gamma", w) if "Gamma" in d else 0.0,
            int(cells) if cells is not None else None))
    outlets = [_outlet(d, f"{where}.outlets[{k}]") for k, d in enumerate(data["outlets"])]
    dx = _num(data, "dx", where, True) if "dx" in data else None
    return Network(str(data["name"]), blood, tuple(vessels),
                   _inlet(data["inlet"], f"{where}.inlet"), tuple(outlets),
                   str(data.get("junction_pressure", "total")), dx)


def _outlet(d: Mapping, where: str) -> Outlet:
    kind = d.get("type")
    if kind == "rcr":
        _keys(d, where, {"vessel", "type", "R1", "R2", "C", "Pout"}, set())
        return Outlet(str(d["vessel"]), "rcr", _num(d, "R1", where), _num(d, "R2", where, True),
                      C=_num(d, "C", where, True), Pout=_num(d, "Pout", where))
    if kind == "resistance":
        _keys(d, where, {"vessel", "type", "R", "Pout"}, set())
        return Outlet(str(d["vessel"]), "resistance", _num(d, "R", where, True),
                      Pout=_num(d, "Pout", where))
    if kind == "reflection":
        _keys(d, where, {"vessel", "type", "Rt"}, set())
        rt = _num(d, "Rt", where)
        if abs(rt) > 1:
            raise ConfigurationError(f"{where}: reflection coefficient Rt={rt} outside [-1, 1]")
        return Outlet(str(d["vessel"]), "reflection", Rt=rt)
    raise ConfigurationError(f"{where}: type={kind!r}; use 'rcr', 'resistance' or 'reflection'")


def to_dict(net: Network) -> dict[str, Any]:
    """The twinemu-format mapping of ``net`` (inverse of :func:`from_dict`)."""
    vs = []
    for v in net.vessels:
        d: dict[str, Any] = {"label": v.label, "from": v.source, "to": v.target, "L": v.L}
        if v.Rp == v.Rd:
            d["R0"] = v.Rp
        else:
            d["Rp"], d["Rd"] = v.Rp, v.Rd
        d.update({"E": v.E, "h0": v.h0, "zeta": v.zeta})
        for key, default in (("Pext", 0.0), ("P_ref", 0.0), ("Gamma", 0.0)):
            if getattr(v, key) != default:
                d[key] = getattr(v, key)
        if v.cells is not None:
            d["cells"] = v.cells
        vs.append(d)
    outs = []
    for o in net.outlets:
        if o.kind == "rcr":
            outs.append({"vessel": o.vessel, "type": "rcr", "R1": o.R1, "R2": o.R2, "C": o.C,
                         "Pout": o.Pout})
        elif o.kind == "resistance":
            outs.append({"vessel": o.vessel, "type": "resistance", "R": o.R1, "Pout": o.Pout})
        else:
            outs.append({"vessel": o.vessel, "type": "reflection", "Rt": o.Rt})
    inl = net.inlet
    out: dict[str, Any] = {
        "format": FORMAT, "name": net.name,
        "blood": {"rho": net.blood.rho, "mu": net.blood.mu},
        "junction_pressure": net.junction_pressure}
    if net.dx is not None:
        out["dx"] = net.dx
    out.update({
        "vessels": vs,
        "inlet": {"vessel": inl.vessel, "period": inl.period,
                  "table": {"t": [float(f"{x:.9g}") for x in inl.phase * inl.period],
                            "Q": [float(f"{x:.9g}") for x in inl.flow]}},
        "outlets": outs})
    if inl.scale != 1.0:
        out["inlet"]["scale"] = inl.scale
    return out


def save_network(net: Network, path: str | Path, header: str = "") -> None:
    """Write ``net`` in the twinemu format, with ``header`` as leading comment lines."""
    text = "".join(f"# {line}\n" for line in header.splitlines())
    text += yaml.safe_dump(to_dict(net), sort_keys=False, default_flow_style=None, width=100)
    Path(path).write_text(text)


# ---------------------------------------------------------------- openBF conversion
_OBF_TOP = {"project_name", "inlet_file", "write_results", "blood", "solver", "network",
            "output_directory"}
_OBF_VESSEL = {"label", "sn", "tn", "L", "E", "R0", "Rp", "Rd", "h0", "M", "gamma_profile",
               "Pext", "R1", "R2", "Cc", "Rt", "outlet", "inlet_impedance_matching", "visc",
               "phi", "inlet", "inlet_number"}


def from_openbf(data: Mapping, base: Path, *, strict: bool = True,
                where: str = "openBF") -> Network:
    """Convert an openBF network mapping; the inflow table is read relative to ``base``.

    Mapping: ``sn``/``tn`` → nodes, ``M`` → cells, ``gamma_profile`` → ζ, missing ``h0`` →
    Avolio's formula (as openBF), ``Pext`` → P_ext, ``R1, R2, Cc`` → RCR, ``Rt`` →
    reflection.  Refused (ConfigurationError unless ``strict=False``): the spaced key
    ``gamma profile`` (openBF silently ignores it and uses ζ = 9) and an outlet with R1 but
    no R2 (read, when not strict, as a pure resistance R1).  A vessel without ζ is an error.
    """
    unknown = set(data) - _OBF_TOP
    if unknown:
        raise ConfigurationError(f"{where}: unknown openBF key(s) {sorted(unknown)}")
    blood = data.get("blood") or {}
    _keys(blood, f"{where}.blood", {"rho", "mu"}, set())
    vessels, outlets = [], []
    targets = set()
    for k, d in enumerate(data["network"]):
        w = f"{where}.network[{k}] ({d.get('label', '?')})"
        d = dict(d)
        if "gamma profile" in d:
            if strict:
                raise ConfigurationError(
                    f"{w}: key 'gamma profile' (with a space) is not an openBF key — openBF "
                    f"ignores it and silently uses ζ = 9. Rename it 'gamma_profile', or load "
                    f"with strict=False to read it as ζ.")
            warnings.warn(f"{w}: reading 'gamma profile' as 'gamma_profile'",
                          OpenBFInputWarning, stacklevel=2)
            d["gamma_profile"] = d.pop("gamma profile")
        unknown = set(d) - _OBF_VESSEL
        if unknown:
            raise ConfigurationError(f"{w}: unknown openBF key(s) {sorted(unknown)}")
        for key in ("label", "sn", "tn", "L", "E", "gamma_profile"):
            if key not in d:
                raise ConfigurationError(f"{w}: missing {key!r}")
        rp, rd = _radii(d, w)
        h0 = _h0(d, "h0", w) if "h0" in d else "avolio"
        label = str(d["label"])
        vessels.append(Vessel(
            label, f"n{d['sn']}", f"n{d['tn']}", _num(d, "L", w, True), rp, rd,
            _num(d, "E", w, True), h0, _num(d, "gamma_profile", w, True),
            _num(d, "Pext", w) if "Pext" in d else 0.0, 0.0, 0.0,
            int(d["M"]) if "M" in d else None))
        targets.add(d["tn"])
        outlets += _openbf_outlet(d, vessels[-1], float(blood["rho"]), strict, w)
    sources = [v for v in vessels if int(v.source[1:]) not in targets]
    if len(sources) != 1:
        raise ConfigurationError(f"{where}: expected one inlet vessel, found "
                                 f"{[v.label for v in sources]}")
    inlet_file = data.get("inlet_file")
    if inlet_file is None:
        guess = f"{data['project_name']}_inlet.dat"
        if strict:
            raise ConfigurationError(
                f"{where}: missing 'inlet_file' (openBF falls back to {guess!r}); add "
                f"'inlet_file: {guess}' or load with strict=False")
        warnings.warn(f"{where}: no 'inlet_file'; using {guess!r} as openBF does",
                      OpenBFInputWarning, stacklevel=2)
        inlet_file = guess
    try:
        tab = np.loadtxt(base / str(inlet_file), ndmin=2)
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"{where}: cannot read inflow table {inlet_file}: {exc}"
                                 ) from exc
    period = float(tab[-1, 0])
    inlet = table_inlet(sources[0].label, tab[:, 0], tab[:, 1], period, where=where)
    meta = {"openbf_solver": dict(data.get("solver") or {})}
    dx = None if all(v.cells is not None for v in vessels) else 1e-3
    return Network(str(data["project_name"]), Blood(float(blood["rho"]), float(blood["mu"])),
                   tuple(vessels), inlet, tuple(outlets), "total", dx, meta)


def _openbf_outlet(d: Mapping, v: Vessel, rho: float, strict: bool, w: str) -> list[Outlet]:
    kind = d.get("outlet")
    has = [k for k in ("R1", "R2", "Cc", "Rt") if k in d]
    if kind is None and not has:
        return []
    if kind not in (None, "wk3", "wk2", "reflection"):
        raise ConfigurationError(f"{w}: outlet={kind!r} not understood")
    if "Rt" in d:
        return [Outlet(v.label, "reflection", Rt=_num(d, "Rt", w))]
    r1 = _num(d, "R1", w) if "R1" in d else None
    if d.get("inlet_impedance_matching"):
        r1 = rho * v.wave_speed_ref(v.L, rho) / (math.pi * v.Rd ** 2)   # Z0 = ρc/A
    if r1 is not None and "R2" not in d:
        if strict:
            raise ConfigurationError(
                f"{w}: outlet with R1 but no R2 (openBF's handling of it is a known defect). "
                f"Give R2 and Cc for a Windkessel, or load with strict=False to read R1 as a "
                f"pure terminal resistance.")
        warnings.warn(f"{w}: outlet with R1 only read as a pure resistance R={r1:.4g}",
                      OpenBFInputWarning, stacklevel=3)
        return [Outlet(v.label, "resistance", r1)]
    if r1 is None or "Cc" not in d:
        raise ConfigurationError(f"{w}: Windkessel outlet needs R1, R2 and Cc")
    return [Outlet(v.label, "rcr", r1, _num(d, "R2", w, True), _num(d, "Cc", w, True), 0.0)]
