"""The ``twinemu`` command.

    twinemu run [--multirun] [HYDRA OVERRIDES...]   run an experiment composed from conf/
    twinemu info EMULATOR_FILE                      print an exported emulator's card
    twinemu predict EMULATOR_FILE NAME=VALUE ...    one prediction from an emulator file
    twinemu check EMULATOR_FILE --archive FILE      CI gate: exit 1 below the bar, 2 bad input
    twinemu report EMULATOR_FILE --data FILE        validation report (HTML + Markdown)
    twinemu ingest MANIFEST --archive FILE          3D CFD runs → campaign archive
    twinemu keygen DIR                              an Ed25519 key pair for signing
    twinemu sign EMULATOR_FILE --key PRIVATE_KEY    sign an emulator file
    twinemu archive info|verify|repair FILE         look after a campaign archive
    twinemu sensitivity EMULATOR_FILE [--out DIR]   Sobol' indices, both intervals, Morris
    twinemu calibrate EMULATOR_FILE OBSERVATIONS    personalise: KOH calibration + report
    twinemu init DIR                                a starter study of your own solver
    twinemu oned run NETWORK.yaml [--out DIR]       the 1D solver on an openBF/twinemu file
    twinemu --version                               twinemu's version
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130  # 130 = 128 + SIGINT

#: Messages of every subcommand go through logging: under ``twinemu run`` Hydra's handlers
#: copy them into the run's log file; elsewhere :func:`_setup_logging` shows them.
log = logging.getLogger("twinemu")


class _Console(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = super().format(record)
        return msg if record.levelno != logging.WARNING else f"twinemu: warning: {msg}"


class _StdStream(logging.StreamHandler):
    """A handler writing to whatever ``sys.stdout``/``sys.stderr`` is at the time (so
    redirection and pytest's capture work after setup)."""

    def __init__(self, name: str):
        self._which = name
        super().__init__()

    @property
    def stream(self):  # type: ignore[override]
        return getattr(sys, self._which)

    @stream.setter
    def stream(self, value) -> None:
        pass


def _setup_logging() -> None:
    """INFO to stdout, warnings and errors to stderr; once per process."""
    if any(getattr(h, "_twinemu", False) for h in log.handlers):
        return
    out, err = _StdStream("stdout"), _StdStream("stderr")
    out.addFilter(lambda r: r.levelno < logging.WARNING)
    err.setLevel(logging.WARNING)
    for h in (out, err):
        h.setFormatter(_Console("%(message)s"))
        h._twinemu = True  # type: ignore[attr-defined]
        log.addHandler(h)
    log.setLevel(logging.INFO)
    log.propagate = False

DESCRIPTION = """\
twinemu turns expensive cardiovascular simulations into fast, validated emulators.

An experiment samples a parameter space, runs a simulator over the design (runs land in
an HDF5 campaign archive, resumable), fits a Gaussian-process emulator, validates it on
held-out runs, computes Sobol' indices, exports one .safetensors emulator file and writes a
report (Markdown + PNG) under outputs/.
"""

EPILOG = """\
examples:
  twinemu run                                     the default experiment (Windkessel)
  twinemu run design.n_train=96 emulator.kernel=rbf
  twinemu run experiment=quick                    a small experiment that takes seconds
  twinemu run --multirun emulator.kernel=matern52,rbf
  twinemu run --cfg job                           show the composed config, run nothing
  twinemu info outputs/windkessel_default/<time>/emulator.safetensors
  twinemu predict emulator.safetensors R_p=1.1e8 C=1.3e-8 Zc=6e6 HR=70 SV=75
  twinemu check emulator.safetensors --archive runs.h5 --runs test- --r2-min 0.99
  twinemu check emulator.safetensors --archive runs.h5 --junit check.xml
  twinemu report emulator.safetensors --data runs.h5 --out report/
  twinemu ingest conf/data/vampy_artery.yaml --archive outputs/cfd.h5
  twinemu archive info outputs/campaigns/windkessel_default-<hash>.h5
  twinemu archive repair runs.h5                  recover a truncated / damaged archive
  twinemu sensitivity emulator.safetensors --out sens/ --second-order
  twinemu calibrate emulator.safetensors patient.yaml --out outputs/patient1
  twinemu ingest runs.yaml --archive cfd.h5 --data-root /scratch/cfd --timeout 600
  twinemu oned run cca.yaml --out cca_results     an openBF input through our 1D solver

Ctrl-C stops a campaign or an ingest cleanly: finished runs stay in the archive, workers are
stopped, exit status 130; run the same command again to resume.

Config groups live in conf/ (simulator, design, emulator, validation, sensitivity,
export, executor, experiment); `twinemu run --help` lists their options.
"""


def version() -> str:
    """twinemu's installed version (the checkout's pyproject when not installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as _version

    try:
        return _version("twinemu")
    except PackageNotFoundError:  # pragma: no cover - a bare checkout on sys.path
        return "0+unknown"


def conf_dir(explicit: str | None = None) -> Path:
    """The config tree of ``twinemu run``: ``--config-dir``, else ``./conf`` when it holds a
    config.yaml (a study made by ``twinemu init``, or a checkout), else $TWINEMU_CONF, a
    checkout's conf/ or the configs installed with twinemu."""
    from emulators.pipeline.stages import conf_dir as _conf_dir

    if explicit is not None:
        path = Path(explicit).resolve()
    elif (Path.cwd() / "conf" / "config.yaml").is_file() and "TWINEMU_CONF" not in os.environ:
        path = Path.cwd() / "conf"
    else:
        path = _conf_dir()
    if not (path / "config.yaml").is_file():
        raise SystemExit(
            f"twinemu: no config.yaml in {path}. Start a study with `twinemu init DIR`, "
            f"pass --config-dir, or set TWINEMU_CONF to a folder holding config.yaml."
        )
    return path


def _split_config_dir(overrides: list[str]) -> tuple[str | None, list[str]]:
    """Take ``--config-dir DIR`` / ``-cd DIR`` / ``--config-dir=DIR`` out of the overrides."""
    rest, explicit, it = [], None, iter(overrides)
    for arg in it:
        if arg in ("--config-dir", "-cd"):
            explicit = next(it, None)
            if explicit is None:
                raise SystemExit("twinemu run: --config-dir needs a folder")
        elif arg.startswith("--config-dir="):
            explicit = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    return explicit, rest


def score(metrics: dict) -> float:
    """The number a sweep optimises (Hydra's Optuna sweeper maximises it): the mean held-out
    R² over the emulated outputs (waveforms count by their own R²)."""
    import math

    r2 = [m.get("r2") for m in metrics.get("validation", {}).get("outputs", {}).values()]
    r2 = [float(v) for v in r2 if v is not None and math.isfinite(float(v))]
    return sum(r2) / len(r2) if r2 else float("nan")


def _hydra_run(overrides: list[str]) -> int:
    import hydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from datasets.errors import AdapterError, ArchiveError, ManifestError
    from datasets.runner import RunInterrupted
    from emulators.errors import ConfigError
    from emulators.pipeline import run_experiment
    from emulators.pipeline.run import default_name
    from simulators.errors import ConfigurationError, ParameterError

    if "--version" in overrides:
        print(f"twinemu {version()}")
        return EXIT_OK
    explicit, overrides = _split_config_dir(overrides)
    status: dict = {"code": EXIT_OK, "sweep_dir": None}

    def task(cfg) -> float | None:
        hc = HydraConfig.get()
        out = Path(hc.runtime.output_dir)
        if cfg.name is None:  # the name of the run folder: <simulator>_default
            cfg.name = default_name(None, hc.runtime.choices.get("simulator"))
        if hc.mode is not None and hc.mode.name == "MULTIRUN":
            status["sweep_dir"] = Path(hc.sweep.dir)
        try:
            res = run_experiment(cfg, out, root=Path(hc.runtime.cwd))
        except RunInterrupted as exc:  # the workers are stopped, the archive closed
            print(exc.message(), file=sys.stderr)
            status["code"] = EXIT_INTERRUPTED
            return
        except KeyboardInterrupt:
            print("interrupted (after the campaign; its runs are in the archive); run the "
                  "same command again to resume", file=sys.stderr)
            status["code"] = EXIT_INTERRUPTED
            return
        except (ConfigError, ConfigurationError, ParameterError) as exc:
            log.error("twinemu run: configuration error: %s", exc)
            status["code"] = EXIT_USAGE
            return None
        except (ArchiveError, AdapterError, ManifestError) as exc:
            log.error("twinemu run: %s: %s", type(exc).__name__, exc)
            status["code"] = EXIT_FAILED
            return None
        verdict = "passed" if res.passed else "FAILED its checks"
        log.info("experiment %s %s.\n  report:   %s\n  emulator: %s\n  archive:  %s",
                 cfg.name, verdict, res.report, res.emulator_file, res.archive)
        if not res.passed:
            status["code"] = EXIT_FAILED
        return score(res.metrics)  # what Hydra's Optuna sweeper optimises

    # conf/config.yaml names the run folder `${twinemu.name:${name},<simulator chosen>}`
    OmegaConf.register_new_resolver("twinemu.name", default_name, replace=True)
    config_path = conf_dir(explicit)
    os.environ["TWINEMU_CONFIG_DIR"] = str(config_path)  # relative files of a study
    main = hydra.main(config_path=str(config_path), config_name="config",
                      version_base="1.3")(task)
    argv = sys.argv
    sys.argv = ["twinemu run", *overrides]
    try:
        main()
    finally:
        sys.argv = argv
    if status["sweep_dir"] is not None:
        from emulators.sweep import write_summary

        table = write_summary(Path(status["sweep_dir"]))
        if table is not None:
            print(f"\nsweep summary ({table.with_suffix('.csv').name} beside it): {table}")
            print(table.read_text())
    return status["code"]


def _init(args: argparse.Namespace) -> int:
    from emulators.errors import ConfigError
    from emulators.study import init_study

    try:
        files = init_study(args.folder, force=args.force)
    except ConfigError as exc:
        print(f"twinemu init: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote a starter study in {args.folder} ({len(files)} files). Next:\n"
          f"  cd {args.folder} && twinemu run")
    return EXIT_OK


def _info(args: argparse.Namespace) -> int:
    from emulators import runtime

    card, arrays = runtime.read_file(args.file, public_key=args.public_key)
    if args.json:
        print(json.dumps(card, indent=2, sort_keys=True))
        return EXIT_OK
    model = card.get("model", {})
    print(f"{args.file}\n  kind: {card.get('kind')}"
          + (f", kernel {model['kernel']}" if isinstance(model, dict) and "kernel" in model
             else ""))
    if card.get("kind") == "gp" and isinstance(model, dict):
        from emulators.runtime.gp import describe_fit

        print("  hyperparameter fit, per output:")
        for line in describe_fit(model):
            print(f"    {line}")
    print(f"  format {card.get('format_version')}, created {card.get('created')}, "
          f"git {card.get('git_sha', '')[:10] or '-'}")
    print("  inputs (domain of validity):")
    for p in card["inputs"]:
        print(f"    {p['name']:<12} [{p['low']:.6g}, {p['high']:.6g}] {p.get('unit', '')} "
              f"({p.get('dist', 'uniform')})")
    print("  outputs:")
    for o in card["outputs"]:
        shape = f" waveform of {o['shape'][0]} points" if o["shape"] else ""
        how = (f"PCA group {o['group']}" if o.get("group") else
               f"{o['transform']}, {o['latent']} latent")
        print(f"    {o['name']:<12} {o.get('unit', '')}{shape} ({how})")
    val = card.get("validation", {}).get("outputs", {})
    if val:
        print("  validation (held-out):")
        for name, m in val.items():
            print(f"    {name:<12} R² {m['r2']:.5f}  NRMSE {m['nrmse']:.4f}  "
                  f"coverage {100 * m['coverage']:.1f}%")
    print(f"  training data SHA-256: {card.get('training_data_sha256', '')}")
    print(f"  arrays: {len(arrays)}, versions: {card.get('versions', {})}")
    print(f"  intended use: {card.get('intended_use', '')}")
    return EXIT_OK


def _predict(args: argparse.Namespace) -> int:
    import numpy as np

    from emulators import runtime

    emu = runtime.load(args.file, public_key=args.public_key)
    values = {}
    for item in args.values:
        k, sep, v = item.partition("=")
        try:
            values[k] = float(v) if sep else None
        except ValueError:
            values[k] = None
        if values[k] is None:
            raise SystemExit(f"twinemu predict: expected NAME=NUMBER, got {item!r} "
                             f"(inputs: {', '.join(emu.input_names)})")
    from simulators.units import to_display

    result = emu.predict_dict(values)
    units = {b.name: b.unit for b in emu.outputs.blocks}
    for name, (mean, var) in result.items():  # in the units people read (mmHg, mL/s)
        m, unit = to_display(mean, units.get(name, ""))
        v, _ = to_display(var, units.get(name, ""), variance=True)
        m, v = np.asarray(m), np.asarray(v)
        if m.ndim == 1:
            print(f"{name:<12} {m[0]:.6g} ± {1.96 * v[0] ** 0.5:.3g} {unit} (95%)")
        else:
            print(f"{name:<12} waveform of {m.shape[1]} points, mean {m[0].mean():.6g} {unit}")
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    from emulators.validation import Thresholds
    from emulators.validation.gate import check_emulator

    flags = {k: getattr(args, k) for k in ("r2_min", "nrmse_max", "coverage_min",
                                           "coverage_max") if getattr(args, k) is not None}
    thresholds = None  # the card's recorded metrics with --tolerance
    if args.thresholds:
        thresholds = Thresholds.from_file(args.thresholds)
        thresholds.default.update(flags)  # flags win
    elif flags:
        thresholds = Thresholds(flags, {}, "flags")
    from emulators import runtime

    emu = runtime.load(args.file, public_key=args.public_key)
    report = check_emulator(emu, args.archive, thresholds=thresholds, runs=args.runs,
                            fidelity=args.fidelity, outputs=args.outputs, level=args.level,
                            tolerance=args.tolerance, coverage_slack=args.coverage_slack,
                            skip_outside=args.skip_outside)
    for note in report.data.notes:
        (log.warning if "cannot" in note or "outside" in note else log.info)(note)
    log.info(report.result.table())
    log.info("\nthresholds: %s\n%s", report.thresholds.source, report.table.text())
    if args.junit:
        report.table.write_junit(args.junit)
        log.info("JUnit report: %s", args.junit)
    n = len(report.data.X)
    if not report.passed:
        log.info("twinemu check FAILED on %d runs:\n  %s", n, "\n  ".join(
            f"{r.output}: {r.check} {r.value} (bar {r.bar})" for r in report.table.failures))
        return EXIT_FAILED
    log.info("twinemu check passed on %d runs.", n)
    return EXIT_OK


def _report(args: argparse.Namespace) -> int:
    from emulators.report import emulator_report

    out = Path(args.out) if args.out else Path.cwd() / f"twinemu-report-{Path(args.file).stem}"
    html, md = emulator_report(args.file, args.data, out, runs=args.runs,
                               fidelity=args.fidelity, outputs=args.outputs, level=args.level,
                               title=args.title)
    log.info("report: %s\n        %s", html, md)
    return EXIT_OK


def _ingest(args: argparse.Namespace) -> int:
    from datasets.ingest import ingest

    summary = ingest(args.manifest, args.archive, workers=args.workers,
                     progress=not args.no_progress, data_root=args.data_root or None,
                     timeout=args.timeout if args.timeout > 0 else None)
    print(summary)
    return EXIT_FAILED if getattr(summary, "failed", 0) and args.strict else EXIT_OK


def _keygen(args: argparse.Namespace) -> int:
    from emulators.runtime.signing import generate_keypair

    key, pub = generate_keypair(args.folder, args.name)
    print(f"private key: {key} (keep it secret; sign with it)\n"
          f"public key:  {pub} (give it to every twin that loads your emulators)")
    return EXIT_OK


def _sign(args: argparse.Namespace) -> int:
    from emulators.runtime.signing import sign_file

    sign_file(args.file, args.key)
    print(f"signed {args.file}; a twin verifies it with "
          f"runtime.load(path, public_key=<your .pub file>)")
    return EXIT_OK
def _archive(args: argparse.Namespace) -> int:
    """``twinemu archive info|verify|repair FILE``: thin; the logic is in datasets."""
    from datasets import Archive
    from datasets.errors import ArchiveRepairError
    from datasets.repair import repair

    if args.action == "repair":
        try:
            result = repair(args.file, upgrade=args.upgrade)
        except ArchiveRepairError as exc:
            print(f"twinemu archive repair: {exc}", file=sys.stderr)
            return EXIT_USAGE
        print(result)
        return EXIT_OK if result.ok else EXIT_USAGE
    with Archive.open(args.file) as archive:
        if args.action == "info":
            print(repr(archive))
            print(f"schema {archive.schema_version}"
                  f"{', checksummed' if archive.checksummed else ', no checksums'}")
            print(json.dumps(archive.summary(), indent=2))
            return EXIT_OK
        result = archive.verify()
    print(result)
    return EXIT_OK if result.ok else EXIT_FAILED
def _sensitivity(args: argparse.Namespace) -> int:
    from emulators import runtime
    from emulators.sensitivity import SensitivityConfig, analyse, validation_from_card

    emu = runtime.load(args.file)
    passed, why = validation_from_card(emu.card, r2_min=args.r2_min,
                                       coverage_min=args.coverage_min)
    opts = SensitivityConfig(n=args.n, n_boot=args.n_boot, posterior_draws=args.draws,
                             posterior_n=args.posterior_n, second_order=args.second_order,
                             morris=not args.no_morris, waveforms=not args.no_waveforms,
                             max_interval_width=args.max_width).options()
    try:
        rep = analyse(emu, seed=args.seed, validation_passed=passed, why_failed=why,
                      outputs=args.outputs, **opts)
    except ValueError as exc:
        print(f"twinemu sensitivity: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(rep.table())
    if args.out:
        print(f"\nreport: {rep.write(Path(args.out), f'Sensitivity of {Path(args.file).name}')}")
    return EXIT_FAILED if args.strict and not rep.reliable else EXIT_OK
def _calibrate(args: argparse.Namespace) -> int:
    import warnings

    from emulators import runtime
    from emulators.calibration import Observations, calibrate, history_match
    from emulators.calibration.report import write_report

    emu = runtime.load(args.file)
    obs = Observations.from_yaml(args.observations)  # checked against emu before sampling
    priors = _read_yaml(args.priors) if args.priors else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = calibrate(emu, obs, discrepancy=not args.no_discrepancy, priors=priors,
                        walkers=args.walkers, steps=args.steps, seed=args.seed,
                        progress=not args.no_progress)
    dsd = {n[len("delta_sd_"):]: float(res.hyper[:, :, j].mean())
           for j, n in enumerate(res.hyper_names) if n.startswith("delta_sd_")}
    hm = history_match(emu, res.data, cutoff=args.cutoff, rule=args.rule, seed=args.seed,
                       discrepancy_sd=dsd)
    out = Path(args.out)
    write_report(out, res, emu, hm=hm, seed=args.seed)
    print(res.table())
    for w in caught:
        if str(w.message) not in res.warnings:
            print(f"warning: {w.message}", file=sys.stderr)
    print(f"\nreport: {out / 'summary.md'}\nsamples: {out / 'posterior.nc'} "
          f"(arviz.from_netcdf)")
    return EXIT_OK if res.converged else EXIT_FAILED


def _read_yaml(path: str):
    import yaml

    from emulators.calibration import PriorError

    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise PriorError(f"cannot read priors file {path!r} ({type(exc).__name__})") from None
    if isinstance(data, dict) and set(data) == {"priors"}:
        data = data["priors"]
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise PriorError(f"priors file {path!r}: expected {{name: {{dist, mu, sigma, low, "
                         f"high}}}}")
    return data


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="twinemu", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"twinemu {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("run", help="run an experiment (Hydra overrides follow; --help for options)",
                   add_help=False)
    sub.add_parser("oned", help="the 1D solver on an openBF or twinemu network file "
                                "(twinemu oned run --help)", add_help=False)
    p = sub.add_parser("info", help="print an emulator file's card")
    p.add_argument("file", help="emulator file (.safetensors)")
    p.add_argument("--json", action="store_true", help="print the whole card as JSON")
    p = sub.add_parser("predict", help="predict at one point from an emulator file")
    p.add_argument("file", help="emulator file (.safetensors)")
    p.add_argument("values", nargs="+", metavar="NAME=VALUE", help="every input, by name")
    p = sub.add_parser(
        "check", help="CI gate: validate an emulator file on archived runs (exit 0/1/2)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Validate an exported emulator on held-out runs of a campaign archive "
                    "and print a pass/fail table.\n\n"
                    "Bars come from --thresholds FILE and the flags (flags win); without "
                    "either, from the metrics the emulator's card recorded at export, "
                    "loosened by --tolerance.  Runs outside the emulator's domain fail the "
                    "check (or are skipped with --skip-outside); the emulator's own "
                    "training runs are left out when it keeps their inputs.\n\n"
                    "exit status: 0 every bar met; 1 a bar missed; 2 bad input (missing "
                    "file, foreign archive, unit mismatch, malformed thresholds).",
        epilog="thresholds file (YAML or JSON):\n"
               "  default: {r2_min: 0.99, coverage_min: 0.85}\n"
               "  outputs:\n    p_wave: {nrmse_max: 0.05}")
    p.add_argument("file", help="emulator file (.safetensors)")
    p.add_argument("--archive", "--data", required=True, dest="archive",
                   help="campaign archive holding the check runs")
    p.add_argument("--runs", default=None, metavar="PREFIX",
                   help="only runs whose id starts with PREFIX (e.g. test-)")
    p.add_argument("--fidelity", default=None, help="only runs of this fidelity level")
    p.add_argument("--outputs", nargs="+", default=None, help="outputs to check (default: all)")
    p.add_argument("--thresholds", default=None, metavar="FILE",
                   help="YAML/JSON file of bars per output (see below)")
    p.add_argument("--r2-min", type=float, default=None, help="minimum R² (scalar outputs)")
    p.add_argument("--nrmse-max", type=float, default=None, help="maximum normalised RMSE")
    p.add_argument("--coverage-min", type=float, default=None,
                   help="minimum coverage of the --level intervals")
    p.add_argument("--coverage-max", type=float, default=None,
                   help="maximum coverage (catches under-confident emulators)")
    p.add_argument("--tolerance", type=float, default=0.25,
                   help="relative slack on the card's recorded NRMSE and 1 − R² when they "
                        "are the bars (default 0.25)")
    p.add_argument("--coverage-slack", type=float, default=0.1,
                   help="absolute slack below the card's recorded coverage (default 0.1)")
    p.add_argument("--level", type=float, default=0.95, help="interval level (default 0.95)")
    p.add_argument("--skip-outside", action="store_true",
                   help="leave runs outside the emulator's domain out instead of failing")
    p.add_argument("--junit", default=None, metavar="FILE", help="also write JUnit XML")
    p = sub.add_parser(
        "report", help="write the validation report (HTML + Markdown) of an emulator file",
        description="Validate an exported emulator on the held-out runs of a campaign archive "
                    "and write report.html (self-contained) and report.md with plots.")
    p.add_argument("file", help="emulator file (.safetensors)")
    p.add_argument("--data", "--archive", required=True, dest="data",
                   help="campaign archive holding held-out runs")
    p.add_argument("--out", default=None, help="output folder (default "
                   "./twinemu-report-<emulator name>)")
    p.add_argument("--runs", default=None, metavar="PREFIX", help="only runs with this prefix")
    p.add_argument("--fidelity", default=None, help="only runs of this fidelity level")
    p.add_argument("--outputs", nargs="+", default=None, help="outputs to report")
    p.add_argument("--level", type=float, default=0.95, help="interval level (default 0.95)")
    p.add_argument("--title", default=None, help="report title")
    p = sub.add_parser("ingest", help="read 3D CFD runs listed in a manifest into an archive")
    p.add_argument("manifest", help="YAML or CSV manifest (see README: 'Ingesting 3D CFD runs')")
    p.add_argument("--archive", required=True, help="campaign archive to create or extend")
    p.add_argument("--workers", type=int, default=2, help="parallel readers (default 2)")
    p.add_argument("--data-root", action="append", metavar="DIR",
                   help="a folder (besides the manifest's) whose files the manifest may name; "
                        "repeat for more. Paths outside them are refused")
    p.add_argument("--timeout", type=float, default=1800.0, metavar="SECONDS",
                   help="per-run time limit; a run past it is recorded as failed "
                        "(default 1800, 0 for none)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--strict", action="store_true", help="exit 1 if any run failed")
    p = sub.add_parser("keygen", help="write an Ed25519 key pair for signing emulator files")
    p.add_argument("folder", help="folder for <name>.key (private) and <name>.pub (public)")
    p.add_argument("--name", default="twinemu", help="file name stem (default twinemu)")
    p = sub.add_parser(
        "sign", help="sign an emulator file with a private key (twinemu keygen)",
        description="Sign an emulator file so that a twin can prove who made it: "
                    "runtime.load(path, public_key=...) then refuses any other file. The "
                    "SHA-256 digest every file carries proves only that it is intact.")
    p.add_argument("file", help="emulator file (.safetensors)")
    p.add_argument("--key", required=True, help="private key file (PEM, from twinemu keygen)")
    p = sub.add_parser("init", help="write a starter study (configs + a stand-in solver) to DIR")
    p.add_argument("folder", help="folder for the study (conf/, solver.py, README.md)")
    p.add_argument("--force", action="store_true", help="overwrite the starter files")
    for name in ("info", "predict", "check"):
        sub.choices[name].add_argument(
            "--public-key", default=None, metavar="PEM",
            help="refuse the emulator file unless signed with this key's private twin")
    p = sub.add_parser(
        "archive", help="look after a campaign archive: info, verify, repair",
        description="info: runs per fidelity and status. verify: check every run's checksum "
                    "(exit 1 if any is damaged). repair: recover a truncated or damaged "
                    "archive on a copy, keeping the original as FILE.bak (exit 2 if it "
                    "cannot).")
    p.add_argument("action", choices=["info", "verify", "repair"])
    p.add_argument("file", help="campaign archive (.h5)")
    p.add_argument("--upgrade", action="store_true",
                   help="repair: also rebuild a schema 1.0 archive as 1.1 (checksums)")
    p = sub.add_parser(
        "sensitivity", help="Sobol' indices (MC and emulator intervals), Morris screening",
        description="Sobol' indices of an emulator file over its input distributions: "
                    "Monte Carlo and emulator-uncertainty intervals, closed-form indices for "
                    "RBF GPs, waveform indices, optional S2, Morris screening, and a verdict "
                    "on whether the indices can be trusted.")
    p.add_argument("file", help="emulator file (.safetensors)")
    p.add_argument("--n", type=int, default=8192, help="base sample N (default 8192)")
    p.add_argument("--n-boot", type=int, default=300, help="bootstrap resamples (default 300)")
    p.add_argument("--draws", type=int, default=64,
                   help="posterior functions for the emulator intervals (0: none; default 64)")
    p.add_argument("--posterior-n", type=int, default=512,
                   help="base sample of the posterior indices (default 512)")
    p.add_argument("--second-order", action="store_true", help="also second-order indices")
    p.add_argument("--no-morris", action="store_true", help="skip Morris screening")
    p.add_argument("--no-waveforms", action="store_true", help="skip per-phase indices")
    p.add_argument("--max-width", type=float, default=0.1,
                   help="widest interval of a reliable index (default 0.1)")
    p.add_argument("--r2-min", type=float, default=0.99,
                   help="validation bar read from the card: minimum held-out R² (default 0.99)")
    p.add_argument("--coverage-min", type=float, default=0.85,
                   help="validation bar: minimum coverage of the intervals (default 0.85)")
    p.add_argument("--outputs", nargs="+", default=None, help="outputs (default: all)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--out", default=None, help="folder for sensitivity.md/.json and plots")
    p.add_argument("--strict", action="store_true", help="exit 1 when not reliable")
    p = sub.add_parser(
        "calibrate", help="calibrate an emulator's inputs to observations (KOH, MCMC)",
        description="Kennedy–O'Hagan calibration of an emulator file's inputs to a "
                    "patient's observations (YAML with units and noise), with a GP model "
                    "discrepancy; writes a report folder (summary table, corner plot, "
                    "posterior predictive, implausibility map, ArviZ NetCDF samples). "
                    "Exits 1 when the MCMC run has not converged.")
    p.add_argument("file", help="emulator file (.safetensors)")
    p.add_argument("observations", help="observations YAML (see README: 'Personalising a "
                                        "twin')")
    p.add_argument("--priors", default=None,
                   help="YAML of prior overrides {name: {dist, mu, sigma, low, high}}")
    p.add_argument("--out", default="calibration", help="report folder (default ./calibration)")
    p.add_argument("--walkers", type=int, default=32, help="emcee walkers (default 32)")
    p.add_argument("--steps", type=int, default=2000,
                   help="steps per walker, the first half discarded (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--no-discrepancy", action="store_true",
                   help="plain calibration z = η(θ) + ε, without the discrepancy δ")
    p.add_argument("--cutoff", type=float, default=3.0,
                   help="implausibility cutoff of history matching (default 3)")
    p.add_argument("--rule", choices=["max", "second"], default="max",
                   help="combine implausibilities by the max or the second-largest")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    """The ``twinemu`` command; Ctrl-C prints one line and returns 130 (no traceback)."""
    from datasets.runner import RunInterrupted

    try:
        return _main(argv)
    except RunInterrupted as exc:
        print(exc.message(), file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "run":
        return _hydra_run(argv[1:])
    if argv and argv[0] == "oned":   # the solver's own command line (simulators/oned/cli.py)
        from simulators.oned.cli import main as oned_main

        return oned_main(argv[1:], prog="twinemu oned")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    from datasets.errors import AdapterError, ArchiveError, ManifestError
    from emulators.calibration.errors import ObservationError, PriorError, UnitError
    from emulators.errors import EmulatorFileError
    from simulators.errors import OutOfDomainError, ParameterError

    _setup_logging()
    handlers = {"info": _info, "predict": _predict, "check": _check, "ingest": _ingest,
                "report": _report, "keygen": _keygen, "sign": _sign, "archive": _archive,
                "sensitivity": _sensitivity, "calibrate": _calibrate, "init": _init}
    bad_input: tuple[type[BaseException], ...] = (
        EmulatorFileError, ArchiveError, AdapterError, ManifestError, OutOfDomainError,
        ParameterError, ObservationError, PriorError, UnitError)
    if args.command in ("check", "report"):  # CI gates: 2 = bad input, 1 = missed bar
        from emulators.validation.checks import ThresholdError
        from emulators.validation.heldout import DataMismatchError

        bad_input += (DataMismatchError, ThresholdError, FileNotFoundError)
    try:
        return handlers[args.command](args)
    except bad_input as exc:
        log.error("twinemu %s: %s: %s", args.command, type(exc).__name__, exc)
        return EXIT_USAGE if args.command in ("check", "report") else EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
