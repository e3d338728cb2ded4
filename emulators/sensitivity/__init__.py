"""Sensitivity analysis of simulators and emulators (see the README, "Sensitivity").

* :func:`sobol` — Saltelli/Jansen Monte Carlo Sobol' indices (S1, ST, S2 on request,
  aggregated indices of waveforms through ``groups``) with bootstrap intervals, on any
  model or function;
* :func:`analytic_sobol` — closed-form main and total effects of an RBF GP's mean;
* :class:`PathwiseSampler` — posterior functions of a GP at thousands of points;
* :func:`morris` — Morris screening (``μ*``, ``σ``);
* :func:`analyse` — the experiment's "analyse" stage: all of the above on an emulator,
  with the Monte Carlo and emulator-uncertainty intervals kept apart and a verdict on
  whether the indices can be trusted (:class:`SensitivityReport`, :class:`SensitivityConfig`).

Plots are in :mod:`emulators.sensitivity.plots` (imported on demand: matplotlib).
"""

from emulators.sensitivity.analyse import SensitivityConfig, analyse
from emulators.sensitivity.analytic import AnalyticSobol, analytic_sobol
from emulators.sensitivity.morris import MorrisResult, morris
from emulators.sensitivity.posterior import PathwiseSampler
from emulators.sensitivity.result import SensitivityReport, validation_from_card
from emulators.sensitivity.sobol import (
    SaltelliDesign,
    SobolResult,
    design_from_matrices,
    saltelli_design,
    saltelli_matrices,
    sobol,
    sobol_indices,
    sobol_result,
)

__all__ = ["AnalyticSobol", "MorrisResult", "PathwiseSampler", "SaltelliDesign",
           "SensitivityConfig", "SensitivityReport", "SobolResult", "analyse",
           "analytic_sobol", "design_from_matrices", "morris", "saltelli_design",
           "saltelli_matrices", "sobol", "sobol_indices", "sobol_result", "validation_from_card"]
