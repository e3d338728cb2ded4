"""Read and write networks: twinemu's YAML format and openBF's network YAML.

twinemu format (``format: twinemu-oned/1``; SI units; every key listed, none guessed)::

    format: twinemu-oned/1
    name: boileau_cca
    blood: {rho: 1060.0, mu: 4.0e-3}                 # kg m^-3, Pa s
    junction_pressure: total                         # optional: total (default) | static
    dx: 1.0e-3                                       # optional: cell size (m) when a vessel
                                                     #   has no `cells`
    vessels:
      - {label: cca, from: n1, to: n2, L: 0.126, R0: 3.0e-3, E: 700.0e3, h0: 0.3e-3,
         zeta: 2, P_ref: 10936.0, cells: 64}
      # R0 or (Rp, Rd) for a linear taper; h0 a number or "avolio";
      # P_ref required (0: R0 is the zero-pressure radius; P_d: R0 and h0 are diastolic
      #   values at P_d, the reference of Boileau et al. 2015);
      # optional: Pext (0), Gamma (Kelvin–Voigt, 0), cells (else the network's dx)
    inlet:
      vessel: cca
      period: 1.1                                    # s
      table: {t: [...], Q: [...]}                    # t in [0, period), Q in m^3/s
      # or fourier: {a0: .., a: [..], b: [..]}: Q = a0 + Σ a_n cos(2πnt/T) + b_n sin(2πnt/T)
    outlets:
      - {vessel: cca, type: rcr, R1: .., R2: .., C: .., Pout: 0.0}
      # type resistance: {R, Pout};  type reflection: {Rt}

Unknown keys, missing values and values of the wrong type raise :class:`ConfigurationError`.
Defaults taken for the optional ``junction_pressure``, ``Pext`` and ``Gamma`` are listed in
``Network.defaults_used``.  openBF files are
converted on reading (see :func:`from_openbf`); their known input defects are refused, not
copied (see ``../shared/data/README.md``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import replace
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


def _int(d: Mapping, key: str, where: str, minimum: int) -> int:
    x = d[key]
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) \
            or int(x) != x:
        raise ConfigurationError(f"{where}: {key}={x!r} is not an integer; give a whole number "
                                 f"≥ {minimum}")
    if x < minimum:
        raise ConfigurationError(f"{where}: {key}={int(x)} must be ≥ {minimum}")
    return int(x)


def _array(d: Mapping, key: str, where: str) -> np.ndarray:
    """A 1D array of finite numbers from ``d[key]`` (a YAML list)."""
    x = d[key]
    if isinstance(x, (str, bytes, Mapping)) or x is None:
        raise ConfigurationError(f"{where}: {key} must be a list of numbers, got {x!r:.60}")
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"{where}: {key} must be a list of numbers; {exc}") from exc
    if a.ndim != 1:
        raise ConfigurationError(f"{where}: {key} must be a flat list of numbers")
    bad = np.flatnonzero(~np.isfinite(a))
    if bad.size:
        raise ConfigurationError(f"{where}: {key}[{bad[0]}]={a[bad[0]]} is not finite; every "
                                 f"value must be a finite number")
    return a


def _list(d: Mapping, key: str, where: str) -> list:
    x = d[key]
    if not isinstance(x, list):
        raise ConfigurationError(f"{where}: {key} must be a list, got {x!r:.60}; use [] for "
                                 f"none")
    return x


def load_network(path: str | Path, *, strict: bool = True) -> Network:
    """Read a network from our YAML or an openBF YAML file (sniffed from its keys).

    ``strict=False`` lets openBF quirks through with an :class:`OpenBFInputWarning` (the
    spaced key ``gamma profile``; an outlet with R1 but no R2, read as a pure resistance).
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigurationError(f"cannot read network file {path}: {exc}") from exc
    except yaml.YAMLError as exc:   # one line, and none of the file's content
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigurationError(f"network file {path} is not valid YAML: {what}{where}"
                                 ) from exc
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{path}: not a YAML mapping")
    if "format" in data:
        return from_dict(data, where=str(path))
    if "network" in data and "project_name" in data:
        return from_openbf(data, base=path.parent, strict=strict, where=str(path))
    raise ConfigurationError(
        f"{path}: neither a twinemu network (needs 'format: {FORMAT}') nor an openBF network "
        f"(needs 'project_name' and 'network')")


