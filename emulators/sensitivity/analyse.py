"""The "analyse" stage: every sensitivity result of an emulator, and whether to trust it.

:func:`analyse` computes, for each output of an emulator (scalars, and each waveform as a
whole through its aggregated indices):

1. Sobol' S1/ST of the emulator *mean* by Saltelli/Jansen Monte Carlo, with bootstrap
   intervals (the **Monte Carlo interval**: the error of a finite sample);
2. the same indices over the emulator's *posterior*: ``posterior_draws`` posterior functions
   (pathwise conditioning for GPs, see :mod:`.posterior`) on a common Saltelli design, each
   giving one value of each index; the percentiles of those values form the **emulator-
   uncertainty interval** (what the emulator does not know about the simulator).  A common
   design for all draws makes the spread across draws measure the functions' differences,
   not sampling noise (common random numbers);
3. closed-form indices of the mean for RBF GPs (:mod:`.analytic`);
4. per-phase indices of waveforms, second-order indices and Morris screening on request;

and a verdict: the indices are **not reliable** when the emulator failed its validation
checks, or when an interval of an index is wider than ``max_interval_width``.  The verdict
and its reasons lead the console table and the report.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from emulators.sensitivity.result import SensitivityReport
from emulators.sensitivity.sobol import (
    SobolResult,
    _quiet_nan,
    check_options,
    indices_from_variances,
    partial_variances,
    saltelli_design,
    sobol_result,
)
from simulators.design import ParameterSpace

#: Most points of one exact joint posterior draw (``O(q³)``): Matérn GPs, other kinds.
MAX_JOINT_POINTS = 1024
#: Base sample of the per-phase indices of waveforms (``T`` columns each).
PHASE_N = 2048


@dataclass
class SensitivityConfig:
    """Options of the sensitivity stage (the ``sensitivity`` config group)."""

    enabled: bool = True
    n: int = 8192                 # base sample N of the mean's indices: N (d + 2) predictions
    n_boot: int = 300             # bootstrap resamples of the Monte Carlo intervals
    conf_level: float = 0.95
    waveforms: bool = True        # also the indices at each phase of waveform outputs
    posterior_draws: int = 64     # posterior functions (0: no emulator-uncertainty intervals)
    posterior_n: int = 512        # base sample of the posterior indices
    n_features: int = 1024        # random Fourier features of each posterior draw
    analytic: bool = True         # closed-form indices of the mean (RBF GPs only)
    second_order: bool = False    # S2 as well (N (2d + 2) predictions)
    morris: bool = True           # Morris screening of the mean (scalar outputs)
    morris_r: int = 50            # Morris trajectories
    max_interval_width: float = 0.1  # wider intervals make the indices "not reliable"

    def check(self, where: str) -> None:
        """Ranges, checked when an experiment's config is validated (before any run)."""
        from emulators.errors import ConfigError

        if not self.enabled:
            return
        for key, lo, hi in (("n", 16, 1 << 22), ("n_boot", 0, 100_000),
                            ("posterior_draws", 0, 10_000), ("posterior_n", 16, 1 << 20),
                            ("n_features", 16, 1 << 16), ("morris_r", 2, 10_000)):
            v = getattr(self, key)
            if not lo <= v <= hi:
                raise ConfigError(f"'{where}.{key}' must lie in [{lo:g}, {hi:g}], got {v!r}")
        for key in ("conf_level", "max_interval_width"):
            v = getattr(self, key)
            if not 0.0 < v < (1.0 if key == "conf_level" else 1e9):
                raise ConfigError(f"'{where}.{key}' must lie in (0, 1), got {v!r}")

    def options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`analyse` (everything but ``enabled``)."""
        out = asdict(self)
        out.pop("enabled")
        return out


# -- the stage ----------------------------------------------------------------------------
class _Layout:
    """Which physical columns make each row (output) of the analysis."""

    def __init__(self, outputs: Any, names: list[str] | None):
        self.rows: list[str] = []
        self.kinds: list[str] = []
        self.blocks: dict[str, Any] = {}
        self.slices: dict[str, slice] = {}
        j = 0
        wanted = set(names) if names is not None else None
        for b in outputs.blocks:
            self.slices[b.name] = slice(j, j + b.width)
            j += b.width
            if wanted is not None and b.name not in wanted:
                continue
            self.blocks[b.name] = b
        if wanted is not None and wanted - set(self.blocks):
            raise ValueError(f"outputs {sorted(wanted - set(self.blocks))} are not outputs "
                             f"of the emulator ({[b.name for b in outputs.blocks]})")
        scalars = [n for n, b in self.blocks.items() if not b.shape]
        waves = [n for n, b in self.blocks.items() if b.shape]
        self.rows, self.kinds = scalars + waves, ["scalar"] * len(scalars) + \
            ["waveform"] * len(waves)
        self.n_columns = j

    def row_values(self, Y: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Columns to analyse ``(q, K)`` and each row's column group: a scalar's column; a
        PCA waveform's component scores (orthonormal basis: their variances sum to the
        waveform's); a raw waveform's columns."""
        Y = Y.reshape(len(Y), -1)
        parts, groups, k = [], [], 0
        for name in self.rows:
            b, sl = self.blocks[name], self.slices[name]
            y = Y[:, sl]
            if b.shape and b.basis is not None:
                y = (y - b.center) @ b.basis.T
            parts.append(y)
            groups.append(np.arange(k, k + y.shape[1]))
            k += y.shape[1]
        return np.concatenate(parts, axis=1), groups

    def waveform(self, Y: np.ndarray, name: str) -> np.ndarray:
        return Y.reshape(len(Y), -1)[:, self.slices[name]]


