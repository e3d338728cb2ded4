"""``run_experiment(cfg)``: one experiment end to end, testable without the CLI.

sample → simulate (campaign archive, resumable) → fit → validate → Sobol' → export →
report.  The config is a Hydra/OmegaConf tree composed from ``conf/``; this module
checks it against dataclass schemas (unknown keys are errors, required values must be
set) and instantiates only ``_target_`` s that belong to twinemu's packages.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from simulators._guard import import_sibling

import_sibling("datasets")
from datasets import Archive  # noqa: E402
from datasets.archive import config_hash  # noqa: E402
from datasets.campaign import CampaignSummary, run_campaign  # noqa: E402
from emulators.errors import ConfigError  # noqa: E402
from emulators.runtime import json_default  # noqa: E402

ALLOWED_TARGET_PREFIXES = ("simulators.", "datasets.", "emulators.")
TOP_LEVEL_KEYS = {"name", "seed", "emulate", "archive", "progress", "batch_size",
                  "simulator", "design",
                  "emulator", "validation", "sensitivity", "export", "executor", "data",
                  "experiment"}


# -- schemas -----------------------------------------------------------------------------
@dataclass
class DesignConfig:
    n_train: int
    n_test: int
    method: str = "lhs"
    test_method: str = "random"


@dataclass
class ChecksConfig:
    r2_min: float | None = None
    coverage_min: float | None = None
    coverage_max: float | None = None
    nrmse_max: float | None = None


@dataclass
class ValidationConfig:
    level: float = 0.95
    cv_folds: int = 0
    checks: ChecksConfig = field(default_factory=ChecksConfig)


@dataclass
class SensitivityConfig:
    enabled: bool = True
    n: int = 1024
    n_boot: int = 300
    conf_level: float = 0.95
    waveforms: bool = True  # indices at each phase of waveform outputs too


@dataclass
class DataConfig:
    manifest: str | None = None  # ingest manifest (YAML/CSV), relative to the cwd or conf/
    workers: int = 2
    data_root: str | None = None  # a folder besides the manifest's that it may read from
    timeout: float | None = 1800.0  # s per run; a run past it is recorded as failed


@dataclass
class ExportConfig:
    enabled: bool = True
    filename: str = "emulator.safetensors"
    intended_use: str = ""


def _schema(cls: type, data: Any, where: str) -> Any:
    """Build dataclass ``cls`` from a mapping; unknown or missing keys raise ConfigError."""
    data = dict(data or {})
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in '{where}'; valid keys are "
                          f"{sorted(known)}")
    if cls is ValidationConfig and "checks" in data:
        data["checks"] = _schema(ChecksConfig, data["checks"], f"{where}.checks")
    try:
        return cls(**data)
    except TypeError as exc:
        raise ConfigError(f"'{where}' is incomplete: {exc}") from exc


def _locate(target: str) -> Any:
    """Import the object a dotted path names (module part first, then attributes)."""
    import importlib

    parts = target.split(".")
    for k in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:k]))
        except ImportError:
            continue
        for attr in parts[k:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(f"no module in {target!r}")


def check_targets(node: Any, path: str = "") -> None:
    """Refuse any ``_target_`` that is not a class or function defined in twinemu.

    The dotted path must start with one of our packages *and* resolve to a class or a
    function whose defining module is ours: ``emulators.runtime.np.save`` starts with
    ``emulators.`` but is numpy's ``save``, and is refused (no arbitrary code from YAML).
    """
    import inspect

    if isinstance(node, dict):
        target = node.get("_target_")
        if target is not None:
            where = path or "<root>"
            if not str(target).startswith(ALLOWED_TARGET_PREFIXES):
                raise ConfigError(
                    f"_target_ {target!r} at '{where}' is not allowed: targets must start "
                    f"with {', '.join(ALLOWED_TARGET_PREFIXES)}"
                )
            try:
                obj = _locate(str(target))
            except (ImportError, AttributeError) as exc:
                raise ConfigError(f"_target_ {target!r} at '{where}' does not exist: {exc}"
                                  ) from exc
            module = getattr(obj, "__module__", "") or ""
            if not ((inspect.isclass(obj) or inspect.isfunction(obj))
                    and f"{module}.".startswith(ALLOWED_TARGET_PREFIXES)):
                raise ConfigError(
                    f"_target_ {target!r} at '{where}' is not allowed: it resolves to "
                    f"{module or type(obj).__name__}.{getattr(obj, '__name__', '?')}, which "
                    f"is not a twinemu class or function"
                )
        for k, v in node.items():
            check_targets(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            check_targets(v, f"{path}[{i}]")


def instantiate(node: dict[str, Any], where: str) -> Any:
    """Instantiate a checked ``_target_`` node, turning bad arguments into ConfigError."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate as hydra_instantiate

    if not isinstance(node, dict) or "_target_" not in node:
        raise ConfigError(f"'{where}' needs a _target_ naming the class to build")
    check_targets(node, where)
    try:
        return hydra_instantiate(node, _convert_="all")
    except InstantiationException as exc:
        cause = exc.__cause__ or exc
        raise ConfigError(f"cannot build '{where}' ({node['_target_']}): {cause}") from exc


