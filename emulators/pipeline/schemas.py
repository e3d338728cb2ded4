"""Config schemas of an experiment: dataclasses checked before anything runs.

YAML in ``conf/`` holds values; these dataclasses say what each value may be.  The whole
composed config is validated at the door (types, ranges, names, safe output paths), so
``seed=abc``, ``batch_size=0`` or ``sensitivity.n=0`` fail in a second with a message
that names the key, never after the campaign and the fit.
"""

from __future__ import annotations

import re
import typing
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from emulators.errors import ConfigError
from emulators.sensitivity.analyse import SensitivityConfig

TOP_LEVEL_KEYS = {"name", "seed", "emulate", "archive", "progress", "batch_size",
                  "simulator", "design", "emulator", "validation", "sensitivity", "export",
                  "executor", "data", "experiment", "calibration"}

#: Largest design a config may ask for: beyond it, say so rather than allocate for hours.
MAX_RUNS = 1_000_000
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@dataclass
class DesignConfig:
    n_train: int
    n_test: int
    method: str = "lhs"
    test_method: str = "random"
    adaptive: dict | None = None  # see emulators.adaptive: budget, batch, acquisition, ...

    def check(self, where: str) -> None:
        _range(where, "n_train", self.n_train, 2, MAX_RUNS)
        _range(where, "n_test", self.n_test, 0, MAX_RUNS)
        for key in ("method", "test_method"):
            _choice(where, key, getattr(self, key), ("lhs", "sobol", "random"))
        if self.adaptive is not None:
            a = self.adaptive
            known = {"budget", "batch", "acquisition", "r2_min", "nrmse_max", "candidates",
                     "monte_carlo"}
            unknown = sorted(set(a) - known)
            if unknown:
                raise ConfigError(f"'{where}.adaptive' has unknown keys {unknown}; known: "
                                  f"{sorted(known)}")
            if "budget" not in a:
                raise ConfigError(f"'{where}.adaptive' needs 'budget' (total training runs)")
            _range(f"{where}.adaptive", "budget", a["budget"], self.n_train, MAX_RUNS)
            _range(f"{where}.adaptive", "batch", a.get("batch", 8), 1, MAX_RUNS)
            _choice(f"{where}.adaptive", "acquisition", a.get("acquisition", "ivr"),
                    ("ivr", "variance"))
            if self.n_test < 1:
                raise ConfigError(f"'{where}.adaptive' stops on held-out error: set "
                                  f"'{where}.n_test' >= 1")


@dataclass
class ChecksConfig:
    r2_min: float | None = None
    coverage_min: float | None = None
    coverage_max: float | None = None
    nrmse_max: float | None = None

    def check(self, where: str) -> None:
        for key in ("r2_min", "coverage_min", "coverage_max"):
            v = getattr(self, key)
            if v is not None:
                _range(where, key, v, -1e9 if key == "r2_min" else 0.0, 1.0)
        if self.nrmse_max is not None:
            _range(where, "nrmse_max", self.nrmse_max, 0.0, 1e9)


@dataclass
class ValidationConfig:
    level: float = 0.95
    cv_folds: int = 0
    holdout_fraction: float = 0.25  # of ingested top-level runs, when nothing is simulated
    checks: ChecksConfig = field(default_factory=ChecksConfig)

    def check(self, where: str) -> None:
        if not 0.0 < self.level < 1.0:
            raise ConfigError(f"'{where}.level' must lie in (0, 1), got {self.level}")
        if self.cv_folds == 1 or not 0 <= self.cv_folds <= 100:
            raise ConfigError(f"'{where}.cv_folds' must be 0 (off) or between 2 and 100, "
                              f"got {self.cv_folds}")
        if not 0.0 < self.holdout_fraction < 1.0:
            raise ConfigError(f"'{where}.holdout_fraction' must lie in (0, 1)")
        self.checks.check(f"{where}.checks")


