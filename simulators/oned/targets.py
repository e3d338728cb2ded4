"""Named inputs → network quantities: the ``target`` of a parameter.

Syntax ``<group>[.<selector>].<field>:<mode>`` with ``mode`` ``set`` (the value replaces
the quantity) or ``scale`` (the value multiplies the nominal quantity)::

    vessels.<glob>.<field>:<mode>    field in E, R0 (both ends of a taper), Rp, Rd, L, h0,
                                     zeta, Pext, P_ref, Gamma
    outlets.<glob>.<field>:<mode>    field in R1, R2, C, Pout, Rt, and R (R1 and R2 together:
                                     "all peripheral resistances × s" is outlets.*.R:scale);
                                     the glob matches the outlet's vessel label
    inlet.<field>:<mode>             field in Q (the inflow waveform; scale only), period
                                     (the heart period: the waveform is stretched in time,
                                     its mean flow unchanged)
    blood.<field>:<mode>             field in rho, mu

``<glob>`` is a vessel label or an ``fnmatch`` pattern (``*``, ``carotid_*``); it must match
at least one vessel.  An outlet field must apply to the type of every outlet the glob
matches (:data:`OUTLET_APPLIES`: e.g. C only to ``rcr``, Rt only to ``reflection``),
otherwise the target would parse and do nothing.  Several targets may be given for one
parameter (a list).

:func:`apply` raises :class:`ParameterError` (naming the target and the value) when a
value leaves a quantity outside its domain: R1 ≥ 0, R2 > 0, C > 0 (Windkessel),
R > 0 (resistance), |Rt| ≤ 1, inflow scale ≥ 0, period > 0, Γ ≥ 0, μ > 0, ρ > 0, and
L, radii, E, h0, ζ > 0; and for a non-finite value.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from simulators.errors import ConfigurationError, ParameterError
from simulators.oned.params import Network

VESSEL_FIELDS = ("E", "R0", "Rp", "Rd", "L", "h0", "zeta", "Pext", "P_ref", "Gamma")
OUTLET_FIELDS = ("R1", "R2", "C", "Pout", "Rt", "R")
INLET_FIELDS = ("Q", "period")
BLOOD_FIELDS = ("rho", "mu")
#: Outlet fields that act on each outlet type (a resistance outlet keeps its R in R1).
OUTLET_APPLIES = {"rcr": ("R1", "R2", "C", "Pout", "R"),
                  "resistance": ("R1", "Pout", "R"),
                  "reflection": ("Rt",)}


@dataclass(frozen=True)
class Target:
    group: str
    selector: str
    field: str
    mode: str

    def __str__(self) -> str:
        sel = f".{self.selector}" if self.selector else ""
        return f"{self.group}{sel}.{self.field}:{self.mode}"


def parse(text: str, net: Network | None = None) -> Target:
    """Parse and check one target string (and that it matches something in ``net``)."""
    if not isinstance(text, str) or ":" not in text:
        raise ConfigurationError(
            f"target {text!r}: expected '<group>[.<selector>].<field>:<set|scale>', e.g. "
            f"'outlets.*.R2:scale'")
    path, mode = text.rsplit(":", 1)
    if mode not in ("set", "scale"):
        raise ConfigurationError(f"target {text!r}: mode {mode!r} must be 'set' or 'scale'")
    parts = path.split(".")
    group = parts[0]
    if group in ("vessels", "outlets"):
        if len(parts) < 3:
            raise ConfigurationError(f"target {text!r}: '{group}' needs '.<label or glob>."
                                     f"<field>'")
        selector, field = ".".join(parts[1:-1]), parts[-1]
        allowed = VESSEL_FIELDS if group == "vessels" else OUTLET_FIELDS
    elif group in ("inlet", "blood"):
        if len(parts) != 2:
            raise ConfigurationError(f"target {text!r}: expected '{group}.<field>:<mode>'")
        selector, field = "", parts[1]
        allowed = INLET_FIELDS if group == "inlet" else BLOOD_FIELDS
    else:
        raise ConfigurationError(f"target {text!r}: group {group!r} must be one of vessels, "
                                 f"outlets, inlet, blood")
    if field not in allowed:
        raise ConfigurationError(f"target {text!r}: field {field!r} not in {allowed}")
    if group == "inlet" and field == "Q" and mode != "scale":
        raise ConfigurationError(f"target {text!r}: the inflow waveform can only be scaled")
    tgt = Target(group, selector, field, mode)
    if net is not None and group in ("vessels", "outlets"):
        labels = [v.label for v in net.vessels] if group == "vessels" else [
            o.vessel for o in net.outlets]
        if not fnmatch.filter(labels, selector):
            raise ConfigurationError(f"target {text!r}: {selector!r} matches no "
                                     f"{group[:-1]} of network {net.name!r}")
        if group == "outlets":
            idle = [f"{o.vessel} ({o.kind})" for o in net.outlets
                    if fnmatch.fnmatchcase(o.vessel, selector)
                    and field not in OUTLET_APPLIES.get(o.kind, ())]
            if idle:
                raise ConfigurationError(
                    f"target {text!r}: field {field!r} has no effect on outlet(s) "
                    f"{idle[:5]}{' ...' if len(idle) > 5 else ''} of network {net.name!r}; "
                    f"it applies to outlet types "
                    f"{[k for k, f in OUTLET_APPLIES.items() if field in f]}. Choose a field "
                    f"of that outlet type or a selector that matches only those outlets")
    return tgt


def _new(old, value: float, mode: str):
    if mode == "scale":
        if isinstance(old, str):
            raise ConfigurationError("cannot scale a wall thickness given by formula")
        return old * value
    return value


def _bad(t: Target, value: float, what: str) -> ParameterError:
    return ParameterError(f"target {t} with value {value!r} gives {what}; choose a value that "
                          f"keeps it in its domain")


def _check_vessel(t: Target, value: float, v) -> None:
    if min(v.L, v.Rp, v.Rd, v.E, v.zeta) <= 0 or not all(
            math.isfinite(x) for x in (v.L, v.Rp, v.Rd, v.E, v.zeta, v.Pext, v.P_ref, v.Gamma)):
        raise _bad(t, value, f"vessel {v.label!r} with L={v.L:g}, Rp={v.Rp:g}, Rd={v.Rd:g}, "
                             f"E={v.E:g}, zeta={v.zeta:g} (all must be > 0 and finite)")
    if not isinstance(v.h0, str) and not v.h0 > 0:
        raise _bad(t, value, f"vessel {v.label!r} wall thickness h0={v.h0:g} (must be > 0)")
    if v.Gamma < 0:
        raise _bad(t, value, f"vessel {v.label!r} Gamma={v.Gamma:g} (must be ≥ 0)")


def _check_outlet(t: Target, value: float, o) -> None:
    where = f"outlet {o.vessel!r} ({o.kind})"
    if not all(math.isfinite(x) for x in (o.R1, o.R2, o.C, o.Pout, o.Rt)):
        raise _bad(t, value, f"{where} with a non-finite value")
    if o.kind == "rcr":
        if o.R1 < 0:
            raise _bad(t, value, f"{where} R1={o.R1:g} (must be ≥ 0)")
        if o.R2 <= 0:
            raise _bad(t, value, f"{where} R2={o.R2:g} (must be > 0)")
        if o.C <= 0:
            raise _bad(t, value, f"{where} C={o.C:g} (must be > 0)")
    elif o.kind == "resistance":
        if o.R1 <= 0:
            raise _bad(t, value, f"{where} R={o.R1:g} (must be > 0)")
    elif abs(o.Rt) > 1:
        raise _bad(t, value, f"{where} Rt={o.Rt:g} (must be in [-1, 1])")


def apply(net: Network, assignments: Sequence[tuple[Target, float]]) -> Network:
    """A copy of ``net`` with each (target, value) applied in order.

    Raises :class:`ParameterError` naming the target and its value when the result leaves a
    quantity outside its domain (see the module docstring).
    """
    vessels = list(net.vessels)
    outlets = list(net.outlets)
    inlet, blood = net.inlet, net.blood
    for t, value in assignments:
        try:
            value = float(value)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"target {t}: value {value!r} is not a number") from exc
        if not math.isfinite(value):
            raise ParameterError(f"target {t}: value {value!r} is not finite")
        if t.group == "vessels":
            for k, v in enumerate(vessels):
                if fnmatch.fnmatchcase(v.label, t.selector):
                    if t.field == "R0":
                        if t.mode == "set" and v.Rp != v.Rd:
                            raise ConfigurationError(f"{t}: vessel {v.label!r} is tapered; "
                                                     f"scale R0 or set Rp and Rd")
                        vessels[k] = replace(v, Rp=_new(v.Rp, value, t.mode),
                                             Rd=_new(v.Rd, value, t.mode))
                    else:
                        vessels[k] = replace(v, **{t.field: _new(getattr(v, t.field), value,
                                                                 t.mode)})
                    _check_vessel(t, value, vessels[k])
        elif t.group == "outlets":
            for k, o in enumerate(outlets):
                if fnmatch.fnmatchcase(o.vessel, t.selector):
                    if t.field == "R":
                        outlets[k] = replace(o, R1=_new(o.R1, value, t.mode),
                                             R2=_new(o.R2, value, t.mode))
                    else:
                        outlets[k] = replace(o, **{t.field: _new(getattr(o, t.field), value,
                                                                 t.mode)})
                    _check_outlet(t, value, outlets[k])
        elif t.group == "inlet":
            key = "scale" if t.field == "Q" else "period"
            inlet = replace(inlet, **{key: _new(getattr(inlet, key), value, t.mode)})
            if inlet.scale < 0:
                raise _bad(t, value, f"inflow scale {inlet.scale:g} (must be ≥ 0)")
            if inlet.period <= 0:
                raise _bad(t, value, f"period {inlet.period:g} s (must be > 0)")
        else:
            blood = replace(blood, **{t.field: _new(getattr(blood, t.field), value, t.mode)})
            if t.field == "mu" and not blood.mu > 0:
                raise _bad(t, value, f"blood viscosity mu={blood.mu:g} (must be > 0)")
            if t.field == "rho" and not blood.rho > 0:
                raise _bad(t, value, f"blood density rho={blood.rho:g} (must be > 0)")
    return replace(net, vessels=tuple(vessels), outlets=tuple(outlets), inlet=inlet,
                   blood=blood)


def assignments(targets: Mapping[str, Sequence[Target]], params: Mapping[str, float]
                ) -> list[tuple[Target, float]]:
    """(target, value) pairs for a parameter dict; every named parameter must be given."""
    missing = set(targets) - set(params)
    extra = set(params) - set(targets)
    if missing or extra:
        raise ParameterError(f"parameters: missing {sorted(missing)}, unknown {sorted(extra)}")
    return [(t, params[name]) for name, ts in targets.items() for t in ts]
