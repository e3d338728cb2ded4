"""Fidelity levels as data: a ``TrainingSet`` of ordered levels, lowest fidelity first.

Each level is ``(X, Y)`` read from one or more campaign archives (a 0D campaign, a 1D
campaign, ingested 3D CFD runs).  The same quantity has a different name and unit at each
level (``p_mean`` in Pa at 0D, ``P_mean_inlet`` at 1D, ``p_inlet_mean`` in mmHg at 3D);
an *output map* aligns them::

    {"p_mean": {"0d": "p_mean", "1d": "P_mean_inlet", "3d": "p_inlet_mean"}}
    {"p_mean": {"unit": "mmHg", "0d": "p_mean", "3d": {"name": "p_in", "unit": "mmHg"}}}

Each entry maps the *canonical* name (what the emulator calls the output) to the source
name at each level, optionally with the unit the source uses when its archive does not say;
``unit`` is the canonical unit (default: the highest level's).  Values are converted with
:mod:`simulators.units`; a unit that cannot be converted or a name missing at one level is
a :class:`LevelError` naming both.

Every emulator's ``fit`` takes a ``TrainingSet`` (single-fidelity emulators use its top
level), and a single-level experiment is the one-element case.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from datasets.errors import ArchiveError
from simulators.base import finite_rows
from simulators.design import Parameter, ParameterSpace
from simulators.units import UnitError, convert


class LevelError(ValueError):
    """Fidelity levels that cannot be combined (output map, units, parameter names)."""


@dataclass
class Level:
    """One fidelity level: inputs ``X (n, d)`` in the space's units and outputs
    ``{canonical name: (n,) or (n, T)}`` in the canonical units."""

    fidelity: str
    X: np.ndarray
    Y: dict[str, np.ndarray]
    run_ids: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.X)

    @property
    def sha256(self) -> str:
        """Hash of this level's inputs and outputs (name order), recorded in the card."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.X, dtype=float).tobytes())
        for name in sorted(self.Y):
            h.update(name.encode())
            h.update(np.ascontiguousarray(self.Y[name], dtype=float).tobytes())
        return h.hexdigest()


