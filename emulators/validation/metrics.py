"""Accuracy and calibration metrics of an emulator on held-out runs.

Per output (a scalar, or a waveform whose phase points are pooled — "pointwise"):

- ``rmse``, ``mae``, ``max_abs_error`` in the output's unit;
- ``nrmse`` = RMSE / standard deviation of the truth; ``mape`` = mean |error| / |truth| in %;
- ``r2`` = 1 − Σ(y − μ)² / Σ(y − ȳ)² (called Q² when the predictions come from
  cross-validation);
- ``coverage``: the fraction of truths inside the central predictive interval μ ± z σ at
  ``level``, and ``coverages`` at 50, 90 and 95%;
- ``msll``: mean standardised log loss (Rasmussen & Williams 2006, §2.5, eq. 2.34): the
  Gaussian negative log predictive density minus that of a trivial model predicting the
  reference mean and variance (default: the truth's own), so 0 is "no better than the
  mean", negative is better;
- ``crps``: the continuous ranked probability score of the Gaussian predictive
  (Gneiting & Raftery 2007, eq. 5), in the output's unit, 0 for a perfect sharp forecast;
- ``mse_std`` = mean((y − μ)² / σ²), ≈ 1 for calibrated variances.

Waveforms also get per-run numbers: the relative L2 error ``‖y − μ‖ / ‖y‖`` of each run
(``rel_l2``, shape ``(n,)``), from which reports pick the best, median and worst runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

from simulators.units import to_display

#: Interval levels whose coverage is always reported.
LEVELS = (0.5, 0.9, 0.95)

_SQRT_PI = math.sqrt(math.pi)


@dataclass
class OutputMetrics:
    """Metrics of one output (see the module docstring for the definitions).

    Dimensional metrics (``rmse``, ``mae``, ``max_abs_error``, ``crps``) are in the
    output's stored unit ``unit``; :meth:`to_dict` converts them to the display unit.
    """

    rmse: float
    nrmse: float
    r2: float
    coverage: float
    mse_std: float
    max_abs_error: float
    n: int
    mae: float = float("nan")
    mape: float = float("nan")
    msll: float = float("nan")
    crps: float = float("nan")
    coverages: dict[float, float] = field(default_factory=dict)
    unit: str = ""
    rel_l2: np.ndarray | None = field(default=None, repr=False)  # (n,) waveforms only

    @property
    def is_waveform(self) -> bool:
        return self.rel_l2 is not None

    def to_dict(self, *, display: bool = True) -> dict[str, Any]:
        """Plain numbers; dimensional ones in the display unit (mmHg, mL/s) when
        ``display``, with the unit under ``"unit"``."""
        unit = self.unit
        out: dict[str, Any] = {}
        for key in ("rmse", "mae", "max_abs_error", "crps"):
            value = float(getattr(self, key))
            if display:
                value, unit = to_display(value, self.unit)
            out[key] = float(value)
        out.update({"nrmse": float(self.nrmse), "r2": float(self.r2),
                    "mape_percent": float(self.mape), "msll": float(self.msll),
                    "mse_std": float(self.mse_std), "coverage": float(self.coverage),
                    "coverages": {f"{100 * k:g}%": float(v) for k, v in self.coverages.items()},
                    "n": int(self.n), "unit": unit})
        if self.rel_l2 is not None:
            r = self.rel_l2
            out["rel_l2"] = {"mean": float(np.mean(r)), "median": float(np.median(r)),
                             "max": float(np.max(r)), "worst_run": int(np.argmax(r))}
        return out


def z_value(level: float) -> float:
    """Half-width of the central ``level`` normal interval in standard deviations."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return NormalDist().inv_cdf(0.5 + level / 2)


def coverage(truth: np.ndarray, mean: np.ndarray, var: np.ndarray, level: float) -> float:
    """Fraction of ``truth`` inside ``mean ± z(level) sqrt(var)`` (arrays pooled)."""
    err = np.abs(np.asarray(truth, float) - mean)
    return float(np.mean(err <= z_value(level) * np.sqrt(np.maximum(var, 0.0))))


