"""The stages of an experiment, one function each: levels → fit → validate → analyse →
export (the report is :mod:`emulators.pipeline.report`).

Each stage takes plain data and returns plain data (arrays, dataclasses, paths), so it can
be read, tested and replaced alone; :func:`emulators.pipeline.run.run_experiment` chains
them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from datasets import Archive
from datasets.archive import config_hash
from datasets.levels import TrainingSet
from emulators.errors import ConfigError
from emulators.pipeline.schemas import ExperimentConfig, LevelConfig
from emulators.pipeline.targets import instantiate
from simulators.design import ParameterSpace, nested

log = logging.getLogger("twinemu")


@dataclass
class LevelRun:
    """What the levels stage did for one fidelity level."""

    fidelity: str
    archive: Path
    source: str  # simulator name + version, or manifest path
    summaries: list[Any] = field(default_factory=list)


@dataclass
class Data:
    """Training levels, the held-out top-level runs, and where they came from."""

    training: TrainingSet
    X_test: np.ndarray
    Y_test: dict[str, np.ndarray]
    runs: list[LevelRun]
    simulator: Any = None  # the top level's simulator, when it is simulated

    @property
    def space(self) -> ParameterSpace:
        return self.training.space

    @property
    def units(self) -> dict[str, str]:
        return self.training.units


# -- paths -----------------------------------------------------------------------------------
def conf_dir() -> Path:
    """The config tree: ``$TWINEMU_CONF``, else a checkout's ``conf/``, else the copy
    installed with the package (:func:`simulators.paths.conf_dir`)."""
    from simulators.paths import conf_dir as _conf_dir

    return _conf_dir()


def default_archive_path(root: Path, name: str, conf: dict[str, Any]) -> Path:
    """Campaign archive named by the experiment and a hash of what defines its runs."""
    key = config_hash({"simulator": conf.get("simulator"), "design": _sizeless(conf.get("design")),
                       "data": _sizeless(conf.get("data")), "seed": conf.get("seed")})[:12]
    return root / "outputs" / "campaigns" / f"{name}-{key}.h5"


def _sizeless(node: Any) -> Any:
    """``node`` without its design sizes (``n_train``, ``n_test``, adaptive budgets), so a
    larger design lands in the same archive and extends it (see :func:`grow`)."""
    if isinstance(node, dict):
        return {k: _sizeless(v) for k, v in node.items()
                if k not in ("n_train", "n_test", "adaptive")}
    if isinstance(node, list):
        return [_sizeless(v) for v in node]
    return node


def stored_design(path: Path, prefix: str) -> tuple[np.ndarray, np.ndarray] | None:
    """``(index, X)`` of the runs of ``path`` whose ids are ``<prefix><index>``, in index
    order (failed runs included: they were run); ``None`` if the archive does not exist.
    A killed campaign leaves gaps (batches finish in any order): the indices say where."""
    if not Path(path).is_file():
        return None
    with Archive.open(path) as ar:
        ids = [str(r) for r in ar.run_ids()]
        X = ar.inputs()
    seen: dict[int, int] = {}
    for i, rid in enumerate(ids):
        tail = rid[len(prefix):]
        if rid.startswith(prefix) and tail.isdigit() and int(tail) not in seen:
            seen[int(tail)] = i
    idx = np.array(sorted(seen), dtype=int)
    return idx, X[[seen[k] for k in idx]] if len(idx) else X[:0]


def grow(space: ParameterSpace, stored: tuple[np.ndarray, np.ndarray] | None, n: int,
         fresh: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The design of ``n`` points that keeps the ``stored`` runs (their ids stay theirs).

    Nothing stored, or every stored run is the fresh design's point of the same index (a
    resumed campaign, or a Sobol'/random design drawn from the same seed continuing its
    sequence): ``fresh``.  Otherwise (a Latin hypercube of another size): the stored points
    augmented by :func:`simulators.design.extend`.
    """
    from simulators.design import extend

    if stored is None or len(stored[1]) == 0:
        return fresh
    idx, X = stored
    if idx.max() < len(fresh) and np.allclose(fresh[idx], X, rtol=1e-12, atol=0.0):
        return fresh
    if not np.array_equal(idx, np.arange(len(idx))):
        raise ConfigError(f"the archive holds {len(idx)} runs that are not points of "
                          f"this design and whose ids leave gaps (an interrupted campaign of "
                          f"another design); use a new archive")
    if n <= len(X):
        return X[:n]
    return extend(space, X, n, seed=rng)


