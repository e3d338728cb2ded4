"""Plots of a calibration: corner plot, posterior predictive vs data, implausibility maps.

Pressures in Pa are shown in mmHg and flows in m^3/s in mL/s, as in the experiment report.
Each function takes results and a path, writes one PNG and returns its path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from simulators.units import convert

_DISPLAY = {"Pa": "mmHg", "m^3/s": "mL/s", "m3/s": "mL/s"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _shown(values: np.ndarray, unit: str) -> tuple[np.ndarray, str]:
    target = _DISPLAY.get(unit)
    if target is None:
        return np.asarray(values, float), unit
    return np.asarray(convert(values, unit, target), float), target


def corner_plot(result: Any, path: str | Path, *, truth: dict[str, float] | None = None,
                bins: int = 30) -> Path:
    """Marginal histograms (diagonal, 95% interval shaded) and pairwise 2D histograms of the
    θ posterior, zoomed on the posterior (the prior's range for a parameter the data barely
    inform), with the truth (if given) as lines and crosses."""
    plt = _plt()
    flat = result.flat()
    names, d = result.names, len(result.names)
    bounds = np.array([p["low"] for p in result.settings["prior"]["parameters"]]), \
        np.array([p["high"] for p in result.settings["prior"]["parameters"]])
    # zoom on the posterior (with the truth in view); the prior's range when it is wide
    lo_q, hi_q = np.percentile(flat, [0.1, 99.9], axis=0)
    if truth:
        t = np.array([truth.get(n, np.nan) for n in names], dtype=float)
        lo_q, hi_q = np.fmin(lo_q, t), np.fmax(hi_q, t)
    pad = 0.15 * (hi_q - lo_q)
    wide = (hi_q - lo_q) > 0.5 * (bounds[1] - bounds[0])
    bounds = (np.where(wide, bounds[0], np.maximum(bounds[0], lo_q - pad)),
              np.where(wide, bounds[1], np.minimum(bounds[1], hi_q + pad)))
    fig, axes = plt.subplots(d, d, figsize=(2.4 * d + 0.6, 2.4 * d + 0.6), squeeze=False)
    for i in range(d):
        for j in range(d):
            ax = axes[i, j]
            if j > i:
                ax.axis("off")
                continue
            if i == j:
                ax.hist(flat[:, i], bins=bins, range=(bounds[0][i], bounds[1][i]),
                        color="C0", alpha=0.8, density=True)
                lo, hi = np.percentile(flat[:, i], [2.5, 97.5])
                ax.axvspan(lo, hi, color="C0", alpha=0.12)
                ax.set_yticks([])
                if not result.identifiable.get(names[i], True):
                    ax.set_title(f"{names[i]}: not identified", fontsize=8, color="C3")
                if truth and names[i] in truth:
                    ax.axvline(truth[names[i]], color="k", lw=1)
            else:
                ax.hist2d(flat[:, j], flat[:, i], bins=bins,
                          range=[[bounds[0][j], bounds[1][j]], [bounds[0][i], bounds[1][i]]],
                          cmap="Blues")
                if truth and names[i] in truth and names[j] in truth:
                    ax.plot(truth[names[j]], truth[names[i]], "k+", ms=10, mew=1.5)
            ax.set_xlim(bounds[0][j], bounds[1][j])
            if i == d - 1:
                ax.set_xlabel(f"{names[j]} ({result.units[j]})" if result.units[j] else names[j],
                              fontsize=8)
            if j == 0 and i > 0:
                ax.set_ylabel(f"{names[i]}", fontsize=8)
            ax.tick_params(labelsize=7)
    state = "converged" if result.converged else "NOT CONVERGED"
    kind = "KOH with discrepancy" if result.discrepancy else "no discrepancy"
    fig.suptitle(f"posterior of θ ({kind}; {state})", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def predictive_plot(pred: dict[str, dict[str, np.ndarray]], path: str | Path, *,
                    truth_curves: dict[str, np.ndarray] | None = None,
                    level: float = 0.95) -> Path:
    """Posterior predictive bands vs the data, one panel per observed output.

    Bands: the calibrated emulator η(θ) and, with a discrepancy, η(θ) + δ; data as points
    with ±2 s.d. bars; the noise-free truth (synthetic patients) as a dashed line.
    """
    plt = _plt()
    q = [50 * (1 - level), 50 * (1 + level)]
    names = list(pred)
    fig, axes = plt.subplots(len(names), 1, figsize=(7, 3.2 * len(names)), squeeze=False)
    for ax, name in zip(axes[:, 0], names, strict=True):
        p = pred[name]
        unit = p["unit"]
        obs, shown = _shown(p["observed"], unit)
        sd = _shown(p["sd"], unit)[0]
        model, _ = _shown(p["model"], unit)
        corr, _ = _shown(p["corrected"], unit)
        has_delta = not np.allclose(p["model"], p["corrected"])
        if len(obs) > 1:
            x = p["index"]
            order = np.argsort(x)
            x = x[order]
            lo, hi = np.percentile(model[:, order], q, axis=0)
            ax.fill_between(x, lo, hi, color="C0", alpha=0.35,
                            label=f"η(θ), {100 * level:g}% band")
            if has_delta:
                lo, hi = np.percentile(corr[:, order], q, axis=0)
                ax.fill_between(x, lo, hi, color="C1", alpha=0.25,
                                label=f"η(θ) + δ, {100 * level:g}% band")
            ax.errorbar(x, obs[order], yerr=2 * sd[order], fmt=".", color="k", ms=3,
                        lw=0.6, label="data ± 2 s.d.")
            if truth_curves and name in truth_curves:
                t = np.asarray(truth_curves[name])
                tv, _ = _shown(t, unit)
                ax.plot(np.arange(len(tv)) / len(tv), tv, "k--", lw=0.8, label="truth")
            ax.set_xlabel("phase of the cycle")
        else:
            parts = [model[:, 0]] + ([corr[:, 0]] if has_delta else [])
            ax.violinplot(parts, positions=list(range(len(parts))), showextrema=False)
            ax.errorbar([0], obs, yerr=2 * sd, fmt="ko", label="data ± 2 s.d.")
            ax.set_xticks(range(len(parts)), ["η(θ)", "η(θ) + δ"][: len(parts)])
        ax.set_ylabel(f"{name} ({shown})")
        ax.legend(fontsize=7, loc="best")
    fig.suptitle("posterior predictive vs data", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def implausibility_plot(hm: Any, path: str | Path, *, truth: dict[str, float] | None = None,
                        bins: int = 30, space: Any = None) -> Path:
    """Minimum-implausibility projections (Vernon et al. 2010, Fig. 3) for each pair of
    inputs: the colour of a cell is the smallest implausibility over the candidates that
    project into it; the contour marks the cutoff, the cross the truth."""
    plt = _plt()
    X, I = hm.X, np.minimum(hm.I, 10.0)  # noqa: E741
    names, d = hm.names, len(hm.names)
    pairs = [(i, j) for i in range(d) for j in range(i + 1, d)] or [(0, 0)]
    ncol = min(3, len(pairs))
    nrow = int(np.ceil(len(pairs) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.4 * ncol + 1.0, 3.8 * nrow), squeeze=False,
                             layout="constrained")
    lo, hi = X.min(axis=0), X.max(axis=0)
    if space is not None:
        lo, hi = space.bounds[:, 0], space.bounds[:, 1]
    im = None
    for ax, (i, j) in zip(axes.ravel(), pairs, strict=False):
        if i == j:  # one input: implausibility along it
            ax.plot(X[:, i], I, ".", ms=1)
            ax.axhline(hm.cutoff, color="C3")
            ax.set_xlabel(names[i])
            continue
        ei = np.linspace(lo[i], hi[i], bins + 1)
        ej = np.linspace(lo[j], hi[j], bins + 1)
        bi = np.clip(np.searchsorted(ei, X[:, i]) - 1, 0, bins - 1)
        bj = np.clip(np.searchsorted(ej, X[:, j]) - 1, 0, bins - 1)
        grid = np.full((bins, bins), np.nan)
        np.fmin.at(grid, (bj, bi), I)
        im = ax.pcolormesh(ei, ej, grid, cmap="viridis_r", vmin=0, vmax=10, shading="flat")
        centres_i, centres_j = 0.5 * (ei[1:] + ei[:-1]), 0.5 * (ej[1:] + ej[:-1])
        if np.isfinite(grid).sum() > 4 and np.nanmin(grid) < hm.cutoff < np.nanmax(grid):
            ax.contour(centres_i, centres_j, np.nan_to_num(grid, nan=10.0), [hm.cutoff],
                       colors="w", linewidths=1)
        if truth and names[i] in truth and names[j] in truth:
            ax.plot(truth[names[i]], truth[names[j]], "r+", ms=12, mew=2)
        ax.set_xlabel(names[i])
        ax.set_ylabel(names[j])
    for ax in axes.ravel()[len(pairs):]:
        ax.axis("off")
    if im is not None:
        fig.colorbar(im, ax=axes.ravel().tolist(), label="min implausibility (capped at 10)")
    fig.suptitle(f"implausibility, NROY fraction {hm.fraction:.3f} (cutoff {hm.cutoff:g}, "
                 f"{hm.rule})", fontsize=10)
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