@dataclass
class LevelConfig:
    """One fidelity level: a simulator run over a design, or a manifest of runs to ingest."""

    fidelity: str
    simulator: dict | str | None = None  # a config, or the name of one in conf/simulator/
    manifest: str | None = None
    n_train: int | None = None  # default: design.n_train at the top, nested below
    workers: int = 2

    def check(self, where: str) -> None:
        if not _SAFE_NAME.match(self.fidelity):
            raise ConfigError(f"'{where}.fidelity' must be a short name of letters, digits, "
                              f"'_', '-' or '.', got {self.fidelity!r}")
        if isinstance(self.simulator, str) and not _SAFE_NAME.match(self.simulator):
            raise ConfigError(f"'{where}.simulator' must be a config mapping or the name of "
                              f"a file in conf/simulator/, got {self.simulator!r}")
        if (self.simulator is None) == (self.manifest is None):
            raise ConfigError(f"'{where}' needs exactly one of 'simulator' (simulate a "
                              f"design) or 'manifest' (ingest runs)")
        if self.n_train is not None:
            _range(where, "n_train", self.n_train, 2, MAX_RUNS)
        _range(where, "workers", self.workers, 1, 1024)


@dataclass
class DataConfig:
    levels: list | None = None  # [LevelConfig], lowest fidelity first
    outputs: dict | list | None = None  # output map {canonical: {fidelity: source}} or names
    manifest: str | None = None  # one ingested level (shorthand)
    workers: int = 2

    def check(self, where: str) -> None:
        _range(where, "workers", self.workers, 1, 1024)


@dataclass
class ExportConfig:
    enabled: bool = True
    filename: str = "emulator.safetensors"
    intended_use: str = ""

    def check(self, where: str) -> None:
        if not _SAFE_NAME.match(self.filename) or not self.filename.endswith(".safetensors"):
            raise ConfigError(f"'{where}.filename' must be a plain file name ending in "
                              f".safetensors (it is written inside the run's output folder), "
                              f"got {self.filename!r}")


@dataclass
class ExperimentConfig:
    """The whole experiment, validated."""

    name: str | None  # None until run_experiment names it after the simulator
    seed: int
    design: DesignConfig
    validation: ValidationConfig
    sensitivity: SensitivityConfig
    export: ExportConfig
    data: DataConfig
    levels: list[LevelConfig]
    simulator: dict | None
    emulator: dict | None
    executor: dict | None
    emulate: list[str] | None
    archive: str | None
    progress: bool
    batch_size: int | None
    calibration: dict | None
    raw: dict