def analyse(
    emulator: Any,
    space: ParameterSpace | None = None,
    *,
    n: int = SensitivityConfig.n,
    n_boot: int = SensitivityConfig.n_boot,
    conf_level: float = SensitivityConfig.conf_level,
    seed: int | None = None,
    posterior_draws: int = SensitivityConfig.posterior_draws,
    posterior_n: int = SensitivityConfig.posterior_n,
    n_features: int = SensitivityConfig.n_features,
    analytic: bool = SensitivityConfig.analytic,
    second_order: bool = SensitivityConfig.second_order,
    morris: bool = SensitivityConfig.morris,
    morris_r: int = SensitivityConfig.morris_r,
    waveforms: bool = SensitivityConfig.waveforms,
    max_interval_width: float = SensitivityConfig.max_interval_width,
    validation_passed: bool | None = None,
    why_failed: str = "",
    outputs: list[str] | None = None,
) -> SensitivityReport:
    """All sensitivity results of ``emulator`` over ``space`` (default: its own), with a
    reliability verdict (module doc).

    Parameters
    ----------
    emulator : GaussianProcess, RuntimeEmulator or any emulator with ``predict``
        (and ``sample`` for the posterior indices of non-GP kinds).
    validation_passed : bool, optional
        Whether the emulator met its validation checks (``None``: unknown); ``why_failed``
        says which checks failed, for the warning.
    outputs : list of str, optional
        Outputs to analyse (default: all).
    Other options: see :class:`SensitivityConfig`.
    """
    check_options(n, n_boot, conf_level)
    if not max_interval_width > 0:
        raise ValueError(f"max_interval_width must be > 0, got {max_interval_width}")
    if int(posterior_draws) < 0 or int(posterior_n) < 2:
        raise ValueError(f"posterior_draws must be >= 0 and posterior_n >= 2, got "
                         f"{posterior_draws}, {posterior_n}")
    from emulators.sensitivity.morris import morris as morris_screen

    space = space or emulator.space
    if space.names != emulator.space.names:
        raise ValueError(f"the space's inputs {space.names} are not the emulator's "
                         f"{emulator.space.names}")
    options = {"n": int(n), "n_boot": int(n_boot), "conf_level": conf_level,
               "posterior_draws": int(posterior_draws), "posterior_n": int(posterior_n),
               "n_features": int(n_features), "analytic": analytic,
               "second_order": second_order, "morris": morris, "morris_r": int(morris_r),
               "waveforms": waveforms, "max_interval_width": max_interval_width, "seed": seed}
    seeds = np.random.SeedSequence(seed).spawn(4)
    layout = _Layout(emulator.outputs, outputs)
    d = len(space)
    seconds: dict[str, float] = {}
    notes: list[str] = []

    from emulators.sensitivity.posterior import mean_function

    mean_fn = mean_function(emulator)

    # 1. Monte Carlo on the mean, with bootstrap intervals
    t0 = time.perf_counter()
    rng = np.random.default_rng(seeds[0])
    design = saltelli_design(space, int(n), rng, second_order=second_order)
    Y = mean_fn(design.points())
    vals, groups = layout.row_values(Y)
    mean = sobol_result(design, vals, space.names, groups=groups, outputs=layout.rows,
                        n_boot=int(n_boot), conf_level=conf_level, rng=rng)
    mean_waves = {w: layout.waveform(Y[:2 * design.n], w).mean(axis=0)
                  for w, k in zip(layout.rows, layout.kinds, strict=True) if k == "waveform"}
    del Y, vals
    seconds["monte_carlo"] = time.perf_counter() - t0
    s2 = "second order by Saltelli 2002, " if second_order else ""
    notes.append(f"Monte Carlo: Saltelli design of N = {design.n} base points "
                 f"({len(design.points())} emulator predictions), first order by Saltelli "
                 f"2010 (b), total by Jansen, {s2}{int(n_boot)} bootstrap resamples for the "
                 f"MC intervals.")

    # 2. per-phase indices of waveforms
    phases: dict[str, SobolResult] = {}
    if waveforms:
        t0 = time.perf_counter()
        rng_p = np.random.default_rng(seeds[1])
        pdesign = saltelli_design(space, min(int(n), PHASE_N), rng_p)
        Yp = None
        for w, k in zip(layout.rows, layout.kinds, strict=True):
            if k != "waveform":
                continue
            Yp = mean_fn(pdesign.points()) if Yp is None else Yp
            T = layout.waveform(Yp, w).shape[1]
            phases[w] = sobol_result(pdesign, layout.waveform(Yp, w), space.names,
                                     outputs=[f"{w}[{t}]" for t in range(T)],
                                     n_boot=min(int(n_boot), 100), conf_level=conf_level,
                                     rng=rng_p)
        seconds["phases"] = time.perf_counter() - t0

    # 3. indices over the posterior
    posterior = None
    phase_post: dict[str, dict[str, np.ndarray]] = {}
    if posterior_draws > 0:
        t0 = time.perf_counter()
        posterior, phase_post, note = _posterior_indices(
            emulator, space, layout, int(posterior_draws), int(posterior_n), int(n_features),
            conf_level, np.random.default_rng(seeds[2]), list(phases))
        for w, post in phase_post.items():  # deviations about the per-phase estimates
            for key in ("S1", "ST"):
                est = np.atleast_2d(getattr(phases[w], key))
                post[key + "_low"], post[key + "_high"] = (est + post[key + "_low"],
                                                           est + post[key + "_high"])
        seconds["posterior"] = time.perf_counter() - t0
        notes.append(note)
    else:
        notes.append("Emulator uncertainty not assessed (posterior_draws = 0).")

    # 4. closed form
    closed = None
    if analytic:
        closed, note = _closed_form(emulator, space, layout)
        if note:
            notes.append(note)

    # 5. Morris screening of scalar outputs
    mres = None
    scalars = [r for r, k in zip(layout.rows, layout.kinds, strict=True) if k == "scalar"]
    if morris and scalars:
        t0 = time.perf_counter()
        cols = [layout.slices[s].start for s in scalars]
        mres = morris_screen(lambda X: mean_fn(X)[:, cols], space, int(morris_r),
                             seed=np.random.default_rng(seeds[3]), conf_level=conf_level,
                             output_names=scalars)
        seconds["morris"] = time.perf_counter() - t0
        notes.append(f"Morris: {mres.r} trajectories of {d + 1} points on a {mres.levels}-"
                     f"level grid, on the emulator mean.")

    units = {b.name: b.unit for b in emulator.outputs.blocks}
    report = SensitivityReport(space.names, layout.rows, layout.kinds, mean, conf_level,
                               posterior, closed, phases, phase_post, mean_waves, units, mres,
                               validation_passed=validation_passed, options=options,
                               seconds=seconds, notes=notes)
    _judge(report, validation_passed, why_failed, max_interval_width)
    return report


