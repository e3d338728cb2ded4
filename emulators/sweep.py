"""A table across the jobs of a ``twinemu run --multirun`` sweep.

Each job writes ``metrics.json`` in its own folder (``<sweep>/<job number>/``) and Hydra
records its overrides in ``.hydra/overrides.yaml``; :func:`write_summary` reads them back and
writes ``summary.md`` and ``summary.csv`` in the sweep folder: one row per job with its
overrides, the score (mean held-out R²), the worst R², coverage and whether its checks
passed.  It reads files only, so it works for any launcher that shares the folder.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

COLUMNS = ("job", "overrides", "emulator", "score", "r2_min", "nrmse_max", "coverage_min",
           "fit_s", "query_us", "passed")


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)


def job_rows(sweep_dir: str | Path) -> list[dict[str, Any]]:
    """One row per job folder of ``sweep_dir`` that holds a ``metrics.json``."""
    import yaml

    rows = []
    for metrics_file in sorted(Path(sweep_dir).glob("*/metrics.json"),
                               key=lambda p: (len(p.parent.name), p.parent.name)):
        job = metrics_file.parent
        metrics = json.loads(metrics_file.read_text())
        over_file = job / ".hydra" / "overrides.yaml"
        overrides = yaml.safe_load(over_file.read_text()) if over_file.is_file() else []
        outs = metrics.get("validation", {}).get("outputs", {}).values()

        def pick(key: str, outs=outs) -> list[float]:
            return [float(m[key]) for m in outs
                    if m.get(key) is not None and math.isfinite(float(m[key]))]

        r2, nrmse, cov = pick("r2"), pick("nrmse"), pick("coverage")
        timing = metrics.get("timing") or {}
        rows.append({"job": job.name, "overrides": " ".join(overrides or []),
                     "emulator": timing.get("emulator", ""),
                     "fit_s": _number(timing.get("fit_s")),
                     "query_us": _number(timing.get("query_us")),  # None: no export
                     "score": sum(r2) / len(r2) if r2 else float("nan"),
                     "r2_min": min(r2, default=float("nan")),
                     "nrmse_max": max(nrmse, default=float("nan")),
                     "coverage_min": min(cov, default=float("nan")),
                     "passed": bool(metrics.get("passed"))})
    return rows


def write_summary(sweep_dir: str | Path) -> Path | None:
    """Write ``summary.md`` and ``summary.csv`` in ``sweep_dir``; the Markdown path, or
    ``None`` when no job left metrics."""
    sweep_dir = Path(sweep_dir)
    rows = job_rows(sweep_dir)
    if not rows:
        return None
    with open(sweep_dir / "summary.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    best = max(rows, key=lambda r: -math.inf if math.isnan(r["score"]) else r["score"])
    lines = ["| job | overrides | emulator | score (mean R²) | worst R² | worst NRMSE | worst "
             "coverage | fit (s) | one query (µs) | checks |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['job']} | {r['overrides'] or '(defaults)'} | {r['emulator']} | "
                     f"{r['score']:.5f} | {r['r2_min']:.5f} | {r['nrmse_max']:.4f} | "
                     f"{r['coverage_min']:.3f} | {r['fit_s']:.2f} | {r['query_us']:.0f} | "
                     f"{'passed' if r['passed'] else 'FAILED'} |")
    lines.append(f"\nbest: job {best['job']} ({best['overrides'] or 'defaults'}), "
                 f"score {best['score']:.5f}")
    out = sweep_dir / "summary.md"
    out.write_text("\n".join(lines) + "\n")
    return out
