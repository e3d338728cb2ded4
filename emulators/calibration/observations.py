"""Observations of a patient, checked against an emulator before any sampling.

File format (YAML)::

    outputs:
      P_wave_inlet:                  # an emulator output name
        values: [92.1, 91.8, ...]    # a waveform (list) or a scalar
        unit: mmHg                   # required; converted to the emulator's unit
        sd: 1.0                      # noise s.d. in `unit`, or "2%" of each |value|
        index: [0.0, 0.01, ...]      # optional: phases in [0, 1) of the values
      Q_mean_inlet: {values: 6.1, unit: mL/s, sd: "5%"}
    priors:                          # optional, per parameter (inside the emulator's bounds)
      R2_scale: {dist: normal, mu: 1.0, sigma: 0.1}

A waveform without ``index`` must have as many values as the emulator's phase grid; with
``index`` the emulator's waveform is interpolated (periodically, linearly) at those phases.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emulators.calibration.errors import ObservationError, PriorError
from simulators.design import Parameter, ParameterSpace
from simulators.units import UnitError, convert

_REL = re.compile(r"^\s*([0-9.eE+-]+)\s*%\s*$")


@dataclass(frozen=True)
class OutputData:
    """Observations of one emulator output, in the emulator's unit.

    ``values`` and ``sd`` have shape ``(n_k,)``; ``index`` holds the phases (in [0, 1)) of
    a waveform's values, ``None`` for a scalar output.
    """

    name: str
    values: np.ndarray
    sd: np.ndarray
    unit: str
    index: np.ndarray | None
    given_unit: str

    @property
    def is_waveform(self) -> bool:
        return self.index is not None

    def __len__(self) -> int:
        return len(self.values)


@dataclass
class Observations:
    """Observations as read (values in their own units), before checking against an emulator.

    ``outputs`` maps an output name to ``{"values", "unit", "sd", "index"?}``; ``priors``
    maps a parameter name to :class:`~simulators.design.Parameter` keywords.
    """

    outputs: dict[str, dict[str, Any]]
    priors: dict[str, dict[str, Any]]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Observations:
        if not isinstance(data, Mapping) or "outputs" not in data:
            raise ObservationError("observations need an 'outputs' mapping: "
                                   "{name: {values: ..., unit: ..., sd: ...}}")
        unknown = sorted(set(data) - {"outputs", "priors"})
        if unknown:
            raise ObservationError(f"unknown top-level key(s) {unknown} in the observations; "
                                   f"valid keys are outputs, priors")
        outs = data["outputs"]
        if not isinstance(outs, Mapping) or not outs:
            raise ObservationError("'outputs' must be a non-empty mapping of output names")
        checked = {}
        for name, d in outs.items():
            if not isinstance(d, Mapping):
                raise ObservationError(f"output {name!r}: expected {{values, unit, sd}}")
            bad = sorted(set(d) - {"values", "unit", "sd", "index"})
            if bad:
                raise ObservationError(f"output {name!r}: unknown key(s) {bad}; valid keys "
                                       f"are values, unit, sd, index")
            for key in ("values", "unit", "sd"):
                if key not in d:
                    raise ObservationError(f"output {name!r}: missing {key!r} (give the unit "
                                           f"of the values, e.g. unit: mmHg, and the noise "
                                           f"s.d., e.g. sd: 1.0 or sd: '2%')")
            checked[str(name)] = dict(d)
        priors = data.get("priors") or {}
        if not isinstance(priors, Mapping):
            raise ObservationError("'priors' must map parameter names to {dist, mu, sigma, "
                                   "low, high}")
        return cls(checked, {str(k): dict(v) for k, v in priors.items()})

    @classmethod
    def from_yaml(cls, path: str | Path) -> Observations:
        import yaml

        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise ObservationError(f"cannot read observations file {str(path)!r}: "
                                   f"{exc.strerror}") from exc
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            raise ObservationError(f"observations file {str(path)!r} is not valid YAML"
                                   f"{where}") from exc
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        plain = {}
        for name, d in self.outputs.items():
            plain[name] = {k: (np.asarray(v).tolist() if k in ("values", "index") else v)
                           for k, v in d.items()}
        return {"outputs": plain, "priors": self.priors}


def emulator_outputs(emulator: Any) -> dict[str, tuple[str, tuple[int, ...]]]:
    """``{name: (unit, shape)}`` of an emulator's outputs (duck typing).

    Read from ``emulator.outputs.blocks`` when present (GP, runtime); otherwise from one
    prediction at the centre of the space (units then unknown: ``""``).
    """
    blocks = getattr(getattr(emulator, "outputs", None), "blocks", None)
    if blocks:
        return {b.name: (str(getattr(b, "unit", "") or ""), tuple(b.shape)) for b in blocks}
    centre = emulator.space.from_unit(np.full((1, len(emulator.space)), 0.5))
    pred = emulator.predict_dict(centre)
    return {k: ("", tuple(np.shape(m)[1:])) for k, (m, _) in pred.items()}


def prepare(observations: Observations | Mapping[str, Any] | str | Path, emulator: Any
            ) -> dict[str, OutputData]:
    """Check observations against ``emulator`` and convert them to its units.

    Raises :class:`ObservationError` for an unknown output, a shape mismatch, NaN or a
    non-positive noise s.d., and :class:`UnitError` for a unit that does not convert to the
    emulator's.
    """
    if isinstance(observations, (str, Path)):
        observations = Observations.from_yaml(observations)
    elif not isinstance(observations, Observations):
        observations = Observations.from_dict(observations)
    known = emulator_outputs(emulator)
    out: dict[str, OutputData] = {}
    for name, d in observations.outputs.items():
        if name not in known:
            raise ObservationError(f"observed output {name!r} is not an output of the "
                                   f"emulator; its outputs are {', '.join(known)}")
        unit, shape = known[name]
        values = _numbers(d["values"], f"output {name!r} values")
        n = values.size
        if shape and len(shape) == 1:
            T = shape[0]
            if "index" in d:
                index = _numbers(d["index"], f"output {name!r} index").ravel()
                if index.size != n:
                    raise ObservationError(f"output {name!r}: {n} values but {index.size} "
                                           f"index phases")
                if np.any(index < 0) or np.any(index >= 1):
                    raise ObservationError(f"output {name!r}: index phases must lie in [0, 1)"
                                           f" (fractions of the cycle)")
            elif n != T:
                raise ObservationError(f"output {name!r} is a waveform of {T} phase points; "
                                       f"got {n} values (give 'index' with the phase of each "
                                       f"value to observe it at other phases)")
            else:
                index = np.arange(T, dtype=float) / T
        elif shape:
            raise ObservationError(f"output {name!r} has shape {shape}; only scalars and "
                                   f"waveforms can be observed")
        else:
            if n != 1 or "index" in d:
                raise ObservationError(f"output {name!r} is a scalar; give one value "
                                       f"without an index")
            index = None
        values = values.ravel()
        sd = _noise(d["sd"], values, name)
        given = str(d["unit"])
        try:
            if unit:
                values = np.asarray(convert(values, given, unit), dtype=float)
                sd = np.asarray(convert(sd, given, unit), dtype=float)
            else:
                convert(values, given, given)  # at least a known unit
        except UnitError as exc:
            raise UnitError(f"output {name!r}: {exc} (the emulator gives it in "
                            f"{unit or 'an unknown unit'})") from None
        out[name] = OutputData(name, values, sd, unit or given, index, given)
    return out


def prior_space(space: ParameterSpace, priors: Mapping[str, Mapping[str, Any]] | None
                ) -> ParameterSpace:
    """The emulator's parameter space with prior overrides applied (same names and order).

    An override may change ``dist`` (uniform, loguniform, normal with ``mu``/``sigma``) and
    narrow ``low``/``high``; it may not leave the emulator's domain of validity.
    """
    priors = dict(priors or {})
    unknown = sorted(set(priors) - set(space.names))
    if unknown:
        raise PriorError(f"priors given for unknown parameters {unknown}; the emulator's "
                         f"parameters are {space.names}")
    params = []
    for p in space.parameters:
        if p.name not in priors:
            params.append(p)
            continue
        over = dict(priors[p.name])
        bad = sorted(set(over) - {"dist", "mu", "sigma", "low", "high"})
        if bad:
            raise PriorError(f"prior of {p.name!r}: unknown key(s) {bad}; valid keys are "
                             f"dist, mu, sigma, low, high")
        low, high = float(over.get("low", p.low)), float(over.get("high", p.high))
        if low < p.low or high > p.high:
            raise PriorError(f"prior of {p.name!r}: [{low:g}, {high:g}] leaves the emulator's "
                             f"domain [{p.low:g}, {p.high:g}]; narrow it")
        dist = over.get("dist", p.dist)
        kw = {"mu": over.get("mu"), "sigma": over.get("sigma")} if dist == "normal" else {}
        if dist != "normal" and ("mu" in over or "sigma" in over):
            raise PriorError(f"prior of {p.name!r}: mu/sigma need dist: normal")
        try:
            params.append(Parameter(p.name, low, high, unit=p.unit, dist=dist, **kw,
                                    description=p.description))
        except ValueError as exc:
            raise PriorError(f"prior of {p.name!r}: {exc}") from exc
    return ParameterSpace(params)


def _numbers(x: Any, what: str) -> np.ndarray:
    try:
        arr = np.atleast_1d(np.asarray(x, dtype=float))
    except (TypeError, ValueError):
        raise ObservationError(f"{what} must be numbers") from None
    if arr.ndim != 1 or arr.size == 0:
        raise ObservationError(f"{what} must be a number or a flat list of numbers")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ObservationError(f"{what} hold NaN or infinite values (first at position "
                               f"{int(bad[0])}); remove those samples or give 'index'")
    return arr


def _noise(sd: Any, values: np.ndarray, name: str) -> np.ndarray:
    if isinstance(sd, str):
        m = _REL.match(sd)
        if not m:
            raise ObservationError(f"output {name!r}: sd={sd!r} must be a number (in the "
                                   f"values' unit) or a percentage such as '2%'")
        rel = float(m.group(1)) / 100.0
        out = rel * np.abs(values)
    else:
        out = np.broadcast_to(_numbers(sd, f"output {name!r} sd"), values.shape).astype(float)
    if not np.all(out > 0) or not all(math.isfinite(v) for v in out):
        raise ObservationError(f"output {name!r}: the noise s.d. must be > 0 everywhere "
                               f"(a relative sd needs non-zero values)")
    return out
