"""Validation plots (matplotlib, Agg backend), every axis labelled with its display unit.

Each function writes one PNG and returns its path, or ``None`` when there is nothing to
draw (no scalar outputs, no waveforms...).  Pressures show in mmHg and flows in mL/s
(:func:`simulators.units.display_unit`), as everywhere else in twinemu.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

from emulators.validation.diagnostics import Diagnostics  # noqa: E402
from emulators.validation.metrics import z_value  # noqa: E402
from emulators.validation.result import ValidationResult  # noqa: E402
from simulators.units import display_unit as _display_name  # noqa: E402
from simulators.units import factor  # noqa: E402

DPI = 110


def display_unit(unit: str) -> tuple[str, float]:
    """``(unit shown to people, factor from the stored unit)`` — mmHg for pressures, mL/s
    for flows, the unit itself otherwise."""
    shown = _display_name(unit)
    return shown, (factor(unit, shown) if shown != unit else 1.0)


def _grid(n: int, cols: int = 3, w: float = 4.2, h: float = 3.8):
    cols = max(1, min(cols, n))
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(w * cols, h * rows), squeeze=False)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    return fig, list(axes.flat)[:n]


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return Path(path)


def _scalars(result: ValidationResult) -> list[str]:
    return [k for k, (t, _, _) in result.predictions.items() if np.ndim(t) == 1]


def _waveforms(result: ValidationResult) -> list[str]:
    return [k for k, (t, _, _) in result.predictions.items() if np.ndim(t) == 2]


def _unit(result: ValidationResult, units: Mapping[str, str] | None, name: str) -> str:
    return (units or {}).get(name) or result.units.get(name, "")


# -- accuracy ----------------------------------------------------------------------------
def parity_plot(result: ValidationResult, units: Mapping[str, str] | None, path: Path
                ) -> Path | None:
    """Per scalar output: emulator against simulator (top) and the error with its interval
    against the simulator (bottom), so errors stay visible when the range is wide."""
    names = _scalars(result)
    if not names:
        return None
    z = z_value(result.level)
    fig, axes = plt.subplots(2, len(names), figsize=(4.3 * len(names), 7.0), squeeze=False,
                             gridspec_kw={"height_ratios": [3, 2]})
    for j, name in enumerate(names):
        truth, mean, var = result.predictions[name]
        unit, k = display_unit(_unit(result, units, name))
        t, m, half = truth * k, mean * k, z * np.sqrt(var) * k
        ax = axes[0, j]
        ax.errorbar(t, m, yerr=half, fmt="o", ms=3.5, elinewidth=0.8, capsize=1.5,
                    color="tab:blue", label=f"emulator ±{100 * result.level:.0f}%")
        lo, hi = np.min(t), np.max(t)
        pad = 0.05 * (hi - lo or 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=0.8, label="y = x")
        mt = result.metrics[name]
        ax.set_title(f"{name}: {result.r2_label} = {mt.r2:.4f}", fontsize=10)
        ax.set_xlabel(f"simulator [{unit}]")
        ax.set_ylabel(f"emulator [{unit}]")
        ax.legend(fontsize=8, loc="upper left")
        ax = axes[1, j]
        ax.errorbar(t, m - t, yerr=half, fmt="o", ms=3.5, elinewidth=0.8, capsize=1.5,
                    color="tab:red")
        ax.axhline(0, color="k", lw=0.8, ls="--")
        ax.set_xlabel(f"simulator [{unit}]")
        ax.set_ylabel(f"error, emulator − simulator [{unit}]")
        ax.set_title(f"RMSE {mt.rmse * k:.3g} {unit}, max {mt.max_abs_error * k:.3g} {unit}",
                     fontsize=9)
    fig.suptitle(f"{result.method}: {result.n} runs", fontsize=11)
    return _save(fig, path)


def residual_plot(result: ValidationResult, units: Mapping[str, str] | None, path: Path
                  ) -> Path | None:
    """Residuals (simulator − emulator) against the emulator's prediction, with the
    predicted interval as a band: scalars per run, waveforms every phase point."""
    names = list(result.predictions)
    if not names:
        return None
    z = z_value(result.level)
    fig, axes = _grid(len(names))
    for ax, name in zip(axes, names, strict=True):
        truth, mean, var = (np.ravel(a) for a in result.predictions[name])
        unit, k = display_unit(_unit(result, units, name))
        centre, half = _band(mean, z * np.sqrt(var))
        ax.fill_between(centre * k, -half * k, half * k, color="tab:blue", alpha=0.2, lw=0,
                        label=f"±{100 * result.level:.0f}% interval (median per bin)"
                        if truth.size > 60 else f"±{100 * result.level:.0f}% interval")
        ax.plot(mean * k, (truth - mean) * k, ".", ms=3 if truth.size > 200 else 5,
                color="tab:red", label="residual")
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xlabel(f"emulator mean [{unit}]")
        ax.set_ylabel(f"simulator − emulator [{unit}]")
        ax.set_title(name, fontsize=10)
        ax.legend(fontsize=8)
    return _save(fig, path)


def _band(x: np.ndarray, half: np.ndarray, bins: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Interval half-width along ``x``: every point when few, else the median per bin."""
    order = np.argsort(x)
    if len(x) <= 60:
        return x[order], half[order]
    parts = np.array_split(order, bins)
    return (np.array([np.median(x[p]) for p in parts]),
            np.array([np.median(half[p]) for p in parts]))