def _inlet(d: Mapping, where: str) -> Inlet:
    _keys(d, where, {"vessel", "period"}, {"table", "fourier", "scale"})
    period = _num(d, "period", where, positive=True)
    scale = _num(d, "scale", where) if "scale" in d else 1.0
    if scale < 0:
        raise ConfigurationError(f"{where}: scale={scale} must be ≥ 0")
    if ("table" in d) == ("fourier" in d):
        raise ConfigurationError(f"{where}: give exactly one of 'table' or 'fourier'")
    if "table" in d:
        _keys(d["table"], f"{where}.table", {"t", "Q"}, set())
        t = _array(d["table"], "t", f"{where}.table")
        q = _array(d["table"], "Q", f"{where}.table")
        return table_inlet(str(d["vessel"]), t, q, period, where=where, scale=scale)
    f = d["fourier"]
    _keys(f, f"{where}.fourier", {"a0", "a", "b"}, set())
    a = _array(f, "a", f"{where}.fourier")
    b = _array(f, "b", f"{where}.fourier")
    if a.shape != b.shape:
        raise ConfigurationError(f"{where}.fourier: 'a' and 'b' need the same length")
    ph = np.arange(FOURIER_SAMPLES) / FOURIER_SAMPLES
    n = np.arange(1, len(a) + 1)[:, None]
    q = _num(f, "a0", f"{where}.fourier") + (a[:, None] * np.cos(2 * np.pi * n * ph)
                          + b[:, None] * np.sin(2 * np.pi * n * ph)).sum(axis=0)
    return Inlet(str(d["vessel"]), period, ph, q, scale)


def table_inlet(vessel: str, t: np.ndarray, q: np.ndarray, period: float, *,
                where: str = "inlet", scale: float = 1.0) -> Inlet:
    """An inlet from a table over one period (a final sample at t = period is dropped)."""
    if t.ndim != 1 or t.shape != q.shape or len(t) < 2:
        raise ConfigurationError(f"{where}: t and Q must be 1D arrays of the same length ≥ 2")
    for name, arr in (("t", t), ("Q", q)):
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise ConfigurationError(f"{where}: inflow {name} row {bad[0] + 1} is {arr[bad[0]]}"
                                     f"; every value of the table must be a finite number")
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
    # contiguous copies: a column of a loaded table is a strided view, which would make the
    # Numba kernels compile (and cache) a second, strided specialisation
    return Inlet(vessel, period, np.ascontiguousarray(ph, dtype=float),
                 np.ascontiguousarray(q, dtype=float), scale)


def function_inlet(vessel: str, q, period: float, *, samples: int = FOURIER_SAMPLES,
                   scale: float = 1.0) -> Inlet:
    """An inlet from a Python function ``q(t)`` (m^3/s, t in s), sampled at ``samples``
    phases of one period and then interpolated linearly like any table."""
    t = np.arange(samples) / samples * period
    flow = np.asarray([float(q(x)) for x in t])
    if not np.all(np.isfinite(flow)):
        raise ConfigurationError(f"inlet function for {vessel!r} returned non-finite values")
    return Inlet(vessel, float(period), t / period, flow, scale)


_VESSEL_REQ = {"label", "from", "to", "L", "E", "h0", "zeta", "P_ref"}
_VESSEL_OPT = {"R0", "Rp", "Rd", "Pext", "Gamma", "cells"}


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


#: Optional keys with a documented default; a network lists the ones it took in
#: ``Network.defaults_used`` (also in ``meta["defaults_used"]``).
DEFAULTS = {"junction_pressure": "total", "Pext": 0.0, "Gamma": 0.0}


