"""The validation report's content: card, provenance, metrics, diagnostics, plots, limits.

:func:`experiment_report` is the one call the experiment pipeline's report stage makes;
:func:`emulator_report` writes the same report for any exported emulator and an archive
(``twinemu report``).  Both render one :class:`~emulators.report.document.Document` to
``report.html`` (self-contained) and ``report.md`` (its twin, PNGs beside it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emulators.report.document import Document, write_html, write_markdown
from emulators.report.plots import all_plots
from emulators.validation.checks import CheckTable
from emulators.validation.diagnostics import Diagnostics
from emulators.validation.metrics import LEVELS
from emulators.validation.result import ValidationResult
from simulators.units import display_unit, to_display

DEFAULT_USE = ("Research use: predictions inside the stated input bounds only; check the "
               "validation metrics before clinical or decision use.")


# -- tables ------------------------------------------------------------------------------
def _fmt(v: float, spec: str = ".4g") -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(
        v, spec)


def metrics_table(result: ValidationResult, units: Mapping[str, str] | None = None,
                  checks: Mapping[str, Any] | None = None) -> str:
    """Markdown table of the metrics per output, dimensional ones in display units.

    ``checks`` (optional) is ``{output: {"passed": bool, "why": str}}``, shown per row.
    """
    units = dict(units or {})
    r2 = result.r2_label
    cov = " | ".join(f"cov {100 * lv:g}%" for lv in LEVELS)
    head = (f"| output | unit | RMSE | MAE | max error | NRMSE | MAPE | {r2} | {cov} | MSLL "
            f"| CRPS |")
    sep = "|---" * (11 + len(LEVELS) - 1) + "|"
    rows = [head, sep]
    if checks:
        rows = [head[:-1] + "| check |", sep + "---|"]
    for name, m in result.metrics.items():
        stored = m.unit or units.get(name, "")
        shown = display_unit(stored)

        def d(v: float, _s: str = stored) -> str:
            return _fmt(to_display(v, _s)[0])

        covs = " | ".join(_fmt(100 * m.coverages.get(lv, float("nan")), ".1f") + "%"
                          for lv in LEVELS)
        r2_cell = "– (waveform)" if m.is_waveform else _fmt(m.r2, ".5f")
        row = (f"| {name} | {shown or '–'} | {d(m.rmse)} | {d(m.mae)} | {d(m.max_abs_error)} "
               f"| {_fmt(m.nrmse, '.4g')} | {_fmt(m.mape, '.3g')}% | {r2_cell} | {covs} "
               f"| {_fmt(m.msll, '.3f')} | {d(m.crps)} |")
        if checks:
            c = checks.get(name)
            row += (" pass |" if c and c.get("passed") else
                    f" **FAIL**: {c.get('why', '')} |" if c else " – |")
        rows.append(row)
    return "\n".join(rows)


def waveform_table(result: ValidationResult) -> str:
    """Relative L2 error per run of each waveform output (best, median, mean, worst)."""
    rows = ["| waveform | runs | best | median | mean | worst (run) |", "|---|---|---|---|---|---|"]
    for name, m in result.metrics.items():
        if m.rel_l2 is None:
            continue
        r = m.rel_l2
        rows.append(f"| {name} | {len(r)} | {100 * np.nanmin(r):.3g}% | "
                    f"{100 * np.nanmedian(r):.3g}% | {100 * np.nanmean(r):.3g}% | "
                    f"{100 * np.nanmax(r):.3g}% (#{int(np.nanargmax(r))}) |")
    return "\n".join(rows) if len(rows) > 2 else ""


def space_table(space: Any) -> str:
    rows = ["| input | low | high | unit | distribution |", "|---|---|---|---|---|"]
    for p in space:
        rows.append(f"| {p.name} | {p.low:.4g} | {p.high:.4g} | {p.unit or '–'} | {p.dist} |")
    return "\n".join(rows)


def card_section(card: Mapping[str, Any] | None) -> str:
    """The emulator card in words and tables (kind, outputs, data hash, versions)."""
    if not card:
        return "The emulator was not exported; no card."
    model = card.get("model") or {}
    lines = [f"- kind: `{card.get('kind', '?')}`"
             + (f" ({', '.join(f'{k} {v}' for k, v in model.items() if k != 'fit')})"
                if isinstance(model, Mapping) and model else ""),
             f"- format {card.get('format_version', '?')}, created {card.get('created', '?')}, "
             f"git `{str(card.get('git_sha', ''))[:12] or '–'}`",
             f"- domain of validity: {card.get('domain_source', 'parameter space')}",
             f"- training data SHA-256: `{card.get('training_data_sha256', '–')}`"]
    versions = card.get("versions") or {}
    if versions:
        lines.append("- versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    levels = card.get("levels") or []
    if levels:
        lines.append("- fidelity levels trained on: " + ", ".join(
            f"{lv.get('fidelity')} ({lv.get('n')} runs)" for lv in levels))
    outs = ["", "| output | unit (stored → shown) | shape | transform |", "|---|---|---|---|"]
    for o in card.get("outputs") or []:
        shape = f"waveform of {o['shape'][0]} points" if o.get("shape") else "scalar"
        unit = o.get("unit", "")
        how = (f"PCA group {o['group']}" if o.get("group") else
               f"{o.get('transform')} ({o.get('latent')} latent)")
        outs.append(f"| {o.get('name')} | {unit or '–'} → {display_unit(unit) or '–'} | "
                    f"{shape} | {how} |")
    return "\n".join(lines + outs)


def provenance_section(provenance: Mapping[str, Any]) -> str:
    """Archives (paths, hashes), fidelity levels (run counts) and other sources."""
    parts = []
    archives = provenance.get("archives") or []
    if archives:
        rows = ["| archive | SHA-256 | runs |", "|---|---|---|"]
        for a in archives:
            rows.append(f"| `{a.get('path')}` | `{a.get('sha256', '–')}` | "
                        f"{a.get('runs', '–')} |")
        parts.append("\n".join(rows))
    levels = provenance.get("levels") or []
    if levels:
        keys = [k for k in ("fidelity", "source", "n_train", "n_test", "runs", "failed")
                if any(k in lv for lv in levels)]
        rows = ["| " + " | ".join(k.replace("_", " ") for k in keys) + " |",
                "|---" * len(keys) + "|"]
        for lv in levels:
            rows.append("| " + " | ".join(str(lv.get(k, "–")) for k in keys) + " |")
        parts.append("Fidelity levels:\n\n" + "\n".join(rows))
    other = {k: v for k, v in provenance.items() if k not in ("archives", "levels")}
    if other:
        parts.append("\n".join(f"- {k.replace('_', ' ')}: `{v}`" for k, v in other.items()))
    return "\n\n".join(parts) or "No provenance recorded."


def diagnostics_section(diag: Diagnostics) -> str:
    """Per output: the headline, D² against its reference, and each verdict in words."""
    rows = ["| output | verdict | D² (expected) | 95% reference | errors beyond ±2σ |",
            "|---|---|---|---|---|"]
    for name, od in diag.outputs.items():
        e = od.std_errors
        t = od.mahalanobis[0] if od.mahalanobis else None
        extra = f" (+{len(od.mahalanobis) - 1} more columns)" if len(od.mahalanobis) > 1 else ""
        d2 = f"{t.d2:.3g} ({t.m}){extra}" if t else "–"
        ref = f"[{t.low:.3g}, {t.high:.3g}]" + ("" if t.joint else " χ², diagonal") if t else "–"
        headline = od.headline if od.ok else f"**{od.headline}**"
        rows.append(f"| {name} | {headline} | {d2} | {ref} | "
                    f"{100 * float(np.mean(np.abs(e) > 2)):.1f}% (≈4.6% expected) |")
    words = [f"- {v.text}" for od in diag.outputs.values() for v in od.verdicts]
    ref = ("D² is the Mahalanobis distance of the held-out errors under the emulator's joint "
           "predictive covariance; its reference is the scaled F distribution of Bastos & "
           f"O'Hagan (2009) with n = {diag.n_train} training runs."
           if diag.n_train else "This emulator gives no joint covariance: D² uses the "
           "diagonal and a chi-squared reference.")
    return "\n".join(rows) + "\n\n" + ref + "\n\n" + "\n".join(words)


def _checks_markdown(checks: Any) -> tuple[str, bool | None]:
    if checks is None:
        return "", None
    if isinstance(checks, CheckTable):
        notes = "\n".join(f"- {n}" for n in checks.notes)
        return checks.markdown() + ("\n\n" + notes if notes else ""), checks.passed
    if isinstance(checks, Mapping) and checks:
        rows = ["| output | status | why |", "|---|---|---|"]
        for name, c in checks.items():
            rows.append(f"| {name} | {'pass' if c.get('passed') else '**FAIL**'} | "
                        f"{c.get('why') or '–'} |")
        return "\n".join(rows), all(c.get("passed") for c in checks.values())
    return "", None


def _summary(result: ValidationResult, passed: bool | None,
             diag: Diagnostics | None, elapsed_s: float | None) -> str:
    lines = []
    if passed is not None:
        lines.append(f"Accuracy checks: {'**PASSED**' if passed else '**FAILED**'}.")
    for name, m in result.metrics.items():
        rmse, unit = to_display(m.rmse, m.unit)
        txt = (f"- **{name}**: typical error {rmse:.3g} {unit} (RMSE), "
               f"{'relative L2 error per run ' + format(100 * np.nanmedian(m.rel_l2), '.3g') + '% median' if m.is_waveform else result.r2_label + ' ' + format(m.r2, '.4f')}"  # noqa: E501
               f"; {100 * m.coverages.get(0.95, m.coverage):.0f}% of the truths inside the "
               f"95% intervals")
        if diag is not None and name in diag.outputs:
            txt += f"; uncertainty: {diag[name].headline}"
        lines.append(txt + ".")
    lines.append(f"\nHeld-out runs: {result.n} ({result.method})."
                 + (f" Wall time {elapsed_s:.1f} s." if elapsed_s is not None else ""))
    return "\n".join(lines)


def _limits(result: ValidationResult, space: Any, diag: Diagnostics | None,
            card: Mapping[str, Any] | None, known_limits: Sequence[str]) -> str:
    lines = [f"- {x}" for x in known_limits]
    if space is not None:
        lines.append("- Valid only inside the input bounds above; the emulator refuses points "
                     "outside them (OutOfDomainError).")
    if card and card.get("domain_source") == "training bounding box":
        lines.append("- The domain is the bounding box of the training runs, not a declared "
                     "parameter space.")
    for o in (card or {}).get("outputs") or []:
        if o.get("transform") == "pca":
            lines.append(f"- {o['name']} is reduced to {o.get('latent')} principal components; "
                         f"its truncation error is included in the variance.")
    groups: dict[str, list[str]] = {}
    for o in (card or {}).get("outputs") or []:
        if o.get("group"):
            groups.setdefault(o["group"], []).append(o["name"])
    for g, names in groups.items():
        lines.append(f"- {', '.join(names)} are reduced together to the principal components "
                     f"of group {g}; the truncation error is included in their variances.")
    if diag is not None:
        for name, od in diag.outputs.items():
            if not od.ok:
                lines.append(f"- {name}: uncertainty is {od.headline}; read its intervals with "
                             f"care (see Diagnostics).")
    if result.n < 20:
        lines.append(f"- Only {result.n} held-out runs: coverage and R² are uncertain "
                     f"(a 95% coverage measured on {result.n} runs has a binomial s.e. of "
                     f"{100 * math.sqrt(0.95 * 0.05 / max(result.n, 1)):.0f} points).")
    return "\n".join(lines) or "- None recorded."


# -- the reports -------------------------------------------------------------------------------
def experiment_report(out_dir: str | Path, *, title: str, result: ValidationResult,
                      emulator: Any = None, card: Mapping[str, Any] | None = None,
                      provenance: Mapping[str, Any] | None = None, space: Any = None,
                      campaign_text: str = "", units: Mapping[str, str] | None = None,
                      checks: Any = None, cv: ValidationResult | None = None,
                      loo: ValidationResult | None = None,
                      diagnostics: Diagnostics | None = None,
                      extra_sections: Sequence[tuple[str, str, Sequence[tuple[str, Path]]]] = (),
                      intended_use: str = "", known_limits: Sequence[str] = (),
                      elapsed_s: float | None = None, sobol: Any = None,
                      stem: str = "report") -> tuple[Path, Path]:
    """Write the validation report of one emulator: ``(report.html, report.md)``.

    Parameters
    ----------
    out_dir : path
        Folder for the report and its PNG plots (created if needed).
    title : str
        The experiment's title, shown as the page title (e.g. ``"twinemu experiment: wk"``).
    result : ValidationResult
        Held-out validation (``validate``), with ``X`` and units.
    emulator : fitted emulator or RuntimeEmulator, optional
        For the input-relevance plot (GP length-scales) when ``sobol`` is not given.
    card : dict, optional
        The exported file's card (``runtime.read_file(path)[0]``); ``None`` if not exported.
    provenance : dict, optional
        ``{"archives": [{"path", "sha256", "runs"}], "levels": [{"fidelity", "source",
        "n_train", "n_test"}], ...}``; other keys (``simulator``, ``manifest``) are listed.
    space : ParameterSpace, optional
        The parameter space (domain of validity) shown as a table.
    campaign_text : str
        Markdown describing the campaigns (e.g. ``str(CampaignSummary)`` lines).
    units : dict, optional
        Stored unit per output where ``result`` has none.
    checks : CheckTable or ``{output: {"passed", "why"}}``, optional
        Accuracy checks and their verdicts.
    cv, loo : ValidationResult, optional
        k-fold and leave-one-out cross-validation (shown with Q²).
    diagnostics : Diagnostics, optional
        ``diagnose(emulator, X_test, Y_test)``; adds the verdicts and diagnostic plots.
    extra_sections : list of (title, markdown, [(caption, png)])
        Further sections, e.g. Sobol' sensitivity.
    intended_use, known_limits : str, list of str
        What the emulator is for and what it must not be used for.
    elapsed_s : float, optional
        Wall time of the experiment.
    sobol : SobolResult, optional
        Scalar Sobol' indices: the input-relevance plot then shows total indices.

    Returns
    -------
    (html_path, markdown_path)
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    units = dict(units or {})
    chk_md, passed = _checks_markdown(checks)
    doc = Document(title, subtitle=f"Emulator validation report ({result.n} held-out runs, "
                                   f"{100 * result.level:.0f}% intervals)")
    doc.add("Summary", _summary(result, passed, diagnostics, elapsed_s))
    doc.add("Intended use", intended_use or (card or {}).get("intended_use") or DEFAULT_USE)
    plots = dict((c, p) for c, p in all_plots(out, result, units, diagnostics, emulator,
                                               sobol=sobol))
    acc = [(c, p) for c, p in plots.items() if not c.startswith(
        ("Standardised", "QQ", "Pivoted", "Input relevance"))]
    dia = [(c, p) for c, p in plots.items() if c.startswith(("Standardised", "QQ", "Pivoted"))]
    rel = [(c, p) for c, p in plots.items() if c.startswith("Input relevance")]
    body = metrics_table(result, units)
    wt = waveform_table(result)
    if wt:
        body += "\n\nRelative L2 error of each held-out waveform run:\n\n" + wt
    body += ("\n\nDimensional errors in the unit shown (pressures in mmHg, flows in mL/s). "
             "MSLL: mean standardised log loss (negative is better than predicting the "
             "mean); CRPS: continuous ranked probability score (0 is perfect).")
    doc.add(f"Held-out accuracy ({result.n} runs)", body, acc)
    if chk_md:
        doc.add("Accuracy checks", chk_md)
    for r in (loo, cv):
        if r is not None:
            doc.add(f"Cross-validation ({r.method}, {r.n} runs)", metrics_table(r, units))
    if diagnostics is not None:
        doc.add("Diagnostics (Bastos & O'Hagan 2009)", diagnostics_section(diagnostics), dia)
    if rel:
        doc.add("Input relevance", "Which inputs the emulator's output depends on most.", rel)
    for t, md, imgs in extra_sections:
        doc.add(t, md, list(imgs))
    doc.add("Emulator card", card_section(card))
    doc.add("Data provenance", provenance_section(provenance or {}))
    if space is not None:
        doc.add("Parameter space (domain of validity)", space_table(space))
    if campaign_text:
        doc.add("Campaign", campaign_text)
    doc.add("Known limits", _limits(result, space, diagnostics, card, known_limits))
    html_path = write_html(doc, out / f"{stem}.html")
    md_path = write_markdown(doc, out / f"{stem}.md")
    return html_path, md_path


