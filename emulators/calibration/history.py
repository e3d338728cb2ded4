"""History matching: implausibility, the NROY region, and refocusing in waves.

Implausibility of θ for observation ``i`` (Craig et al. 1997; Vernon et al. 2010, Bayesian
Analysis 5:619, eq. (3)):

    I_i(θ) = |z_i − E[η_i(θ)]| / √(Var η_i(θ) + Var δ_i + Var ε_i),

combined over all observations by the maximum (default) or the second-largest value
(``rule="second"``, robust to one poorly emulated output).  θ is *not ruled out yet*
(NROY) when ``I(θ) ≤ cutoff`` (default 3, from Pukelsheim's three-sigma rule).
NROY fractions are measured on draws from the parameter space's distributions, i.e. as
prior probability (the volume fraction for uniform parameters).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emulators.calibration.observations import Observations, OutputData, prepare

RULES = ("max", "second")


@dataclass
class HistoryMatchResult:
    """Implausibility at candidate points and the NROY region.

    ``X (n, d)`` candidates in physical units, ``I (n,)`` combined implausibility,
    ``I_obs (n, n_obs)`` per observation, ``nroy (n,)`` boolean, ``waves`` one record per
    wave (``wave``, ``runs``, ``trained_on``, ``nroy_fraction``) when refocused in waves.
    """

    names: list[str]
    X: np.ndarray
    I: np.ndarray  # noqa: E741 - the paper's symbol
    I_obs: np.ndarray
    nroy: np.ndarray
    cutoff: float
    rule: str
    waves: list[dict[str, Any]] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        """Fraction of the candidates (prior draws) not ruled out."""
        return float(np.mean(self.nroy))

    def nroy_points(self) -> np.ndarray:
        return self.X[self.nroy]

    def to_dict(self) -> dict[str, Any]:
        box = self.X[self.nroy]
        return {"cutoff": self.cutoff, "rule": self.rule, "n_candidates": len(self.X),
                "nroy_fraction": self.fraction,
                "nroy_box": {n: [float(box[:, j].min()), float(box[:, j].max())]
                             if len(box) else None for j, n in enumerate(self.names)},
                "waves": self.waves}


def implausibility(emulator: Any, observations: Any, X: np.ndarray, *,
                   discrepancy_sd: float | str | Mapping[str, float | str] = 0.0,
                   rule: str = "max") -> tuple[np.ndarray, np.ndarray]:
    """Implausibility ``(I (n,), I_obs (n, n_obs))`` at points ``X (n, d)``.

    ``observations`` as for :func:`~emulators.calibration.calibrate` (or the checked
    ``{name: OutputData}``); ``discrepancy_sd`` the s.d. of the model discrepancy in the
    emulator's units: one number for all outputs, ``"5%"`` of each |z|, or a mapping per
    output name.
    """
    if rule not in RULES:
        raise ValueError(f"rule={rule!r}: choose 'max' or 'second' (second-largest over "
                         f"outputs)")
    data = _data(observations, emulator)
    X = emulator.space.check(X)
    pred = emulator.predict_dict(X)
    cols = []
    for k, o in data.items():
        m, v = pred[k]
        m, v = np.asarray(m, float), np.clip(np.asarray(v, float), 0, None)
        if o.is_waveform:
            from emulators.calibration.likelihood import _interp_matrix

            M = _interp_matrix(o, m.shape[1])
            m, v = m @ M.T, v @ M.T
        else:
            m, v = m.reshape(-1, 1), v.reshape(-1, 1)
        dvar = _discrepancy_var(discrepancy_sd, k, o)
        cols.append(np.abs(o.values - m) / np.sqrt(v + dvar + o.sd**2))
    I_obs = np.column_stack(cols)
    if rule == "max" or I_obs.shape[1] < 2:
        if rule == "second":
            raise ValueError("rule='second' needs at least two observations")
        return I_obs.max(axis=1), I_obs
    return np.sort(I_obs, axis=1)[:, -2], I_obs


def history_match(emulator: Any, observations: Any, *, X: np.ndarray | None = None,
                  n: int = 20000, cutoff: float = 3.0, rule: str = "max",
                  discrepancy_sd: float | str | Mapping[str, float | str] = 0.0,
                  seed: int | np.random.Generator | None = None) -> HistoryMatchResult:
    """Implausibility over the emulator's parameter space and the NROY region.

    Candidates are ``X`` if given, else ``n`` random draws from the space's distributions.
    """
    if not cutoff > 0:
        raise ValueError(f"cutoff must be > 0, got {cutoff}")
    data = _data(observations, emulator)  # checked before any evaluation
    if X is None:
        X = emulator.space.sample(int(n), method="random", seed=seed)
    I, I_obs = _batched(emulator, data, np.asarray(X, float), discrepancy_sd, rule)
    return HistoryMatchResult(list(emulator.space.names), np.asarray(X, float), I, I_obs,
                              I <= cutoff, float(cutoff), rule)


def history_match_waves(
    simulator: Any,
    observations: Any,
    archive: Any,
    *,
    fit: Callable[[np.ndarray, dict[str, np.ndarray], Any], Any] | None = None,
    waves: int = 3,
    runs_per_wave: int = 20,
    n_candidates: int = 20000,
    cutoff: float = 3.0,
    rule: str = "max",
    discrepancy_sd: float | str | Mapping[str, float | str] = 0.0,
    refit_on: str = "all",
    seed: int | np.random.Generator | None = None,
    executor: Any = None,
    progress: bool = False,
) -> HistoryMatchResult:
    """Refocus in waves: run the simulator in NROY, refit, rule out more, repeat.

    Wave ``k`` runs ``runs_per_wave`` simulations (wave 0: a Latin hypercube over the
    space; later waves: random points of the current NROY candidates) into ``archive``
    (run ids ``wave<k>-<i>``), fits an emulator of the observed outputs on all runs so far
    (``refit_on="all"``) or on those inside the current NROY region (``"nroy"``, the
    classic local refocusing; it needs more runs per wave), and keeps the candidates whose
    implausibility under *every* wave's emulator is ≤ ``cutoff``.  The NROY fraction after
    each wave is stored in the archive's metadata (``archive.extra["history_matching"]``)
    and in ``result.waves``.

    Parameters
    ----------
    simulator : a twinemu simulator (``space``, ``outputs``, ``__call__``/``run_batch``)
    archive : datasets.Archive, open for appending, for the simulator's space and outputs
    fit : callable ``(X, Y, space) -> emulator``, optional
        Default: a :class:`~emulators.GaussianProcess` (Matérn 5/2, 2 restarts).
    """
    from datasets.campaign import run_campaign

    if refit_on not in ("all", "nroy"):
        raise ValueError(f"refit_on={refit_on!r}: choose 'all' or 'nroy'")
    if waves < 1 or runs_per_wave < 2:
        raise ValueError(f"need waves >= 1 and runs_per_wave >= 2, got {waves}, "
                         f"{runs_per_wave}")
    space = simulator.space
    units = {s.name: s.unit for s in simulator.outputs}
    obs = observations if isinstance(observations, Observations) else (
        Observations.from_yaml(observations) if isinstance(observations, (str, Path))
        else Observations.from_dict(observations))
    names = list(obs.outputs)
    unknown = [n for n in names if n not in units]
    if unknown:
        from emulators.calibration.errors import ObservationError

        raise ObservationError(f"observed outputs {unknown} are not outputs of the "
                               f"simulator; its outputs are {', '.join(units)}")
    fit = fit or _default_fit
    rng = np.random.default_rng(seed)
    C = space.sample(int(n_candidates), method="random", seed=rng)
    alive = np.ones(len(C), bool)
    emulators: list[Any] = []
    records: list[dict[str, Any]] = []
    I = I_obs = None  # noqa: E741
    for k in range(waves):
        if k == 0:
            Xk = space.sample(runs_per_wave, method="lhs", seed=rng)
        else:
            idx = np.flatnonzero(alive)
            if len(idx) == 0:
                break
            Xk = C[rng.choice(idx, size=min(runs_per_wave, len(idx)), replace=False)]
        ids = [f"wave{k}-{i:04d}" for i in range(len(Xk))]
        run_campaign(simulator, Xk, archive, executor=executor, run_ids=ids,
                     progress=progress, description=f"history matching wave {k}")
        rows = archive.mask(run_prefix="wave")
        X, Y, _ = archive.select(names, rows)
        inside = np.ones(len(X), bool)
        for emu in emulators:  # runs in the current NROY region
            inside &= implausibility(emu, obs, X, discrepancy_sd=discrepancy_sd,
                                     rule=rule)[0] <= cutoff
        enough = inside.sum() >= max(4, 2 * len(space))
        train = inside if refit_on == "nroy" and enough else np.ones(len(X), bool)
        emu = fit(X[train], {n: Y[n][train] for n in names}, space)
        emulators.append(emu)
        data = prepare(obs, emu)
        idx = np.flatnonzero(alive)
        Ik, Ik_obs = _batched(emu, data, C[idx], discrepancy_sd, rule)
        alive[idx[Ik > cutoff]] = False
        if k == 0:
            I, I_obs = np.full(len(C), np.inf), np.full((len(C), Ik_obs.shape[1]), np.inf)
            I[idx], I_obs[idx] = Ik, Ik_obs
        else:  # keep, per candidate, the implausibility of the latest wave that judged it
            I[idx], I_obs[idx] = Ik, Ik_obs
        rec = {"wave": k, "runs": int(len(Xk)), "trained_on": int(train.sum()),
               "nroy_fraction": float(alive.mean()), "cutoff": float(cutoff), "rule": rule}
        records.append(rec)
        archive.set_extra("history_matching", records)
    return HistoryMatchResult(list(space.names), C, I, I_obs, alive.copy(), float(cutoff),
                              rule, records)


def _default_fit(X: np.ndarray, Y: dict[str, np.ndarray], space: Any) -> Any:
    from emulators.gp import GaussianProcess

    return GaussianProcess(restarts=2).fit(X, Y, space=space)


def _data(observations: Any, emulator: Any) -> dict[str, OutputData]:
    if isinstance(observations, Mapping) and observations and all(
            isinstance(v, OutputData) for v in observations.values()):
        return dict(observations)
    return prepare(observations, emulator)


def _batched(emulator, data, X, discrepancy_sd, rule, batch: int = 4096):
    parts = [implausibility(emulator, data, X[i:i + batch], discrepancy_sd=discrepancy_sd,
                            rule=rule) for i in range(0, len(X), batch)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _discrepancy_var(sd: Any, name: str, o: OutputData) -> np.ndarray:
    if isinstance(sd, Mapping):
        sd = sd.get(name, 0.0)
    if isinstance(sd, str):
        s = sd.strip()
        if not s.endswith("%"):
            raise ValueError(f"discrepancy_sd={sd!r}: a number (emulator units) or 'N%'")
        return (float(s[:-1]) / 100.0 * np.abs(o.values)) ** 2
    sd = float(sd)
    if sd < 0:
        raise ValueError(f"discrepancy_sd must be >= 0, got {sd}")
    return np.full(len(o), sd**2)