def level_archive_path(cfg: ExperimentConfig, level: LevelConfig, root: Path) -> Path:
    """One archive per level: the experiment's ``archive`` (or default) for a single level;
    ``<stem>-<fidelity>.h5`` beside it for several."""
    base = Path(cfg.archive) if cfg.archive else default_archive_path(root, cfg.name, cfg.raw)
    if len(cfg.levels) == 1:
        return base
    return base.with_name(f"{base.stem}-{level.fidelity}{base.suffix}")


def manifest_path(manifest: str, root: Path) -> Path:
    for base in (root, conf_dir()):
        path = (base / os.path.expandvars(manifest)).resolve()
        if path.is_file():
            return path
    raise ConfigError(f"manifest {manifest!r} not found in {root} nor in {conf_dir()}")


# -- stage 1: levels --------------------------------------------------------------------------
def build_simulators(cfg: ExperimentConfig) -> dict[str, Any]:
    """Instantiate every level's simulator (cheap) and check they share one space."""
    sims = {}
    for i, level in enumerate(cfg.levels):
        if level.simulator is None:
            continue
        where = "simulator" if cfg.simulator is not None else f"data.levels[{i}].simulator"
        if isinstance(level.simulator, str):
            level.simulator = simulator_config(level.simulator, where)
        sim = instantiate(level.simulator, where)
        if len(cfg.levels) > 1:
            sim.fidelity = level.fidelity  # the level's name is what the archive records
        else:
            level.fidelity = str(sim.fidelity)  # one level: the simulator names it
        sims[level.fidelity] = sim
    spaces = {f: s.space.names for f, s in sims.items()}
    if len({tuple(v) for v in spaces.values()}) > 1:
        raise ConfigError(f"the simulated levels must share one parameter space (same "
                          f"names in the same order); got {spaces}")
    return sims


def simulator_config(name: str, where: str) -> dict[str, Any]:
    """The config ``conf/simulator/<name>.yaml`` (a level may name one instead of
    repeating it)."""
    import yaml

    path = conf_dir() / "simulator" / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (conf_dir() / "simulator").glob("*.yaml"))
        raise ConfigError(f"'{where}': no simulator config {name!r} in {path.parent} "
                          f"(known: {', '.join(known)})")
    conf = yaml.safe_load(path.read_text())
    if isinstance(conf, dict) and "defaults" in conf and isinstance(conf.get("simulator"),
                                                                    dict):
        conf = conf["simulator"]  # a global-package file that also picks design and checks
    if not isinstance(conf, dict):
        raise ConfigError(f"'{where}': {path} is not a mapping")
    return conf


def check_outputs(cfg: ExperimentConfig, sims: dict[str, Any]) -> None:
    """Names the experiment will emulate exist at every simulated level (before running)."""
    for level in cfg.levels:
        sim = sims.get(level.fidelity)
        if sim is None:
            continue
        have = [o.name for o in sim.outputs]
        wanted = _source_names(cfg, level.fidelity)
        missing = [n for n in wanted if n not in have]
        if missing:
            raise ConfigError(f"level {level.fidelity!r} must provide outputs {missing} "
                              f"(from 'emulate' or 'data.outputs'); its simulator "
                              f"{sim.name!r} has {have}")


