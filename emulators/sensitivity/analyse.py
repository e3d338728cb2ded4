"""The "analyse" stage: every sensitivity result of an emulator, and whether to trust it.

:func:`analyse` computes, for each output of an emulator (scalars, and each waveform as a
whole through its aggregated indices):

1. Sobol' S1/ST of the emulator *mean* by Saltelli/Jansen Monte Carlo, with bootstrap
   intervals (the **Monte Carlo interval**: the error of a finite sample);
2. the same indices over the emulator's *posterior*: ``posterior_draws`` posterior functions
   (pathwise conditioning for GPs, see :mod:`.posterior`) on a common Saltelli design, each
   giving one value of each index; the percentiles of those values form the **emulator-
   uncertainty interval** (what the emulator does not know about the simulator).  A common
   design for all draws makes the spread across draws measure the functions' differences,
   not sampling noise (common random numbers);
3. closed-form indices of the mean for RBF GPs (:mod:`.analytic`);
4. per-phase indices of waveforms, second-order indices and Morris screening on request;

and a verdict: the indices are **not reliable** when the emulator failed its validation
checks, or when an interval of an index is wider than ``max_interval_width``.  The verdict
and its reasons lead the console table and the report.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emulators.sensitivity.morris import MorrisResult
from emulators.sensitivity.sobol import (
    SobolResult,
    _jsonable,
    _quiet_nan,
    check_options,
    indices_from_variances,
    partial_variances,
    saltelli_design,
    sobol_result,
)
from simulators.design import ParameterSpace

#: Most points of one exact joint posterior draw (``O(q³)``): Matérn GPs, other kinds.
MAX_JOINT_POINTS = 1024
#: Base sample of the per-phase indices of waveforms (``T`` columns each).
PHASE_N = 2048


@dataclass
class SensitivityConfig:
    """Options of the sensitivity stage (the ``sensitivity`` config group)."""

    enabled: bool = True
    n: int = 8192                 # base sample N of the mean's indices: N (d + 2) predictions
    n_boot: int = 300             # bootstrap resamples of the Monte Carlo intervals
    conf_level: float = 0.95
    waveforms: bool = True        # also the indices at each phase of waveform outputs
    posterior_draws: int = 64     # posterior functions (0: no emulator-uncertainty intervals)
    posterior_n: int = 512        # base sample of the posterior indices
    n_features: int = 1024        # random Fourier features of each posterior draw
    analytic: bool = True         # closed-form indices of the mean (RBF GPs only)
    second_order: bool = False    # S2 as well (N (2d + 2) predictions)
    morris: bool = True           # Morris screening of the mean (scalar outputs)
    morris_r: int = 50            # Morris trajectories
    max_interval_width: float = 0.1  # wider intervals make the indices "not reliable"

    def options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`analyse` (everything but ``enabled``)."""
        out = asdict(self)
        out.pop("enabled")
        return out


