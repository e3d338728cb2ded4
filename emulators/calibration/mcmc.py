"""``calibrate``: Kennedy–O'Hagan calibration of an emulator's inputs by MCMC (emcee)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from emulators.calibration import diagnostics as dg
from emulators.calibration.errors import ConvergenceWarning, IdentifiabilityWarning
from emulators.calibration.likelihood import KOHModel
from emulators.calibration.observations import Observations, prepare, prior_space
from emulators.calibration.result import CalibrationResult


def calibrate(
    emulator: Any,
    observations: Observations | Mapping[str, Any] | str | Path,
    *,
    discrepancy: bool = True,
    priors: Mapping[str, Mapping[str, Any]] | None = None,
    walkers: int = 32,
    steps: int = 2000,
    burn: int | None = None,
    delta_scale: float = 0.1,
    rhat_max: float = 1.1,
    ess_min: float = 200.0,
    contraction_min: float = 0.2,
    correlation_max: float = 0.9,
    seed: int | np.random.Generator | None = None,
    progress: bool = False,
) -> CalibrationResult:
    """Posterior of the emulator's inputs θ given observations of its outputs.

    Model (Kennedy & O'Hagan 2001, eq. 5): ``z = η(θ) + δ + ε`` with the emulator's
    predictive variance in the likelihood, a squared-exponential GP discrepancy δ per
    output over the phase of the cycle (hyperparameters sampled jointly with θ), and the
    observations' noise ε; see :mod:`emulators.calibration.likelihood`.  The sampler is
    emcee's affine-invariant ensemble (vectorised: one batched emulator call per step),
    started around the maximum a posteriori point found by Nelder–Mead from the best of
    512 prior draws.

    Parameters
    ----------
    emulator : object with ``space`` and ``predict_dict``
        Any twinemu emulator or a runtime emulator file loaded with ``runtime.load``.
    observations : Observations, mapping or path to a YAML file
        See :mod:`emulators.calibration.observations`; checked (names, shapes, NaN,
        units) before any sampling.
    discrepancy : bool
        Include δ (KOH).  ``False``: plain Bayesian calibration ``z = η(θ) + ε``.
    priors : mapping, optional
        Prior overrides per parameter (``dist``, ``mu``, ``sigma``, ``low``, ``high``);
        they add to (and take precedence over) the ``priors`` of the observations file.
        Default: the emulator's parameter-space distributions.
    walkers, steps, burn : int
        Ensemble size, total steps per walker, and steps discarded (default ``steps // 2``).
    delta_scale : float
        Scale of the half-normal prior of each discrepancy amplitude, as a fraction of the
        observed output's spread.
    rhat_max, ess_min : float
        Convergence criteria: a run with any R-hat above ``rhat_max`` or any ESS below
        ``ess_min`` is marked ``converged=False`` and warns :class:`ConvergenceWarning`.
        R-hat treats each walker as a chain; walkers are many short, autocorrelated chains,
        so the default is Gelman et al.'s (BDA3 §11.5) 1.1 rather than the 1.01 meant for
        a few long chains (measured: 1.07 after 800 steps, 1.02 after 3000 steps of 32
        walkers on a converged 5-dimensional posterior).
    contraction_min : float
        A parameter whose prior-to-posterior contraction is below this is reported as not
        identifiable (:class:`IdentifiabilityWarning`).
    correlation_max : float
        Posterior correlations beyond this (in absolute value) are reported: the data pin a
        combination of the two parameters rather than each.
    seed : int or Generator, optional
        Randomness of the start and of the sampler.

    Returns
    -------
    CalibrationResult
    """
    import emcee
    from scipy.optimize import minimize

    if walkers < 4 or steps < 10:
        raise ValueError(f"need walkers >= 4 and steps >= 10, got {walkers} and {steps}")
    burn = steps // 2 if burn is None else int(burn)
    if not 0 <= burn < steps - 1:
        raise ValueError(f"burn={burn} must be in [0, steps - 1)")
    if not isinstance(observations, Observations):
        observations = (Observations.from_yaml(observations)
                        if isinstance(observations, (str, Path))
                        else Observations.from_dict(observations))
    data = prepare(observations, emulator)  # every input check happens before sampling
    prior = prior_space(emulator.space, {**observations.priors, **dict(priors or {})})
    model = KOHModel(emulator, data, prior, discrepancy=discrepancy, delta_scale=delta_scale)
    ndim = model.ndim
    if walkers < 2 * ndim:
        walkers = 2 * ndim + (2 * ndim) % 2
    rng = np.random.default_rng(seed)

    # 1. start: best of 512 prior draws, then Nelder–Mead on the log posterior
    U0 = prior.to_unit(prior.sample(512, method="random", seed=rng))
    H0 = np.tile(model.initial_hyper(), (len(U0), 1))
    P0 = np.column_stack([U0, H0])
    lp0 = model.log_prob(P0)
    start = P0[int(np.argmax(lp0))]
    opt = minimize(lambda p: -float(model.log_prob(p[None])[0]), start, method="Nelder-Mead",
                   options={"maxfev": 300 * ndim, "xatol": 1e-4, "fatol": 1e-3})
    best = opt.x if np.isfinite(opt.fun) and opt.fun <= -lp0.max() else start
    spread = _local_widths(model, best)
    init = best + 0.5 * spread * rng.standard_normal((walkers, ndim))
    init[:, : model.d] = np.clip(init[:, : model.d], 1e-6, 1 - 1e-6)

    # 2. sample
    sampler = emcee.EnsembleSampler(
        walkers, ndim, model.log_prob, vectorize=True,
        moves=[(emcee.moves.DEMove(), 0.8), (emcee.moves.DESnookerMove(), 0.2)])
    # emcee draws from its own numpy RandomState: seed it from ours (reproducible runs)
    sampler.random_state = np.random.RandomState(int(rng.integers(2**31))).get_state()
    sampler.run_mcmc(init, steps, progress=progress)
    chain = np.swapaxes(sampler.get_chain(discard=burn), 0, 1)  # (walkers, draws, ndim)
    lp = np.swapaxes(sampler.get_log_prob(discard=burn), 0, 1)
    if not np.isfinite(lp).any():
        raise ValueError("every posterior sample has zero density: the observations are "
                         "incompatible with the emulator under these priors (check units, "
                         "noise s.d. and the domain of validity)")

    # 3. diagnostics
    chains, draws, _ = chain.shape
    theta_u = chain[:, :, : model.d]
    theta = model.theta(theta_u.reshape(-1, model.d)).reshape(chains, draws, model.d)
    hyper = np.exp(chain[:, :, model.d:])
    names = model.names
    rhat = {n: dg.rhat(chain[:, :, j]) for j, n in enumerate(names)}
    ess = {n: dg.ess(chain[:, :, j]) for j, n in enumerate(names)}
    converged = all(np.isfinite(v) and v <= rhat_max for v in rhat.values()) and \
        all(np.isfinite(v) and v >= ess_min for v in ess.values())
    prior_u = prior.to_unit(prior.sample(20000, method="random", seed=rng))
    contr = dg.contraction(theta_u.reshape(-1, model.d), prior_u.var(axis=0))
    contraction = {n: float(c) for n, c in zip(prior.names, contr, strict=True)}
    identifiable = {n: bool(c >= contraction_min) for n, c in contraction.items()}
    corr = dg.correlations(theta_u.reshape(-1, model.d))

    msgs = []
    if not converged:
        bad_r = [n for n, v in rhat.items() if not (np.isfinite(v) and v <= rhat_max)]
        bad_e = [n for n, v in ess.items() if not (np.isfinite(v) and v >= ess_min)]
        msg = (f"the MCMC run has not converged (R-hat > {rhat_max:g} for {bad_r}, ESS < "
               f"{ess_min:g} for {bad_e}); run more steps (steps={steps}) or walkers")
        msgs.append(msg)
        warnings.warn(msg, ConvergenceWarning, stacklevel=2)
    for n, ok in identifiable.items():
        if not ok:
            msg = (f"parameter {n!r} is not identifiable from these data: its posterior is "
                   f"{100 * (1 - contraction[n]):.0f}% as wide (in variance) as its prior "
                   f"(contraction {contraction[n]:.2f} < {contraction_min:g})")
            msgs.append(msg)
            warnings.warn(msg, IdentifiabilityWarning, stacklevel=2)
    d = model.d
    for i in range(d):
        for j in range(i + 1, d):
            if np.isfinite(corr[i, j]) and abs(corr[i, j]) > correlation_max:
                msg = (f"{prior.names[i]!r} and {prior.names[j]!r} have posterior correlation "
                       f"{corr[i, j]:+.2f}: the data pin a combination of the two rather than "
                       f"each")
                msgs.append(msg)
                warnings.warn(msg, IdentifiabilityWarning, stacklevel=2)

    k = int(np.argmax(lp))
    flat = chain.reshape(-1, ndim)
    settings = {"walkers": walkers, "steps": steps, "burn": burn, "delta_scale": delta_scale,
                "rhat_max": rhat_max, "ess_min": ess_min, "contraction_min": contraction_min,
                "prior": prior.to_dict(), "optimiser_success": bool(opt.success),
                "likelihood": "KOH" if discrepancy else "no discrepancy"}
    return CalibrationResult(
        names=prior.names, units=prior.units, theta=theta, theta_u=theta_u,
        hyper_names=[h.name for h in model.hypers], hyper=hyper, log_prob=lp, rhat=rhat,
        ess=ess, converged=bool(converged), contraction=contraction, identifiable=identifiable,
        correlation=corr, acceptance=float(np.mean(sampler.acceptance_fraction)),
        discrepancy=bool(discrepancy), data=data, settings=settings, warnings=msgs,
        map_theta=model.theta(flat[k: k + 1])[0], map_hyper=np.exp(flat[k, model.d:]),
    )


def _local_widths(model: KOHModel, best: np.ndarray) -> np.ndarray:
    """Per-coordinate width of the posterior around ``best``: the largest step (both ways)
    keeping the log posterior within 2 of its value; so walkers start spread along flat
    directions (an input the data do not inform) and tight along pinned ones."""
    ndim = len(best)
    steps = np.geomspace(1e-4, 0.5, 14)
    unit = np.arange(ndim) < model.d
    P = []
    for j in range(ndim):
        for sign in (-1.0, 1.0):
            for h in steps:
                p = best.copy()
                p[j] += sign * h * (1.0 if unit[j] else 10.0)
                P.append(p)
    lp = model.log_prob(np.array(P)).reshape(ndim, 2, len(steps))
    ok = lp >= model.log_prob(best[None])[0] - 2.0
    widths = np.empty(ndim)
    for j in range(ndim):
        k = [np.argmin(ok[j, s]) if not ok[j, s].all() else len(steps) for s in (0, 1)]
        h = steps[max(min(k) - 1, 0)]
        widths[j] = h * (1.0 if unit[j] else 10.0)
    return widths


def posterior_predictive(result: CalibrationResult, emulator: Any, *, n: int = 200,
                         seed: int | np.random.Generator | None = None
                         ) -> dict[str, dict[str, np.ndarray]]:
    """Posterior predictive draws at the observation indices, per observed output.

    For ``n`` posterior draws (θ, a, ℓ): ``model`` = η(θ) with the emulator's uncertainty
    (the calibrated simulator's prediction), ``corrected`` = η(θ) + δ drawn from its GP
    posterior given the residuals z − η(θ) (KOH's bias-corrected prediction; same as
    ``model`` without discrepancy), ``replicate`` = ``corrected`` + ε (new data).
    Returns ``{name: {"index", "observed", "model", "corrected", "replicate"}}`` with draws
    of shape ``(n, n_k)`` in the emulator's units.
    """
    rng = np.random.default_rng(seed)
    flat, hf = result.flat(), result.flat_hyper()
    pick = rng.choice(len(flat), size=min(n, len(flat)), replace=False)
    X = flat[pick]
    from emulators.calibration.likelihood import KOHModel
    from simulators.design import ParameterSpace

    prior = ParameterSpace.from_dict(result.settings["prior"])
    model = KOHModel(emulator, result.data, prior, discrepancy=result.discrepancy,
                     delta_scale=result.settings["delta_scale"])
    eta = model.eta(X)
    H = hf[pick] if hf.size else np.zeros((len(pick), 0))
    hidx = {(h.output, h.kind): j for j, h in enumerate(model.hypers)}
    out = {}
    for k, o in result.data.items():
        m, v = eta[k]
        model_draw = m + np.sqrt(v) * rng.standard_normal(m.shape)
        corrected = model_draw.copy()
        if (k, "sd") in hidx:
            a = H[:, hidx[(k, "sd")]]
            for s in range(len(pick)):
                noise = v[s] + o.sd**2
                if (k, "ls") in hidx:
                    ls = H[s, hidx[(k, "ls")]]
                    K = a[s] ** 2 * np.exp(-0.5 * (o.index[:, None] - o.index[None]) ** 2
                                           / ls**2)
                else:
                    K = np.diag(np.full(len(o), a[s] ** 2))
                A = K + np.diag(noise)
                mean_d = K @ np.linalg.solve(A, o.values - m[s])
                cov_d = K - K @ np.linalg.solve(A, K)
                w, E = np.linalg.eigh(0.5 * (cov_d + cov_d.T))
                corrected[s] += mean_d + E @ (np.sqrt(np.clip(w, 0, None))
                                              * rng.standard_normal(len(o)))
        out[k] = {"index": o.index if o.index is not None else np.zeros(1),
                  "observed": o.values, "sd": o.sd, "model": model_draw,
                  "corrected": corrected,
                  "replicate": corrected + o.sd * rng.standard_normal(corrected.shape),
                  "unit": o.unit}
    return out
