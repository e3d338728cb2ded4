"""``check_emulator``: the accuracy gate behind ``twinemu check`` and the pytest helper."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from emulators.validation.checks import (
    CheckRow,
    CheckTable,
    Thresholds,
    apply_thresholds,
)
from emulators.validation.heldout import DataMismatchError, HeldOut, held_out_runs
from emulators.validation.result import ValidationResult, validate

#: Bars used when neither thresholds nor recorded card metrics are available.
FALLBACK = {"r2_min": 0.99, "coverage_min": 0.85}


@dataclass
class CheckReport:
    """What a check found: the pass/fail ``table``, the metrics and the runs used."""

    table: CheckTable
    result: ValidationResult
    data: HeldOut
    thresholds: Thresholds

    @property
    def passed(self) -> bool:
        return self.table.passed

    def text(self) -> str:
        notes = "\n".join(f"note: {n}" for n in self.table.notes)
        return f"{notes}\n{self.result.table()}\n\n{self.table.text()}".strip()


def resolve_thresholds(card: Mapping[str, Any], thresholds: Any = None, *,
                       tolerance: float = 0.25, coverage_slack: float = 0.1) -> Thresholds:
    """``thresholds`` (a :class:`Thresholds`, a mapping like a thresholds file, or a path
    to one), else the card's recorded metrics loosened by ``tolerance``, else
    :data:`FALLBACK`."""
    if isinstance(thresholds, Thresholds):
        return thresholds
    if isinstance(thresholds, Mapping):
        return Thresholds.from_mapping(thresholds, "thresholds")
    if isinstance(thresholds, str | os.PathLike):
        return Thresholds.from_file(thresholds)
    th = Thresholds.from_card(card, tolerance=tolerance, coverage_slack=coverage_slack)
    return th if not th.empty else Thresholds(dict(FALLBACK), {},
                                              "defaults (the card records no metrics)")


def check_emulator(emulator: Any, archive: str | os.PathLike, *, thresholds: Any = None,
                   runs: str | None = None, fidelity: str | None = None,
                   outputs: list[str] | None = None, level: float = 0.95,
                   tolerance: float = 0.25, coverage_slack: float = 0.1,
                   skip_outside: bool = False) -> CheckReport:
    """Validate an emulator (a path or a loaded ``RuntimeEmulator``) on the held-out runs
    of ``archive`` against its bars.

    The table has a row for the domain (runs outside it fail unless ``skip_outside``), a
    row saying how many training runs were excluded ("unknown" when the emulator keeps no
    training inputs), and one row per (output, bar).

    Raises ``EmulatorFileError``, ``ArchiveError``, :class:`DataMismatchError` or
    ``ThresholdError`` for bad input.
    """
    from emulators import runtime

    emu = runtime.load(emulator) if isinstance(emulator, str | os.PathLike) else emulator
    th = resolve_thresholds(emu.card, thresholds, tolerance=tolerance,
                            coverage_slack=coverage_slack)
    data = held_out_runs(emu, archive, runs=runs, fidelity=fidelity, outputs=outputs)
    if len(data.X) == 0:
        raise DataMismatchError(f"no held-out successful runs inside the emulator's domain in "
                                f"{os.fspath(archive)!r}" + (f" with prefix {runs!r}"
                                                             if runs else ""))
    res = validate(emu, data.X, data.Y, level=level)
    rows = [CheckRow("(inputs)", "inside the domain",
                     f"{data.n_selected - data.n_outside} of {data.n_selected}",
                     "(skipped)" if skip_outside else "all",
                     data.n_outside == 0 or skip_outside),
            CheckRow("(inputs)", "training runs excluded",
                     str(data.n_training) if data.training_known else "unknown", "-", True)]
    rows += apply_thresholds(res, th)
    return CheckReport(CheckTable(rows, [f"thresholds: {th.source}", *data.notes]), res,
                       data, th)