def _source_names(cfg: ExperimentConfig, fidelity: str) -> list[str]:
    if isinstance(cfg.data.outputs, list):
        return [str(n) for n in cfg.data.outputs]
    if cfg.data.outputs:
        out = []
        for canon, entry in cfg.data.outputs.items():
            src = entry.get(fidelity, canon) if isinstance(entry, dict) else entry
            out.append(src.get("name", canon) if isinstance(src, dict) else str(src))
        return out
    return list(cfg.emulate or [])


def run_levels(cfg: ExperimentConfig, sims: dict[str, Any], root: Path) -> Data:
    """Simulate or ingest every level into its archive (resumable); read the TrainingSet
    and the held-out runs of the top level."""
    s_train, s_test = np.random.SeedSequence(cfg.seed).spawn(2)
    runs: list[LevelRun] = []
    ingested: dict[str, np.ndarray] = {}
    # 3D (ingested) levels first: the simulated levels below them also run at their points
    for level in cfg.levels:
        if level.manifest is not None:
            runs.append(_ingest_level(cfg, level, root))
    top = cfg.levels[-1]
    sim_levels = [lv for lv in cfg.levels if lv.simulator is not None]
    space = sims[sim_levels[-1].fidelity].space if sim_levels else _archive_space(runs[-1])
    designs = _designs(cfg, sim_levels, space, np.random.default_rng(s_train), root)
    if top.manifest is not None:
        with Archive.open(runs[-1].archive) as ar:
            m = ar.mask(fidelity=top.fidelity)
            ingested[top.fidelity] = ar.inputs()[m][:, [ar.space.names.index(n)
                                                        for n in space.names]]
    executor = None
    try:
        for level in sim_levels:
            executor = executor or instantiate(cfg.executor or _default_executor(), "executor")
            sim = sims[level.fidelity]
            batches = [("train-", designs[level.fidelity])]
            if level is top and cfg.design.n_test > 0:
                fresh = space.sample(cfg.design.n_test, method=cfg.design.test_method,
                                     seed=np.random.default_rng(s_test))
                X_test = grow(space, stored_design(level_archive_path(cfg, level, root),
                                                   "test-"), cfg.design.n_test, fresh,
                              np.random.default_rng(s_test.spawn(1)[0]))
                batches.append(("test-", X_test))
            for fid, X in ingested.items():  # nest the simulated level under the 3D runs
                inside = space.inside(X)
                batches.append((f"at-{fid}-", X[inside]))
            runs.append(_simulate_level(cfg, level, sim, batches, executor, root))
    finally:
        if executor is not None:
            executor.close()
    runs.sort(key=lambda r: [lv.fidelity for lv in cfg.levels].index(r.fidelity))
    return _read_data(cfg, runs, space, sims.get(top.fidelity))


def _default_executor() -> dict[str, Any]:
    return {"_target_": "simulators.executors.SerialExecutor"}


