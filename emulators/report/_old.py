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

from emulators.sensitivity import SobolResult  # noqa: E402
from emulators.validation import ValidationResult  # noqa: E402

_DISPLAY = {"Pa": ("mmHg", 1 / 133.322387415), "m^3/s": ("mL/s", 1e6), "m3/s": ("mL/s", 1e6)}


def display_unit(unit: str) -> tuple[str, float]:
    """Unit shown to people and the factor from the stored unit."""
    return _DISPLAY.get(unit, (unit, 1.0))


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


def sobol_plot(result: SobolResult, path: Path) -> Path:
    """First-order and total indices with their confidence intervals, one panel per output."""
    S1, ST = np.atleast_2d(result.S1), np.atleast_2d(result.ST)
    e1 = np.abs(np.stack([S1 - np.atleast_2d(result.S1_low),
                          np.atleast_2d(result.S1_high) - S1]))
    eT = np.abs(np.stack([ST - np.atleast_2d(result.ST_low),
                          np.atleast_2d(result.ST_high) - ST]))
    outs = result.outputs or [f"output {i}" for i in range(len(S1))]
    cols = min(3, len(outs))
    rows = int(np.ceil(len(outs) / cols))
    height = 0.45 * len(result.names) * rows + 1.8
    fig, axes = plt.subplots(rows, cols, figsize=(4.3 * cols, height), squeeze=False)
    y = np.arange(len(result.names))
    for i, (ax, name) in enumerate(zip(axes.flat, outs, strict=False)):
        ax.barh(y - 0.2, S1[i], 0.4, xerr=e1[:, i], label="first order S1", color="tab:blue",
                capsize=2)
        ax.barh(y + 0.2, ST[i], 0.4, xerr=eT[:, i], label="total ST", color="tab:orange",
                capsize=2)
        ax.set_yticks(y, result.names)
        ax.invert_yaxis()
        ax.set_xlim(0, 1.05)
        ax.set_title(name, fontsize=10)
        ax.axvline(0, color="k", lw=0.5)
    for ax in list(axes.flat)[len(outs):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(f"Sobol' indices ({int(100 * result.conf_level)}% bootstrap intervals)",
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def sobol_waveform_plot(result: SobolResult, mean_wave: np.ndarray, unit: str, name: str,
                        path: Path) -> Path:
    """First-order (solid) and total (dashed) indices of each input along the cycle, with
    the mean waveform for orientation: where in the beat each input matters."""
    S1, ST = np.atleast_2d(result.S1), np.atleast_2d(result.ST)  # (T, d)
    phase = np.arange(S1.shape[0]) / S1.shape[0]
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for j, inp in enumerate(result.names):
        c = colors[j % len(colors)]
        ax.plot(phase, S1[:, j], color=c, lw=1.8, label=inp)
        ax.plot(phase, ST[:, j], color=c, lw=1.0, ls="--")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("phase of the cardiac cycle")
    ax.set_ylabel("Sobol' index")
    ax.legend(fontsize=8, ncol=min(3, len(result.names)), loc="upper left")
    disp, k = display_unit(unit)
    twin = ax.twinx()
    twin.plot(phase, mean_wave * k, color="0.6", lw=2.5, alpha=0.5)
    twin.set_ylabel(f"mean {name} [{disp}]", color="0.45")
    ax.set_title(f"{name}: which input drives the waveform, phase by phase", fontsize=10)
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


def sobol_table(result: SobolResult) -> str:
    """Markdown table: one row per input, S1 and ST (± half-width) per output."""
    S1, ST = np.atleast_2d(result.S1), np.atleast_2d(result.ST)
    c1, cT = np.atleast_2d(result.S1_conf), np.atleast_2d(result.ST_conf)
    outs = result.outputs or [f"output {i}" for i in range(len(S1))]
    head = "| input | " + " | ".join(f"{o} S1 | {o} ST" for o in outs) + " |"
    sep = "|---|" + "---|---|" * len(outs)
    rows = [head, sep]
    for j, name in enumerate(result.names):
        cells = [f"{S1[i, j]:.3f} ± {c1[i, j]:.3f} | {ST[i, j]:.3f} ± {cT[i, j]:.3f}"
                 for i in range(len(outs))]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)