def emulator_report(emulator_file: str | Path, archive: str | Path, out_dir: str | Path, *,
                    runs: str | None = None, fidelity: str | None = None,
                    outputs: list[str] | None = None, level: float = 0.95,
                    title: str | None = None, checks: Any = None) -> tuple[Path, Path]:
    """The validation report of an exported emulator on the held-out runs of an archive
    (``twinemu report EMULATOR --data ARCHIVE``)."""
    from emulators import runtime
    from emulators.validation import diagnose, validate
    from emulators.validation.heldout import held_out_runs

    emu = runtime.load(emulator_file)
    data = held_out_runs(emu, archive, runs=runs, fidelity=fidelity, outputs=outputs)
    if len(data.X) == 0:
        from emulators.validation.heldout import DataMismatchError

        raise DataMismatchError(f"no held-out successful runs inside the domain in "
                                f"{str(archive)!r}" + (f" with prefix {runs!r}" if runs else ""))
    result = validate(emu, data.X, data.Y, level=level)
    diag = diagnose(emu, data.X, data.Y)
    from datasets.archive import file_sha256

    provenance = {
        "archives": [{"path": str(data.archive), "sha256": data.archive_sha256,
                      "runs": f"{len(data.X)} checked of {data.n_selected} selected"}],
        "levels": [{"fidelity": f, "runs": n} for f, n in data.fidelity_counts.items()],
        "emulator_file": str(emulator_file),
        "emulator_file_sha256": file_sha256(emulator_file),
    }
    known = list(data.notes)
    return experiment_report(
        out_dir, title=title or f"twinemu report: {Path(emulator_file).name}", result=result,
        emulator=emu, card=emu.card, provenance=provenance, space=emu.space,
        checks=checks, diagnostics=diag, known_limits=known)


def markdown_report(path: Path, *, title: str, sections: Sequence[tuple[str, str]],
                    images: Sequence[tuple[str, Path | None]] = ()) -> Path:
    """A Markdown-only report from ``(heading, body)`` sections and ``(caption, png)``
    images (kept for the ingest-only experiment)."""
    doc = Document(title)
    for heading, body in sections:
        doc.add(heading, body)
    shown = [(c, p) for c, p in images if p is not None]
    if shown:
        doc.add("Plots", "", shown)
    return write_markdown(doc, Path(path))