def _designs(cfg: ExperimentConfig, sim_levels: Sequence[LevelConfig], space: ParameterSpace,
             rng: np.random.Generator, root: Path | None = None) -> dict[str, np.ndarray]:
    """Nested training designs of the simulated levels, lowest first.

    Runs already in a level's archive are kept: the lowest level grows by :func:`grow`,
    each higher level keeps its archived points that lie in the level below and adds the
    rest by greedy maximin from it, so raising ``n_train`` simulates only the new points.
    """
    if not sim_levels:
        return {}
    sizes = []
    for i, level in enumerate(sim_levels):
        n = level.n_train if level.n_train is not None else (
            cfg.design.n_train if i == len(sim_levels) - 1 else None)
        if n is None:
            raise ConfigError(f"level {level.fidelity!r} needs 'n_train' (only the top "
                              f"simulated level defaults to design.n_train)")
        sizes.append(n)
    if any(b > a for a, b in zip(sizes, sizes[1:], strict=False)):
        got = {lv.fidelity: n for lv, n in zip(sim_levels, sizes, strict=True)}
        raise ConfigError(f"simulated levels' n_train must not grow with fidelity (lowest "
                          f"first): got {got}")
    designs = nested(space, sizes, method=cfg.design.method, seed=rng)
    stored = [stored_design(level_archive_path(cfg, lv, root), "train-") if root else None
              for lv in sim_levels]
    if all(x is None or len(x[1]) == 0 for x in stored):
        return {lv.fidelity: X for lv, X in zip(sim_levels, designs, strict=True)}
    from simulators.design import extend_subset

    out = [grow(space, stored[0], sizes[0], designs[0], rng)]
    for t in range(1, len(sim_levels)):
        pool = out[-1]
        old = stored[t][1] if stored[t] is not None else pool[:0]
        U = space.to_unit(pool)
        chosen = []
        for x in space.to_unit(old) if len(old) else []:
            hit = np.flatnonzero(np.all(np.abs(U - x) < 1e-12, axis=1))
            if len(hit) and hit[0] not in chosen:
                chosen.append(int(hit[0]))
        if len(chosen) < len(old):  # the stored ids would no longer name their points
            raise ConfigError(f"level {sim_levels[t].fidelity!r}: its archived runs are not "
                              f"all in the level below's design; use a new archive")
        out.append(pool[extend_subset(U, chosen, sizes[t])])
    return {lv.fidelity: X for lv, X in zip(sim_levels, out, strict=True)}


def _simulate_level(cfg: ExperimentConfig, level: LevelConfig, sim: Any,
                    batches: list[tuple[str, np.ndarray]], executor: Any, root: Path
                    ) -> LevelRun:
    from datasets.campaign import run_campaign

    path = level_archive_path(cfg, level, root)
    log.info("level %s: %s %s → %s", level.fidelity, sim.name, sim.version, path)
    run = LevelRun(level.fidelity, path, f"{sim.name} {sim.version}")
    with Archive.open_or_create(path, sim.space, sim.outputs,
                                description=f"twinemu experiment {cfg.name}, level "
                                            f"{level.fidelity}") as archive:
        for prefix, X in batches:
            if len(X) == 0:
                continue
            ids = [f"{prefix}{i:05d}" for i in range(len(X))]
            summary = run_campaign(sim, X, archive, executor=executor, run_ids=ids,
                                   progress=cfg.progress, batch_size=cfg.batch_size,
                                   description=f"{level.fidelity}: simulating "
                                               f"{prefix.rstrip('-')}")
            log.info("%s", summary)
            run.summaries.append(summary)
    return run


def _ingest_level(cfg: ExperimentConfig, level: LevelConfig, root: Path) -> LevelRun:
    from datasets.ingest import default_shared_data, ingest

    default_shared_data()  # before the manifest path is expanded
    manifest = manifest_path(level.manifest, root)
    path = level_archive_path(cfg, level, root)
    log.info("level %s: ingesting %s → %s", level.fidelity, manifest, path)
    summary = ingest(manifest, path, workers=level.workers, progress=cfg.progress)
    log.info("%s", summary)
    return LevelRun(level.fidelity, path, str(manifest), [summary])


def _archive_space(run: LevelRun) -> ParameterSpace:
    with Archive.open(run.archive) as ar:
        return ar.space


def _read_data(cfg: ExperimentConfig, runs: list[LevelRun], space: ParameterSpace,
               top_sim: Any) -> Data:
    top = cfg.levels[-1]
    outputs = cfg.data.outputs or cfg.emulate
    if outputs is None:
        with Archive.open(runs[-1].archive) as ar:
            outputs = ar.output_names
    specs = []
    for run, level in zip(runs, cfg.levels, strict=True):
        spec = {"fidelity": run.fidelity, "archive": run.archive}
        if level is top and level.simulator is not None:
            spec["run_prefix"] = "train-"
        specs.append(spec)
    training = TrainingSet.from_archives(specs, outputs, space=space)
    test_spec = dict(specs[-1], run_prefix="test-")
    if top.simulator is not None:
        if cfg.design.n_test == 0:
            X_test, Y_test = training.top.X[:0], {n: y[:0] for n, y in training.top.Y.items()}
        else:
            t = TrainingSet.from_archives([test_spec], _only(outputs, top.fidelity),
                                          space=space)
            X_test, Y_test = t.top.X, t.top.Y
    else:  # ingested top level: hold out a seeded fraction of its runs
        X_test, Y_test = _hold_out(cfg, training)
    n_train = training.top.n
    if n_train < 2 or len(X_test) < (1 if cfg.design.n_test or top.manifest else 0):
        raise ConfigError(f"too few successful runs to fit and validate ({n_train} train, "
                          f"{len(X_test)} test at level {top.fidelity!r}); see the failures "
                          f"in {runs[-1].archive}")
    return Data(training, X_test, Y_test, runs, top_sim)