def crps_gaussian(truth: np.ndarray, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    """CRPS of N(mean, var) at ``truth``, elementwise (Gneiting & Raftery 2007, eq. 5):
    ``σ [z (2Φ(z) − 1) + 2φ(z) − 1/√π]`` with ``z = (y − μ)/σ``; in the output's unit."""
    sd = np.sqrt(np.maximum(var, 1e-300))
    z = (np.asarray(truth, float) - mean) / sd
    cdf = 0.5 * (1.0 + _erf(z / math.sqrt(2.0)))
    pdf = np.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)
    return sd * (z * (2 * cdf - 1) + 2 * pdf - 1 / _SQRT_PI)


def msll(truth: np.ndarray, mean: np.ndarray, var: np.ndarray,
         reference: tuple[Any, Any] | None = None) -> float:
    """Mean standardised log loss (R&W 2006 eq. 2.34).

    ``reference = (m0, v0)`` is the trivial model (R&W use the training data's mean and
    variance); by default the truth's own mean and variance (per column for waveforms).
    """
    y = np.asarray(truth, float)
    v = np.maximum(var, 1e-300)
    loss = 0.5 * np.log(2 * np.pi * v) + (y - mean) ** 2 / (2 * v)
    if reference is None:
        m0, v0 = y.mean(axis=0), y.var(axis=0)
    else:
        m0, v0 = reference
    v0 = np.maximum(np.asarray(v0, float), 1e-300)
    loss0 = 0.5 * np.log(2 * np.pi * v0) + (y - m0) ** 2 / (2 * v0)
    return float(np.mean(loss - loss0))


def metrics(truth: np.ndarray, mean: np.ndarray, var: np.ndarray, level: float = 0.95, *,
            unit: str = "", reference: tuple[Any, Any] | None = None) -> OutputMetrics:
    """Metrics of one output.

    Parameters
    ----------
    truth, mean, var : ndarray (n,) or (n, T)
        Simulator values, emulator mean and predictive variance (unit²).  A waveform's
        phase points are pooled; its runs also get ``rel_l2``.
    level : float
        Level of the interval whose coverage is ``coverage``.
    unit : str
        The output's unit (kept for display).
    reference : (mean, variance), optional
        The trivial model of the MSLL (default: the truth's mean and variance).
    """
    y, mu, v = (np.asarray(a, float) for a in (truth, mean, var))
    if not (y.shape == mu.shape == v.shape):
        raise ValueError(f"truth, mean and variance must have one shape, got {y.shape}, "
                         f"{mu.shape}, {v.shape}")
    if y.ndim not in (1, 2) or len(y) == 0:
        raise ValueError(f"expected (n,) or (n, T) arrays with n >= 1, got shape {y.shape}")
    err = y - mu
    flat_y, flat_e = y.ravel(), err.ravel()
    sd_true = flat_y.std()
    ss_tot = np.sum((flat_y - flat_y.mean()) ** 2)
    sigma = np.sqrt(np.maximum(v, 1e-300))
    rmse = float(np.sqrt(np.mean(flat_e**2)))
    nonzero = np.abs(flat_y) > 0
    rel_l2 = None
    if y.ndim == 2:
        norm = np.linalg.norm(y, axis=1)
        rel_l2 = np.linalg.norm(err, axis=1) / np.where(norm > 0, norm, np.nan)
    return OutputMetrics(
        rmse=rmse,
        nrmse=rmse / sd_true if sd_true > 0 else float("nan"),
        r2=float(1 - np.sum(flat_e**2) / ss_tot) if ss_tot > 0 else float("nan"),
        coverage=coverage(y, mu, v, level),
        mse_std=float(np.mean((err / sigma) ** 2)),
        max_abs_error=float(np.max(np.abs(flat_e))),
        n=len(y),
        mae=float(np.mean(np.abs(flat_e))),
        mape=float(100 * np.mean(np.abs(flat_e[nonzero] / flat_y[nonzero])))
        if nonzero.any() else float("nan"),
        msll=msll(y, mu, v, reference),
        crps=float(np.mean(crps_gaussian(y, mu, v))),
        coverages={lv: coverage(y, mu, v, lv) for lv in sorted({*LEVELS, level})},
        unit=unit,
        rel_l2=rel_l2,
    )


def _erf(x: np.ndarray) -> np.ndarray:
    """Error function, elementwise, without scipy (math.erf is exact to double precision)."""
    return np.vectorize(math.erf, otypes=[float])(x)