def _posterior_indices(emulator, space, layout, draws, n_post, n_features, conf_level, rng,
                       phase_names):
    """Indices of each posterior draw on one common Saltelli design."""
    from emulators.sensitivity.posterior import PathwiseSampler, gp_predictor, joint_draws

    p = gp_predictor(emulator)
    d = len(space)
    pathwise = p is not None and p.kernel == "rbf"
    if not pathwise and n_post * (d + 2) > MAX_JOINT_POINTS:
        n_post = max(2, 1 << int(np.log2(MAX_JOINT_POINTS // (d + 2))))
    design = saltelli_design(space, n_post, rng)
    X = design.points()
    if p is not None:
        U = space.to_unit(space.check(X))
        if pathwise:
            Z = PathwiseSampler(p, draws, n_features=n_features, seed=rng)(U)  # (S, q, m)
            method = (f"pathwise conditioning (Wilson et al. 2020) with {n_features} random "
                      f"Fourier features (posterior covariance within ~3% on the test GP)")
        else:
            Z = joint_draws(p, U, draws, rng)
            method = (f"exact joint draws (Cholesky of the {p.kernel} posterior covariance "
                      f"at all {len(X)} points)")
        zeros = np.zeros_like(Z[0])

        def draw(s):
            return emulator.outputs.inverse(Z[s], zeros)[0]
    else:
        Yd = np.asarray(emulator.sample(X, draws, seed=rng), dtype=float)
        Yd = Yd.reshape(Yd.shape[0], Yd.shape[1], -1)

        def draw(s):
            return Yd[s]
        method = "exact joint draws from the emulator's sample()"
    from emulators.sensitivity.posterior import mean_function

    S1, ST = [], []
    ph: dict[str, dict[str, list]] = {w: {"S1": [], "ST": []} for w in phase_names}
    Ym = mean_function(emulator)(X)
    for s in range(-1, draws):  # -1: the mean function on the same design
        Y = Ym if s < 0 else draw(s)
        vals, groups = layout.row_values(Y)
        est = indices_from_variances(partial_variances(*design.split(vals)[:3]), groups)
        S1.append(est["S1"])
        ST.append(est["ST"])
        for w in phase_names:
            e = indices_from_variances(partial_variances(*design.split(
                layout.waveform(Y, w))[:3]))
            ph[w]["S1"].append(e["S1"])
            ph[w]["ST"].append(e["ST"])
    q = [(1 - conf_level) * 50, (1 + conf_level) * 50]
    phase_post = {}
    for w, v in ph.items():
        out = {}
        for key in ("S1", "ST"):
            a = np.stack(v[key])
            with np.errstate(all="ignore"), _quiet_nan():  # a constant phase has no index
                lo, hi = np.nanpercentile(a[1:] - a[0], q, axis=0)
            out[key + "_low"], out[key + "_high"] = lo, hi  # deviations: add the estimate
        phase_post[w] = out
    S1, ST = np.stack(S1), np.stack(ST)
    posterior = {"S1_dev": S1[1:] - S1[0], "ST_dev": ST[1:] - ST[0], "method": method,
                 "n": design.n, "draws": draws}
    note = (f"Emulator uncertainty: {draws} posterior functions, each analysed on one common "
            f"Saltelli design of N = {design.n} ({len(X)} points); the spread of their "
            f"indices about the mean function's on that design (common random numbers) is "
            f"added to the estimate; {method}.")
    return posterior, phase_post, note


def _closed_form(emulator, space, layout):
    from emulators.sensitivity.analytic import analytic_sobol
    from emulators.sensitivity.posterior import gp_predictor

    p = gp_predictor(emulator)
    if p is None:
        return None, "Closed-form indices: only for exact GP emulators."
    if p.kernel != "rbf":
        return None, (f"Closed-form indices: not available for the {p.kernel} kernel (it "
                      f"does not factorise over inputs); Monte Carlo only.")
    grouped = [n for n in layout.rows if getattr(layout.blocks[n], "group", None)]
    if grouped:
        return None, (f"Closed-form indices: not available for scalar outputs reduced "
                      f"together by PCA ({', '.join(grouped[:3])}"
                      f"{', ...' if len(grouped) > 3 else ''}); Monte Carlo only.")
    a = analytic_sobol(emulator, space)
    S1, ST = [], []
    for name in layout.rows:
        s1, st = a.aggregate(a.rows(name))
        S1.append(s1)
        ST.append(st)
    return {"S1": np.stack(S1), "ST": np.stack(ST)}, (
        "Closed form: exact main and total effects of the RBF posterior mean "
        "(Oakley & O'Hagan 2004), Gauss–Legendre in the conditioned inputs.")


def _judge(report: SensitivityReport, validation_passed: bool | None, why_failed: str,
           width: float) -> None:
    """Set ``reliable`` and the warnings (issue: indices must not mislead)."""
    warn = report.warnings
    if validation_passed is False:
        report.reliable = False
        why = f" ({why_failed.strip()})" if why_failed.strip() else ""
        warn.append(f"The emulator FAILED its validation checks{why}: these indices describe "
                    f"the emulator, not the simulator. Improve the emulator (more training "
                    f"runs, another kernel) before reading them.")
    elif validation_passed is None:
        warn.append("The emulator's validation status is unknown: the indices are trusted "
                    "only as far as its posterior intervals go.")
    pct = int(round(100 * report.conf_level))
    emu = report.emulator_intervals()
    if emu is not None:
        wide = _wide(report, emu, width)
        if wide:
            report.reliable = False
            warn.append(f"The emulator is too uncertain: the {pct}% emulator-uncertainty "
                        f"interval is wider than {width:g} for {len(wide)} indices, e.g. "
                        f"{'; '.join(wide[:3])}. Add training runs where the emulator is "
                        f"uncertain.")
    m = report.mean
    mc = {"S1": (np.atleast_2d(m.S1_low), np.atleast_2d(m.S1_high)),
          "ST": (np.atleast_2d(m.ST_low), np.atleast_2d(m.ST_high))}
    if report.options.get("n_boot", 0) > 0:
        wide = _wide(report, mc, width)
        if wide:
            report.reliable = False
            warn.append(f"The Monte Carlo sample is too small: the {pct}% bootstrap interval "
                        f"is wider than {width:g} for {len(wide)} indices, e.g. "
                        f"{'; '.join(wide[:3])}. Increase n.")
    if report.analytic is not None:
        gap = max(float(np.nanmax(np.abs(report.analytic[k] - np.atleast_2d(getattr(m, k)))))
                  for k in ("S1", "ST"))
        report.notes.append(f"Closed form vs Monte Carlo on the mean: largest difference "
                            f"{gap:.4f}.")


def _wide(report: SensitivityReport, bounds: dict, width: float) -> list[str]:
    out = []
    for key, (lo, hi) in bounds.items():
        w = np.asarray(hi) - np.asarray(lo)
        for r, j in zip(*np.nonzero(np.nan_to_num(w) > width), strict=True):
            out.append(f"{key} of {report.names[j]} for {report.outputs[r]}: "
                       f"[{lo[r, j]:.2f}, {hi[r, j]:.2f}]")
    return out