def _only(outputs: Any, fidelity: str) -> Any:
    """The output map restricted to one level (for reading that level alone)."""
    if not isinstance(outputs, dict):
        return outputs
    out = {}
    for canon, entry in outputs.items():
        if isinstance(entry, dict):
            entry = {k: v for k, v in entry.items() if k in ("unit", fidelity)}
        out[canon] = entry
    return out


def _hold_out(cfg: ExperimentConfig, training: TrainingSet):
    top = training.top
    rng = np.random.default_rng(np.random.SeedSequence(cfg.seed).spawn(3)[2])
    k = max(1, int(round(cfg.validation.holdout_fraction * top.n)))
    if top.n - k < 2:
        raise ConfigError(f"level {top.fidelity!r} has {top.n} runs: too few to hold "
                          f"{k} out and fit on the rest")
    test = np.zeros(top.n, bool)
    test[rng.choice(top.n, k, replace=False)] = True
    X_test, Y_test = top.X[test], {n: y[test] for n, y in top.Y.items()}
    top.X, top.Y = top.X[~test], {n: y[~test] for n, y in top.Y.items()}
    top.run_ids = [r for r, t in zip(top.run_ids, test, strict=True) if not t]
    return X_test, Y_test


# -- stage 2: fit ------------------------------------------------------------------------------
def build_emulator(cfg: ExperimentConfig) -> Any:
    """The configured emulator, unfitted: built before any run, so that a bad setting
    (``emulator.pca=2.5``) fails in a second, not after the campaign."""
    return instantiate(cfg.emulator, "emulator")


def check_emulator_outputs(cfg: ExperimentConfig, emulator: Any) -> None:
    """Output names the emulator's settings refer to (``scalar_groups``, ``share_kernel``)
    are outputs of the experiment (before running)."""
    if isinstance(cfg.data.outputs, dict):
        names = [str(n) for n in cfg.data.outputs]
    else:
        names = [str(n) for n in (cfg.data.outputs or cfg.emulate or [])]
    if not names:
        return
    groups = getattr(emulator, "scalar_groups", None) or {}
    for g, members in groups.items():
        missing = [m for m in members if m not in names]
        if missing:
            raise ConfigError(f"'emulator.scalar_groups.{g}' names {missing}, which are not "
                              f"outputs of the experiment {names}")
    shared = getattr(emulator, "share_kernel", None)
    if isinstance(shared, list):
        known = set(groups) or ({"scalars"} if getattr(emulator, "pca_scalars", None)
                                else set())  # the default group's name
        unknown = [m for m in shared if m not in names and m not in known]
        if unknown:
            raise ConfigError(f"'emulator.share_kernel' names {unknown}, which are neither "
                              f"outputs of the experiment {names} nor scalar groups")


def fit(cfg: ExperimentConfig, data: Data, emulator: Any) -> Any:
    """Fit the emulator: every level for a multi-fidelity emulator, the top level for the
    others."""
    import warnings

    log.info("fitting %s on %s", cfg.emulator["_target_"], data.training)
    if getattr(emulator, "multi_fidelity", False):
        emulator.fit(data.training, space=data.space, units=data.units)
    else:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*learns the highest fidelity level")
            emulator.fit(data.training, space=data.space)
    return emulator