# -- result ------------------------------------------------------------------------------
@dataclass
class ExperimentResult:
    output_dir: Path
    archive: Path
    report: Path
    metrics: dict[str, Any]
    emulator_file: Path | None
    passed: bool
    campaign: list[CampaignSummary]


def _resolve(cfg: Any) -> dict[str, Any]:
    try:
        from omegaconf import OmegaConf

        if OmegaConf.is_config(cfg):
            return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except ImportError:  # pragma: no cover
        pass
    return dict(cfg)


def default_archive_path(root: Path, name: str, conf: dict[str, Any]) -> Path:
    """Campaign archive named by the experiment and a hash of what defines its runs."""
    key = config_hash({"simulator": conf.get("simulator"), "design": conf.get("design"),
                       "data": conf.get("data"), "seed": conf.get("seed")})[:12]
    return root / "outputs" / "campaigns" / f"{name}-{key}.h5"


def conf_dir() -> Path:
    """The config tree: ``$TWINEMU_CONF``, else ``conf/`` beside the packages (a checkout)."""
    env = os.environ.get("TWINEMU_CONF")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "conf"


def default_shared_data() -> None:
    """Point ``$TWINEMU_SHARED_DATA`` at ``../shared/data`` beside the checkout if unset."""
    guess = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
    if "TWINEMU_SHARED_DATA" not in os.environ and guess.is_dir():
        os.environ["TWINEMU_SHARED_DATA"] = str(guess)


def _manifest_path(manifest: str, root: Path) -> Path:
    for base in (root, conf_dir()):
        path = (base / os.path.expandvars(manifest)).resolve()
        if path.is_file():
            return path
    raise ConfigError(f"data.manifest {manifest!r} not found in {root} nor in {conf_dir()}")