def from_dict(data: Mapping, where: str = "network") -> Network:
    """Build a :class:`Network` from a twinemu-format mapping.

    ``P_ref`` is required on every vessel (0 for a zero-pressure radius).  The optional keys
    ``junction_pressure`` (total), ``Pext`` (0) and ``Gamma`` (0) take the defaults of
    :data:`DEFAULTS`; each default taken is listed in the network's ``defaults_used``.
    """
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{where}: expected a mapping, got {type(data).__name__}")
    fmt = data.get("format")
    if fmt != FORMAT:
        raise ConfigurationError(
            f"{where}: format={fmt!r} is not supported; this reader understands "
            f"'{FORMAT}' only (a different major version needs a newer twinemu, or a "
            f"conversion of the file)")
    _keys(data, where, {"format", "name", "blood", "vessels", "inlet", "outlets"},
          {"junction_pressure", "dx", "description"})
    _keys(data["blood"], f"{where}.blood", {"rho", "mu"}, set())
    blood = Blood(_num(data["blood"], "rho", f"{where}.blood", True),
                  _num(data["blood"], "mu", f"{where}.blood"))
    if blood.mu < 0:
        raise ConfigurationError(f"{where}.blood: mu={blood.mu} must be ≥ 0")
    used: list[str] = []
    vessels = []
    for k, d in enumerate(_list(data, "vessels", where)):
        w = f"{where}.vessels[{k}]"
        _keys(d, w, _VESSEL_REQ, _VESSEL_OPT)
        rp, rd = _radii(d, w)
        cells = _int(d, "cells", w, 3) if "cells" in d else None
        for key in ("Pext", "Gamma"):
            if key not in d:
                used.append(f"vessels[{d['label']}].{key}={DEFAULTS[key]}")
        gamma = _num(d, "Gamma", w) if "Gamma" in d else 0.0
        if gamma < 0:
            raise ConfigurationError(f"{w}: Gamma={gamma} must be ≥ 0")
        vessels.append(Vessel(
            str(d["label"]), str(d["from"]), str(d["to"]), _num(d, "L", w, True), rp, rd,
            _num(d, "E", w, True), _h0(d, "h0", w), _num(d, "zeta", w, True),
            _num(d, "Pext", w) if "Pext" in d else 0.0, _num(d, "P_ref", w), gamma, cells))
    outlets = [_outlet(d, f"{where}.outlets[{k}]")
               for k, d in enumerate(_list(data, "outlets", where))]
    dx = _num(data, "dx", where, True) if "dx" in data else None
    if "junction_pressure" not in data:
        used.append(f"junction_pressure={DEFAULTS['junction_pressure']}")
    return Network(str(data["name"]), blood, tuple(vessels),
                   _inlet(data["inlet"], f"{where}.inlet"), tuple(outlets),
                   str(data.get("junction_pressure", DEFAULTS["junction_pressure"])), dx,
                   {"defaults_used": tuple(used)})


def _outlet(d: Mapping, where: str) -> Outlet:
    if not isinstance(d, Mapping):
        raise ConfigurationError(f"{where}: expected a mapping (vessel, type, ...), got {d!r}")
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
        d.update({"E": v.E, "h0": v.h0, "zeta": v.zeta, "P_ref": v.P_ref})
        for key, default in (("Pext", 0.0), ("Gamma", 0.0)):
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
    notes = net.meta.get("notes")
    if notes:
        out["description"] = "; ".join(notes)
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
               "Pext", "R1", "R2", "Cc", "Rt", "outlet", "inlet_impedance_matching", "phi",
               "inlet"}
#: openBF keys refused with a reason (not implemented here: no silent reinterpretation).
_OBF_REFUSED = {
    "visc": "a blood-viscosity model per vessel is not implemented; remove the key (the "
            "network's blood.mu is used everywhere)",
    "inlet_number": "several inlets are not supported (one inlet, read from 'inlet_file'); "
                    "remove the key",
}


