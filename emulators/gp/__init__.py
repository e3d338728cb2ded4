"""Gaussian-process emulators: exact (gpytorch-compatible) and sparse (inducing points)."""

from emulators.gp.emulator import GaussianProcess
from emulators.gp.fit import FitReport, fit_mll
from emulators.gp.hyper import OutputFit

__all__ = ["GaussianProcess", "FitReport", "OutputFit", "fit_mll"]