def run_experiment(cfg: Any, output_dir: str | Path, *, root: str | Path | None = None
                   ) -> ExperimentResult:
    """Run one experiment; write the archive, emulator file, metrics and report.

    Parameters
    ----------
    cfg : DictConfig or dict
        The composed experiment config (see ``conf/config.yaml``).
    output_dir : path
        Where this run's report, plots, metrics and emulator file go.
    root : path, optional
        Project root for the default archive location (default: the current directory).
    """
    from omegaconf.errors import OmegaConfBaseException

    try:
        conf = _resolve(cfg)
    except OmegaConfBaseException as exc:
        raise ConfigError(f"the experiment config is incomplete or invalid: {exc}") from exc
    unknown = sorted(set(conf) - TOP_LEVEL_KEYS)
    if unknown:
        raise ConfigError(f"unknown top-level config key(s) {unknown}; valid keys are "
                          f"{sorted(TOP_LEVEL_KEYS)}")
    check_targets(conf)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    root = Path(root) if root is not None else Path.cwd()
    name = str(conf.get("name", "experiment"))
    seed = conf.get("seed")
    if seed is None:
        raise ConfigError("'seed' must be set: every experiment is reproducible from its config")
    design = _schema(DesignConfig, conf.get("design"), "design")
    vcfg = _schema(ValidationConfig, conf.get("validation"), "validation")
    scfg = _schema(SensitivityConfig, conf.get("sensitivity"), "sensitivity")
    ecfg = _schema(ExportConfig, conf.get("export"), "export")
    dcfg = _schema(DataConfig, conf.get("data"), "data")
    progress = bool(conf.get("progress", True))
    t0 = time.perf_counter()
    log = _Log()
    if conf.get("simulator") and dcfg.manifest:
        raise ConfigError("an experiment either runs a simulator or ingests data.manifest; "
                          "multi-fidelity experiments combining both are not supported yet")
    if not conf.get("simulator"):
        if not dcfg.manifest:
            raise ConfigError("nothing to run: set 'simulator' (a simulation campaign) or "
                              "'data.manifest' (ingest 3D CFD runs)")
        return _ingest_experiment(conf, dcfg, out, root, name, progress, log, t0)

    # 1. simulator and designs (seeds split with SeedSequence.spawn)
    simulator = instantiate(conf["simulator"], "simulator")
    s_train, s_test = np.random.SeedSequence(int(seed)).spawn(2)
    X_train = simulator.space.sample(design.n_train, method=design.method,
                                     seed=np.random.default_rng(s_train))
    X_test = simulator.space.sample(design.n_test, method=design.test_method,
                                    seed=np.random.default_rng(s_test))

    # 2. campaign → archive (resumes: stored run ids are skipped)
    archive_path = Path(conf["archive"]) if conf.get("archive") else default_archive_path(
        root, name, conf)
    log(f"campaign archive: {archive_path}")
    summaries = []
    with Archive.open_or_create(archive_path, simulator.space, simulator.outputs,
                                description=f"twinemu experiment {name}") as archive:
        executor = instantiate(conf["executor"], "executor")
        try:
            for prefix, X in (("train-", X_train), ("test-", X_test)):
                ids = [f"{prefix}{i:05d}" for i in range(len(X))]
                summary = run_campaign(simulator, X, archive, executor=executor, run_ids=ids,
                                       progress=progress, batch_size=conf.get("batch_size"),
                                       description=f"simulating {prefix[:-1]}")
                log(str(summary))
                summaries.append(summary)
        finally:
            executor.close()
        outputs = conf.get("emulate") or archive.output_names
        unknown = [n for n in outputs if n not in archive.output_names]
        if unknown:
            raise ConfigError(f"emulate names unknown outputs {unknown}; the simulator's "
                              f"outputs are {archive.output_names}")
        units = {n: archive.output_spec(n).unit for n in outputs}
        train = _read(archive, outputs, [f"train-{i:05d}" for i in range(len(X_train))])
        test = _read(archive, outputs, [f"test-{i:05d}" for i in range(len(X_test))])
    if len(train[0]) < 2 or len(test[0]) < 1:
        raise ConfigError(
            f"too few successful runs to fit and validate ({len(train[0])} train, "
            f"{len(test[0])} test); see the failures in {archive_path}"
        )

    # 3. fit
    log(f"fitting {conf['emulator']['_target_']} on {len(train[0])} runs, outputs {outputs}")
    emulator = instantiate(conf["emulator"], "emulator")
    emulator.fit(train[0], train[1], space=simulator.space, units=units)

    # 4. validate
    from emulators.validation import cross_validate, validate

    result = validate(emulator, test[0], test[1], level=vcfg.level)
    checks = _apply_checks(result, vcfg.checks)
    passed = all(c["passed"] for c in checks.values())
    log("held-out validation:\n" + result.table())
    cv = None
    if vcfg.cv_folds > 1:
        cv = cross_validate(lambda: instantiate(conf["emulator"], "emulator"), train[0],
                            train[1], k=vcfg.cv_folds, level=vcfg.level, space=simulator.space)
        log(f"{cv.method}:\n" + cv.table())

    # 5. sensitivity on the emulator mean (scalar outputs)
    sob = None
    scalar = [n for n in outputs if np.ndim(train[1][n]) == 1]
    if scfg.enabled and scalar:
        from emulators.sensitivity import sobol

        def f(X: np.ndarray) -> np.ndarray:
            pred = emulator.predict_dict(X)
            return np.column_stack([pred[n][0] for n in scalar])

        sob = sobol(f, simulator.space, n=scfg.n, seed=int(seed), n_boot=scfg.n_boot,
                    conf_level=scfg.conf_level, output_names=scalar)
    sob_waves = {}
    if scfg.enabled and scfg.waveforms:
        from emulators.sensitivity import sobol

        for name in (n for n in outputs if np.ndim(train[1][n]) == 2):
            sob_waves[name] = sobol(lambda X, name=name: emulator.predict_dict(X)[name][0],
                                    simulator.space, n=min(scfg.n, 2048), seed=int(seed),
                                    n_boot=min(scfg.n_boot, 100), conf_level=scfg.conf_level,
                                    output_names=[f"{name}[{k}]" for k in
                                                  range(train[1][name].shape[1])])

    # 6. export
    metrics = {"validation": result.to_dict(), "checks": checks, "passed": passed,
               "campaign": [s.__dict__ for s in summaries],
               "cross_validation": cv.to_dict() if cv else None,
               "sobol": sob.to_dict() if sob else None,
               "sobol_waveforms": {k: v.to_dict() for k, v in sob_waves.items()},
               "training_data_sha256": emulator.training_hash}
    emu_file = None
    if ecfg.enabled:
        emu_file = emulator.export(out / ecfg.filename, validation=result.to_dict(),
                                   config=conf, intended_use=ecfg.intended_use)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=json_default))

    # 7. report
    report = _write_report(out, name, conf, simulator, summaries, archive_path, result, units,
                           checks, cv, sob, emu_file, time.perf_counter() - t0,
                           sob_waves, train[1])
    return ExperimentResult(out, archive_path, report, metrics, emu_file, passed, summaries)