def solver_cost(data: Data) -> list[dict[str, Any]]:
    """What each level's training runs cost the solver (from the archives' per-run wall
    time, s), and what running the same number of runs at the top level would have cost.

    One row per level, lowest first: ``fidelity``, ``runs`` (training runs used),
    ``s_per_run`` (median over the level's successful runs), ``solver_s`` (runs × s_per_run),
    ``as_top_s`` (runs × the top level's s_per_run: the solver time a single-fidelity study
    would spend for as many top-level runs).  ``s_per_run`` is ``None`` for ingested levels
    without timings.
    """
    per_run = []
    for run in data.runs:
        with Archive.open(run.archive) as a:
            wall = a.provenance()["wall_time"][a.mask()]
        wall = wall[np.isfinite(wall)]
        per_run.append(float(np.median(wall)) if wall.size else None)
    top = per_run[-1]
    rows = []
    for lv, s in zip(data.training.levels, per_run, strict=True):
        rows.append({"fidelity": lv.fidelity, "runs": lv.n, "s_per_run": s,
                     "solver_s": None if s is None else s * lv.n,
                     "as_top_s": None if top is None else top * lv.n})
    return rows


def fit_top_level_gp(cfg: ExperimentConfig, data: Data) -> Any:
    """A single-fidelity GP on the top level's runs alone (the multi-fidelity baseline)."""
    from emulators import GaussianProcess

    opts = {k: v for k, v in cfg.emulator.items()
            if k in ("kernel", "restarts", "noise_floor", "pca", "seed")}
    return GaussianProcess(**opts).fit(data.training.top.X, data.training.top.Y,
                                       space=data.space, units=data.units)


# -- stage 3: validate -------------------------------------------------------------------------
def validate(cfg: ExperimentConfig, data: Data, emulator: Any):
    """Held-out validation, the configured checks and (optionally) k-fold CV."""
    from emulators.validation import check_metrics, cross_validate
    from emulators.validation import validate as _validate

    result = _validate(emulator, data.X_test, data.Y_test, level=cfg.validation.level)
    c = cfg.validation.checks
    missed = check_metrics(result, r2_min=c.r2_min, nrmse_max=c.nrmse_max,
                           coverage_min=c.coverage_min, coverage_max=c.coverage_max)
    checks = {name: {"passed": not why, "why": "; ".join(why)} for name, why in missed.items()}
    log.info("held-out validation:\n%s", result.table())
    cv = None
    if cfg.validation.cv_folds > 1 and len(data.training) == 1:
        top = data.training.top
        cv = cross_validate(lambda: instantiate(cfg.emulator, "emulator"), top.X, top.Y,
                            k=cfg.validation.cv_folds, level=cfg.validation.level,
                            space=data.space)
        log.info("%s:\n%s", cv.method, cv.table())
    return result, checks, cv


# -- stage 4: analyse --------------------------------------------------------------------------
def analyse(cfg: ExperimentConfig, data: Data, emulator: Any, checks: dict[str, Any]):
    """Sensitivity analysis of the emulator (Sobol' over mean and posterior, closed forms,
    Morris, waveforms), with the verdict whether the indices can be trusted."""
    from emulators.sensitivity import analyse as _analyse

    s = cfg.sensitivity
    if not s.enabled:
        return None
    failed = {n: c["why"] for n, c in checks.items() if not c["passed"]}
    rep = _analyse(emulator, data.space, seed=cfg.seed, validation_passed=not failed,
                   why_failed="; ".join(f"{n}: {w}" for n, w in failed.items()),
                   **s.options())
    log.info("%s", rep.table())
    return rep


# -- stage 5: export ---------------------------------------------------------------------------
def export(cfg: ExperimentConfig, emulator: Any, out: Path, validation: dict[str, Any]
           ) -> Path | None:
    """Write the emulator file inside the run's output folder."""
    if not cfg.export.enabled:
        return None
    return emulator.export(out / cfg.export.filename, validation=validation, config=cfg.raw,
                           intended_use=cfg.export.intended_use)