@dataclass
class SensitivityReport:
    """Everything :func:`analyse` found.  Rows (``outputs``) are the scalar outputs, then the
    waveforms (aggregated indices); arrays are ``(rows, d)``."""

    names: list[str]
    outputs: list[str]
    kinds: list[str]                       # "scalar" or "waveform", per row
    mean: SobolResult                      # Monte Carlo on the emulator mean
    conf_level: float
    # {"S1_dev": (S, rows, d) draw − mean-function index on a common design, "ST_dev",
    #  "method", "n", "draws"}
    posterior: dict[str, Any] | None = None
    analytic: dict[str, np.ndarray] | None = None  # {"S1": (rows, d), "ST"}
    phases: dict[str, SobolResult] = field(default_factory=dict)
    phase_posterior: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    mean_waves: dict[str, np.ndarray] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    morris: MorrisResult | None = None
    reliable: bool = True
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    validation_passed: bool | None = None
    options: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    # -- summaries -----------------------------------------------------------------------
    def emulator_intervals(self) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
        """``{"S1": (low, high), "ST": ...}`` percentiles over the posterior draws."""
        if self.posterior is None:
            return None
        q = [(1 - self.conf_level) * 50, (1 + self.conf_level) * 50]
        out = {}
        for key in ("S1", "ST"):
            est = np.atleast_2d(getattr(self.mean, key))
            with np.errstate(all="ignore"), _quiet_nan():
                lo, hi = np.nanpercentile(self.posterior[key + "_dev"], q, axis=0)
            out[key] = (est + lo, est + hi)
        return out

    def posterior_mean(self) -> dict[str, np.ndarray] | None:
        """Posterior mean of each index: the estimate plus the draws' mean deviation."""
        if self.posterior is None:
            return None
        with np.errstate(all="ignore"), _quiet_nan():
            return {k: np.atleast_2d(getattr(self.mean, k))
                    + np.nanmean(self.posterior[k + "_dev"], axis=0) for k in ("S1", "ST")}

    # -- views ---------------------------------------------------------------------------
    def records(self) -> list[dict[str, Any]]:
        """One dict per (output, input, index): ``pandas.DataFrame(report.records())``.

        Keys: ``output``, ``kind`` (scalar / waveform / phase), ``phase`` (index of the
        phase sample or ``None``), ``input``, ``index`` (S1, ST, S2:<input>, mu_star,
        sigma), ``estimate``, ``mc_low``, ``mc_high``, ``emu_low``, ``emu_high``,
        ``posterior_mean``, ``analytic`` (``None`` where not computed).
        """
        rows: list[dict[str, Any]] = []
        emu, pmean = self.emulator_intervals(), self.posterior_mean()
        m = self.mean

        def f(a, *idx):
            if a is None:
                return None
            v = float(np.asarray(a)[idx])
            return v if np.isfinite(v) else None

        S = {"S1": (m.S1, m.S1_low, m.S1_high), "ST": (m.ST, m.ST_low, m.ST_high)}
        for r, out in enumerate(self.outputs):
            for j, name in enumerate(self.names):
                for key, (est, lo, hi) in S.items():
                    rows.append({
                        "output": out, "kind": self.kinds[r], "phase": None, "input": name,
                        "index": key, "estimate": f(np.atleast_2d(est), r, j),
                        "mc_low": f(np.atleast_2d(lo), r, j),
                        "mc_high": f(np.atleast_2d(hi), r, j),
                        "emu_low": f(emu[key][0], r, j) if emu else None,
                        "emu_high": f(emu[key][1], r, j) if emu else None,
                        "posterior_mean": f(pmean[key], r, j) if pmean else None,
                        "analytic": f(self.analytic[key], r, j) if self.analytic else None})
                if m.S2 is not None:  # (rows, d, d)
                    S2, lo2, hi2 = m.S2, m.S2_low, m.S2_high
                    for k in range(j + 1, len(self.names)):
                        rows.append({"output": out, "kind": self.kinds[r], "phase": None,
                                     "input": name, "index": f"S2:{self.names[k]}",
                                     "estimate": f(S2, r, j, k), "mc_low": f(lo2, r, j, k),
                                     "mc_high": f(hi2, r, j, k), "emu_low": None,
                                     "emu_high": None, "posterior_mean": None,
                                     "analytic": None})
        for wname, res in self.phases.items():
            post = self.phase_posterior.get(wname)
            S1, ST = np.atleast_2d(res.S1), np.atleast_2d(res.ST)
            for t in range(S1.shape[0]):
                for j, name in enumerate(self.names):
                    for key, A, lo, hi in (("S1", S1, res.S1_low, res.S1_high),
                                           ("ST", ST, res.ST_low, res.ST_high)):
                        rows.append({
                            "output": wname, "kind": "phase", "phase": t, "input": name,
                            "index": key, "estimate": f(A, t, j),
                            "mc_low": f(np.atleast_2d(lo), t, j),
                            "mc_high": f(np.atleast_2d(hi), t, j),
                            "emu_low": f(post[key + "_low"], t, j) if post else None,
                            "emu_high": f(post[key + "_high"], t, j) if post else None,
                            "posterior_mean": None, "analytic": None})
        if self.morris is not None:
            mo = self.morris
            for r, out in enumerate(mo.outputs):
                for j, name in enumerate(self.names):
                    for key in ("mu_star", "sigma"):
                        a = np.atleast_2d(getattr(mo, key))
                        rows.append({
                            "output": out, "kind": "morris", "phase": None, "input": name,
                            "index": key, "estimate": f(a, r, j),
                            "mc_low": f(np.atleast_2d(mo.mu_star_low), r, j)
                            if key == "mu_star" else None,
                            "mc_high": f(np.atleast_2d(mo.mu_star_high), r, j)
                            if key == "mu_star" else None,
                            "emu_low": None, "emu_high": None, "posterior_mean": None,
                            "analytic": None})
        return rows

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly (lists, floats, ``None`` for NaN)."""
        emu = self.emulator_intervals()
        out: dict[str, Any] = {
            "reliable": self.reliable, "warnings": list(self.warnings),
            "notes": list(self.notes), "validation_passed": self.validation_passed,
            "inputs": self.names, "outputs": self.outputs, "kinds": self.kinds,
            "conf_level": self.conf_level, "options": self.options,
            "seconds": self.seconds, "mean": self.mean.to_dict()}
        if self.posterior is not None:
            pm = self.posterior_mean()
            out["posterior"] = {
                "method": self.posterior["method"], "n": self.posterior["n"],
                "draws": int(self.posterior["draws"]),
                **{f"{k}_mean": _jsonable(pm[k]) for k in ("S1", "ST")},
                **{f"{k}_{side}": _jsonable(emu[k][i]) for k in ("S1", "ST")
                   for i, side in enumerate(("low", "high"))}}
        if self.analytic is not None:
            out["analytic"] = {k: _jsonable(v) for k, v in self.analytic.items()}
        if self.phases:
            out["phases"] = {k: {**v.to_dict(),
                                 **{f"emu_{kk}": _jsonable(vv) for kk, vv in
                                    self.phase_posterior.get(k, {}).items()}}
                             for k, v in self.phases.items()}
        if self.morris is not None:
            out["morris"] = self.morris.to_dict()
        return out

    def verdict(self) -> str:
        """One paragraph: reliable or not, and why."""
        if self.reliable:
            head = "Sensitivity indices: reliable"
            if self.warnings:
                head += " (with caveats)"
        else:
            head = "SENSITIVITY INDICES NOT RELIABLE"
        return "\n".join([head + ".", *[f"  - {w}" for w in self.warnings]])

    def table(self) -> str:
        """Console text: the verdict, then per output S1/ST with both intervals."""
        emu = self.emulator_intervals()
        m = self.mean
        S1, ST = np.atleast_2d(m.S1), np.atleast_2d(m.ST)
        lo1, hi1 = np.atleast_2d(m.S1_low), np.atleast_2d(m.S1_high)
        loT, hiT = np.atleast_2d(m.ST_low), np.atleast_2d(m.ST_high)
        w = max(5, *(len(n) for n in self.names))
        lines = [self.verdict(), ""]
        pct = int(round(100 * self.conf_level))
        for r, out in enumerate(self.outputs):
            kind = " (whole waveform, aggregated)" if self.kinds[r] == "waveform" else ""
            lines.append(f"{out}{kind}: S1, ST of the emulator mean; [Monte Carlo {pct}%]"
                         + (f" [emulator {pct}%]" if emu else "")
                         + (" {closed form}" if self.analytic else ""))
            for j, name in enumerate(self.names):
                def cell(key, v, lo, hi, r=r, j=j):
                    s = f"{v:6.3f} [{lo:6.3f},{hi:6.3f}]"
                    if emu:
                        s += f" [{emu[key][0][r, j]:6.3f},{emu[key][1][r, j]:6.3f}]"
                    if self.analytic:
                        s += f" {{{self.analytic[key][r, j]:6.3f}}}"
                    return s
                lines.append(f"  {name:<{w}}  S1 {cell('S1', S1[r, j], lo1[r, j], hi1[r, j])}"
                             f"   ST {cell('ST', ST[r, j], loT[r, j], hiT[r, j])}")
        if self.morris is not None:
            for r, out in enumerate(self.morris.outputs):
                lines += ["", f"Morris screening of {out} (by mu*):", self.morris.table(r)]
            inert = self.morris.inert()
            if inert:
                lines.append(f"inert in every output (mu* < 1% of the largest): "
                             f"{', '.join(inert)}")
        return "\n".join(lines)

    def sections(self, out_dir: Path) -> list[tuple[str, str, list[tuple[str, Path]]]]:
        """Report sections ``(title, Markdown body, [(caption, png path)])``; the plots are
        written to ``out_dir``."""
        from emulators.sensitivity import plots

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        secs = []
        emu = self.emulator_intervals()
        pct = int(round(100 * self.conf_level))
        body = [("**The sensitivity indices below are NOT RELIABLE.**" if not self.reliable
                 else "The sensitivity indices pass the reliability checks."), ""]
        body += [f"- {w}" for w in self.warnings] or ["- no warnings"]
        body += ["", "How they were computed:", ""] + [f"- {n}" for n in self.notes]
        secs.append(("Sensitivity: can these indices be trusted?", "\n".join(body), []))

        head = "| output | input | S1 | S1 MC | " + ("S1 emulator | " if emu else "") + \
            ("S1 closed form | " if self.analytic else "") + "ST | ST MC | " + \
            ("ST emulator | " if emu else "") + ("ST closed form |" if self.analytic else "")
        rows = [head.rstrip(" |") + " |", "|" + "---|" * (head.count("|") - 1)]
        for rec in self.records():
            if rec["kind"] not in ("scalar", "waveform") or rec["index"] != "S1":
                continue
            st = next(x for x in self.records() if x["output"] == rec["output"]
                      and x["input"] == rec["input"] and x["index"] == "ST"
                      and x["kind"] == rec["kind"])
            cells = [rec["output"] + (" (waveform)" if rec["kind"] == "waveform" else ""),
                     rec["input"]]
            for x in (rec, st):
                cells += [_fmt(x["estimate"]), f"[{_fmt(x['mc_low'])}, {_fmt(x['mc_high'])}]"]
                if emu:
                    cells.append(f"[{_fmt(x['emu_low'])}, {_fmt(x['emu_high'])}]")
                if self.analytic:
                    cells.append(_fmt(x["analytic"]))
            rows.append("| " + " | ".join(cells) + " |")
        intro = (f"Sobol' indices of the emulator mean (Saltelli/Jansen, N = {self.mean.n}); "
                 f"MC: {pct}% bootstrap interval (finite sample); emulator: {pct}% interval "
                 f"over {self.posterior['draws'] if self.posterior else 0} posterior "
                 f"functions (what the emulator does not know).")
        img = [("Sobol' indices with Monte Carlo (black) and emulator-uncertainty (red) "
                "intervals", plots.intervals_plot(self, out_dir / "sobol_intervals.png"))]
        secs.append(("Sobol' sensitivity indices", intro + "\n\n" + "\n".join(rows), img))

        for wname, res in self.phases.items():
            r = self.outputs.index(wname) if wname in self.outputs else None
            gen = np.atleast_2d(self.mean.S1)[r] if r is not None else None
            imgs = [(f"{wname}: first-order shares of the variance along the cycle",
                     plots.phase_stack_plot(res, wname, out_dir / f"sobol_stack_{wname}.png",
                                            gen))]
            if wname in self.mean_waves:
                imgs.append((f"Sobol' indices of {wname} at each phase (S1 solid, ST dashed; "
                             f"grey: mean waveform)",
                             plots.sobol_waveform_plot(res, self.mean_waves[wname],
                                                       self.units.get(wname, ""), wname,
                                                       out_dir / f"sobol_{wname}.png")))
            txt = (f"Per-phase indices at {np.atleast_2d(res.S1).shape[0]} phases "
                   f"(N = {res.n}); the aggregated (generalised) indices of the whole "
                   f"waveform are in the table above (Gamboa et al. 2014).")
            secs.append((f"Waveform sensitivity: {wname}", txt, imgs))

        if self.mean.S2 is not None:
            S2, lo2, hi2 = self.mean.S2, self.mean.S2_low, self.mean.S2_high  # (rows, d, d)
            lines = ["| output | pair | S2 | MC interval |", "|---|---|---|---|"]
            d = len(self.names)
            for r, out in enumerate(self.outputs):
                for i in range(d):
                    for k in range(i + 1, d):
                        lines.append(f"| {out} | {self.names[i]} × {self.names[k]} | "
                                     f"{S2[r, i, k]:.3f} | [{lo2[r, i, k]:.3f}, "
                                     f"{hi2[r, i, k]:.3f}] |")
            secs.append(("Second-order Sobol' indices", "\n".join(lines), []))

        if self.morris is not None:
            mo = self.morris
            txt = [f"Morris elementary effects of the emulator mean ({mo.r} trajectories, "
                   f"{mo.levels} levels; effects per unit of each input's probability scale)."]
            for r, out in enumerate(mo.outputs):
                txt += ["", f"**{out}** (ranked by μ*): " + ", ".join(mo.ranking(r))]
            inert = mo.inert()
            txt += ["", f"Inert in every output (μ* below 1% of the largest): "
                    f"{', '.join(inert) if inert else 'none'}."]
            secs.append(("Morris screening", "\n".join(txt),
                         [("Morris μ*–σ plane", plots.morris_plot(mo, out_dir / "morris.png"))]))
        return secs


    def write(self, out_dir: Path, title: str = "Sensitivity analysis") -> Path:
        """Write ``sensitivity.json`` and ``sensitivity.md`` (with its PNG plots) to
        ``out_dir``; return the Markdown file."""
        import json

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "sensitivity.json").write_text(json.dumps(self.to_dict(), indent=2))
        lines = [f"# {title}", ""]
        for heading, body, images in self.sections(out_dir):
            lines += [f"## {heading}", "", body.rstrip(), ""]
            for caption, png in images:
                lines += [f"![{caption}]({Path(png).name})", "", f"*{caption}*", ""]
        md = out_dir / "sensitivity.md"
        md.write_text("\n".join(lines))
        return md


def validation_from_card(card: dict[str, Any], *, r2_min: float | None = 0.99,
                         coverage_min: float | None = 0.85) -> tuple[bool | None, str]:
    """``(passed, why)`` from the held-out metrics an emulator file's card records, against
    the bars of ``twinemu check`` (R² for scalar outputs, coverage for all); ``None`` when
    the card has no validation metrics."""
    metrics = (card.get("validation") or {}).get("outputs") or {}
    if not metrics:
        return None, ""
    shapes = {o.get("name"): o.get("shape", []) for o in card.get("outputs", [])}
    why = []
    for name, m in metrics.items():
        r2, cov = m.get("r2"), m.get("coverage")
        if r2_min is not None and not shapes.get(name) and r2 is not None and not r2 >= r2_min:
            why.append(f"{name}: held-out R² {r2:.4f} < {r2_min}")
        if coverage_min is not None and cov is not None and not cov >= coverage_min:
            why.append(f"{name}: coverage {cov:.3f} < {coverage_min}")
    return not why, "; ".join(why)


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


# -- the stage ----------------------------------------------------------------------------
class _Layout:
    """Which physical columns make each row (output) of the analysis."""

    def __init__(self, outputs: Any, names: list[str] | None):
        self.rows: list[str] = []
        self.kinds: list[str] = []
        self.blocks: dict[str, Any] = {}
        self.slices: dict[str, slice] = {}
        j = 0
        wanted = set(names) if names is not None else None
        for b in outputs.blocks:
            self.slices[b.name] = slice(j, j + b.width)
            j += b.width
            if wanted is not None and b.name not in wanted:
                continue
            self.blocks[b.name] = b
        if wanted is not None and wanted - set(self.blocks):
            raise ValueError(f"outputs {sorted(wanted - set(self.blocks))} are not outputs "
                             f"of the emulator ({[b.name for b in outputs.blocks]})")
        scalars = [n for n, b in self.blocks.items() if not b.shape]
        waves = [n for n, b in self.blocks.items() if b.shape]
        self.rows, self.kinds = scalars + waves, ["scalar"] * len(scalars) + \
            ["waveform"] * len(waves)
        self.n_columns = j

    def row_values(self, Y: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Columns to analyse ``(q, K)`` and each row's column group: a scalar's column; a
        PCA waveform's component scores (orthonormal basis: their variances sum to the
        waveform's); a raw waveform's columns."""
        Y = Y.reshape(len(Y), -1)
        parts, groups, k = [], [], 0
        for name in self.rows:
            b, sl = self.blocks[name], self.slices[name]
            y = Y[:, sl]
            if b.shape and b.basis is not None:
                y = (y - b.center) @ b.basis.T
            parts.append(y)
            groups.append(np.arange(k, k + y.shape[1]))
            k += y.shape[1]
        return np.concatenate(parts, axis=1), groups

    def waveform(self, Y: np.ndarray, name: str) -> np.ndarray:
        return Y.reshape(len(Y), -1)[:, self.slices[name]]