def build(cls: type, data: Any, where: str) -> Any:
    """Dataclass ``cls`` from a mapping: unknown keys, missing values and wrong types raise
    :class:`ConfigError` naming the key; then the class's own ``check`` runs."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"'{where}' must be a mapping of keys to values, got "
                          f"{type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in '{where}'; valid keys are "
                          f"{sorted(known)}")
    values = {}
    for name, f in known.items():
        if name not in data:
            if f.default is MISSING and f.default_factory is MISSING:
                raise ConfigError(f"'{where}.{name}' must be set")
            continue
        values[name] = _coerce(data[name], hints[name], f"{where}.{name}")
    obj = cls(**values)
    if hasattr(obj, "check"):
        obj.check(where)
    return obj


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        errors = []
        for a in inner:
            try:
                return _coerce(value, a, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0])
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"'{where}' must be true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"'{where}' must be an integer, got {value!r}")
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"'{where}' must be a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"'{where}' must be text, got {value!r}")
    if hint is dict or origin is dict:
        if isinstance(value, dict):
            return value
        raise ConfigError(f"'{where}' must be a mapping, got {type(value).__name__}")
    if hint is list or origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"'{where}' must be a list, got {type(value).__name__}")
        if args:
            return [_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
        return value
    if isinstance(hint, type) and hasattr(hint, "__dataclass_fields__"):
        return build(hint, value, where)
    return value


def _range(where: str, key: str, value: float, lo: float, hi: float) -> None:
    if not lo <= value <= hi:
        raise ConfigError(f"'{where}.{key}' must lie in [{lo:g}, {hi:g}], got {value!r}")


def _choice(where: str, key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"'{where}.{key}' must be one of {', '.join(choices)}; got "
                          f"{value!r}")


def validate(conf: dict[str, Any]) -> ExperimentConfig:
    """Check the whole resolved config; return it typed.  Nothing has run yet."""
    unknown = sorted(set(conf) - TOP_LEVEL_KEYS)
    if unknown:
        raise ConfigError(f"unknown top-level config key(s) {unknown}; valid keys are "
                          f"{sorted(TOP_LEVEL_KEYS)}")
    name = conf.get("name")  # None: named after the simulator (run_experiment)
    if name is not None and (not isinstance(name, str) or not _SAFE_NAME.match(name)
                             or ".." in name):
        raise ConfigError(f"'name' must be a short name of letters, digits, '_', '-' or '.' "
                          f"(it names folders under outputs/), got {name!r}")
    seed = conf.get("seed")
    if seed is None:
        raise ConfigError("'seed' must be set: every experiment is reproducible from its config")
    seed = _coerce(seed, int, "seed")
    if seed < 0:
        raise ConfigError(f"'seed' must be a non-negative integer, got {seed}")
    batch = conf.get("batch_size")
    if batch is not None:
        batch = _coerce(batch, int, "batch_size")
        _range("<root>", "batch_size", batch, 1, 100_000)
    archive = conf.get("archive")
    if archive is not None:
        archive = _coerce(archive, str, "archive")
        if not archive.endswith((".h5", ".hdf5")):
            raise ConfigError(f"'archive' must name an HDF5 file ending in .h5 or .hdf5, got "
                              f"{archive!r}")
    emulate = conf.get("emulate")
    if emulate is not None:
        emulate = _coerce(emulate, list[str], "emulate")
    for key in ("simulator", "emulator", "executor", "calibration"):
        if conf.get(key) is not None and not isinstance(conf[key], dict):
            raise ConfigError(f"'{key}' must be a mapping (with a _target_), got "
                              f"{type(conf[key]).__name__}")
    data = build(DataConfig, conf.get("data"), "data")
    design = build(DesignConfig, conf.get("design"), "design")
    levels = _levels(conf, data, design)
    return ExperimentConfig(
        name=name, seed=seed, design=design,
        validation=build(ValidationConfig, conf.get("validation"), "validation"),
        sensitivity=build(SensitivityConfig, conf.get("sensitivity"), "sensitivity"),
        export=build(ExportConfig, conf.get("export"), "export"),
        data=data, levels=levels, simulator=conf.get("simulator"),
        emulator=conf.get("emulator"), executor=conf.get("executor"), emulate=emulate,
        archive=archive, progress=_coerce(conf.get("progress", True), bool, "progress"),
        batch_size=batch, calibration=conf.get("calibration"), raw=conf)


def _levels(conf: dict[str, Any], data: DataConfig, design: DesignConfig) -> list[LevelConfig]:
    """The experiment's fidelity levels; a single-level experiment is the one-element case
    (``simulator:`` or ``data.manifest:`` at the top level are shorthands for it)."""
    if data.levels is not None:
        if conf.get("simulator") or data.manifest:
            raise ConfigError("give the levels in 'data.levels' only: with data.levels set, "
                              "top-level 'simulator' and 'data.manifest' must be null")
        if not data.levels:
            raise ConfigError("'data.levels' is empty: list at least one level")
        levels = [build(LevelConfig, lv, f"data.levels[{i}]")
                  for i, lv in enumerate(data.levels)]
        fids = [lv.fidelity for lv in levels]
        if len(set(fids)) != len(fids):
            raise ConfigError(f"fidelity names in data.levels must be distinct, got {fids}")
        return levels
    if conf.get("simulator") and data.manifest:
        raise ConfigError("set either 'simulator' (simulate a design) or 'data.manifest' "
                          "(ingest runs), or list both as 'data.levels' for a multi-fidelity "
                          "experiment")
    if conf.get("simulator"):
        fid = str(conf["simulator"].get("fidelity", "sim"))
        return [LevelConfig(fidelity=fid if _SAFE_NAME.match(fid) else "sim",
                            simulator=conf["simulator"], n_train=design.n_train)]
    if data.manifest:
        return [LevelConfig(fidelity="3d", manifest=data.manifest, workers=data.workers)]
    raise ConfigError("nothing to run: set 'simulator' (a simulation campaign), "
                      "'data.manifest' (ingest 3D CFD runs) or 'data.levels'")