# -- stage 1b: adaptive design -----------------------------------------------------------------
def adapt(cfg: ExperimentConfig, data: Data, sims: dict[str, Any], root: Path,
          emulator: Any = None) -> tuple[Data, list[dict[str, Any]]]:
    """Add runs where the emulator is unsure (:mod:`emulators.adaptive`) until
    ``design.adaptive``'s held-out target or run budget is met; each batch is a campaign
    into the level's archive with ids ``train-a<round>-<k>``.  Returns the data re-read
    with every run, and the rounds; ``emulator`` (the experiment's, unfitted) is given the
    loop's last hyperparameters as a warm start."""
    import re

    from datasets.campaign import run_campaign
    from emulators.adaptive import adaptive_loop, rounds_table, warm_start

    a = cfg.design.adaptive or {}
    if len(cfg.levels) != 1 or cfg.levels[0].simulator is None:
        raise ConfigError("design.adaptive works on one simulated level (no data.levels, "
                          "no ingested runs)")
    level, run = cfg.levels[0], data.runs[-1]
    sim = sims[level.fidelity]
    with Archive.open(run.archive) as ar:
        done = [int(m.group(1)) for r in ar.run_ids()
                if (m := re.match(r"train-a(\d+)-", str(r)))]
    offset = max(done, default=0)  # a rerun continues the round numbers: ids stay unique
    executor = instantiate(cfg.executor or _default_executor(), "executor")

    def fit_xy(X: np.ndarray, Y: dict[str, np.ndarray], previous: Any) -> Any:
        emulator = warm_start(instantiate(cfg.emulator, "emulator"), previous)
        return emulator.fit(X, Y, space=data.space, units=data.units)

    def simulate(X_new: np.ndarray, r: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        prefix = f"train-a{offset + r:02d}-"
        with Archive.open_or_create(run.archive, sim.space, sim.outputs) as archive:
            summary = run_campaign(sim, X_new, archive, executor=executor,
                                   run_ids=[f"{prefix}{k:03d}" for k in range(len(X_new))],
                                   progress=cfg.progress, batch_size=cfg.batch_size,
                                   description=f"adaptive round {offset + r}")
        log.info("%s", summary)
        run.summaries.append(summary)
        new = TrainingSet.from_archives([{"fidelity": level.fidelity, "archive": run.archive,
                                          "run_prefix": prefix}],
                                        data.training.output_names, space=data.space)
        return new.top.X, new.top.Y

    top = data.training.top
    try:
        last, _, _, rounds = adaptive_loop(
            fit_xy, simulate, data.space, top.X, dict(top.Y), data.X_test, data.Y_test,
            budget=int(a["budget"]), batch=int(a.get("batch", 8)),
            acquisition=str(a.get("acquisition", "ivr")), r2_target=a.get("r2_min"),
            nrmse_target=a.get("nrmse_max"), n_candidates=int(a.get("candidates", 2000)),
            n_monte_carlo=int(a.get("monte_carlo", 1000)), seed=cfg.seed)
    finally:
        executor.close()
    # the experiment's own fit on every run starts from the loop's last hyperparameters
    warm_start(emulator, last)
    return _read_data(cfg, data.runs, data.space, data.simulator), rounds_table(rounds)


def query_latency(emu_file: Path | None, X: np.ndarray, repeats: int = 200) -> float | None:
    """Median time of one single-point query of the exported file in the numpy runtime, µs
    (what a twin pays per call)."""
    import time

    from emulators import runtime

    if emu_file is None or len(X) == 0:
        return None
    emu = runtime.load(emu_file)
    x = X[:1]
    emu.predict(x)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        emu.predict(x)
        times.append(time.perf_counter() - t)
    return 1e6 * float(np.median(times))