def coverage_plot(result: ValidationResult, path: Path) -> Path | None:
    """Empirical against nominal coverage of central intervals, one line per output."""
    if not result.predictions:
        return None
    levels = np.linspace(0.02, 0.99, 50)
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    for name, (truth, mean, var) in result.predictions.items():
        r = np.abs(np.ravel(truth) - np.ravel(mean)) / np.sqrt(np.maximum(np.ravel(var),
                                                                          1e-300))
        emp = [np.mean(r <= z_value(lv)) for lv in levels]
        ax.plot(100 * levels, 100 * np.asarray(emp), lw=1.6, label=name)
    ax.plot([0, 100], [0, 100], "k--", lw=0.8, label="ideal")
    ax.set_xlabel("nominal coverage of the central interval [%]")
    ax.set_ylabel("empirical coverage [%]")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 101)
    ax.set_title("Coverage: above the line = under-confident, below = over-confident",
                 fontsize=9)
    ax.legend(fontsize=8)
    return _save(fig, path)


def waveform_plot(result: ValidationResult, units: Mapping[str, str] | None, path: Path,
                  n_cases: int = 3) -> Path | None:
    """For each waveform output, the best, median and worst held-out runs (by relative L2
    error): simulator (solid), emulator mean (dashed) and its interval (band)."""
    names = _waveforms(result)
    if not names:
        return None
    z = z_value(result.level)
    fig, axes = plt.subplots(len(names), 3, figsize=(14, 3.6 * len(names)), squeeze=False)
    colors = ("tab:green", "tab:blue", "tab:red")
    for row, name in zip(axes, names, strict=True):
        truth, mean, var = result.predictions[name]
        rel = result.metrics[name].rel_l2
        order = np.argsort(np.nan_to_num(rel, nan=np.inf))
        picks = [("best", order[0]), ("median", order[len(order) // 2]),
                 ("worst", order[-1])]
        unit, k = display_unit(_unit(result, units, name))
        phase = np.arange(truth.shape[1]) / truth.shape[1]
        for ax, (which, i), c in zip(row, picks, colors, strict=True):
            sd = np.sqrt(var[i])
            ax.fill_between(phase, (mean[i] - z * sd) * k, (mean[i] + z * sd) * k,
                            color=c, alpha=0.25, lw=0,
                            label=f"emulator ±{100 * result.level:.0f}%")
            ax.plot(phase, truth[i] * k, color=c, lw=1.8, label="simulator")
            ax.plot(phase, mean[i] * k, color="k", lw=1.0, ls="--", label="emulator mean")
            ax.set_title(f"{name}, {which} run (#{i}): relative L2 error "
                         f"{100 * rel[i]:.3g}%", fontsize=10)
            ax.set_xlabel("phase of the cardiac cycle")
            ax.set_ylabel(f"{name} [{unit}]")
            ax.legend(fontsize=8)
    return _save(fig, path)


# -- diagnostics -------------------------------------------------------------------------
def std_error_plot(diag: Diagnostics, result: ValidationResult, path: Path) -> Path | None:
    """Standardised errors against the emulator's prediction (first column) and against
    each input; ±2 dashed (≈ 95% inside when calibrated).  Waveforms: each run's root
    mean square standardised error, signed by its mean."""
    names = [n for n in diag.outputs if n in result.predictions]
    if not names:
        return None
    d = len(diag.input_names)
    fig, axes = plt.subplots(len(names), d + 1, figsize=(3.3 * (d + 1), 2.9 * len(names)),
                             squeeze=False)
    for row, name in zip(axes, names, strict=True):
        od = diag[name]
        e = od.std_errors
        _, mean, _ = result.predictions[name]
        unit, k = display_unit(od.unit)
        if e.ndim == 2:
            score = np.sqrt(np.mean(e**2, axis=1)) * np.sign(np.mean(e, axis=1))
            pred, what = np.mean(mean, axis=1) * k, f"mean over the cycle [{unit}]"
        else:
            score, pred, what = e, mean * k, f"prediction [{unit}]"
        xs = [(pred, f"{name} {what}")] + [
            (diag.X[:, j], f"{diag.input_names[j]}") for j in range(d)]
        for ax, (x, label) in zip(row, xs, strict=True):
            big = np.abs(score) > 2
            ax.plot(x[~big], score[~big], "o", ms=3.5, color="tab:blue")
            ax.plot(x[big], score[big], "o", ms=4.5, color="tab:red")
            for v in (-2, 2):
                ax.axhline(v, color="0.4", ls="--", lw=0.8)
            ax.axhline(0, color="k", lw=0.5)
            ax.set_xlabel(label, fontsize=9)
            ax.set_ylabel(f"{name}: standardised error", fontsize=9)
            if label != xs[0][1]:
                unit_in = _input_unit(diag, label)
                if unit_in:
                    ax.set_xlabel(f"{label} [{unit_in}]", fontsize=9)
    fig.suptitle("Standardised errors (y − μ)/σ; red: |e| > 2", fontsize=11)
    return _save(fig, path)


def _input_unit(diag: Diagnostics, name: str) -> str:
    return diag.input_units.get(name, "")


def qq_plot(diag: Diagnostics, path: Path) -> Path | None:
    """Normal QQ plot of the pivoted-Cholesky errors (joint covariance) or of the
    standardised errors; points off the line mean the errors are not N(0, 1)."""
    if not diag.outputs:
        return None
    fig, axes = _grid(len(diag.outputs), cols=3, w=3.9, h=3.7)
    for ax, (name, od) in zip(axes, diag.outputs.items(), strict=True):
        test = od.mahalanobis[0] if od.mahalanobis else None
        if test is not None and test.pivoted is not None and od.std_errors.ndim == 1:
            e, what = test.pivoted, "pivoted-Cholesky errors"
        else:
            e, what = np.ravel(od.std_errors), "standardised errors"
        e = np.sort(e)
        q = stats.norm.ppf((np.arange(1, len(e) + 1) - 0.5) / len(e))
        ax.plot(q, e, "o", ms=3.5)
        lim = max(3.0, float(np.max(np.abs(e))) * 1.05, float(np.max(np.abs(q))))
        ax.plot([-lim, lim], [-lim, lim], "k--", lw=0.8)
        ax.set_xlabel("N(0, 1) quantile")
        ax.set_ylabel(what)
        ax.set_title(f"{name}: {od.headline}", fontsize=10)
    return _save(fig, path)


def pivoted_plot(diag: Diagnostics, path: Path) -> Path | None:
    """Pivoted-Cholesky errors in pivot order (scalar outputs with a joint covariance)."""
    names = [n for n, od in diag.outputs.items() if od.std_errors.ndim == 1 and
             od.mahalanobis and od.mahalanobis[0].pivoted is not None]
    if not names:
        return None
    fig, axes = _grid(len(names), cols=3, w=4.2, h=3.4)
    for ax, name in zip(axes, names, strict=True):
        e = diag[name].mahalanobis[0].pivoted
        idx = np.arange(1, len(e) + 1)
        big = np.abs(e) > 2
        ax.plot(idx[~big], e[~big], "o", ms=3.5, color="tab:blue")
        ax.plot(idx[big], e[big], "o", ms=4.5, color="tab:red")
        for v in (-2, 2):
            ax.axhline(v, color="0.4", ls="--", lw=0.8)
        ax.set_xlabel("pivot order (largest conditional variance first)")
        ax.set_ylabel("pivoted-Cholesky error")
        ax.set_title(name, fontsize=10)
    return _save(fig, path)


# -- inputs --------------------------------------------------------------------------------
def relevance_plot(emulator: Any, path: Path, *, sobol: Any = None) -> Path | None:
    """Which inputs matter: Sobol' total indices when given, else the GP's inverse
    length-scales (unit-cube scale; longer bars = the output changes faster along it)."""
    if sobol is not None:
        ST = np.atleast_2d(sobol.ST)
        outs = sobol.outputs or [f"output {i}" for i in range(len(ST))]
        names, values, what = list(sobol.names), ST, "Sobol' total index ST"
    else:
        pred = getattr(emulator, "predictor", None) or getattr(emulator, "_predictor", None)
        ls = getattr(pred, "lengthscale", None)
        if ls is None:
            return None
        names = list(emulator.space.names)
        values = 1.0 / np.asarray(ls)
        outs = _latent_labels(emulator)
        what = "relevance 1 / length-scale (unit cube)"
    n_out = len(values)
    shown = min(n_out, 6)
    fig, ax = plt.subplots(figsize=(7.0, 0.5 * len(names) * max(1, shown / 2) + 1.8))
    y = np.arange(len(names))
    h = 0.8 / shown
    for i in range(shown):
        ax.barh(y - 0.4 + h * (i + 0.5), values[i], h, label=outs[i] if i < len(outs) else
                f"output {i}")
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlabel(what)
    ax.legend(fontsize=8)
    ax.set_title("Input relevance" + (f" (first {shown} of {n_out} latent outputs)"
                                      if shown < n_out else ""), fontsize=10)
    return _save(fig, path)


def _latent_labels(emulator: Any) -> list[str]:
    return [name if kind == "scalar" else f"{name} PC{i + 1}" if kind == "pc"
            else f"{name}[{i}]" for name, i, kind in emulator.outputs.latent_owners()]


def all_plots(out_dir: Path, result: ValidationResult, units: Mapping[str, str] | None,
              diagnostics: Diagnostics | None, emulator: Any, *, sobol: Any = None,
              prefix: str = "") -> list[tuple[str, Path]]:
    """Every validation plot of a report, as ``(caption, path)`` (plots with nothing to
    draw are left out)."""
    out_dir = Path(out_dir)
    lv = f"{100 * result.level:.0f}%"
    todo: Sequence[tuple[str, Any]] = [
        (f"Emulator against simulator with its {lv} interval (top) and the error (bottom)",
         lambda: parity_plot(result, units, out_dir / f"{prefix}parity.png")),
        ("Residuals against the emulator's prediction; the band is the predicted "
         f"{lv} interval", lambda: residual_plot(result, units,
                                                  out_dir / f"{prefix}residuals.png")),
        ("Waveforms of the best, median and worst held-out runs: simulator (solid), "
         f"emulator mean (dashed), {lv} band",
         lambda: waveform_plot(result, units, out_dir / f"{prefix}waveforms.png")),
        ("Coverage: empirical against nominal interval level",
         lambda: coverage_plot(result, out_dir / f"{prefix}coverage.png")),
    ]
    if diagnostics is not None:
        todo = [*todo,
                ("Standardised errors against the prediction and each input",
                 lambda: std_error_plot(diagnostics, result,
                                        out_dir / f"{prefix}std_errors.png")),
                ("QQ plot of the errors against N(0, 1)",
                 lambda: qq_plot(diagnostics, out_dir / f"{prefix}qq.png")),
                ("Pivoted-Cholesky errors (Bastos & O'Hagan 2009)",
                 lambda: pivoted_plot(diagnostics, out_dir / f"{prefix}pivoted.png"))]
    todo = [*todo, ("Input relevance",
                    lambda: relevance_plot(emulator, out_dir / f"{prefix}relevance.png",
                                           sobol=sobol))]
    out = []
    for caption, make in todo:
        p = make()
        if p is not None:
            out.append((caption, p))
    return out
