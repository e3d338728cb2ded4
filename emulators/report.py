"""Plots and the Markdown report of an experiment (matplotlib, Agg backend).

Pressures in Pa are shown in mmHg and flows in m^3/s in mL/s, as modellers read them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

# Sensitivity plots live in emulators.sensitivity.plots; re-exported for existing callers.
from emulators.sensitivity.plots import (  # noqa: E402,F401
    sobol_plot,
    sobol_table,
    sobol_waveform_plot,
)
from emulators.validation import ValidationResult  # noqa: E402
from simulators import units  # noqa: E402


def display_unit(unit: str) -> tuple[str, float]:
    """Unit shown to people (:func:`simulators.units.display_unit`) and the factor from the
    stored unit."""
    shown = units.display_unit(unit)
    return shown, (1.0 if shown == unit else units.convert(1.0, unit, shown))


def parity_plot(result: ValidationResult, units: Mapping[str, str], path: Path) -> Path | None:
    """Emulator mean ± interval against the simulator, one panel per scalar output."""
    names = [k for k, (t, _, _) in result.predictions.items() if np.ndim(t) == 1]
    if not names:
        return None
    cols = min(3, len(names))
    rows = int(np.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 4.0 * rows), squeeze=False)
    z = 1.959963984540054
    for ax, name in zip(axes.flat, names, strict=False):
        truth, mean, var = result.predictions[name]
        unit, k = display_unit(units.get(name, ""))
        ax.errorbar(truth * k, mean * k, yerr=z * np.sqrt(var) * k, fmt="o", ms=3.5,
                    elinewidth=0.8, capsize=1.5, color="tab:blue", label="emulator ±95%")
        lo, hi = np.min(truth * k), np.max(truth * k)
        pad = 0.05 * (hi - lo or 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=0.8, label="y = x")
        m = result.metrics[name]
        ax.set_title(f"{name}: R² = {m.r2:.4f}, coverage {100 * m.coverage:.0f}%", fontsize=10)
        ax.set_xlabel(f"simulator [{unit}]")
        ax.set_ylabel(f"emulator [{unit}]")
        ax.legend(fontsize=8, loc="upper left")
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle(f"Held-out validation ({result.n} runs)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def waveform_plot(result: ValidationResult, units: Mapping[str, str], path: Path,
                  n_cases: int = 3) -> Path | None:
    """Emulated waveforms (mean and 95% band) against the simulator for a few held-out runs."""
    names = [k for k, (t, _, _) in result.predictions.items() if np.ndim(t) == 2]
    if not names:
        return None
    fig, axes = plt.subplots(1, len(names), figsize=(5.5 * len(names), 3.8), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, name in zip(axes.flat, names, strict=True):
        truth, mean, var = result.predictions[name]
        unit, k = display_unit(units.get(name, ""))
        phase = np.arange(truth.shape[1]) / truth.shape[1]
        for i in range(min(n_cases, len(truth))):
            c = colors[i % len(colors)]
            sd = np.sqrt(var[i])
            ax.fill_between(phase, (mean[i] - 1.96 * sd) * k, (mean[i] + 1.96 * sd) * k,
                            color=c, alpha=0.25, lw=0)
            ax.plot(phase, truth[i] * k, color=c, lw=1.8, label=f"run {i}: simulator")
            ax.plot(phase, mean[i] * k, color="k", lw=0.9, ls="--",
                    label="emulator mean" if i == 0 else None)
        m = result.metrics[name]
        ax.set_title(f"{name} (NRMSE {m.nrmse:.3f}, coverage {100 * m.coverage:.0f}%)",
                     fontsize=10)
        ax.set_xlabel("phase of the cardiac cycle")
        ax.set_ylabel(f"{name} [{unit}]")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def markdown_report(path: Path, *, title: str, sections: Sequence[tuple[str, str]],
                    images: Sequence[tuple[str, Path | None]] = ()) -> Path:
    """Write a Markdown report from ``(heading, body)`` sections and ``(caption, png)`` images."""
    lines = [f"# {title}", ""]
    for heading, body in sections:
        lines += [f"## {heading}", "", body.rstrip(), ""]
    shown = [(c, p) for c, p in images if p is not None]
    if shown:
        lines += ["## Plots", ""]
        for caption, p in shown:
            lines += [f"![{caption}]({Path(p).name})", "", f"*{caption}*", ""]
    path.write_text("\n".join(lines))
    return path


def metrics_table(result: ValidationResult, units: Mapping[str, str],
                  checks: Mapping[str, Any] | None = None) -> str:
    """Markdown table of validation metrics, in display units, with check verdicts."""
    rows = ["| output | RMSE | NRMSE | R² | coverage | mean (err/σ)² | check |",
            "|---|---|---|---|---|---|---|"]
    for name, m in result.metrics.items():
        unit, k = display_unit(units.get(name, ""))
        verdict = ""
        if checks and name in checks:
            verdict = "pass" if checks[name]["passed"] else "**FAIL**: " + checks[name]["why"]
        rows.append(f"| {name} | {m.rmse * k:.4g} {unit} | {m.nrmse:.4f} | {m.r2:.5f} | "
                    f"{100 * m.coverage:.1f}% | {m.mse_std:.3f} | {verdict} |")
    return "\n".join(rows)
