"""``SensitivityReport``: the results of :func:`~emulators.sensitivity.analyse` and their
views — console table, JSON-friendly dict, DataFrame-friendly records, report sections.

Rows (``outputs``) are the scalar outputs, then the waveforms as wholes (aggregated
indices); the per-phase indices of waveforms are kept apart (``phases``).  The Monte Carlo
interval (bootstrap, finite sample) and the emulator-uncertainty interval (posterior
functions) are always reported separately.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emulators.sensitivity.morris import MorrisResult
from emulators.sensitivity.sobol import SobolResult, _jsonable, _quiet_nan


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