def from_openbf(data: Mapping, base: Path, *, strict: bool = True,
                where: str = "openBF") -> Network:
    """Convert an openBF network mapping; the inflow table is read relative to ``base``.

    Mapping: ``sn``/``tn`` → nodes, ``M`` (≥ 3) → cells, ``gamma_profile`` → ζ, missing
    ``h0`` → Avolio's formula (as openBF), ``Pext`` → P_ext, ``R1, R2, Cc`` → RCR, ``Rt`` →
    reflection, ``phi`` → Kelvin–Voigt Γ = (2/3)√π φ h (the relation of openBF's
    viscoelastic wall, Γ in Pa s m; a wall thickness constant along the vessel is needed).
    openBF radii are zero-pressure radii: the converted vessels have ``P_ref = 0``.
    ``inlet_impedance_matching: true`` sets R1 = ρc/A at the distal end only where the
    vessel gives no R1 (noted in the network's ``meta["notes"]``); with an explicit R1 it is
    a conflict and refused.

    Refused (ConfigurationError): ``visc``, ``inlet_number``, ``inlet: P`` (pressure
    inlet), ``outlet: wk2`` (give it as a three-element Windkessel with R1 = 0), ``Rt``
    together with R1/R2/Cc, ``M`` < 3, ρ or μ ≤ 0, non-numeric values.  Refused unless
    ``strict=False`` (then read with an :class:`OpenBFInputWarning`): the spaced key
    ``gamma profile`` (openBF silently ignores it and uses its default ζ = 2), an outlet
    with R1 but no R2 (read as a pure resistance R1; a Cc given with it is dropped, and the
    warning says so) and an inflow table whose times do not increase (sorted by time; see
    :func:`_openbf_inflow_rows`).  A vessel without ζ is an error.
    """
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{where}: expected a mapping, got {type(data).__name__}")
    unknown = set(data) - _OBF_TOP
    if unknown:
        raise ConfigurationError(f"{where}: unknown openBF key(s) {sorted(unknown)}")
    if "blood" not in data:
        raise ConfigurationError(f"{where}: missing 'blood' (rho, mu)")
    blood_d = data["blood"]
    _keys(blood_d, f"{where}.blood", {"rho", "mu"}, set())
    blood = Blood(_num(blood_d, "rho", f"{where}.blood", True),
                  _num(blood_d, "mu", f"{where}.blood", True))
    vessels, outlets = [], []
    notes: list[str] = ["radii are openBF's zero-pressure radii: P_ref = 0"]
    targets = set()
    inlet_flagged = []
    for k, d in enumerate(_list(data, "network", where)):
        if not isinstance(d, Mapping):
            raise ConfigurationError(f"{where}.network[{k}]: expected a mapping")
        w = f"{where}.network[{k}] ({d.get('label', '?')})"
        d = dict(d)
        if "gamma profile" in d:
            if strict:
                raise ConfigurationError(
                    f"{w}: key 'gamma profile' (with a space) is not an openBF key — openBF "
                    f"ignores it and silently uses its default ζ = 2 (vessel.jl; some older "
                    f"versions and ports used 9). Rename it 'gamma_profile', or load with "
                    f"strict=False to read it as ζ.")
            warnings.warn(f"{w}: reading 'gamma profile' as 'gamma_profile'",
                          OpenBFInputWarning, stacklevel=2)
            d["gamma_profile"] = d.pop("gamma profile")
        for key, why in _OBF_REFUSED.items():
            if key in d:
                raise ConfigurationError(f"{w}: openBF key {key!r}: {why}")
        unknown = set(d) - _OBF_VESSEL
        if unknown:
            raise ConfigurationError(f"{w}: unknown openBF key(s) {sorted(unknown)}")
        for key in ("label", "sn", "tn", "L", "E", "gamma_profile"):
            if key not in d:
                raise ConfigurationError(f"{w}: missing {key!r}")
        if "inlet" in d:
            if d["inlet"] != "Q":
                raise ConfigurationError(
                    f"{w}: inlet={d['inlet']!r}: only a flow inlet ('Q') is supported, not a "
                    f"pressure inlet; give the inflow Q(t) in 'inlet_file'")
            inlet_flagged.append(str(d["label"]))
        rp, rd = _radii(d, w)
        h0 = _h0(d, "h0", w) if "h0" in d else "avolio"
        label = str(d["label"])
        sn, tn = _int(d, "sn", w, 0), _int(d, "tn", w, 0)
        v = Vessel(label, f"n{sn}", f"n{tn}", _num(d, "L", w, True), rp, rd,
                   _num(d, "E", w, True), h0, _num(d, "gamma_profile", w, True),
                   _num(d, "Pext", w) if "Pext" in d else 0.0, 0.0, 0.0,
                   _int(d, "M", w, 3) if "M" in d else None)
        if "phi" in d:
            phi = _num(d, "phi", w)
            if phi < 0:
                raise ConfigurationError(f"{w}: phi={phi} must be ≥ 0")
            if isinstance(h0, str) and rp != rd:
                raise ConfigurationError(
                    f"{w}: phi with a tapered vessel and Avolio's wall thickness gives a wall "
                    f"viscosity Γ = (2/3)√π φ h that varies along the vessel, which is not "
                    f"implemented; give a numeric h0")
            h = float(v.thickness(0.0))
            v = replace(v, Gamma=(2.0 / 3.0) * math.sqrt(math.pi) * phi * h)
        vessels.append(v)
        targets.add(tn)
        outlets += _openbf_outlet(d, v, blood.rho, strict, w, notes)
    sources = [v for v in vessels if int(v.source[1:]) not in targets]
    if len(sources) != 1:
        raise ConfigurationError(f"{where}: expected one inlet vessel, found "
                                 f"{[v.label for v in sources]}")
    if inlet_flagged and inlet_flagged != [sources[0].label]:
        raise ConfigurationError(f"{where}: 'inlet: Q' on {inlet_flagged}, but the network's "
                                 f"inlet vessel is {sources[0].label!r}")
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
    if tab.shape[1] < 2 or tab.shape[0] < 2:
        raise ConfigurationError(f"{where}: inflow table {inlet_file} needs two columns "
                                 f"(t, Q) and at least two rows")
    if not np.all(np.isfinite(tab)):
        raise ConfigurationError(f"{where}: inflow table {inlet_file} has non-finite values")
    tab = _openbf_inflow_rows(tab[:, :2], f"{where}: inflow table {inlet_file}", strict)
    period = float(tab[-1, 0])
    inlet = table_inlet(sources[0].label, tab[:, 0], tab[:, 1], period, where=where)
    dx = None if all(v.cells is not None for v in vessels) else 1e-3
    if dx is not None:
        notes.append("vessels without M: 1 mm cells (dx = 1e-3 m)")
    meta = {"openbf_solver": dict(data.get("solver") or {}), "notes": tuple(notes)}
    return Network(str(data["project_name"]), blood, tuple(vessels), inlet, tuple(outlets),
                   "total", dx, meta)