def _ingest_experiment(conf, dcfg: DataConfig, out: Path, root: Path, name: str,
                       progress: bool, log, t0: float) -> ExperimentResult:
    """Ingest 3D CFD runs into the archive and report their quantities of interest."""
    from datasets.ingest import ingest
    from emulators import report as rp

    default_shared_data()
    manifest = _manifest_path(dcfg.manifest, root)
    archive_path = Path(conf["archive"]) if conf.get("archive") else default_archive_path(
        root, name, conf)
    log(f"ingesting {manifest} into {archive_path}")
    summary = ingest(manifest, archive_path, workers=dcfg.workers, progress=progress,
                     data_root=dcfg.data_root, timeout=dcfg.timeout)
    log(str(summary))
    with Archive.open(archive_path) as archive:
        ok = archive.status() == 0
        rows = ["| run | fidelity | " + " | ".join(archive.space.names) + " | "
                + " | ".join(f"{s.name} [{s.unit}]" for s in archive.outputs
                             if not s.is_waveform) + " |"]
        scalars = [s.name for s in archive.outputs if not s.is_waveform]
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
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=json_default))
    sections = [
        ("Summary", f"Manifest `{manifest}` ingested into `{archive_path}` in "
                    f"{time.perf_counter() - t0:.1f} s."),
        ("Ingest", "```\n" + str(summary) + "\n```"),
        ("Quantities of interest (successful runs)", "\n".join(rows)),
    ]
    report = rp.markdown_report(out / "report.md", title=f"twinemu experiment: {name}",
                                sections=sections)
    return ExperimentResult(out, archive_path, report, metrics, None, summary.failed == 0, [])


