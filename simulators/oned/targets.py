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
at least one vessel.  Several targets may be given for one parameter (a list).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from simulators.errors import ConfigurationError, ParameterError
from simulators.oned.params import Network

VESSEL_FIELDS = ("E", "R0", "Rp", "Rd", "L", "h0", "zeta", "Pext", "P_ref", "Gamma")
OUTLET_FIELDS = ("R1", "R2", "C", "Pout", "Rt", "R")
INLET_FIELDS = ("Q", "period")
BLOOD_FIELDS = ("rho", "mu")


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
    return tgt


def _new(old, value: float, mode: str):
    if mode == "scale":
        if isinstance(old, str):
            raise ConfigurationError("cannot scale a wall thickness given by formula")
        return old * value
    return value


def apply(net: Network, assignments: Sequence[tuple[Target, float]]) -> Network:
    """A copy of ``net`` with each (target, value) applied in order."""
    vessels = list(net.vessels)
    outlets = list(net.outlets)
    inlet, blood = net.inlet, net.blood
    for t, value in assignments:
        value = float(value)
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
        elif t.group == "outlets":
            for k, o in enumerate(outlets):
                if fnmatch.fnmatchcase(o.vessel, t.selector):
                    if t.field == "R":
                        outlets[k] = replace(o, R1=_new(o.R1, value, t.mode),
                                             R2=_new(o.R2, value, t.mode))
                    else:
                        outlets[k] = replace(o, **{t.field: _new(getattr(o, t.field), value,
                                                                 t.mode)})
        elif t.group == "inlet":
            key = "scale" if t.field == "Q" else "period"
            inlet = replace(inlet, **{key: _new(getattr(inlet, key), value, t.mode)})
        else:
            blood = replace(blood, **{t.field: _new(getattr(blood, t.field), value, t.mode)})
    for v in vessels:
        if min(v.L, v.Rp, v.Rd, v.E, v.zeta) <= 0:
            raise ParameterError(f"vessel {v.label!r}: L, radii, E and zeta must stay > 0")
    if inlet.period <= 0 or blood.rho <= 0 or blood.mu < 0:
        raise ParameterError("inlet period and rho must stay > 0, mu ≥ 0")
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
