"""The calibration stage of an experiment (config section ``calibration:``).

Schema (every key checked; unknown keys are errors)::

    calibration:
      observations: null          # observations YAML (see emulators.calibration.observations)
      synthetic:                  # ... or a synthetic patient made by the simulator:
        theta: {R2_scale: 1.15, C_scale: 0.85}   # true inputs (all of the emulator's)
        outputs: [P_wave_inlet]   # simulator outputs to observe
        noise_sd: 133.0           # noise s.d. in each output's unit, or "1%" of each value
        seed: 7                   # noise seed
      discrepancy: true           # KOH discrepancy δ (false: z = η(θ) + ε)
      priors: {}                  # per-parameter overrides {dist, mu, sigma, low, high}
      walkers: 32
      steps: 2000
      burn: null                  # default steps // 2
      delta_scale: 0.1            # discrepancy amplitude prior scale (fraction of spread)
      level: 0.95                 # credible level of the intervals
      history_matching: {cutoff: 3.0, rule: max, n: 20000}

Exactly one of ``observations`` and ``synthetic`` is required.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from emulators.calibration.history import RULES, history_match
from emulators.calibration.mcmc import calibrate
from emulators.calibration.observations import Observations
from emulators.calibration.report import write_report
from emulators.errors import ConfigError


@dataclass
class SyntheticConfig:
    theta: dict[str, float]
    outputs: list[str]
    noise_sd: float | str = "1%"
    seed: int = 0


@dataclass
class HistoryMatchingConfig:
    cutoff: float = 3.0
    rule: str = "max"
    n: int = 20000


@dataclass
class CalibrationConfig:
    observations: str | None = None
    synthetic: SyntheticConfig | None = None
    discrepancy: bool = True
    priors: dict[str, dict[str, Any]] = field(default_factory=dict)
    walkers: int = 32
    steps: int = 2000
    burn: int | None = None
    delta_scale: float = 0.1
    level: float = 0.95
    history_matching: HistoryMatchingConfig = field(default_factory=HistoryMatchingConfig)

    @classmethod
    def from_dict(cls, data: Any, where: str = "calibration") -> CalibrationConfig:
        data = dict(_schema_keys(cls, data, where))
        if data.get("synthetic") is not None:
            data["synthetic"] = SyntheticConfig(**_schema_keys(
                SyntheticConfig, data["synthetic"], f"{where}.synthetic", required=True))
        if data.get("history_matching") is not None:
            data["history_matching"] = HistoryMatchingConfig(**_schema_keys(
                HistoryMatchingConfig, data["history_matching"], f"{where}.history_matching"))
        else:
            data.pop("history_matching", None)
        conf = cls(**data)
        if (conf.observations is None) == (conf.synthetic is None):
            raise ConfigError(f"'{where}' needs exactly one of 'observations' (a file) and "
                              f"'synthetic' (a simulated patient)")
        if conf.history_matching.rule not in RULES:
            raise ConfigError(f"{where}.history_matching.rule={conf.history_matching.rule!r}: "
                              f"choose one of {', '.join(RULES)}")
        return conf


def _schema_keys(cls: type, data: Any, where: str, required: bool = False) -> dict[str, Any]:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"'{where}' must be a mapping, got {type(data).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in '{where}'; valid keys are "
                          f"{sorted(known)}")
    if required:
        from dataclasses import MISSING

        missing = [f.name for f in fields(cls) if f.default is MISSING
                   and f.default_factory is MISSING and f.name not in data]
        if missing:
            raise ConfigError(f"'{where}' is incomplete: missing {missing}")
    return dict(data)


def synthetic_observations(conf: SyntheticConfig, simulator: Any) -> tuple[dict, dict]:
    """Observations of the simulator at ``conf.theta`` plus seeded Gaussian noise, and the
    noise-free outputs (the truth) — ``({"outputs": ...}, {name: values})``."""
    names = list(simulator.space.names)
    missing = [n for n in names if n not in conf.theta]
    extra = [n for n in conf.theta if n not in names]
    if missing or extra:
        raise ConfigError(f"calibration.synthetic.theta must give every input {names} "
                          f"(missing {missing}, unknown {extra})")
    specs = {s.name: s for s in simulator.outputs}
    bad = [n for n in conf.outputs if n not in specs]
    if bad:
        raise ConfigError(f"calibration.synthetic.outputs {bad} are not simulator outputs "
                          f"({', '.join(specs)})")
    clean = simulator({n: float(conf.theta[n]) for n in names})
    rng = np.random.default_rng(conf.seed)
    outs, curves = {}, {}
    for n in conf.outputs:
        y = np.atleast_1d(np.asarray(clean[n], dtype=float))
        if isinstance(conf.noise_sd, str):
            if not conf.noise_sd.strip().endswith("%"):
                raise ConfigError(f"calibration.synthetic.noise_sd={conf.noise_sd!r}: a number "
                                  f"(in the output's unit) or 'N%'")
            sd = float(conf.noise_sd.strip()[:-1]) / 100.0 * np.abs(y)
        else:
            sd = np.full(y.shape, float(conf.noise_sd))
        z = y + sd * rng.standard_normal(y.shape)
        outs[n] = {"values": z.tolist() if z.size > 1 else float(z[0]),
                   "unit": specs[n].unit, "sd": sd.tolist() if sd.size > 1 else float(sd[0])}
        curves[n] = y
    return {"outputs": outs}, curves


def run_calibration_stage(conf_section: dict, emulator: Any, out_dir: Path, seed: int, *,
                          simulator: Any = None) -> dict[str, Any]:
    """Calibrate ``emulator`` to the section's observations; write the report under
    ``out_dir`` (``calibration/``: summary, plots, ``posterior.nc``); return metrics.

    ``simulator`` is needed for a ``synthetic`` patient (the experiment's simulator).
    """
    conf = CalibrationConfig.from_dict(conf_section)
    truth = curves = None
    if conf.synthetic is not None:
        if simulator is None:
            raise ConfigError("calibration.synthetic needs the experiment's simulator")
        obs_dict, curves = synthetic_observations(conf.synthetic, simulator)
        obs = Observations.from_dict(obs_dict)
        truth = {k: float(v) for k, v in conf.synthetic.theta.items()}
    else:
        path = Path(conf.observations)
        if not path.is_absolute() and not path.exists():
            from emulators.experiment import conf_dir

            path = conf_dir() / path
        obs = Observations.from_yaml(path)
    out = Path(out_dir) / "calibration"
    out.mkdir(parents=True, exist_ok=True)
    (out / "observations.yaml").write_text(_yaml(obs.to_dict()))
    res = calibrate(emulator, obs, discrepancy=conf.discrepancy, priors=conf.priors,
                    walkers=conf.walkers, steps=conf.steps, burn=conf.burn,
                    delta_scale=conf.delta_scale, seed=seed)
    dsd = {n[len("delta_sd_"):]: float(np.median(res.hyper[:, :, j]))
           for j, n in enumerate(res.hyper_names) if n.startswith("delta_sd_")}
    hmc = conf.history_matching
    hm = history_match(emulator, res.data, n=hmc.n, cutoff=hmc.cutoff, rule=hmc.rule,
                       discrepancy_sd=dsd, seed=seed)
    summary = write_report(out, res, emulator, hm=hm, truth=truth, truth_curves=curves,
                           seed=seed, level=conf.level)
    summary["config"] = asdict(conf)
    return summary


def _yaml(data: dict) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)
