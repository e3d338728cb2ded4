"""Held-out runs of a campaign archive for an exported emulator (``twinemu check`` and
``twinemu report``): same inputs, compatible units, inside the domain, not trained on."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simulators.units import UnitError, factor


class DataMismatchError(ValueError):
    """An archive does not fit an emulator: other inputs, missing outputs or units that
    measure another quantity."""


@dataclass
class HeldOut:
    """The runs to validate on, in the emulator's units.

    ``training_known`` is False when the emulator keeps no training inputs (a neural
    ensemble): training runs could then not be told apart and may be among ``X``.
    """

    X: np.ndarray
    Y: dict[str, np.ndarray]
    run_ids: list[str]
    archive: Path
    archive_sha256: str
    n_selected: int
    n_outside: int
    n_training: int
    training_known: bool
    outside_X: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0)))
    notes: list[str] = field(default_factory=list)
    fidelity_counts: dict[str, int] = field(default_factory=dict)


def _check_units(kind: str, name: str, have: str, want: str) -> float:
    """Factor from the archive's ``have`` to the emulator's ``want`` unit, else
    :class:`DataMismatchError`."""
    if have == want:
        return 1.0
    try:
        return factor(have, want)
    except UnitError as exc:
        raise DataMismatchError(
            f"unit mismatch: {kind} {name!r} is in {have!r} in the archive but in {want!r} "
            f"in the emulator ({exc}); use an archive of the same quantities") from exc


def held_out_runs(emu: Any, archive: str | os.PathLike, *, runs: str | None = None,
                  fidelity: str | None = None, outputs: list[str] | None = None,
                  exclude_outside: bool = True) -> HeldOut:
    """Select the runs of ``archive`` an emulator can be checked on.

    Raises ``ArchiveError`` (missing or not a campaign archive) and
    :class:`DataMismatchError` (other inputs, outputs the two do not share, units of
    other quantities).  Values in other units of the same quantity (kPa for Pa) are
    converted, with a note.
    """
    from datasets import Archive
    from datasets.archive import file_sha256

    path = Path(archive)
    notes: list[str] = []
    with Archive.open(path) as a:
        if a.space.names != emu.input_names:
            raise DataMismatchError(
                f"foreign archive: {str(path)!r} has inputs {a.space.names}, the emulator "
                f"takes {emu.input_names}; check it on runs of its own parameter space")
        scale_x = np.array([_check_units("input", p.name, p.unit, q.unit)
                            for p, q in zip(a.space, emu.space, strict=True)])
        emu_units = {b.name: b.unit for b in emu.outputs.blocks}
        names = list(outputs) if outputs else [n for n in emu.output_names
                                               if n in a.output_names]
        missing = [n for n in names if n not in a.output_names or n not in emu_units]
        if missing or not names:
            raise DataMismatchError(
                f"outputs {missing or emu.output_names} are not both in the emulator "
                f"({emu.output_names}) and in {str(path)!r} ({a.output_names}); choose "
                f"shared ones with --outputs")
        scale_y = {n: _check_units("output", n, a.output_spec(n).unit, emu_units[n])
                   for n in names}
        for n in names:
            shape = tuple(a.output_spec(n).shape)
            want = next(b.shape for b in emu.outputs.blocks if b.name == n)
            if tuple(shape) != tuple(want):
                raise DataMismatchError(f"output {n!r} has shape {shape} in the archive but "
                                        f"{tuple(want)} in the emulator")
        rows = np.flatnonzero(a.mask(fidelity=fidelity, run_prefix=runs))
        X = a.inputs()[rows]
        Y = {n: a.output(n)[rows] for n in names}
        ids, fids = a.run_ids()[rows], a.fidelities()[rows]
    finite = np.ones(len(X), bool)
    for y in Y.values():
        finite &= np.all(np.isfinite(y.reshape(len(y), -1)), axis=1) if len(y) else finite
    if not finite.all():
        notes.append(f"{int((~finite).sum())} selected runs have NaN outputs and are left out")
    X, ids, fids = X[finite], list(ids[finite]), list(fids[finite])
    Y = {n: y[finite] for n, y in Y.items()}
    if np.any(scale_x != 1):
        X = X * scale_x
        notes.append("input units converted to the emulator's")
    for n, f in scale_y.items():
        if f != 1.0:
            Y[n] = Y[n] * f
            notes.append(f"{n} converted to the emulator's unit {emu_units[n]!r}")
    n_selected = len(X)
    keep = np.ones(n_selected, bool)
    outside = ~emu.space.inside(X)
    if outside.any():
        notes.append(f"{int(outside.sum())} of {n_selected} runs lie outside the emulator's "
                     f"domain" + (" and are not checked" if exclude_outside else ""))
    outside_X = X[outside]
    if exclude_outside:
        keep &= ~outside
    mask_train = emu.training_mask(np.where(outside[:, None], emu.space.bounds[:, 0], X))
    n_train = 0
    if mask_train is None:
        notes.append("this emulator keeps no training inputs, so its training runs cannot "
                     "be excluded: select held-out runs with --runs PREFIX (e.g. test-), "
                     "or the metrics may be optimistic")
    else:
        mask_train &= keep & ~outside
        n_train = int(mask_train.sum())
        if n_train:
            notes.append(f"{n_train} training runs of the emulator excluded")
        keep &= ~mask_train
    counts: dict[str, int] = {}
    for f, k in zip(fids, keep, strict=True):
        if k:
            counts[f] = counts.get(f, 0) + 1
    return HeldOut(X[keep], {n: y[keep] for n, y in Y.items()},
                   [i for i, k in zip(ids, keep, strict=True) if k], path, file_sha256(path),
                   n_selected, int(outside.sum()), n_train, mask_train is not None,
                   outside_X, notes, counts)

