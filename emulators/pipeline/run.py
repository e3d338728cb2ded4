"""``run_experiment(cfg)``: the stages chained, testable without the CLI."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulators.errors import ConfigError
from emulators.pipeline import report, stages
from emulators.pipeline.schemas import validate
from emulators.pipeline.targets import check_targets

log = logging.getLogger("twinemu")


@dataclass
class ExperimentResult:
    output_dir: Path
    archive: Path  # the top level's archive
    report: Path  # Markdown
    metrics: dict[str, Any]
    emulator_file: Path | None
    passed: bool
    campaign: list[Any]
    archives: dict[str, Path] | None = None  # every level's archive
    html: Path | None = None  # the self-contained HTML report


def resolve_config(cfg: Any) -> dict[str, Any]:
    """A plain dict from a DictConfig (interpolations resolved) or a mapping."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        if OmegaConf.is_config(cfg):
            return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except OmegaConfBaseException as exc:
        raise ConfigError(f"the experiment config is incomplete or invalid: {exc}") from exc
    return dict(cfg)


def default_name(name: str | None, simulator: str | None) -> str:
    """The experiment's name: ``name`` when set, else ``<simulator>_default`` (the
    simulator's config name on the command line, its own ``name`` in the API)."""
    return str(name) if name else f"{simulator or 'experiment'}_default"


def run_experiment(cfg: Any, output_dir: str | Path, *, root: str | Path | None = None
                   ) -> ExperimentResult:
    """Run one experiment: levels → fit → validate → analyse → export → report.

    Parameters
    ----------
    cfg : DictConfig or dict
        The composed experiment config (see ``conf/config.yaml``); validated whole, and its
        targets checked against the registry, before anything runs.  A ``name`` of
        ``None`` becomes ``<simulator name>_default`` (e.g. ``ishigami_default``).
    output_dir : path
        Where this run's report, plots, metrics and emulator file go.
    root : path, optional
        Project root for the default archive location (default: the current directory).
    """
    conf = resolve_config(cfg)
    check_targets(conf)
    cfg = validate(conf)
    sims = stages.build_simulators(cfg)
    if cfg.name is None:  # named after the simulator (`twinemu run`: after its config)
        top = sims.get(cfg.levels[-1].fidelity) if cfg.levels else None
        cfg.name = cfg.raw["name"] = default_name(None, getattr(top, "name", None))
    stages.check_outputs(cfg, sims)
    emulator = stages.build_emulator(cfg) if cfg.emulator is not None else None
    if emulator is not None:
        stages.check_emulator_outputs(cfg, emulator)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    root = Path(root) if root is not None else Path.cwd()
    t0 = time.perf_counter()
    if cfg.emulator is None:  # ingest (or simulate) only, report the data
        runs = [stages._ingest_level(cfg, lv, root) for lv in cfg.levels if lv.manifest]
        if not runs:
            raise ConfigError("'emulator' is null but nothing is ingested: set an emulator")
        rep, metrics = report.ingest_report(cfg, runs, out, time.perf_counter() - t0)
        return ExperimentResult(out, runs[-1].archive, rep, metrics, None, metrics["passed"],
                                [], {r.fidelity: r.archive for r in runs})

    data = stages.run_levels(cfg, sims, root)
    rounds = None
    if cfg.design.adaptive:
        data, rounds = stages.adapt(cfg, data, sims, root, emulator)
    t_fit = time.perf_counter()
    emulator = stages.fit(cfg, data, emulator)
    fit_s = time.perf_counter() - t_fit
    result, checks, cv = stages.validate(cfg, data, emulator)
    passed = all(c["passed"] for c in checks.values())
    baseline = None
    if len(data.training) > 1:
        baseline, _, _ = stages.validate(cfg, data, stages.fit_top_level_gp(cfg, data))
    sens = stages.analyse(cfg, data, emulator, checks)
    calibration = None
    if cfg.calibration:
        from emulators.calibration.stage import run_calibration_stage

        calibration = run_calibration_stage(cfg.calibration, emulator, out, cfg.seed,
                                            simulator=data.simulator)
    emu_file = stages.export(cfg, emulator, out, result.to_dict())
    summaries = [s for r in data.runs for s in r.summaries]
    metrics = {"validation": result.to_dict(), "checks": checks, "passed": passed,
               "levels": data.training.card(),
               "campaign": [s.__dict__ for s in summaries],
               "single_fidelity_baseline": baseline.to_dict() if baseline else None,
               "solver_cost": stages.solver_cost(data),
               "cross_validation": cv.to_dict() if cv else None,
               "sensitivity": sens.to_dict() if sens else None,
               "calibration": calibration,
               "adaptive_rounds": rounds,
               "timing": {"emulator": type(emulator).__name__, "fit_s": fit_s,
                          "query_us": stages.query_latency(emu_file, data.X_test)},
               "training_data_sha256": emulator.training_hash}
    report.write_metrics(out, metrics)
    html, rep = report.experiment_report(
        cfg, data, out, emulator=emulator, result=result, checks=checks, cv=cv,
        sensitivity=sens, emu_file=emu_file, elapsed=time.perf_counter() - t0,
        baseline=baseline, calibration=calibration, cost=metrics["solver_cost"])
    return ExperimentResult(out, data.runs[-1].archive, rep, metrics, emu_file, passed,
                            summaries, {r.fidelity: r.archive for r in data.runs}, html)
