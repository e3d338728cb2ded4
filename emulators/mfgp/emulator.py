"""``MultiFidelityGP``: Kennedy–O'Hagan autoregressive and nonlinear (NARGP) GP emulators."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from emulators.base import Emulator, _as_output_map, _bounding_space, _hash_arrays
from emulators.gp.fit import FitReport
from emulators.gp.model import KERNELS
from emulators.mfgp.fit import draw_arrays, fit_level, select_by_evidence, select_by_loo
from emulators.outputs import OutputTransform
from emulators.runtime.mfgp import MAX_THETA_DRAWS, MFGPPredictor
from simulators.design import ParameterSpace

#: Nested designs: a high-fidelity point matches a lower one within this unit-cube distance.
NEST_ATOL = 1e-10


class MultiFidelityGP(Emulator):
    """Multi-fidelity Gaussian-process emulator of the highest of ``L ≥ 2`` fidelity levels.

    ``kind="linear"`` is the autoregressive model of Kennedy & O'Hagan (2000, eq. 2),
    ``f_t(x) = ρ_t(x) f_{t−1}(x) + δ_t(x)``, with ``ρ_t`` constant or linear in the
    unit-cube inputs, fitted recursively level by level (Le Gratiet & Garnier 2014, §3):
    on nested designs level ``t`` is a GP on its own points with regressors
    ``[g(x) f_{t−1}(x), 1]`` taken from the observed lower-level outputs.  When a level's
    points are not a subset of the level below, the lower level's posterior mean stands in
    for ``f_{t−1}`` there (a warning, and ``"nested": false`` in the card).
    ``kind="nonlinear"`` is NARGP (Perdikaris et al. 2017, eq. 4–5): level ``t`` is a GP on
    ``[x, f_{t−1}(x)]`` with kernel ``k_ρ(x) k_f(f) + k_δ(x)``, predicted by Monte Carlo
    over the lower level's posterior on ``mc_draws`` fixed, seeded draws (stratified normal
    quantiles), so predictions are deterministic.

    Honest intervals: pooled over 10 nested designs and 500 held-out points each, the 95%
    intervals cover 0.97 (Forrester), 0.93 (Currin), 0.98 (Park) and 0.97 (borehole) of
    the high-fidelity truth (``benchmarks/multifidelity.py``; the README's table).  What
    makes them honest:

    * the predictive variance carries every level's uncertainty, ``ρ² Var f_{t−1} +
      Var δ_t`` (KOH 2000 eq. 5; Le Gratiet & Garnier 2014 eq. 3.7);
    * ``β = [β_ρ, β_δ]`` are generalised-least-squares estimates and their covariance
      ``(HᵀK⁻¹H)⁻¹`` enters the variance (the universal-kriging term of Le Gratiet &
      Garnier eq. 3.8), plus ``gᵀ Cov(β_ρ) g · Var f_{t−1}`` for ρ's own uncertainty;
    * the estimated lengthscales and signal variance are not treated as known: each
      linear level (and level 0) is integrated over their posterior, as the weighted
      mixture of its GP at ``theta_draws`` importance-weighted draws whose proposal is
      the Laplace approximation (:func:`~emulators.mfgp.plugin.posterior_draws`).  This
      was the cause of the over-confidence: with 5 high-fidelity points δ's lengthscales
      are barely identified and their posterior is far from Gaussian.  Over 10 designs
      the plug-in variance covered 0.96 on Park and 0.77 on Currin; the first-order
      spread of the predictor over the Laplace posterior (Kackar & Harville 1984,
      ``parameter_uncertainty="first-order"``) 0.97 and 0.83 (0.52–0.97 per design);
      the draws 0.98 and 0.93 (0.77–1.00).  On linear levels the restarts are ranked
      by Laplace posterior mass, not density, so a sharp spurious mode does not win.
      A nonlinear level holds no draws; of its parameters it integrates the overall
      scale, exactly: its signal and noise variances are scaled by
      ``(t_{ν,0.975}/z_{0.975})²``, ``ν = n_t − 1`` (the Student-t predictive of ``σ²``
      under its reference prior; Santner et al. 2003, §4.1.3), which took the RBF NARGP on
      Perdikaris's pair from 0.887 to 0.922 (10 designs).  Draws of all five of its
      parameters, as on linear levels, were tried: they covered 0.996 (above the band),
      lost R² (0.9969 → 0.9952) and made prediction about 20× slower (``K`` GPs on each of
      the ``mc_draws`` paths);
    * level 0 may warp its inputs (``warp``): Currin's low-fidelity function rises from 3
      to 11 over x1 in [0, 0.1] and is flat after, which a stationary kernel on 12 points
      cannot follow; the warped fit, with the warping shapes' own uncertainty in the
      parameter uncertainty above, took Currin from R² 0.874 / coverage 0.88 to
      0.937 / 0.905 (first 3 designs, first-order term);
    * hyperparameters maximise the *restricted* likelihood (REML), which, unlike plain ML,
      does not shrink the signal variance of a 4-point level by the ``p`` degrees of
      freedom spent on β; a weak log-normal prior on lengthscales (median 0.5 of the unit
      cube) keeps a handful of points from being read as a constant or white noise;
    * ``calibrate`` offers two rescalings of each level's variances, measured and *not*
      the default: ``"t"`` (Student-t predictive of an estimated signal variance) and
      ``"loo"`` (leave-one-out variance estimate, Bachoc 2013).  Without the
      covariance-parameter term, the first over-covers (Park 1.00) and the second
      under-covers (Forrester 0.88) while neither lifts Currin to 0.90.

    All outputs share ONE output transform (standardisation and, for waveforms, a PCA
    basis with ``pca``) fitted on the pooled outputs of every level, so each level's GP
    learns the same latent columns and ``predict`` returns the top level's waveform with
    pointwise variance.  Latent outputs are independent and batched, as in
    :class:`~emulators.GaussianProcess`.

    Parameters
    ----------
    kind : {"linear", "nonlinear"}
    kernel : {"matern52", "matern32", "rbf"}
    rho : {"constant", "linear"}
        Scale factor of a linear level: constant, or ``ρ(x) = β₀ + Σ βᵢ uᵢ`` (needs more
        than ``d + 3`` points on that level).
    restarts, max_iter, tol, noise_floor, pca, seed
        As :class:`~emulators.GaussianProcess` (``noise_floor`` on standardised outputs).
    mc_draws : int
        Monte Carlo draws of the nonlinear model's prediction.
    calibrate : {None, "t", "loo"}
        Optional rescaling of each level's variances after the fit: ``"t"`` multiplies by
        ``(t_{ν,0.975}/z_{0.975})²`` with ``ν = n_t − p`` (the Student-t interval of an
        estimated signal variance; Le Gratiet & Garnier 2014, §3.3), ``"loo"`` by the
        leave-one-out estimate ``mean_i e_i²/s_i²`` (Bachoc 2013).  With ``None`` and
        parameter uncertainty on, nonlinear levels still take ``"t"`` (their block in the
        card says ``"calibrate": "t"``).
    parameter_uncertainty : {"posterior", "first-order", False}
        How the uncertainty of each linear level's (and level 0's) estimated lengthscales,
        signal variance and warping enters its prediction (nonlinear levels: the signal
        variance's alone, by the Student-t factor, unless ``False``): ``"posterior"`` (default;
        ``True`` means the same) integrates the level over their posterior by
        ``theta_draws`` importance-weighted draws (the runtime evaluates one GP per draw);
        ``"first-order"`` adds the spread of the predictor over their Laplace posterior,
        ``∇_θμᵀ Σ_θ ∇_θμ`` (Kackar & Harville 1984; :mod:`emulators.mfgp.plugin`), which
        under-states it on small levels; ``False`` gives the plain plug-in variance.
    theta_draws : int
        Draws of the covariance parameters per level with ``"posterior"`` (1–256).  The
        exported file holds one GP per draw: 32 cost 4–5× the first-order term's
        prediction time on 1000 points (borehole; a single query costs about the same).
    theta_draws_max_n : int
        Levels with more points than this keep the first-order term instead of draws:
        their parameters' posterior is close to Gaussian (it concentrates as points are
        added), and ``K`` GPs of ``n`` points cost ``K n²`` to store and evaluate.
    warp : bool
        Also fit level 0 on inputs warped by a Kumaraswamy CDF per input,
        ``w(u) = 1 − (1 − u^a)^b`` (Snoek et al. 2014), and keep, per output, whichever
        of the plain and warped fits has the smaller leave-one-out error (Bachoc 2013);
        the card's level-0 block lists the choice (``"warp": [bool per output]``).  For
        functions that are steep in one corner and flat elsewhere (Currin: held-out R²
        0.87 → 0.94).  Level 0 only: the higher levels have too few points for ``2d``
        more parameters.
    delta_ard : {"auto", True, False}
        Lengthscales of each linear level's discrepancy ``δ_t``: one per input (``True``),
        one shared by all inputs (``False``), or ``"auto"``: both, and per output the one
        with the larger Laplace evidence (MacKay 1992; the card's block lists the choice,
        ``"ard": [bool per output]``).  Level 0 and nonlinear levels keep one per input.
        With 5 high-fidelity points in 4D the evidence prefers one shared lengthscale
        (10 designs: Park held-out R² 0.9879 → 0.9891, borehole coverage 0.982 → 0.977;
        Currin R² 0.959 → 0.955, coverage 0.853 → 0.833).
    """

    kind = "mfgp"
    multi_fidelity = True  # the pipeline fits it on every level

    def __init__(self, kind: str = "linear", kernel: str = "matern52", *,
                 rho: str = "constant", restarts: int = 3, max_iter: int = 200,
                 tol: float = 1e-9, noise_floor: float = 1e-6,
                 pca: float | int | None = None, mc_draws: int = 200,
                 calibrate: str | None = None, parameter_uncertainty: bool | str = "posterior",
                 theta_draws: int = 32, theta_draws_max_n: int = 100, warp: bool = True,
                 delta_ard: bool | str = "auto", seed: int | None = 0):
        super().__init__()
        if kind not in ("linear", "nonlinear"):
            raise ValueError(f"unknown kind {kind!r}; choose 'linear' (Kennedy-O'Hagan) or "
                             f"'nonlinear' (NARGP)")
        if kernel not in KERNELS:
            raise ValueError(f"unknown kernel {kernel!r}; choose one of {', '.join(KERNELS)}")
        if rho not in ("constant", "linear"):
            raise ValueError(f"unknown rho {rho!r}; choose 'constant' or 'linear'")
        if rho == "linear" and kind == "nonlinear":
            warnings.warn("rho='linear' has no effect with kind='nonlinear' (the kernel "
                          "k_rho(x) models the scale)", UserWarning, stacklevel=2)
        if restarts < 1:
            raise ValueError(f"restarts must be >= 1, got {restarts}")
        if mc_draws < 1:
            raise ValueError(f"mc_draws must be >= 1, got {mc_draws}")
        self.link, self.kernel, self.rho = kind, kernel, rho
        self.restarts, self.max_iter, self.tol = int(restarts), int(max_iter), float(tol)
        self.noise_floor, self.pca, self.mc_draws = float(noise_floor), pca, int(mc_draws)
        if calibrate not in ("loo", "t", None):
            raise ValueError(f"unknown calibrate {calibrate!r}; choose 'loo', 't' or None")
        self.calibrate = calibrate
        if parameter_uncertainty is True:
            parameter_uncertainty = "posterior"
        if parameter_uncertainty not in ("posterior", "first-order", False, None):
            raise ValueError(f"parameter_uncertainty must be 'posterior', 'first-order' or "
                             f"False, got {parameter_uncertainty!r}")
        self.parameter_uncertainty = parameter_uncertainty or False
        if calibrate is not None and self.parameter_uncertainty == "posterior":
            raise ValueError(f"calibrate={calibrate!r} rescales a plug-in fit, and draws of the "
                             f"covariance parameters would re-weigh the scaled signal "
                             f"variance away; combine it with parameter_uncertainty="
                             f"'first-order' or False")
        if not 1 <= int(theta_draws) <= MAX_THETA_DRAWS:
            raise ValueError(f"theta_draws must be in [1, {MAX_THETA_DRAWS}], got {theta_draws}")
        self.theta_draws = int(theta_draws)
        self.theta_draws_max_n = int(theta_draws_max_n)
        self.warp = bool(warp)
        if not (delta_ard == "auto" or isinstance(delta_ard, bool | np.bool_)):
            raise ValueError(f"delta_ard must be 'auto', True or False, got {delta_ard!r}")
        self.delta_ard = delta_ard if delta_ard == "auto" else bool(delta_ard)
        self.seed = seed
        self.fit_reports: list[list[FitReport]] = []
        self.levels_card: list[dict[str, Any]] = []
        self._predictor: MFGPPredictor | None = None

    def __repr__(self) -> str:
        return (f"MultiFidelityGP(kind={self.link!r}, kernel={self.kernel!r}, "
                f"rho={self.rho!r}, restarts={self.restarts}, pca={self.pca})")

    # -- fitting --------------------------------------------------------------------------
    def fit(self, levels: Any, Y: Any = None, *, space: ParameterSpace | None = None,
            units: Mapping[str, str] | None = None, **unused: Any) -> MultiFidelityGP:
        """Fit on fidelity levels, lowest first.

        Parameters
        ----------
        levels : list of (X, Y), or an object with ``.levels``
            ``X (n_t, d)`` in physical units; ``Y`` an array ``(n_t,)`` / ``(n_t, m)`` or a
            mapping ``{name: (n_t,) or (n_t, T)}`` with the same names on every level.  An
            object with ``.levels`` (a ``datasets.levels.TrainingSet``) gives each level's
            ``.fidelity``, ``.X``, ``.Y``, and its ``.space``/``.units`` when not passed.
        space : ParameterSpace, optional
            Domain; without it the bounding box of all levels' inputs (the card says so).
        units : mapping, optional
            Output units.
        """
        if Y is not None:
            raise TypeError("MultiFidelityGP.fit takes the fidelity levels, lowest first: "
                            "fit([(X_low, Y_low), (X_high, Y_high)]) or a TrainingSet")
        if unused:
            raise TypeError(f"MultiFidelityGP.fit got unexpected arguments {sorted(unused)}")
        names, Xs, Ys = [], [], []
        if hasattr(levels, "levels"):
            space = space if space is not None else getattr(levels, "space", None)
            units = units if units is not None else getattr(levels, "units", None)
            for t, lev in enumerate(levels.levels):
                names.append(str(getattr(lev, "fidelity", f"level{t}")))
                Xs.append(lev.X)
                Ys.append(lev.Y)
        elif isinstance(levels, Sequence) and not isinstance(levels, str | bytes):
            for t, item in enumerate(levels):
                if not (isinstance(item, Sequence) and len(item) == 2):
                    raise TypeError(f"level {t} must be a pair (X, Y), got "
                                    f"{type(item).__name__}")
                names.append(f"level{t}")
                Xs.append(item[0])
                Ys.append(item[1])
        else:
            raise TypeError(f"levels must be a list of (X, Y) pairs or a TrainingSet, got "
                            f"{type(levels).__name__}")
        if len(Xs) < 2:
            raise ValueError(f"a multi-fidelity GP needs at least 2 levels, got {len(Xs)}; "
                             f"use GaussianProcess for one")
        Xs, Ymaps = self._check_levels(Xs, Ys)
        if space is None:
            space = _bounding_space(np.concatenate(Xs))
            self._space_inferred = True
        self.space = space
        Xs = [space.check(X) for X in Xs]
        pooled = {k: np.concatenate([Y[k] for Y in Ymaps]) for k in Ymaps[0]}
        self.outputs = OutputTransform.fit(pooled, units, pca=self.pca)
        hashes = [_hash_arrays(X, *Y.values()) for X, Y in zip(Xs, Ymaps, strict=True)]
        self.training_hash = hashlib.sha256("".join(hashes).encode()).hexdigest()
        self.levels_card = [{"fidelity": f, "n": len(X), "sha256": h}
                            for f, X, h in zip(names, Xs, hashes, strict=True)]
        self._fit_levels([space.to_unit(X) for X in Xs], [self.outputs.forward(Y) for Y in Ymaps])
        return self

    def _check_levels(self, Xs: list, Ys: list) -> tuple[list[np.ndarray], list[dict]]:
        out_X, out_Y, keys, d = [], [], None, None
        for t, (X, Y) in enumerate(zip(Xs, Ys, strict=True)):
            X = np.asarray(X, dtype=float)
            if X.ndim != 2:
                raise ValueError(f"level {t}: X must be 2-D (n, d), got shape {X.shape}")
            if d is not None and X.shape[1] != d:
                raise ValueError(f"level {t} has {X.shape[1]} inputs, level 0 has {d}")
            d = X.shape[1]
            Ymap, squeeze = _as_output_map(Y, len(X))
            if keys is not None and list(Ymap) != keys:
                raise ValueError(f"level {t} has outputs {list(Ymap)}, level 0 has {keys}; "
                                 f"align names (and units) across levels first")
            if keys is not None:
                for k in keys:
                    if Ymap[k].shape[1:] != out_Y[0][k].shape[1:]:
                        raise ValueError(f"output {k!r} is {Ymap[k].shape[1:]} per run on "
                                         f"level {t} but {out_Y[0][k].shape[1:]} on level 0")
            keys = list(Ymap)
            if not np.all(np.isfinite(X)) or not all(np.all(np.isfinite(y))
                                                     for y in Ymap.values()):
                raise ValueError(f"level {t} holds NaN or infinite values; drop failed runs "
                                 f"before fitting")
            if len(X) < 3:
                raise ValueError(f"level {t} has {len(X)} points; each level needs at least 3")
            self._squeeze = squeeze
            out_X.append(X)
            out_Y.append(Ymap)
        return out_X, out_Y

    def _fit_levels(self, Us: list[np.ndarray], Zs: list[np.ndarray]) -> None:
        """Fit level by level (Le Gratiet & Garnier 2014, §3.2), then build the predictor."""
        m = Zs[0].shape[1]
        d = Us[0].shape[1]
        arrays: dict[str, np.ndarray] = {}
        blocks: dict[str, dict[str, Any]] = {}
        self.fit_reports = []
        eps = self._draws(len(Us) - 1) if self.link == "nonlinear" else None
        prev: MFGPPredictor | None = None
        for t, (U, Z) in enumerate(zip(Us, Zs, strict=True)):
            n = len(U)
            prefix = f"mf.{t}."
            info: dict[str, Any] = {"kernel": self.kernel, "n": n,
                                    "fidelity": self.levels_card[t]["fidelity"]}
            F = None
            if t == 0:
                info["type"] = "gp"
                H = np.ones((m, n, 1))
            else:
                F, nested = self._lower_values(prev, Us[t - 1], Zs[t - 1], U, t)
                info["nested"] = nested
                info["type"] = self.link
                if self.link == "linear":
                    g = np.ones((n, 1)) if self.rho == "constant" else np.c_[np.ones(n), U]
                    if n < g.shape[1] + 3:
                        raise ValueError(f"level {t} has {n} points, too few for rho="
                                         f"{self.rho!r} ({g.shape[1] + 1} regression "
                                         f"coefficients); use rho='constant' or add points")
                    H = np.concatenate([g[None] * F[:, :, None], np.ones((m, n, 1))], axis=2)
                    F = None
                    info["rho"] = self.rho
                else:
                    H = np.ones((m, n, 1))
            # a nonlinear level holds no draws of θ: of its parameters' uncertainty it
            # carries the overall scale's, integrated exactly (Student-t, n − p dof)
            calibrate = self.calibrate
            if F is not None and calibrate is None and self.parameter_uncertainty:
                calibrate = info["calibrate"] = "t"

            def fit(warp: bool, shared: bool = False, U=U, H=H, Z=Z, F=F, t=t,
                    calibrate=calibrate):
                return fit_level(
                    U, H, Z.T, kernel=self.kernel, F=F, restarts=self.restarts,
                    max_iter=self.max_iter, tol=self.tol, noise_floor=self.noise_floor,
                    delta_scale=1.0 if t == 0 or F is not None else 0.1,
                    calibrate=calibrate,
                    parameter_uncertainty=bool(self.parameter_uncertainty), warp=warp,
                    shared_lengthscale=shared, seed=None if self.seed is None else self.seed + t)

            # k_δ's lengthscales on a linear level: per input, shared, or chosen by evidence
            choose = t >= 1 and self.link == "linear" and d > 1
            fits = [fit(False, shared=choose and self.delta_ard is False)]
            if self.warp and t == 0:
                try:
                    fits.append(fit(True))
                except ValueError as exc:
                    warnings.warn(f"the input-warped fit of level 0 failed ({exc}); level 0 "
                                  f"keeps its plain fit", UserWarning, stacklevel=4)
                    info["warp"] = [False] * m
            level_arrays, reports = fits[0]
            if len(fits) == 2:  # warped or not, per output, by leave-one-out error
                level_arrays, warped = select_by_loo(fits[0][0], fits[1][0])
                reports = fits[0][1] + fits[1][1]
                info["warp"] = warped.tolist()
            if choose and self.delta_ard == "auto":
                shared_fit = fit(False, shared=True)
                level_arrays, shared = select_by_evidence(level_arrays, shared_fit[0], U, H,
                                                          Z.T, self.kernel)
                reports = reports + shared_fit[1]
                info["ard"] = (~shared).tolist()
            elif choose:
                info["ard"] = [bool(self.delta_ard)] * m
            self.fit_reports.append(reports)
            info["fit"] = [r.status for r in reports]
            arrays.update({prefix + k: v for k, v in level_arrays.items()})
            blocks[prefix] = info
            if (self.parameter_uncertainty == "posterior" and (t == 0 or self.link == "linear")
                    and n <= self.theta_draws_max_n):
                shared = ~np.asarray(info.get("ard", [True] * m), dtype=bool)
                draws = draw_arrays(self.kernel, U, H, Z.T, level_arrays, shared,
                                    self.theta_draws, seed=(self.seed or 0) + t)
                for k in ("theta_cov", "dalpha", "dbeta"):  # the draws replace the linear term
                    arrays.pop(prefix + k, None)
                arrays.update({f"{prefix}draws.{k}": v for k, v in draws.items()})
                info["draws"] = self.theta_draws
            if eps is not None and t >= 1:
                arrays["mf.eps"] = eps[:t]  # the draws of the levels fitted so far
            card = self._predictor_card(blocks, t + 1, d)
            prev = MFGPPredictor(card, arrays)
        self._arrays = arrays
        self._blocks = blocks
        self._predictor = prev

    def _lower_values(self, prev: MFGPPredictor, U_low: np.ndarray, Z_low: np.ndarray,
                      U: np.ndarray, t: int) -> tuple[np.ndarray, bool]:
        """``f_{t−1}`` at level ``t``'s points ``(m, n)``: observed on a nested design, else
        the lower level's posterior mean."""
        dist = np.abs(U[:, None, :] - U_low[None, :, :]).max(axis=2)
        idx = dist.argmin(axis=1)
        if np.all(dist[np.arange(len(U)), idx] <= NEST_ATOL):
            return Z_low[idx].T, True
        warnings.warn(f"level {t}'s inputs are not a subset of level {t - 1}'s (non-nested "
                      f"design): the lower level's posterior mean stands in for its outputs "
                      f"there, and its uncertainty at those points is ignored in the fit",
                      UserWarning, stacklevel=4)
        return prev.level_predictions(U)[-1][0], False

    def _draws(self, k: int) -> np.ndarray:
        """``(k, S)`` stratified standard-normal draws (one permutation per level)."""
        from scipy.special import ndtri

        rng = np.random.default_rng(self.seed)
        q = ndtri((np.arange(self.mc_draws) + 0.5) / self.mc_draws)
        return np.stack([rng.permutation(q) for _ in range(k)])

    def _predictor_card(self, blocks: dict, levels: int, d: int) -> dict[str, Any]:
        return {"inputs": [None] * d,
                "model": {"levels": levels, "link": self.link, "rho": self.rho,
                          "blocks": blocks}}

    # -- hooks ----------------------------------------------------------------------------
    def _fit(self, U: np.ndarray, Z: np.ndarray) -> None:
        raise TypeError("MultiFidelityGP is fitted on fidelity levels: call fit(levels)")

    def _predict(self, U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._predictor(U)

    def _sample(self, U: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        return self._predictor.sample(U, n, rng)

    def _export_arrays(self) -> dict[str, np.ndarray]:
        return dict(self._arrays)

    def _card_model(self) -> dict[str, Any]:
        card = self._predictor_card(self._blocks, len(self._blocks), 0)["model"]
        if self.link == "nonlinear":
            card.pop("rho")
        return {**card, "kernel": self.kernel, "restarts": self.restarts, "pca": self.pca,
                "calibrate": self.calibrate,
                "parameter_uncertainty": self.parameter_uncertainty,
                **({"theta_draws": self.theta_draws,
                    "theta_draws_max_n": self.theta_draws_max_n}
                   if self.parameter_uncertainty == "posterior" else {}),
                "warp": self.warp,
                "delta_ard": self.delta_ard,
                **({"mc_draws": self.mc_draws} if self.link == "nonlinear" else {})}

    def level_predictions(self, X: Any) -> list[tuple[np.ndarray, np.ndarray]]:
        """Latent (standardised) noise-free mean and variance ``(q, m)`` of every level."""
        self._check_fitted()
        U = self.space.to_unit(self.space.check(X))
        return [(mu.T, var.T) for mu, var in self._predictor.level_predictions(U)]
