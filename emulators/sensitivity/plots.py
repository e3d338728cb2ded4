"""Plots and Markdown tables of sensitivity results (matplotlib, Agg backend).

* :func:`sobol_plot` — S1/ST bars with bootstrap intervals (a :class:`SobolResult`);
* :func:`intervals_plot` — S1/ST bars with *both* intervals: Monte Carlo and emulator
  uncertainty, plus the closed-form value where there is one;
* :func:`sobol_waveform_plot` — S1/ST of each input along the cardiac cycle;
* :func:`phase_stack_plot` — the first-order shares of the variance, stacked, phase by phase;
* :func:`morris_plot` — the Morris ``μ*``–``σ`` plane.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from emulators.sensitivity.morris import MorrisResult  # noqa: E402
from emulators.sensitivity.sobol import SobolResult  # noqa: E402
from simulators.units import to_display  # noqa: E402

if TYPE_CHECKING:
    from emulators.sensitivity.result import SensitivityReport


def _grid(k: int, height_per_row: float, width: float = 4.3):
    cols = min(3, k)
    rows = int(np.ceil(k / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height_per_row * rows + 1.6),
                             squeeze=False)
    for ax in list(axes.flat)[k:]:
        ax.axis("off")
    return fig, axes


def _save(fig, path: Path) -> Path:
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
    fig, axes = _grid(len(outs), 0.45 * len(result.names))
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
    axes.flat[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(f"Sobol' indices ({int(100 * result.conf_level)}% bootstrap intervals)",
                 fontsize=11)
    return _save(fig, path)


def intervals_plot(report: SensitivityReport, path: Path) -> Path:
    """S1 and ST of the emulator mean for every output, with the Monte Carlo (bootstrap)
    interval in black and the emulator-uncertainty (posterior) interval in red; diamonds
    mark the closed-form indices of the mean where they exist."""
    names, outs = report.names, report.outputs
    fig, axes = _grid(len(outs), 0.5 * len(names))
    y = np.arange(len(names))
    mean = report.mean
    S = {"S1": np.atleast_2d(mean.S1), "ST": np.atleast_2d(mean.ST)}
    mc = {"S1": (np.atleast_2d(mean.S1_low), np.atleast_2d(mean.S1_high)),
          "ST": (np.atleast_2d(mean.ST_low), np.atleast_2d(mean.ST_high))}
    emu = report.emulator_intervals()
    for r, (ax, out) in enumerate(zip(axes.flat, outs, strict=False)):
        for key, off, color in (("S1", -0.2, "tab:blue"), ("ST", 0.2, "tab:orange")):
            v = S[key][r]
            ax.barh(y + off, v, 0.38, color=color, alpha=0.85,
                    label="first order S1" if key == "S1" else "total ST")
            lo, hi = mc[key][0][r], mc[key][1][r]
            ax.errorbar(v, y + off - 0.06, xerr=np.abs([v - lo, hi - v]), fmt="none",
                        ecolor="k", elinewidth=1.6, capsize=2,
                        label="Monte Carlo interval" if key == "S1" else None)
            if emu is not None:
                elo, ehi = emu[key][0][r], emu[key][1][r]
                ax.errorbar(v, y + off + 0.08, xerr=np.abs([v - elo, ehi - v]), fmt="none",
                            ecolor="tab:red", elinewidth=1.0, capsize=2,
                            label="emulator-uncertainty interval" if key == "S1" else None)
            if report.analytic is not None:
                ax.plot(report.analytic[key][r], y + off, "D", ms=4, color="k",
                        mfc="white", label="closed form (mean)" if key == "S1" else None)
        ax.set_yticks(y, names)
        ax.invert_yaxis()
        ax.set_xlim(-0.02, 1.05)
        ax.axvline(0, color="k", lw=0.5)
        kind = " (whole waveform)" if report.kinds[r] == "waveform" else ""
        ax.set_title(f"{out}{kind}", fontsize=10)
    axes.flat[0].legend(fontsize=7, loc="lower right")
    verdict = "" if report.reliable else " — NOT RELIABLE (see the report)"
    fig.suptitle(f"Sobol' indices of the emulator, {int(100 * report.conf_level)}% "
                 f"intervals{verdict}", fontsize=11, color="k" if report.reliable else "tab:red")
    return _save(fig, path)


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
    shown, disp = to_display(np.asarray(mean_wave, dtype=float), unit)
    twin = ax.twinx()
    twin.plot(phase, shown, color="0.6", lw=2.5, alpha=0.5)
    twin.set_ylabel(f"mean {name} [{disp}]", color="0.45")
    ax.set_title(f"{name}: which input drives the waveform, phase by phase", fontsize=10)
    return _save(fig, path)


def phase_stack_plot(result: SobolResult, name: str, path: Path,
                     generalised: np.ndarray | None = None) -> Path:
    """First-order indices of each input stacked along the cycle; the grey band on top is
    what no input explains alone (interactions, ``1 − Σ S1``).  ``generalised``: the
    waveform's aggregated S1 ``(d,)``, shown in the legend."""
    S1 = np.clip(np.atleast_2d(result.S1), 0.0, None)  # (T, d); tiny negatives are MC noise
    phase = np.arange(S1.shape[0]) / S1.shape[0]
    inter = np.clip(1.0 - S1.sum(axis=1), 0.0, None)
    labels = list(result.names)
    if generalised is not None:
        labels = [f"{n} (whole wave {g:.2f})" for n, g in zip(labels, generalised, strict=True)]
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colors = [cycle[j % len(cycle)] for j in range(S1.shape[1])] + ["0.82"]
    ax.stackplot(phase, *S1.T, inter, labels=[*labels, "interactions"], colors=colors,
                 alpha=0.9)
    ax.set_xlim(0, phase[-1] if len(phase) > 1 else 1)
    ax.set_ylim(0, max(1.0, float((S1.sum(axis=1) + inter).max())))
    ax.set_xlabel("phase of the cardiac cycle")
    ax.set_ylabel("share of the variance (S1)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(f"{name}: first-order shares of the variance, phase by phase", fontsize=10)
    return _save(fig, path)


def morris_plot(result: MorrisResult, path: Path) -> Path:
    """The ``μ*``–``σ`` plane, one panel per output: inputs near the origin are inert;
    above the line ``σ = μ*`` effects are strongly non-linear or interacting."""
    ms, sd = np.atleast_2d(result.mu_star), np.atleast_2d(result.sigma)
    outs = result.outputs or [f"output {i}" for i in range(len(ms))]
    fig, axes = _grid(len(outs), 3.4, width=4.4)
    for r, (ax, out) in enumerate(zip(axes.flat, outs, strict=False)):
        lo, hi = np.atleast_2d(result.mu_star_low)[r], np.atleast_2d(result.mu_star_high)[r]
        ax.errorbar(ms[r], sd[r], xerr=np.abs([ms[r] - lo, hi - ms[r]]), fmt="o", ms=4,
                    capsize=2)
        for j, name in enumerate(result.names):
            ax.annotate(name, (ms[r, j], sd[r, j]), fontsize=8, xytext=(3, 3),
                        textcoords="offset points")
        top = max(float(ms[r].max()), float(sd[r].max()), 1e-300)
        ax.plot([0, top], [0, top], "k:", lw=0.8)
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("μ* (mean |elementary effect|)")
        ax.set_ylabel("σ")
        ax.set_title(out, fontsize=10)
    fig.suptitle(f"Morris screening ({result.r} trajectories, {result.levels} levels)",
                 fontsize=11)
    return _save(fig, path)


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