class TrainingSet:
    """Ordered fidelity levels (lowest first) sharing one parameter space and output names.

    Parameters
    ----------
    levels : sequence of Level
        Lowest fidelity first.  Every level has the same output names.
    space : ParameterSpace
        The inputs' domain (all levels' ``X`` columns in this order).
    units : mapping
        Canonical unit of each output.
    """

    def __init__(self, levels: Sequence[Level], space: ParameterSpace,
                 units: Mapping[str, str] | None = None):
        levels = list(levels)
        if not levels:
            raise LevelError("a training set needs at least one level")
        names = list(levels[-1].Y)
        fids = [lv.fidelity for lv in levels]
        if len(set(fids)) != len(fids):
            raise LevelError(f"fidelity names must be distinct, got {fids}")
        for lv in levels:
            if list(lv.Y) != names:
                raise LevelError(f"level {lv.fidelity!r} has outputs {list(lv.Y)}; every "
                                 f"level needs {names} (use an output map)")
            if lv.X.ndim != 2 or lv.X.shape[1] != len(space):
                raise LevelError(f"level {lv.fidelity!r}: X must be (n, {len(space)}) for "
                                 f"inputs {space.names}, got {lv.X.shape}")
            for name, y in lv.Y.items():
                if len(y) != lv.n:
                    raise LevelError(f"level {lv.fidelity!r}: output {name!r} has {len(y)} "
                                     f"rows but X has {lv.n}")
        self.levels = levels
        self.space = space
        self.units = {n: str((units or {}).get(n, "")) for n in names}

    # -- views ----------------------------------------------------------------------------
    @property
    def output_names(self) -> list[str]:
        return list(self.levels[-1].Y)

    @property
    def fidelities(self) -> list[str]:
        return [lv.fidelity for lv in self.levels]

    @property
    def top(self) -> Level:
        """The highest fidelity level (the one emulators predict)."""
        return self.levels[-1]

    def __len__(self) -> int:
        return len(self.levels)

    def __repr__(self) -> str:
        body = ", ".join(f"{lv.fidelity}: {lv.n} runs" for lv in self.levels)
        return f"<TrainingSet {body}; outputs {self.output_names}>"

    def is_nested(self, atol: float = 1e-9) -> bool:
        """Whether each level's inputs are among the level below's (nested designs)."""
        for lo, hi in zip(self.levels, self.levels[1:], strict=False):
            Ulo, Uhi = self.space.to_unit(lo.X), self.space.to_unit(hi.X)
            d = np.abs(Uhi[:, None, :] - Ulo[None, :, :]).max(axis=2)
            if not (d.min(axis=1) <= atol).all():
                return False
        return True

    def card(self) -> list[dict[str, Any]]:
        """What an emulator card records of its training data, level by level."""
        return [{"fidelity": lv.fidelity, "n": lv.n, "sha256": lv.sha256,
                 "sources": [os.path.basename(s) for s in lv.sources]} for lv in self.levels]

    # -- building -------------------------------------------------------------------------
    @classmethod
    def from_arrays(cls, pairs: Sequence[tuple[Any, Any]], *,
                    space: ParameterSpace | None = None,
                    fidelities: Sequence[str] | None = None,
                    units: Mapping[str, str] | None = None) -> TrainingSet:
        """Levels from ``[(X0, Y0), (X1, Y1), ...]``, lowest fidelity first.

        ``Y`` is ``(n,)``, ``(n, m)`` or a mapping ``{name: (n,) or (n, T)}`` (the same
        names at every level).  Without ``space``, the bounding box of all inputs is used.
        """
        pairs = list(pairs)
        if not pairs:
            raise LevelError("give at least one (X, Y) level")
        fidelities = list(fidelities or [f"level{t}" for t in range(len(pairs))])
        if len(fidelities) != len(pairs):
            raise LevelError(f"{len(fidelities)} fidelity names for {len(pairs)} levels")
        levels = []
        for fid, (X, Y) in zip(fidelities, pairs, strict=True):
            X = np.asarray(X, dtype=float)
            X = X[:, None] if X.ndim == 1 else X
            levels.append(Level(str(fid), X, _output_dict(Y)))
        if space is None:
            allX = np.vstack([lv.X for lv in levels])
            lo, hi = allX.min(axis=0), allX.max(axis=0)
            span = np.where(hi > lo, hi - lo, np.maximum(np.abs(lo), 1.0))
            space = ParameterSpace([Parameter(f"x{j}", lo[j], lo[j] + span[j])
                                    for j in range(allX.shape[1])])
        return cls(levels, space, units)

    @classmethod
    def from_archives(cls, levels: Sequence[Mapping[str, Any]],
                      output_map: Mapping[str, Any] | Sequence[str] | None = None, *,
                      space: ParameterSpace | None = None) -> TrainingSet:
        """Levels read from campaign archives.

        Parameters
        ----------
        levels : sequence of mappings
            Lowest fidelity first: ``{"fidelity": "1d", "archives": [path, ...],
            "run_prefix": "train-"}`` (``archive`` for one path; ``run_prefix`` optional).
            Only the successful runs of that fidelity are read.
        output_map : mapping or list of names, optional
            Canonical name → per-level source (see the module docstring).  A list of
            names means the same name at every level; ``None``: the top level's outputs.
        space : ParameterSpace, optional
            Default: the top level's archive's space.  Every archive must have the same
            parameter names (in any order).
        """
        from datasets.archive import Archive

        specs = [_level_spec(s) for s in levels]
        if not specs:
            raise LevelError("give at least one level")
        fid_top = specs[-1]["fidelity"]
        with Archive.open(specs[-1]["archives"][0]) as top:
            space = space or top.space
            if output_map is None:
                output_map = top.output_names
            top_units = {n: top.output_spec(n).unit for n in top.output_names}
        omap = _normalise_map(output_map, [s["fidelity"] for s in specs])
        units = {}
        for canon, entry in omap.items():
            src = entry["levels"][fid_top]
            if src["name"] not in top_units:
                raise LevelError(
                    f"output {canon!r} maps to {src['name']!r} at level {fid_top!r}, but "
                    f"archive {specs[-1]['archives'][0]} has no such output (it has "
                    f"{sorted(top_units)})")
            units[canon] = entry["unit"] if entry["unit"] is not None else (
                src["unit"] if src["unit"] is not None else top_units.get(src["name"], ""))
        out = []
        for spec in specs:
            Xs, Ys, ids = [], {c: [] for c in omap}, []
            for path in spec["archives"]:
                X, Y, rid = _read_level(path, spec, omap, units, space)
                Xs.append(X)
                ids += rid
                for c in omap:
                    Ys[c].append(Y[c])
            X = np.vstack(Xs)
            Y = {c: np.concatenate(v, axis=0) for c, v in Ys.items()}
            out.append(Level(spec["fidelity"], X, Y, ids, [str(p) for p in spec["archives"]]))
        return cls(out, space, units)