def _read(archive: Archive, outputs: list[str], run_ids: list[str]):
    """Inputs and ``{output: values}`` of the successful runs among ``run_ids``."""
    X, Y, _ = archive.select(outputs, archive.rows(run_ids))
    return X, Y


def _apply_checks(result, checks: ChecksConfig) -> dict[str, dict[str, Any]]:
    from emulators.validation import check_metrics

    missed = check_metrics(result, r2_min=checks.r2_min, nrmse_max=checks.nrmse_max,
                           coverage_min=checks.coverage_min, coverage_max=checks.coverage_max)
    return {name: {"passed": not why, "why": "; ".join(why)} for name, why in missed.items()}


def _write_report(out, name, conf, simulator, summaries, archive_path, result, units, checks,
                  cv, sob, emu_file, elapsed, sob_waves=None, train_outputs=None) -> Path:
    from emulators import report as rp

    images = [
        ("Held-out runs: emulator mean and 95% interval against the simulator",
         rp.parity_plot(result, units, out / "parity.png")),
        ("Held-out waveforms: simulator (solid), emulator mean (dashed) and 95% band",
         rp.waveform_plot(result, units, out / "waveforms.png")),
    ]
    if sob is not None:
        images.append(("Sobol' sensitivity indices of the emulator",
                       rp.sobol_plot(sob, out / "sobol.png")))
    for wname, wsob in (sob_waves or {}).items():
        images.append((f"Sobol' indices of {wname} at each phase of the cycle (S1 solid, ST "
                       f"dashed; grey: mean training waveform)",
                       rp.sobol_waveform_plot(wsob, train_outputs[wname].mean(axis=0),
                                              units.get(wname, ""), wname,
                                              out / f"sobol_{wname}.png")))
    space_rows = ["| input | low | high | unit | distribution |", "|---|---|---|---|---|"]
    for p in simulator.space:
        space_rows.append(f"| {p.name} | {p.low:.4g} | {p.high:.4g} | {p.unit} | {p.dist} |")
    camp = "\n".join(f"- {line}" for s in summaries for line in str(s).splitlines())
    verdict = "**PASSED**" if all(c["passed"] for c in checks.values()) else "**FAILED**"
    sections = [
        ("Summary",
         f"Simulator `{simulator.name}` {simulator.version} ({simulator.fidelity}); emulator "
         f"`{conf['emulator']['_target_']}` (kernel {conf['emulator'].get('kernel', '-')}). "
         f"Validation checks: {verdict}. Wall time {elapsed:.1f} s.\n\n"
         f"- campaign archive: `{archive_path}`\n"
         f"- emulator file: `{emu_file.name if emu_file else 'not exported'}` "
         f"(inspect with `twinemu info {emu_file or ''}`)"),
        ("Parameter space", "\n".join(space_rows)),
        ("Campaign", camp),
        (f"Held-out validation ({result.n} runs, {int(100 * result.level)}% intervals)",
         rp.metrics_table(result, units, checks)),
    ]
    if cv is not None:
        sections.append((f"Cross-validation ({cv.method})", rp.metrics_table(cv, units)))
    if sob is not None:
        sections.append(("Sobol' sensitivity indices",
                         f"Base sample N = {sob.n}; ± half-width of the "
                         f"{int(100 * sob.conf_level)}% bootstrap interval.\n\n"
                         + rp.sobol_table(sob)))
    return rp.markdown_report(out / "report.md", title=f"twinemu experiment: {name}",
                              sections=sections, images=images)


class _Log:
    """Stage messages on stdout (Hydra also keeps them in the run's log folder)."""

    def __call__(self, msg: str) -> None:
        print(msg, flush=True)