def _openbf_inflow_rows(tab: np.ndarray, w: str, strict: bool) -> np.ndarray:
    """The (t, Q) rows of an openBF inflow table, in increasing time.

    openBF (``inputFromData``) interpolates linearly between the first pair of consecutive
    rows, in file order, whose times bracket t.  A table whose times step back (digitised
    curves, e.g. the circle of Willis inflow) is then read piecewise with jumps; sorting the
    rows by time keeps every sample on one curve instead.  Refused unless ``strict=False``
    (then sorted, with an :class:`OpenBFInputWarning` naming the rows); a row repeated
    exactly is dropped; two rows with one time and different flows are always refused.
    """
    t = tab[:, 0]
    back = np.flatnonzero(np.diff(t) <= 0) + 1        # 0-based rows not after their previous
    if not back.size:
        return tab
    shown = ", ".join(f"row {k + 1} (t={t[k]:.6g} s after {t[k - 1]:.6g} s)"
                      for k in back[:5]) + (" ..." if back.size > 5 else "")
    if strict:
        raise ConfigurationError(
            f"{w}: times do not increase at {back.size} row(s): {shown}. openBF reads such a "
            f"table piecewise in file order (with jumps); fix the rows, or load with "
            f"strict=False to sort them by time")
    order = np.argsort(t, kind="stable")
    rows = tab[order]
    keep = np.ones(len(rows), dtype=bool)
    keep[1:] = ~np.all(rows[1:] == rows[:-1], axis=1)   # exact repeats
    rows = rows[keep]
    clash = np.flatnonzero(np.diff(rows[:, 0]) == 0)
    if clash.size:
        k = clash[0]
        raise ConfigurationError(
            f"{w}: two rows at t={rows[k, 0]:.6g} s give different flows ({rows[k, 1]:.6g} "
            f"and {rows[k + 1, 1]:.6g} m^3/s); keep one of them")
    step = float(np.max(t[back - 1] - t[back]))
    warnings.warn(
        f"{w}: times do not increase at {back.size} row(s): {shown}; rows sorted by time "
        f"(largest step back {step * 1e3:.3g} ms; {int((~keep).sum())} repeated row(s) "
        f"dropped). openBF itself reads the rows in file order, so its inflow differs inside "
        f"those intervals", OpenBFInputWarning, stacklevel=4)
    return rows


