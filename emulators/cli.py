"""The ``twinemu`` command.

    twinemu run [--multirun] [HYDRA OVERRIDES...]   run an experiment composed from conf/
    twinemu info EMULATOR_FILE                      print an exported emulator's card
    twinemu predict EMULATOR_FILE NAME=VALUE ...    one prediction from an emulator file
    twinemu check EMULATOR_FILE --archive FILE      CI gate: exit 1 below the bar, 2 bad input
    twinemu report EMULATOR_FILE --data FILE        validation report (HTML + Markdown)
    twinemu ingest MANIFEST --archive FILE          3D CFD runs → campaign archive
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

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

Config groups live in conf/ (simulator, design, emulator, validation, sensitivity,
export, executor, experiment); `twinemu run --help` lists their options.
"""


def conf_dir() -> Path:
    """The config tree: $TWINEMU_CONF, else conf/ beside the packages (a checkout)."""
    from emulators.experiment import conf_dir as _conf_dir

    path = _conf_dir()
    if not (path / "config.yaml").is_file():
        raise SystemExit(
            f"twinemu: no experiment configs at {path}. Run from a twinemu checkout "
            f"(pip install -e .) or set TWINEMU_CONF to a folder holding config.yaml."
        )
    return path


def _hydra_run(overrides: list[str]) -> int:
    import hydra
    from hydra.core.hydra_config import HydraConfig

    from datasets.errors import AdapterError, ArchiveError, ManifestError
    from emulators.errors import ConfigError
    from emulators.experiment import run_experiment
    from simulators.errors import ConfigurationError, ParameterError

    status = {"code": EXIT_OK}

    def task(cfg) -> None:
        hc = HydraConfig.get()
        out = Path(hc.runtime.output_dir)
        try:
            res = run_experiment(cfg, out, root=Path(hc.runtime.cwd))
        except (ConfigError, ConfigurationError, ParameterError) as exc:
            log.error("twinemu run: configuration error: %s", exc)
            status["code"] = EXIT_USAGE
            return
        except (ArchiveError, AdapterError, ManifestError) as exc:
            log.error("twinemu run: %s: %s", type(exc).__name__, exc)
            status["code"] = EXIT_FAILED
            return
        verdict = "passed" if res.passed else "FAILED its checks"
        log.info("experiment %s %s.\n  report:   %s\n  emulator: %s\n  archive:  %s",
                 cfg.name, verdict, res.report, res.emulator_file, res.archive)
        if not res.passed:
            status["code"] = EXIT_FAILED

    main = hydra.main(config_path=str(conf_dir()), config_name="config", version_base="1.3")(task)
    argv = sys.argv
    sys.argv = ["twinemu run", *overrides]
    try:
        main()
    finally:
        sys.argv = argv
    return status["code"]


def _info(args: argparse.Namespace) -> int:
    from emulators import runtime

    card, arrays = runtime.read_file(args.file)
    if args.json:
        print(json.dumps(card, indent=2, sort_keys=True))
        return EXIT_OK
    print(f"{args.file}\n  kind: {card.get('kind')} ({card.get('model', {})})")
    print(f"  format {card.get('format_version')}, created {card.get('created')}, "
          f"git {card.get('git_sha', '')[:10] or '-'}")
    print("  inputs (domain of validity):")
    for p in card["inputs"]:
        print(f"    {p['name']:<12} [{p['low']:.6g}, {p['high']:.6g}] {p.get('unit', '')} "
              f"({p.get('dist', 'uniform')})")
    print("  outputs:")
    for o in card["outputs"]:
        shape = f" waveform of {o['shape'][0]} points" if o["shape"] else ""
        print(f"    {o['name']:<12} {o.get('unit', '')}{shape} ({o['transform']}, "
              f"{o['latent']} latent)")
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
    from emulators import runtime

    emu = runtime.load(args.file)
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
    result = emu.predict_dict(values)
    for name, (mean, var) in result.items():
        if mean.ndim == 1:
            print(f"{name:<12} {mean[0]:.6g} ± {1.96 * var[0] ** 0.5:.3g} (95%)")
        else:
            print(f"{name:<12} waveform of {mean.shape[1]} points, mean {mean[0].mean():.6g}")
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
    report = check_emulator(args.file, args.archive, thresholds=thresholds, runs=args.runs,
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
    from emulators.experiment import default_shared_data

    default_shared_data()
    summary = ingest(args.manifest, args.archive, workers=args.workers,
                     progress=not args.no_progress)
    print(summary)
    return EXIT_FAILED if getattr(summary, "failed", 0) and args.strict else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="twinemu", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("run", help="run an experiment (Hydra overrides follow; --help for options)",
                   add_help=False)
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
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--strict", action="store_true", help="exit 1 if any run failed")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "run":
        return _hydra_run(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    from datasets.errors import AdapterError, ArchiveError, ManifestError
    from emulators.errors import EmulatorFileError
    from simulators.errors import OutOfDomainError, ParameterError

    _setup_logging()
    handlers = {"info": _info, "predict": _predict, "check": _check, "ingest": _ingest,
                "report": _report}
    bad_input: tuple[type[BaseException], ...] = (
        EmulatorFileError, ArchiveError, AdapterError, ManifestError, OutOfDomainError,
        ParameterError)
    if args.command in ("check", "report"):  # CI gates: 2 = bad input, 1 = missed bar
        from emulators.validation.checks import ThresholdError
        from emulators.validation.heldout import DataMismatchError
        from simulators.units import UnitError

        bad_input += (DataMismatchError, ThresholdError, UnitError, FileNotFoundError)
    try:
        return handlers[args.command](args)
    except bad_input as exc:
        log.error("twinemu %s: %s: %s", args.command, type(exc).__name__, exc)
        return EXIT_USAGE if args.command in ("check", "report") else EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
