"""Validation of an emulator: metrics, cross-validation, diagnostics and accuracy checks.

- :mod:`~emulators.validation.metrics`: RMSE, NRMSE, MAE, max error, MAPE, R²/Q², coverage
  of 50/90/95% intervals, MSLL, CRPS; relative L2 error per waveform run.
- :mod:`~emulators.validation.result`: :func:`validate` and :class:`ValidationResult`.
- :mod:`~emulators.validation.crossval`: k-fold :func:`cross_validate` (any kind) and the
  closed-form :func:`leave_one_out` of exact GPs.
- :mod:`~emulators.validation.diagnostics`: Bastos & O'Hagan (2009) diagnostics with
  verdicts in words (:func:`diagnose`).
- :mod:`~emulators.validation.checks`: thresholds, the pass/fail table and JUnit XML.
"""

from __future__ import annotations

from emulators.validation.checks import (
    CheckRow,
    CheckTable,
    ThresholdError,
    Thresholds,
    apply_thresholds,
)
from emulators.validation.crossval import cross_validate, leave_one_out
from emulators.validation.diagnostics import Diagnostics, diagnose
from emulators.validation.metrics import LEVELS, OutputMetrics, metrics
from emulators.validation.result import (
    ValidationResult,
    check_metrics,
    from_predictions,
    validate,
)

__all__ = ["metrics", "OutputMetrics", "LEVELS", "validate", "ValidationResult",
           "from_predictions", "check_metrics", "cross_validate", "leave_one_out",
           "diagnose", "Diagnostics", "Thresholds", "ThresholdError", "CheckRow",
           "CheckTable", "apply_thresholds"]