def _openbf_outlet(d: Mapping, v: Vessel, rho: float, strict: bool, w: str,
                   notes: list[str]) -> list[Outlet]:
    kind = d.get("outlet")
    has = [k for k in ("R1", "R2", "Cc", "Rt") if k in d]
    matching = d.get("inlet_impedance_matching", False)
    if not isinstance(matching, bool):
        raise ConfigurationError(f"{w}: inlet_impedance_matching={matching!r} must be true or "
                                 f"false")
    if kind is None and not has and not matching:
        return []
    if kind == "wk2":
        raise ConfigurationError(
            f"{w}: outlet 'wk2' (two-element Windkessel) is not converted: its parameters "
            f"are read differently across openBF versions. Write it as 'wk3' with R1: 0, "
            f"R2: <peripheral resistance> and Cc: <compliance>")
    if kind not in (None, "wk3", "reflection"):
        raise ConfigurationError(f"{w}: outlet={kind!r} not understood; use 'wk3' or "
                                 f"'reflection'")
    if "Rt" in d:
        others = [k for k in ("R1", "R2", "Cc") if k in d]
        if others or kind == "wk3" or matching:
            raise ConfigurationError(
                f"{w}: Rt (reflection coefficient) together with {others or [kind]}: give "
                f"either Rt alone or a Windkessel (R1, R2, Cc), not both")
        rt = _num(d, "Rt", w)
        if abs(rt) > 1:
            raise ConfigurationError(f"{w}: reflection coefficient Rt={rt} outside [-1, 1]")
        return [Outlet(v.label, "reflection", Rt=rt)]
    if kind == "reflection":
        raise ConfigurationError(f"{w}: outlet 'reflection' needs Rt")
    r1 = _num(d, "R1", w) if "R1" in d else None
    if matching:
        if r1 is not None:
            raise ConfigurationError(
                f"{w}: inlet_impedance_matching: true and an explicit R1={r1:g} conflict "
                f"(matching would replace R1 by ρc/A); remove one of them")
        r1 = rho * v.wave_speed_ref(v.L, rho) / (math.pi * v.Rd ** 2)   # Z0 = ρc/A
        notes.append(f"outlet {v.label}: R1 = ρc/A = {r1:.6g} Pa s m^-3 "
                     f"(openBF inlet_impedance_matching)")
    if r1 is not None and r1 < 0:
        raise ConfigurationError(f"{w}: R1={r1} must be ≥ 0")
    if r1 is not None and "R2" not in d:
        if strict:
            raise ConfigurationError(
                f"{w}: outlet with R1 but no R2 (openBF's handling of it is a known defect). "
                f"Give R2 and Cc for a Windkessel, or load with strict=False to read R1 as a "
                f"pure terminal resistance.")
        dropped = f"; its Cc={_num(d, 'Cc', w):.4g} m^3/Pa is dropped (a Windkessel " \
                  f"needs R2)" if "Cc" in d else ""
        warnings.warn(f"{w}: outlet of vessel {v.label!r} with R1 but no R2 read as a pure "
                      f"resistance R={r1:.4g} Pa s m^-3{dropped}",
                      OpenBFInputWarning, stacklevel=3)
        return [Outlet(v.label, "resistance", r1)]
    if r1 is None or "Cc" not in d or "R2" not in d:
        raise ConfigurationError(f"{w}: Windkessel outlet needs R1, R2 and Cc")
    return [Outlet(v.label, "rcr", r1, _num(d, "R2", w, True), _num(d, "Cc", w, True), 0.0)]
