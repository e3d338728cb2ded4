"""The report stage: Markdown report, plots and ``metrics.json`` of an experiment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from emulators.pipeline.schemas import ExperimentConfig
from emulators.pipeline.stages import Data
from emulators.runtime.fileformat import json_default


def write_metrics(out: Path, metrics: dict[str, Any]) -> Path:
    """``metrics.json``, written atomically (a full disk never leaves half a file)."""
    from datasets.files import atomic_write_text

    path = out / "metrics.json"
    atomic_write_text(path, json.dumps(metrics, indent=2, default=json_default))
    return path


def experiment_report(cfg: ExperimentConfig, data: Data, out: Path, *, result, checks, cv,
                      sensitivity, emu_file: Path | None, elapsed: float,
                      baseline=None, calibration: dict | None = None) -> Path:
    from emulators import report as rp

    units = data.units
    images = [
        ("Held-out runs: emulator mean and 95% interval against the simulator",
         rp.parity_plot(result, units, out / "parity.png")),
        ("Held-out waveforms: simulator (solid), emulator mean (dashed) and 95% band",
         rp.waveform_plot(result, units, out / "waveforms.png")),
    ]
    space_rows = ["| input | low | high | unit | distribution |", "|---|---|---|---|---|"]
    for p in data.space:
        space_rows.append(f"| {p.name} | {p.low:.4g} | {p.high:.4g} | {p.unit} | {p.dist} |")
    level_rows = ["| level | runs (training) | source | archive |", "|---|---|---|---|"]
    for lv, run in zip(data.training.levels, data.runs, strict=True):
        level_rows.append(f"| {lv.fidelity} | {lv.n} | {run.source} | `{run.archive}` |")
    camp = "\n".join(f"- {run.fidelity}: {line}" for run in data.runs for s in run.summaries
                     for line in str(s).splitlines()[:1])
    verdict = "**PASSED**" if all(c["passed"] for c in checks.values()) else "**FAILED**"
    emu = cfg.emulator or {}
    sections = [
        ("Summary",
         f"Emulator `{emu.get('_target_')}` (kernel {emu.get('kernel', '-')}) of the "
         f"{data.training.top.fidelity!r} level. Validation checks: {verdict}. Wall time "
         f"{elapsed:.1f} s.\n\n"
         f"- emulator file: `{emu_file.name if emu_file else 'not exported'}` "
         f"(inspect with `twinemu info {emu_file or ''}`)"),
        ("Parameter space", "\n".join(space_rows)),
        ("Fidelity levels and campaigns", "\n".join(level_rows) + "\n\n" + camp),
        (f"Held-out validation ({result.n} runs, {int(100 * result.level)}% intervals)",
         rp.metrics_table(result, units, checks)),
    ]
    if baseline is not None:
        sections.append((f"Single-fidelity GP on the {data.training.top.fidelity!r} runs "
                         f"alone (same budget)", rp.metrics_table(baseline, units)))
    if cv is not None:
        sections.append((f"Cross-validation ({cv.method})", rp.metrics_table(cv, units)))
    if sensitivity is not None:
        for title, body, imgs in sensitivity.sections(out):
            figs = "".join(f"\n\n![{cap}]({Path(png).name})\n\n*{cap}*" for cap, png in imgs
                           if png is not None)
            sections.append((title, body + figs))
    if calibration is not None:
        sections.append(("Calibration", "The personalised parameters, their credible "
                         "intervals, diagnostics and plots are in [calibration/]"
                         "(calibration/)."))
    return rp.markdown_report(out / "report.md", title=f"twinemu experiment: {cfg.name}",
                              sections=sections, images=images)


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