def analyse(
    emulator: Any,
    space: ParameterSpace | None = None,
    *,
    n: int = SensitivityConfig.n,
    n_boot: int = SensitivityConfig.n_boot,
    conf_level: float = SensitivityConfig.conf_level,
    seed: int | None = None,
    posterior_draws: int = SensitivityConfig.posterior_draws,
    posterior_n: int = SensitivityConfig.posterior_n,
    n_features: int = SensitivityConfig.n_features,
    analytic: bool = SensitivityConfig.analytic,
    second_order: bool = SensitivityConfig.second_order,
    morris: bool = SensitivityConfig.morris,
    morris_r: int = SensitivityConfig.morris_r,
    waveforms: bool = SensitivityConfig.waveforms,
    max_interval_width: float = SensitivityConfig.max_interval_width,
    validation_passed: bool | None = None,
    why_failed: str = "",
    outputs: list[str] | None = None,
) -> SensitivityReport:
    """All sensitivity results of ``emulator`` over ``space`` (default: its own), with a
    reliability verdict (module doc).

    Parameters
    ----------
    emulator : GaussianProcess, RuntimeEmulator or any emulator with ``predict``
        (and ``sample`` for the posterior indices of non-GP kinds).
    validation_passed : bool, optional
        Whether the emulator met its validation checks (``None``: unknown); ``why_failed``
        says which checks failed, for the warning.
    outputs : list of str, optional
        Outputs to analyse (default: all).
    Other options: see :class:`SensitivityConfig`.
    """
    check_options(n, n_boot, conf_level)
    if not max_interval_width > 0:
        raise ValueError(f"max_interval_width must be > 0, got {max_interval_width}")
    if int(posterior_draws) < 0 or int(posterior_n) < 2:
        raise ValueError(f"posterior_draws must be >= 0 and posterior_n >= 2, got "
                         f"{posterior_draws}, {posterior_n}")
    from emulators.sensitivity.morris import morris as morris_screen

    space = space or emulator.space
    if space.names != emulator.space.names:
        raise ValueError(f"the space's inputs {space.names} are not the emulator's "
                         f"{emulator.space.names}")
    options = {"n": int(n), "n_boot": int(n_boot), "conf_level": conf_level,
               "posterior_draws": int(posterior_draws), "posterior_n": int(posterior_n),
               "n_features": int(n_features), "analytic": analytic,
               "second_order": second_order, "morris": morris, "morris_r": int(morris_r),
               "waveforms": waveforms, "max_interval_width": max_interval_width, "seed": seed}
    seeds = np.random.SeedSequence(seed).spawn(4)
    layout = _Layout(emulator.outputs, outputs)
    d = len(space)
    seconds: dict[str, float] = {}
    notes: list[str] = []

    from emulators.sensitivity.posterior import mean_function

    mean_fn = mean_function(emulator)

    # 1. Monte Carlo on the mean, with bootstrap intervals
    t0 = time.perf_counter()
    rng = np.random.default_rng(seeds[0])
    design = saltelli_design(space, int(n), rng, second_order=second_order)
    Y = mean_fn(design.points())
    vals, groups = layout.row_values(Y)
    mean = sobol_result(design, vals, space.names, groups=groups, outputs=layout.rows,
                        n_boot=int(n_boot), conf_level=conf_level, rng=rng)
    mean_waves = {w: layout.waveform(Y[:2 * design.n], w).mean(axis=0)
                  for w, k in zip(layout.rows, layout.kinds, strict=True) if k == "waveform"}
    del Y, vals
    seconds["monte_carlo"] = time.perf_counter() - t0
    s2 = "second order by Saltelli 2002, " if second_order else ""
    notes.append(f"Monte Carlo: Saltelli design of N = {design.n} base points "
                 f"({len(design.points())} emulator predictions), first order by Saltelli "
                 f"2010 (b), total by Jansen, {s2}{int(n_boot)} bootstrap resamples for the "
                 f"MC intervals.")

    # 2. per-phase indices of waveforms
    phases: dict[str, SobolResult] = {}
    if waveforms:
        t0 = time.perf_counter()
        rng_p = np.random.default_rng(seeds[1])
        pdesign = saltelli_design(space, min(int(n), PHASE_N), rng_p)
        Yp = None
        for w, k in zip(layout.rows, layout.kinds, strict=True):
            if k != "waveform":
                continue
            Yp = mean_fn(pdesign.points()) if Yp is None else Yp
            T = layout.waveform(Yp, w).shape[1]
            phases[w] = sobol_result(pdesign, layout.waveform(Yp, w), space.names,
                                     outputs=[f"{w}[{t}]" for t in range(T)],
                                     n_boot=min(int(n_boot), 100), conf_level=conf_level,
                                     rng=rng_p)
        seconds["phases"] = time.perf_counter() - t0

    # 3. indices over the posterior
    posterior = None
    phase_post: dict[str, dict[str, np.ndarray]] = {}
    if posterior_draws > 0:
        t0 = time.perf_counter()
        posterior, phase_post, note = _posterior_indices(
            emulator, space, layout, int(posterior_draws), int(posterior_n), int(n_features),
            conf_level, np.random.default_rng(seeds[2]), list(phases))
        for w, post in phase_post.items():  # deviations about the per-phase estimates
            for key in ("S1", "ST"):
                est = np.atleast_2d(getattr(phases[w], key))
                post[key + "_low"], post[key + "_high"] = (est + post[key + "_low"],
                                                           est + post[key + "_high"])
        seconds["posterior"] = time.perf_counter() - t0
        notes.append(note)
    else:
        notes.append("Emulator uncertainty not assessed (posterior_draws = 0).")

    # 4. closed form
    closed = None
    if analytic:
        closed, note = _closed_form(emulator, space, layout)
        if note:
            notes.append(note)

    # 5. Morris screening of scalar outputs
    mres = None
    scalars = [r for r, k in zip(layout.rows, layout.kinds, strict=True) if k == "scalar"]
    if morris and scalars:
        t0 = time.perf_counter()
        cols = [layout.slices[s].start for s in scalars]
        mres = morris_screen(lambda X: mean_fn(X)[:, cols], space, int(morris_r),
                             seed=np.random.default_rng(seeds[3]), conf_level=conf_level,
                             output_names=scalars)
        seconds["morris"] = time.perf_counter() - t0
        notes.append(f"Morris: {mres.r} trajectories of {d + 1} points on a {mres.levels}-"
                     f"level grid, on the emulator mean.")

    units = {b.name: b.unit for b in emulator.outputs.blocks}
    report = SensitivityReport(space.names, layout.rows, layout.kinds, mean, conf_level,
                               posterior, closed, phases, phase_post, mean_waves, units, mres,
                               validation_passed=validation_passed, options=options,
                               seconds=seconds, notes=notes)
    _judge(report, validation_passed, why_failed, max_interval_width)
    return report