# -- helpers ---------------------------------------------------------------------------------
def _output_dict(Y: Any) -> dict[str, np.ndarray]:
    if isinstance(Y, Mapping):
        return {str(k): np.asarray(v, dtype=float) for k, v in Y.items()}
    Y = np.asarray(Y, dtype=float)
    if Y.ndim == 1:
        return {"y": Y}
    return {f"y{j}": Y[:, j] for j in range(Y.shape[1])}


def _level_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(spec, Mapping) or "fidelity" not in spec:
        raise LevelError("each level needs a 'fidelity' name and its 'archives'")
    paths = spec.get("archives", spec.get("archive"))
    if paths is None:
        raise LevelError(f"level {spec['fidelity']!r} names no archive")
    paths = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    return {"fidelity": str(spec["fidelity"]), "archives": [Path(p) for p in paths],
            "run_prefix": spec.get("run_prefix")}


def _normalise_map(output_map: Mapping[str, Any] | Sequence[str],
                   fidelities: list[str]) -> dict[str, dict[str, Any]]:
    """``{canonical: {"unit": str | None, "levels": {fid: {"name", "unit"}}}}``."""
    if not isinstance(output_map, Mapping):
        output_map = {str(n): {} for n in output_map}
    out = {}
    for canon, entry in output_map.items():
        if isinstance(entry, str):
            entry = {f: entry for f in fidelities}
        entry = dict(entry or {})
        unit = entry.pop("unit", None)
        unknown = sorted(set(entry) - set(fidelities))
        if unknown:
            raise LevelError(f"output map entry {canon!r} names fidelity levels {unknown} "
                             f"that the experiment does not have ({fidelities})")
        per = {}
        for f in fidelities:
            src = entry.get(f, canon)
            if isinstance(src, Mapping):
                per[f] = {"name": str(src.get("name", canon)), "unit": src.get("unit")}
            else:
                per[f] = {"name": str(src), "unit": None}
        out[str(canon)] = {"unit": unit, "levels": per}
    return out


def _read_level(path: Path, spec: dict[str, Any], omap: dict[str, dict[str, Any]],
                units: dict[str, str], space: ParameterSpace
                ) -> tuple[np.ndarray, dict[str, np.ndarray], list[str]]:
    from datasets.archive import Archive

    fid = spec["fidelity"]
    try:
        archive = Archive.open(path)
    except ArchiveError as exc:
        raise LevelError(f"level {fid!r}: {exc}") from exc
    with archive:
        missing = sorted(set(space.names) - set(archive.space.names))
        if missing:
            raise LevelError(f"level {fid!r}: archive {path} has inputs "
                             f"{archive.space.names}, without {missing}")
        order = [archive.space.names.index(n) for n in space.names]
        m = archive.mask(fidelity=fid, run_prefix=spec["run_prefix"])
        if not m.any():
            held = sorted(set(archive.fidelities()))
            raise LevelError(f"level {fid!r}: archive {path} has no successful runs of "
                             f"fidelity {fid!r} (it holds {held})")
        sources = {}
        for canon, entry in omap.items():
            src = entry["levels"][fid]
            if src["name"] not in archive.output_names:
                raise LevelError(
                    f"output {canon!r} maps to {src['name']!r} at level {fid!r}, but archive "
                    f"{path} has no such output (it has {archive.output_names})")
            src_unit = src["unit"] if src["unit"] is not None else archive.output_spec(
                src["name"]).unit
            sources[canon] = (src["name"], src_unit)
        rows = np.flatnonzero(m)
        X = archive.inputs()[rows]
        Yraw = {name: archive.output(name)[rows] for name, _ in sources.values()}
        ids = archive.run_ids()[rows]
    keep = np.ones(len(X), bool)
    for y in Yraw.values():
        keep &= finite_rows(y)
    X, ids = X[keep], [str(r) for r in ids[keep]]
    Y = {}
    for canon, (name, src_unit) in sources.items():
        try:
            Y[canon] = convert(Yraw[name][keep], src_unit, units[canon])
        except UnitError as exc:
            raise LevelError(f"output {canon!r}: level {fid!r} gives {name!r} in "
                             f"{src_unit!r}, which cannot be converted to the canonical unit "
                             f"{units[canon]!r} ({exc})") from exc
    return X[:, order], Y, ids
