"""One calibration report folder: summary table and JSON, plots, ArviZ NetCDF samples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from emulators.calibration.history import HistoryMatchResult, history_match
from emulators.calibration.mcmc import posterior_predictive
from emulators.calibration.plots import corner_plot, implausibility_plot, predictive_plot
from emulators.calibration.result import CalibrationResult


def write_report(out_dir: str | Path, result: CalibrationResult, emulator: Any, *,
                 hm: HistoryMatchResult | None = None, truth: dict[str, float] | None = None,
                 truth_curves: dict[str, np.ndarray] | None = None,
                 seed: int | None = 0, level: float = 0.95) -> dict[str, Any]:
    """Write ``summary.md``, ``summary.json``, ``corner.png``, ``predictive.png``,
    ``implausibility.png`` and ``posterior.nc`` (ArviZ) into ``out_dir``; return the
    summary dict (with the file names).  Without ``hm``, history matching uses the
    discrepancy s.d. that the calibration learnt (posterior median per output)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if hm is None:  # the discrepancy s.d. the calibration learnt (posterior median)
        dsd = {n[len("delta_sd_"):]: float(np.median(result.hyper[:, :, j]))
               for j, n in enumerate(result.hyper_names) if n.startswith("delta_sd_")}
        hm = history_match(emulator, result.data, n=20000, seed=seed, discrepancy_sd=dsd)
    pred = posterior_predictive(result, emulator, n=300, seed=seed)
    files = {
        "samples": result.to_netcdf(out / "posterior.nc").name,
        "corner": corner_plot(result, out / "corner.png", truth=truth).name,
        "predictive": predictive_plot(pred, out / "predictive.png",
                                      truth_curves=truth_curves, level=level).name,
        "implausibility": implausibility_plot(hm, out / "implausibility.png", truth=truth,
                                              space=getattr(emulator, "space", None)).name,
    }
    summary = result.to_dict(level=level, truth=truth)
    summary["history_matching"] = hm.to_dict()
    summary["files"] = files
    if truth:
        summary["covers_truth"] = result.covers({k: v for k, v in truth.items()
                                                 if k in result.names}, level)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=_plain))
    table = result.table(level=level, truth=truth)
    model = "Kennedy–O'Hagan with GP discrepancy" if result.discrepancy else "no discrepancy"
    observed = ", ".join(f"{k} ({len(o)} values, {o.given_unit})"
                         for k, o in result.data.items())
    md = [
        "# Calibration", "",
        f"Model: {model}; observed outputs: {observed}.",
        "", "```", table, "```", "",
        f"History matching: NROY fraction {hm.fraction:.4f} of {len(hm.X)} prior draws "
        f"(cutoff {hm.cutoff:g}, rule {hm.rule}).", "",
        "![corner](corner.png)", "", "![posterior predictive](predictive.png)", "",
        "![implausibility](implausibility.png)", "",
        "Samples: `posterior.nc` (`arviz.from_netcdf`).", "",
    ]
    (out / "summary.md").write_text("\n".join(md))
    return summary


def _plain(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