def _posterior_indices(emulator, space, layout, draws, n_post, n_features, conf_level, rng,
                       phase_names):
    """Indices of each posterior draw on one common Saltelli design."""
    from emulators.sensitivity.posterior import PathwiseSampler, gp_predictor, joint_draws

    p = gp_predictor(emulator)
    d = len(space)
    pathwise = p is not None and p.kernel == "rbf"
    if not pathwise and n_post * (d + 2) > MAX_JOINT_POINTS:
        n_post = max(2, 1 << int(np.log2(MAX_JOINT_POINTS // (d + 2))))
    design = saltelli_design(space, n_post, rng)
    X = design.points()
    if p is not None:
        U = space.to_unit(space.check(X))
        if pathwise:
            Z = PathwiseSampler(p, draws, n_features=n_features, seed=rng)(U)  # (S, q, m)
            method = (f"pathwise conditioning (Wilson et al. 2020) with {n_features} random "
                      f"Fourier features (posterior covariance within ~3% on the test GP)")
        else:
            Z = joint_draws(p, U, draws, rng)
            method = (f"exact joint draws (Cholesky of the {p.kernel} posterior covariance "
                      f"at all {len(X)} points)")
        zeros = np.zeros_like(Z[0])

        def draw(s):
            return emulator.outputs.inverse(Z[s], zeros)[0]
    else:
        Yd = np.asarray(emulator.sample(X, draws, seed=rng), dtype=float)
        Yd = Yd.reshape(Yd.shape[0], Yd.shape[1], -1)

        def draw(s):
            return Yd[s]
        method = "exact joint draws from the emulator's sample()"
    from emulators.sensitivity.posterior import mean_function

    S1, ST = [], []
    ph: dict[str, dict[str, list]] = {w: {"S1": [], "ST": []} for w in phase_names}
    Ym = mean_function(emulator)(X)
    for s in range(-1, draws):  # -1: the mean function on the same design
        Y = Ym if s < 0 else draw(s)
        vals, groups = layout.row_values(Y)
        est = indices_from_variances(partial_variances(*design.split(vals)[:3]), groups)
        S1.append(est["S1"])
        ST.append(est["ST"])
        for w in phase_names:
            e = indices_from_variances(partial_variances(*design.split(
                layout.waveform(Y, w))[:3]))
            ph[w]["S1"].append(e["S1"])
            ph[w]["ST"].append(e["ST"])
    q = [(1 - conf_level) * 50, (1 + conf_level) * 50]
    phase_post = {}
    for w, v in ph.items():
        out = {}
        for key in ("S1", "ST"):
            a = np.stack(v[key])
            with np.errstate(all="ignore"), _quiet_nan():  # a constant phase has no index
                lo, hi = np.nanpercentile(a[1:] - a[0], q, axis=0)
            out[key + "_low"], out[key + "_high"] = lo, hi  # deviations: add the estimate
        phase_post[w] = out
    S1, ST = np.stack(S1), np.stack(ST)
    posterior = {"S1_dev": S1[1:] - S1[0], "ST_dev": ST[1:] - ST[0], "method": method,
                 "n": design.n, "draws": draws}
    note = (f"Emulator uncertainty: {draws} posterior functions, each analysed on one common "
            f"Saltelli design of N = {design.n} ({len(X)} points); the spread of their "
            f"indices about the mean function's on that design (common random numbers) is "
            f"added to the estimate; {method}.")
    return posterior, phase_post, note


def _closed_form(emulator, space, layout):
    from emulators.sensitivity.analytic import analytic_sobol
    from emulators.sensitivity.posterior import gp_predictor

    p = gp_predictor(emulator)
    if p is None:
        return None, "Closed-form indices: only for exact GP emulators."
    if p.kernel != "rbf":
        return None, (f"Closed-form indices: not available for the {p.kernel} kernel (it "
                      f"does not factorise over inputs); Monte Carlo only.")
    a = analytic_sobol(emulator, space)
    S1, ST = [], []
    for name in layout.rows:
        s1, st = a.aggregate(a.rows(name))
        S1.append(s1)
        ST.append(st)
    return {"S1": np.stack(S1), "ST": np.stack(ST)}, (
        "Closed form: exact main and total effects of the RBF posterior mean "
        "(Oakley & O'Hagan 2004), Gauss–Legendre in the conditioned inputs.")


def _judge(report: SensitivityReport, validation_passed: bool | None, why_failed: str,
           width: float) -> None:
    """Set ``reliable`` and the warnings (issue: indices must not mislead)."""
    warn = report.warnings
    if validation_passed is False:
        report.reliable = False
        why = f" ({why_failed.strip()})" if why_failed.strip() else ""
        warn.append(f"The emulator FAILED its validation checks{why}: these indices describe "
                    f"the emulator, not the simulator. Improve the emulator (more training "
                    f"runs, another kernel) before reading them.")
    elif validation_passed is None:
        warn.append("The emulator's validation status is unknown: the indices are trusted "
                    "only as far as its posterior intervals go.")
    pct = int(round(100 * report.conf_level))
    emu = report.emulator_intervals()
    if emu is not None:
        wide = _wide(report, emu, width)
        if wide:
            report.reliable = False
            warn.append(f"The emulator is too uncertain: the {pct}% emulator-uncertainty "
                        f"interval is wider than {width:g} for {len(wide)} indices, e.g. "
                        f"{'; '.join(wide[:3])}. Add training runs where the emulator is "
                        f"uncertain.")
    m = report.mean
    mc = {"S1": (np.atleast_2d(m.S1_low), np.atleast_2d(m.S1_high)),
          "ST": (np.atleast_2d(m.ST_low), np.atleast_2d(m.ST_high))}
    if report.options.get("n_boot", 0) > 0:
        wide = _wide(report, mc, width)
        if wide:
            report.reliable = False
            warn.append(f"The Monte Carlo sample is too small: the {pct}% bootstrap interval "
                        f"is wider than {width:g} for {len(wide)} indices, e.g. "
                        f"{'; '.join(wide[:3])}. Increase n.")
    if report.analytic is not None:
        gap = max(float(np.nanmax(np.abs(report.analytic[k] - np.atleast_2d(getattr(m, k)))))
                  for k in ("S1", "ST"))
        report.notes.append(f"Closed form vs Monte Carlo on the mean: largest difference "
                            f"{gap:.4f}.")


def _wide(report: SensitivityReport, bounds: dict, width: float) -> list[str]:
    out = []
    for key, (lo, hi) in bounds.items():
        w = np.asarray(hi) - np.asarray(lo)
        for r, j in zip(*np.nonzero(np.nan_to_num(w) > width), strict=True):
            out.append(f"{key} of {report.names[j]} for {report.outputs[r]}: "
                       f"[{lo[r, j]:.2f}, {hi[r, j]:.2f}]")
    return out
