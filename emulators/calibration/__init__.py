"""Calibration of emulator inputs to a patient's measurements, and history matching.

- :func:`calibrate`: Kennedy–O'Hagan (2001) Bayesian calibration with a GP model
  discrepancy, by MCMC (emcee), with R-hat, ESS and identifiability diagnostics.
- :func:`history_match`: implausibility and the not-ruled-out-yet (NROY) region;
  :func:`history_match_waves` refits in waves with new simulator runs.

Any emulator with ``space`` and ``predict_dict`` works (GP, multi-fidelity GP, ensemble,
runtime file).
"""

from __future__ import annotations

from emulators.calibration.errors import (
    ConvergenceWarning,
    IdentifiabilityWarning,
    ObservationError,
    PriorError,
    UnitError,
)
from emulators.calibration.history import (
    HistoryMatchResult,
    history_match,
    history_match_waves,
    implausibility,
)
from emulators.calibration.mcmc import calibrate, posterior_predictive
from emulators.calibration.observations import Observations, prepare
from emulators.calibration.result import CalibrationResult

__all__ = ["calibrate", "posterior_predictive", "CalibrationResult", "history_match",
           "history_match_waves", "implausibility", "HistoryMatchResult", "Observations",
           "prepare", "ObservationError", "PriorError", "UnitError", "ConvergenceWarning",
           "IdentifiabilityWarning"]
