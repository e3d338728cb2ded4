"""Exact Gaussian-process emulators (gpytorch)."""

from emulators.gp.emulator import GaussianProcess
from emulators.gp.fit import FitReport, fit_mll

__all__ = ["GaussianProcess", "FitReport", "fit_mll"]
