"""Sobol' plots and table (moving to :mod:`emulators.sensitivity`; the report package
re-exports them until then)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from emulators.report.plots import display_unit  # noqa: E402
from emulators.sensitivity import SobolResult  # noqa: E402


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
