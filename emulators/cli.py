"""The ``twinemu`` command.

    twinemu run [--multirun] [HYDRA OVERRIDES...]   run an experiment composed from conf/
    twinemu info EMULATOR_FILE                      print an exported emulator's card
    twinemu predict EMULATOR_FILE NAME=VALUE ...    one prediction from an emulator file
    twinemu check EMULATOR_FILE --archive FILE      CI gate: exit 1 below the accuracy bar
    twinemu ingest MANIFEST --archive FILE          3D CFD runs → campaign archive
    twinemu keygen DIR                              an Ed25519 key pair for signing
    twinemu sign EMULATOR_FILE --key PRIVATE_KEY    sign an emulator file
    twinemu init DIR                                a starter study of your own solver
    twinemu --version                               twinemu's version
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

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
  twinemu ingest conf/data/vampy_artery.yaml --archive outputs/cfd.h5

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

    from datasets.errors import AdapterError, ArchiveError, ManifestError
    from emulators.errors import ConfigError
    from emulators.pipeline import run_experiment
    from simulators.errors import ConfigurationError, ParameterError

    if "--version" in overrides:
        print(f"twinemu {version()}")
        return EXIT_OK
    explicit, overrides = _split_config_dir(overrides)
    status: dict = {"code": EXIT_OK, "sweep_dir": None}

    def task(cfg) -> float | None:
        hc = HydraConfig.get()
        out = Path(hc.runtime.output_dir)
        if hc.mode is not None and hc.mode.name == "MULTIRUN":
            status["sweep_dir"] = Path(hc.sweep.dir)
        try:
            res = run_experiment(cfg, out, root=Path(hc.runtime.cwd))
        except (ConfigError, ConfigurationError, ParameterError) as exc:
            print(f"twinemu run: configuration error: {exc}", file=sys.stderr)
            status["code"] = EXIT_USAGE
            return None
        except (ArchiveError, AdapterError, ManifestError) as exc:
            print(f"twinemu run: {type(exc).__name__}: {exc}", file=sys.stderr)
            status["code"] = EXIT_FAILED
            return None
        verdict = "passed" if res.passed else "FAILED its checks"
        print(f"\nexperiment {cfg.name} {verdict}.\n  report:   {res.report}\n"
              f"  emulator: {res.emulator_file}\n  archive:  {res.archive}")
        if not res.passed:
            status["code"] = EXIT_FAILED
        return score(res.metrics)  # what Hydra's Optuna sweeper optimises

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
    result = emu.predict_dict(values)
    for name, (mean, var) in result.items():
        if mean.ndim == 1:
            print(f"{name:<12} {mean[0]:.6g} ± {1.96 * var[0] ** 0.5:.3g} (95%)")
        else:
            print(f"{name:<12} waveform of {mean.shape[1]} points, mean {mean[0].mean():.6g}")
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    import numpy as np

    from datasets import Archive
    from emulators import runtime
    from emulators.validation import check_metrics, validate

    emu = runtime.load(args.file, public_key=args.public_key)
    with Archive.open(args.archive) as archive:
        if archive.space.names != emu.input_names:
            raise SystemExit(f"twinemu check: the archive's inputs {archive.space.names} are "
                             f"not the emulator's {emu.input_names}")
        ok = archive.mask(fidelity=args.fidelity, run_prefix=args.runs)
        names = args.outputs or emu.output_names
        missing = [n for n in names if n not in archive.output_names or n not in
                   emu.output_names]
        if missing:
            raise SystemExit(f"twinemu check: outputs {missing} are not both in the emulator "
                             f"({emu.output_names}) and in {args.archive} "
                             f"({archive.output_names}); choose with --outputs")
        X, Y, _ = archive.select(names, ok)
    keep = np.ones(len(X), bool)
    notes = []
    outside = keep & ~emu.space.inside(X)
    if outside.any():
        notes.append(f"{int(outside.sum())} runs outside the emulator's domain not checked")
    keep &= ~outside
    mask = emu.training_mask(X)
    if mask is None:
        notes.append("this emulator keeps no training inputs, so training runs cannot be "
                     "told apart: check it on runs it was not trained on (--runs test-)")
    else:
        trained = keep & mask
        if trained.any():
            notes.append(f"{int(trained.sum())} training runs of the emulator excluded")
        keep &= ~trained
    for note in notes:
        print(f"twinemu check: {note}")
    if keep.sum() == 0:
        raise SystemExit("twinemu check: no held-out successful runs selected in the archive")
    res = validate(emu, X[keep], {n: y[keep] for n, y in Y.items()}, level=args.level)
    print(res.table())
    missed = check_metrics(res, r2_min=args.r2_min, nrmse_max=args.nrmse_max,
                           coverage_min=args.coverage_min)
    failures = [f"{name}: {why}" for name, whys in missed.items() for why in whys]
    if failures:
        print("twinemu check FAILED:\n  " + "\n  ".join(failures))
        return EXIT_FAILED
    print(f"twinemu check passed on {int(keep.sum())} runs.")
    return EXIT_OK


def _ingest(args: argparse.Namespace) -> int:
    from datasets.ingest import ingest
    from emulators.pipeline.stages import default_shared_data

    default_shared_data()
    summary = ingest(args.manifest, args.archive, workers=args.workers,
                     progress=not args.no_progress)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="twinemu", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"twinemu {version()}")
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
        "check", help="CI gate: validate an emulator file on archived runs, exit 1 on failure",
        description="Validate an exported emulator on runs of a campaign archive and exit "
                    "non-zero when it misses its accuracy bar.")
    p.add_argument("file", help="emulator file (.safetensors)")
    p.add_argument("--archive", required=True, help="campaign archive holding the check runs")
    p.add_argument("--runs", default=None, metavar="PREFIX",
                   help="only runs whose id starts with PREFIX (e.g. test-)")
    p.add_argument("--fidelity", default=None, help="only runs of this fidelity level")
    p.add_argument("--outputs", nargs="+", default=None, help="outputs to check (default: all)")
    p.add_argument("--r2-min", type=float, default=0.99, help="minimum R² (default 0.99)")
    p.add_argument("--nrmse-max", type=float, default=None, help="maximum normalised RMSE")
    p.add_argument("--coverage-min", type=float, default=0.85,
                   help="minimum coverage of the intervals (default 0.85)")
    p.add_argument("--level", type=float, default=0.95, help="interval level (default 0.95)")
    p = sub.add_parser("ingest", help="read 3D CFD runs listed in a manifest into an archive")
    p.add_argument("manifest", help="YAML or CSV manifest (see README: 'Ingesting 3D CFD runs')")
    p.add_argument("--archive", required=True, help="campaign archive to create or extend")
    p.add_argument("--workers", type=int, default=2, help="parallel readers (default 2)")
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

    handlers = {"info": _info, "predict": _predict, "check": _check, "ingest": _ingest,
                "keygen": _keygen, "sign": _sign, "init": _init}
    try:
        return handlers[args.command](args)
    except (EmulatorFileError, ArchiveError, AdapterError, ManifestError, OutOfDomainError,
            ParameterError) as exc:
        print(f"twinemu {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
