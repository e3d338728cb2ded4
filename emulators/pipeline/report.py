"""The report stage: Markdown report, plots and ``metrics.json`` of an experiment."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from emulators.pipeline.schemas import ExperimentConfig
from emulators.pipeline.stages import Data
from emulators.runtime.fileformat import json_default

log = logging.getLogger("twinemu")


def write_metrics(out: Path, metrics: dict[str, Any]) -> Path:
    """``metrics.json``, written atomically (a full disk never leaves half a file)."""
    from datasets.files import atomic_write_text

    path = out / "metrics.json"
    atomic_write_text(path, json.dumps(metrics, indent=2, default=json_default))
    return path


def cost_table(cost: list[dict[str, Any]]) -> str:
    """Markdown table of :func:`emulators.pipeline.stages.solver_cost`, with the solver time
    the lower levels' runs stand in for (had they been top-level runs)."""
    def sec(v):
        return "–" if v is None else f"{v:.3g}"

    top = cost[-1]["fidelity"]
    lines = ["| level | training runs | median s/run | solver time (s) "
             f"| as {top!r} runs (s) |", "|---|---|---|---|---|"]
    lines += [f"| {c['fidelity']} | {c['runs']} | {sec(c['s_per_run'])} | {sec(c['solver_s'])} "
              f"| {sec(c['as_top_s'])} |" for c in cost]
    low = cost[:-1]
    if all(c["solver_s"] is not None and c["as_top_s"] is not None for c in low):
        spent = sum(c["solver_s"] for c in low)
        would = sum(c["as_top_s"] for c in low)
        lines += ["", f"The lower levels' {sum(c['runs'] for c in low)} runs took {spent:.3g} s "
                  f"of solver time; as many {top!r} runs would take about {would:.3g} s "
                  f"({would / spent:.2g}× as long)." if spent > 0 else ""]
    return "\n".join(lines)


def experiment_report(cfg: ExperimentConfig, data: Data, out: Path, *, emulator, result,
                      checks, cv, sensitivity, emu_file: Path | None, elapsed: float,
                      baseline=None, calibration: dict | None = None,
                      cost: list[dict[str, Any]] | None = None) -> tuple[Path, Path]:
    """The experiment's report, ``report.html`` (self-contained) and ``report.md``: card,
    provenance of every level, metrics, Bastos–O'Hagan diagnostics, leave-one-out (exact
    GPs), plots, sensitivity, known limits."""
    from datasets.archive import file_sha256
    from emulators.report import experiment_report as render
    from emulators.runtime import read_file
    from emulators.validation import diagnose, leave_one_out

    diagnostics = loo = None
    if len(data.X_test) >= 2:
        try:
            diagnostics = diagnose(emulator, data.X_test, data.Y_test)
        except (ValueError, NotImplementedError, np.linalg.LinAlgError) as exc:
            log.warning("diagnostics skipped: %s", exc)
    if getattr(emulator, "kind", "") == "gp" and len(data.training) == 1:
        try:
            loo = leave_one_out(emulator, data.training.top.Y, level=cfg.validation.level)
        except (ValueError, KeyError) as exc:
            log.warning("leave-one-out skipped: %s", exc)
    provenance = {
        "archives": [{"path": str(r.archive), "sha256": file_sha256(r.archive),
                      "runs": sum(getattr(s, "requested", 0) or 0 for s in r.summaries)}
                     for r in data.runs],
        "levels": [{"fidelity": lv.fidelity, "source": r.source, "n_train": lv.n,
                    "n_test": len(data.X_test) if lv is data.training.top else 0}
                   for lv, r in zip(data.training.levels, data.runs, strict=True)],
    }
    extra = list(sensitivity.sections(out)) if sensitivity is not None else []
    if baseline is not None:
        from emulators.report import metrics_table

        extra.insert(0, (f"Single-fidelity GP on the {data.training.top.fidelity!r} runs alone "
                         f"(same budget)", metrics_table(baseline, data.units), []))
    if cost and len(cost) > 1:
        extra.insert(0, ("Solver cost per level", cost_table(cost), []))
    if calibration is not None:
        extra.append(("Calibration", "The personalised parameters, their credible intervals, "
                      "diagnostics and plots are in [calibration/](calibration/).", []))
    camp = "\n".join(f"- {run.fidelity}: {str(s).splitlines()[0]}" for run in data.runs
                     for s in run.summaries)
    limits = ["Valid inside the parameter space's bounds only (the runtime refuses other "
              "inputs).",
              f"Validated on {len(data.X_test)} held-out runs of the "
              f"{data.training.top.fidelity!r} level; other conditions are extrapolation."]
    return render(out, title=f"twinemu experiment: {cfg.name}", result=result,
                  emulator=emulator, card=read_file(emu_file)[0] if emu_file else None,
                  provenance=provenance, space=data.space, campaign_text=camp,
                  units=data.units, checks=checks, cv=cv, loo=loo, diagnostics=diagnostics,
                  extra_sections=extra, intended_use=cfg.export.intended_use,
                  known_limits=limits, elapsed_s=elapsed)


def ingest_report(cfg: ExperimentConfig, data_runs, out: Path, elapsed: float
                  ) -> tuple[Path, dict[str, Any]]:
    """Report of an experiment that only ingests runs (no emulator): their QoIs."""
    from datasets import Archive
    from emulators import report as rp

    run = data_runs[-1]
    summary = run.summaries[-1]
    with Archive.open(run.archive) as archive:
        ok = archive.status() == 0
        scalars = [s.name for s in archive.outputs if not s.is_waveform]
        rows = ["| run | fidelity | " + " | ".join(archive.space.names) + " | "
                + " | ".join(f"{s.name} [{s.unit}]" for s in archive.outputs
                             if not s.is_waveform) + " |"]
        rows.append("|---|---|" + "---|" * (len(archive.space.names) + len(scalars)))
        X, ids, fid = archive.inputs(), archive.run_ids(), archive.fidelities()
        values = {s: archive.output(s) for s in scalars}
        for i in np.flatnonzero(ok):
            cells = [f"{v:.4g}" for v in X[i]] + [f"{values[s][i]:.4g}" for s in scalars]
            rows.append(f"| {ids[i]} | {fid[i]} | " + " | ".join(cells) + " |")
        archive_summary = archive.summary()
    metrics = {"ingest": {"ok": summary.ok, "failed": summary.failed,
                          "skipped": summary.skipped, "runs": summary.runs},
               "archive": archive_summary, "passed": summary.failed == 0}
    write_metrics(out, metrics)
    sections = [
        ("Summary", f"Manifest `{run.source}` ingested into `{run.archive}` in "
                    f"{elapsed:.1f} s."),
        ("Ingest", "```\n" + str(summary) + "\n```"),
        ("Quantities of interest (successful runs)", "\n".join(rows)),
    ]
    report = rp.markdown_report(out / "report.md", title=f"twinemu experiment: {cfg.name}",
                                sections=sections)
    return report, metrics
