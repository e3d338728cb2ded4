"""``CalibrationResult``: posterior samples, diagnostics, summaries and the NetCDF file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emulators.calibration.observations import OutputData


@dataclass
class CalibrationResult:
    """Posterior of a calibration run.

    Attributes
    ----------
    names : list of str
        Calibration parameters θ (the emulator's inputs).
    units : list of str
        Their units.
    theta : ndarray (chains, draws, d)
        Posterior samples of θ in physical units (chains = emcee walkers, after burn-in).
    theta_u : ndarray (chains, draws, d)
        The same on the prior's unit-cube scale.
    hyper_names : list of str
        Discrepancy hyperparameters ``delta_sd_<output>`` (output unit) and
        ``delta_ls_<output>`` (fraction of the cycle); empty without discrepancy.
    hyper : ndarray (chains, draws, h)
    log_prob : ndarray (chains, draws)
    rhat, ess : dict name -> float
        Rank-normalised split R-hat and effective sample size per sampled quantity.
    converged : bool
        All R-hat ≤ ``rhat_max`` and all ESS ≥ ``ess_min``.
    contraction : dict name -> float
        Prior-to-posterior contraction per parameter (unit-cube variances).
    identifiable : dict name -> bool
        Contraction ≥ ``contraction_min``.
    correlation : ndarray (d, d)
        Posterior correlations of θ.
    warnings : list of str
        Plain-language warnings (non-convergence, non-identifiable parameters, ridges).
    """

    names: list[str]
    units: list[str]
    theta: np.ndarray
    theta_u: np.ndarray
    hyper_names: list[str]
    hyper: np.ndarray
    log_prob: np.ndarray
    rhat: dict[str, float]
    ess: dict[str, float]
    converged: bool
    contraction: dict[str, float]
    identifiable: dict[str, bool]
    correlation: np.ndarray
    acceptance: float
    discrepancy: bool
    data: dict[str, OutputData]
    settings: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    map_theta: np.ndarray | None = None
    map_hyper: np.ndarray | None = None

    # -- views -----------------------------------------------------------------------------
    def flat(self) -> np.ndarray:
        """θ samples pooled over chains ``(chains × draws, d)``."""
        return self.theta.reshape(self.theta.shape[0] * self.theta.shape[1], self.theta.shape[2])

    def flat_hyper(self) -> np.ndarray:
        return self.hyper.reshape(self.hyper.shape[0] * self.hyper.shape[1], self.hyper.shape[2])

    def interval(self, level: float = 0.95) -> dict[str, tuple[float, float]]:
        """Equal-tailed credible interval of each parameter (and hyperparameter)."""
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level}")
        q = [50 * (1 - level), 50 * (1 + level)]
        out = {}
        flat = self.flat()
        for j, n in enumerate(self.names):
            lo, hi = np.percentile(flat[:, j], q)
            out[n] = (float(lo), float(hi))
        hf = self.flat_hyper()
        for j, n in enumerate(self.hyper_names):
            lo, hi = np.percentile(hf[:, j], q)
            out[n] = (float(lo), float(hi))
        return out

    def covers(self, truth: dict[str, float], level: float = 0.95) -> dict[str, bool]:
        """Whether each credible interval contains ``truth[name]``."""
        ci = self.interval(level)
        return {n: bool(ci[n][0] <= float(v) <= ci[n][1]) for n, v in truth.items()}

    def summary_rows(self, level: float = 0.95, truth: dict[str, float] | None = None
                     ) -> list[dict[str, Any]]:
        ci = self.interval(level)
        rows = []
        flat, hf = self.flat(), self.flat_hyper()
        for j, n in enumerate(self.names):
            rows.append({"name": n, "unit": self.units[j], "mean": float(flat[:, j].mean()),
                         "sd": float(flat[:, j].std()), "lo": ci[n][0], "hi": ci[n][1],
                         "rhat": self.rhat[n], "ess": self.ess[n],
                         "contraction": self.contraction[n],
                         "identifiable": self.identifiable[n],
                         "truth": None if truth is None or n not in truth else float(truth[n])})
        for j, n in enumerate(self.hyper_names):
            rows.append({"name": n, "unit": "", "mean": float(hf[:, j].mean()),
                         "sd": float(hf[:, j].std()), "lo": ci[n][0], "hi": ci[n][1],
                         "rhat": self.rhat[n], "ess": self.ess[n], "contraction": None,
                         "identifiable": None, "truth": None})
        return rows

    def table(self, level: float = 0.95, truth: dict[str, float] | None = None) -> str:
        """Plain-text summary: mean, s.d., credible interval, R-hat, ESS, contraction."""
        pct = f"{100 * level:g}%"
        head = (f"{'parameter':<24} {'mean':>11} {'sd':>10} {pct + ' interval':>25} "
                f"{'R-hat':>6} {'ESS':>7} {'contr.':>7}")
        lines = [head, "-" * len(head)]
        for r in self.summary_rows(level, truth):
            c = "" if r["contraction"] is None else f"{r['contraction']:.2f}"
            flag = "" if r["identifiable"] in (None, True) else "  NOT IDENTIFIED"
            t = "" if r["truth"] is None else f"  (truth {r['truth']:.4g})"
            lines.append(f"{r['name']:<24} {r['mean']:>11.4g} {r['sd']:>10.3g} "
                         f"[{r['lo']:>10.4g}, {r['hi']:>10.4g}] {r['rhat']:>6.3f} "
                         f"{r['ess']:>7.0f} {c:>7}{flag}{t}")
        lines.append(f"sampler: emcee, {self.theta.shape[0]} walkers x {self.theta.shape[1]} "
                     f"draws kept, acceptance {self.acceptance:.2f}; "
                     + ("converged" if self.converged else "NOT CONVERGED"))
        lines.extend(f"warning: {w}" for w in self.warnings)
        return "\n".join(lines)

    def to_dict(self, level: float = 0.95, truth: dict[str, float] | None = None
                ) -> dict[str, Any]:
        """JSON-able summary (no samples)."""
        return {"converged": self.converged, "acceptance": self.acceptance,
                "discrepancy": self.discrepancy, "level": level,
                "parameters": self.summary_rows(level, truth),
                "correlation": {"names": self.names,
                                "matrix": np.nan_to_num(self.correlation).tolist()},
                "warnings": list(self.warnings), "settings": self.settings}

    # -- storage ---------------------------------------------------------------------------
    def to_netcdf(self, path: str | Path) -> Path:
        """Write the samples as an ArviZ InferenceData NetCDF4 file (``arviz.from_netcdf``).

        Groups: ``posterior`` (θ and hyperparameters, dims ``chain``, ``draw``),
        ``sample_stats`` (``lp``), ``observed_data`` (observations in the emulator's units),
        with units and diagnostics as attributes.  Written with h5netcdf.
        """
        from emulators.calibration.storage import write_inference_data

        return write_inference_data(self, Path(path))
