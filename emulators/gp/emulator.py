"""``GaussianProcess``: the exact-GP emulator, one independent GP per output.

Hyperparameters are fitted per output (:mod:`emulators.gp.hyper`), on a space-filling
subset of the runs when there are many, then the posterior is conditioned on every run.
The predictive variance is calibrated by leave-one-out (closed form), a low-rank variance
factor is stored beside the exact one, and every prediction can say how far it lies from
the training design.  The posterior arithmetic is :class:`emulators.runtime.gp.GPPredictor`,
so the exported file predicts exactly what this object does.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from emulators.base import Emulator
from emulators.gp.hyper import (
    Hyper,
    OutputFit,
    default_start,
    fit_output,
    fit_shared,
    maximin_subset,
    neighbour_spacing,
    random_start,
    shared_hypers,
    shared_starts,
    smooth_start,
    spacing_start,
)
from emulators.gp.model import KERNELS
from emulators.gp.posterior import exact_arrays
from emulators.gp.sparse import sparse_arrays
from emulators.outputs import OutputTransform
from emulators.runtime.emulator import DOMAIN_POLICIES, apply_domain_policy
from emulators.runtime.gp import GPPredictor

VARIANCE_MODES = ("exact", "lowrank", None)
#: Above this many runs the default (``sparse="auto"``) is the sparse GP.  Measured
#: (``benchmarks/gp_sparse_crossover.py``, one BLAS thread): the exact GP is the more
#: accurate at every size (smooth 20-input function: R² 0.99975 vs 0.99815 at n = 1,000,
#: 0.99996 vs 0.99862 at 3,000, 0.99999 vs 0.99869 at 4,500; borehole: both ≥ 0.999999, MSLL
#: −7.6 vs −6.4, sparse coverage 1.00), so the switch is a cost choice: the exact fit takes
#: 6, 27, 54 and 255 s CPU per output at n = 1,000, 2,000, 3,000, 4,500 (borehole: 2, 47,
#: 185 s; the sparse one 1–2 s throughout) and stores n² floats per output (72 MB at
#: 3,000).  Above 3,000 it passes a minute per output.
SPARSE_ABOVE = 3000


class GaussianProcess(Emulator):
    """Exact Gaussian-process emulator with ARD kernel and marginal-likelihood fitting.

    Inputs are scaled to the unit cube by the parameter space (log scale for log-uniform
    parameters); each latent output is standardised; waveforms may be reduced by PCA.
    Each latent output's hyperparameters maximise its own exact marginal likelihood
    (L-BFGS-B with its own line searches and stopping test) from ``restarts`` starting
    points, plus a warm start from the previous output's optimum.

    Parameters
    ----------
    kernel : {"matern52", "matern32", "rbf"}
        Stationary ARD kernel.
    restarts : int
        Number of optimisation starts per output: lengthscale 0.5, then lengthscale 5
        (the smooth basin), then the design's median neighbour spacing (the shortest
        scale its points resolve), then random log-uniform in [0.05, 2] per input; a warm
        start from the previous output comes first.  The spacing and random starts still
        behind the best by ``max(1, 0.01 n)`` nats after 15 iterations are abandoned.
    max_iter : int
        L-BFGS-B iteration cap per start.
    tol : float
        Relative change of the loss that ends a start (L-BFGS-B ``ftol``).
    noise_floor : float
        Lower bound of the noise variance of the standardised outputs.  The default 1e-6
        (a noise s.d. of 0.1% of the output's spread) keeps the kernel matrix well
        conditioned for deterministic simulators; larger values regularise.
    pca : float or int, optional
        Reduce waveform outputs to principal components (a variance fraction such as
        0.999, or a count).
    pca_scalars : float or int, optional
        Reduce correlated scalar outputs together: standardise them, keep the principal
        components explaining this fraction of their variance (or this many), fit one GP
        per component and map mean and variance back to every scalar, truncation variance
        included.  The scalars stay outputs of their own (names, units).
    scalar_groups : dict of str to list of str, optional
        Which scalars ``pca_scalars`` reduces together (``{group: [output, ...]}``, two or
        more each; the others stay as they are); default: every scalar in one group.
    share_kernel : bool or list of str
        ``True``: every latent output shares one kernel correlation (ARD lengthscales and
        noise-to-signal ratio) fitted to all of them at once; a list of output or scalar
        group names: the latent columns of each named one (a PCA waveform's or a group's
        components) share a kernel, the others are fitted one by one.  Per shared set:
        one Cholesky per likelihood evaluation instead of one per output, each output's
        signal variance and mean profiled in closed form
        (:func:`emulators.gp.hyper.nll_and_grad_shared`).  For outputs that mix the same
        few latent functions (PCA components, tens of pressures and flows of one
        simulator).  ``noise_floor`` then bounds the noise-to-signal ratio.
    shared_refine : int
        After a shared-kernel fit, refine each output's own hyperparameters for at most
        this many L-BFGS-B iterations from the shared optimum (on the ``subset`` runs):
        outputs whose own parts need other lengthscales get them, at a fraction of the
        cost of fitting each output from scratch.  0: keep the shared kernel.
    seed : int, optional
        Seed of the random restarts and of the subset.
    subset : int or None
        With more runs than this, hyperparameters are estimated on a maximin
        (space-filling) subset of this many runs, then refined on all runs from there
        (``refine``); the posterior always conditions on every run.  ``None``: all runs.
    refine : int
        L-BFGS-B iterations on all runs after the subset fit (0: none).
    calibrate : {"loo", None}
        Scale each output's predictive variance so that 95% of its closed-form
        leave-one-out standardised residuals (Sundararajan & Keerthi 2001) fall inside the
        95% interval; the scales are in the card (``model.calibration``).
    lowrank_tol : float or None
        Store a low-rank variance factor whose variance exceeds the exact one by at most
        this fraction (checked on random probe points); ``None``: exact variance only.  Kept
        only at rank ≤ 3/4 of n (n ≤ 2,000); a deterministic simulator's variance, near the
        noise floor, often needs ~n (the card then gives ``rank_needed``).
    novelty_factor : float
        A query is flagged as unlike the training design when its distance to the nearest
        run (in lengthscale units) exceeds this many times the 95th percentile of the
        runs' nearest-neighbour distances.
    domain : {"raise", "warn", "clip"} or None
        What ``predict`` does outside the domain; ``None``: ``"raise"`` for a declared
        parameter space, ``"warn"`` for the bounding box of arrays fitted without one.
    threads : int
        BLAS/OpenMP threads used by the fit (small per-output factorisations: 1 is fastest
        on a shared machine).
    sparse : bool or "auto"
        Condition on ``inducing`` inducing points (a maximin subset of the runs; collapsed
        variational posterior, :mod:`emulators.gp.sparse`) instead of every run; ``"auto"``
        does so above ``sparse_above`` runs.  Same runtime file kind; no LOO calibration.
    """

    kind = "gp"

    def __init__(self, kernel: str = "matern52", *, restarts: int = 3, max_iter: int = 200,
                 tol: float = 1e-9, noise_floor: float = 1e-6, pca: float | int | None = None,
                 seed: int | None = 0, subset: int | None = 400, refine: int = 30,
                 calibrate: str | None = "loo", lowrank_tol: float | None = 0.05,
                 novelty_factor: float = 2.0, domain: str | None = None, threads: int = 1,
                 sparse: bool | str = "auto", sparse_above: int = SPARSE_ABOVE,
                 inducing: int = 512, pca_scalars: float | int | None = None,
                 scalar_groups: Mapping[str, list[str]] | None = None,
                 share_kernel: bool | list[str] = False, shared_refine: int = 0):
        super().__init__()
        if kernel not in KERNELS:
            raise ValueError(f"unknown kernel {kernel!r}; choose one of {', '.join(KERNELS)}")
        if restarts < 1:
            raise ValueError(f"restarts must be >= 1, got {restarts}")
        if pca is not None and not ((isinstance(pca, float) and 0 < pca < 1) or (
                isinstance(pca, int) and not isinstance(pca, bool) and pca >= 1)):
            raise ValueError(f"pca must be a variance fraction in (0, 1) or a component "
                             f"count >= 1, got {pca!r}")
        if pca_scalars is not None and not ((isinstance(pca_scalars, float)
                                             and 0 < pca_scalars < 1) or (
                isinstance(pca_scalars, int) and not isinstance(pca_scalars, bool)
                and pca_scalars >= 1)):
            raise ValueError(f"pca_scalars must be a variance fraction in (0, 1) or a "
                             f"component count >= 1, got {pca_scalars!r}")
        if scalar_groups is not None:
            if pca_scalars is None:
                raise ValueError("scalar_groups needs pca_scalars (the variance fraction or "
                                 "component count kept in each group)")
            if not isinstance(scalar_groups, Mapping) or not scalar_groups or not all(
                    isinstance(v, list | tuple) and len(v) >= 2
                    and all(isinstance(x, str) for x in v) for v in scalar_groups.values()):
                raise ValueError(f"scalar_groups must map group names to lists of two or "
                                 f"more scalar output names, got {scalar_groups!r}")
        if isinstance(share_kernel, list | tuple):
            if not share_kernel or not all(isinstance(x, str) for x in share_kernel):
                raise ValueError(f"share_kernel must be true, false or a non-empty list of "
                                 f"output or scalar-group names, got {share_kernel!r}")
            share_kernel = [str(x) for x in share_kernel]
        elif share_kernel not in (True, False):
            raise ValueError(f"share_kernel must be true, false or a list of output or "
                             f"scalar-group names, got {share_kernel!r}")
        if isinstance(shared_refine, bool) or not isinstance(shared_refine, int) or \
                shared_refine < 0:
            raise ValueError(f"shared_refine must be an iteration count >= 0, got "
                             f"{shared_refine!r}")
        if shared_refine and share_kernel is False:
            warnings.warn("shared_refine has no effect without share_kernel", UserWarning,
                          stacklevel=2)
        if subset is not None and subset < 10:
            raise ValueError(f"subset must be >= 10 runs or None, got {subset}")
        if calibrate not in ("loo", None):
            raise ValueError(f"calibrate must be 'loo' or None, got {calibrate!r}")
        if domain not in (*DOMAIN_POLICIES, None):
            raise ValueError(f"domain must be one of {DOMAIN_POLICIES} or None, got {domain!r}")
        if lowrank_tol is not None and not 0 < lowrank_tol < 1:
            raise ValueError(f"lowrank_tol must be in (0, 1) or None, got {lowrank_tol}")
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        if sparse not in (True, False, "auto"):
            raise ValueError(f"sparse must be True, False or 'auto', got {sparse!r}")
        if inducing < 10:
            raise ValueError(f"inducing must be >= 10 points, got {inducing}")
        self.kernel = kernel
        self.restarts = int(restarts)
        self.max_iter = int(max_iter)
        self.tol = float(tol)
        self.noise_floor = float(noise_floor)
        self.pca = pca
        self.seed = seed
        self.subset = subset
        self.refine = int(refine)
        self.calibrate = calibrate
        self.lowrank_tol = lowrank_tol
        self.novelty_factor = float(novelty_factor)
        self.domain = domain
        self.threads = int(threads)
        self.sparse = sparse
        self.sparse_above = int(sparse_above)
        self.inducing = int(inducing)
        self.pca_scalars = pca_scalars
        self.scalar_groups = ({str(k): [str(x) for x in v] for k, v in scalar_groups.items()}
                              if scalar_groups is not None else None)
        self.share_kernel: bool | list[str] = (share_kernel if isinstance(share_kernel, list)
                                               else bool(share_kernel))
        self.shared_refine = int(shared_refine)
        self.fit_reports: list[OutputFit] = []
        self._hyper: list[Hyper] = []
        self._card_extra: dict[str, Any] = {}
        #: Per latent output, hyperparameters tried first by the next fit (run to the end,
        #: the best start still wins): a refit on a grown design starts from the last fit.
        self.warm_starts: list[Hyper] = []

    def __repr__(self) -> str:
        extra = (f", pca_scalars={self.pca_scalars}" if self.pca_scalars is not None else "") + (
            f", share_kernel={self.share_kernel}" if self.share_kernel else "")
        return (f"GaussianProcess(kernel={self.kernel!r}, restarts={self.restarts}, "
                f"pca={self.pca}{extra})")

    # -- hooks ----------------------------------------------------------------------------
    def _make_output_transform(self, Y: Mapping[str, np.ndarray], units) -> OutputTransform:
        return OutputTransform.fit(Y, units, pca=self.pca, pca_scalars=self.pca_scalars,
                                   scalar_groups=self.scalar_groups)

    def _fit(self, U: np.ndarray, Z: np.ndarray) -> None:
        from threadpoolctl import threadpool_limits

        n = len(U)
        self._sparse = self.sparse is True or (self.sparse == "auto" and n > self.sparse_above)
        with threadpool_limits(limits=self.threads):
            self._fit_hyper(U, Z, refine=not self._sparse)
            rng = np.random.default_rng(self._seed() + 1)
            if self._sparse:
                arrays, extra = sparse_arrays(U, Z, self._hyper, self.kernel,
                                              inducing=self.inducing,
                                              novelty_factor=self.novelty_factor, rng=rng)
            else:
                arrays, extra = exact_arrays(
                    U, Z, self._hyper, self.kernel, calibrate=self.calibrate,
                    lowrank_tol=self.lowrank_tol, novelty_factor=self.novelty_factor,
                    rng=rng, prefix="gp.")
        self._constant_outputs(Z, arrays)
        self._Z_train = Z
        self._arrays = {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in arrays.items()}
        self._card_extra = extra
        self._predictor = GPPredictor({"model": self._card_model()}, self._arrays)

    def _seed(self) -> int:
        return int(self.seed) if self.seed is not None else 0

    def _fit_hyper(self, U: np.ndarray, Z: np.ndarray, refine: bool = True) -> None:
        n, d = U.shape
        rng = np.random.default_rng(self._seed())
        sub = (maximin_subset(U, self.subset, rng) if self.subset is not None
               and n > self.subset else np.arange(n))
        m = Z.shape[1]
        hyper: list[Hyper | None] = [None] * m
        reports: list[OutputFit | None] = [None] * m
        for cols in self._shared_sets():
            # a constant column has no correlation to share (its profiled scale is 0)
            cols = [j for j in cols if np.ptp(Z[:, j]) > 0]
            if not cols:
                continue
            hs, rs = self._fit_shared(U, Z[:, cols], sub, rng, refine)
            for j, h, r in zip(cols, hs, rs, strict=True):
                if self.shared_refine:  # each output's own optimum, from the shared one
                    h, own = fit_output(U[sub], Z[sub, j], self.kernel, [h],
                                        noise_floor=self.noise_floor,
                                        max_iter=self.shared_refine, ftol=self.tol)
                    own.starts = r.starts + own.starts
                    own.message = f"shared kernel, then its own: {own.message}"
                    r = own
                hyper[j], reports[j] = h, r
        prev: Hyper | None = None
        spacing = neighbour_spacing(U[sub])
        for j in range(m):
            if hyper[j] is not None:
                continue
            y = Z[sub, j]
            starts: list[Hyper] = []
            if j < len(self.warm_starts) and len(self.warm_starts[j].lengthscale) == d:
                w = self.warm_starts[j]  # this output's optimum on a previous design
                starts.append(Hyper(w.lengthscale.copy(), w.outputscale, w.noise,
                                    float(np.mean(y))))
            if prev is not None:  # warm start from the neighbouring output
                starts.append(Hyper(prev.lengthscale.copy(), prev.outputscale, prev.noise,
                                    float(np.mean(y))))
            starts.append(default_start(d, y, self.noise_floor))
            if self.restarts > 1:
                starts.append(smooth_start(d, y, self.noise_floor))
            full = len(starts)  # the deterministic starts run to the end
            if self.restarts > 2:  # abandoned early, as the random ones, where it is behind
                starts.append(spacing_start(d, y, self.noise_floor, spacing))
            starts += [random_start(d, y, self.noise_floor, rng)
                       for _ in range(self.restarts - 3)]
            h, rep = fit_output(U[sub], y, self.kernel, starts, noise_floor=self.noise_floor,
                                max_iter=self.max_iter, ftol=self.tol, full_starts=full)
            if refine and len(sub) < n and self.refine > 0 and rep.status != "failed":
                h, full = fit_output(U, Z[:, j], self.kernel, [h],
                                     noise_floor=self.noise_floor, max_iter=self.refine,
                                     ftol=self.tol)
                full.starts = rep.starts + full.starts
                full.message = f"subset of {len(sub)} then all {n} runs: {full.message}"
                rep = full
            if rep.status == "failed":
                raise ValueError(
                    f"the GP fit failed for latent output {j} from every start "
                    f"({rep.message}); check the training data for duplicated inputs with "
                    f"different outputs, or raise noise_floor")
            hyper[j], reports[j], prev = h, rep, h
        self._hyper, self.fit_reports = list(hyper), list(reports)

    def _shared_sets(self) -> list[list[int]]:
        """Latent columns fitted with one shared kernel, one list per set."""
        if self.share_kernel is False:
            return []
        owners = [o for o, _, _ in self.outputs.latent_owners()]
        if self.share_kernel is True:
            return [list(range(len(owners)))]
        unknown = [name for name in self.share_kernel if name not in owners]
        if unknown:
            raise ValueError(f"share_kernel names {unknown}, which are neither outputs nor "
                             f"scalar groups of this fit; choose among {sorted(set(owners))}")
        return [[j for j, o in enumerate(owners) if o == name] for name in self.share_kernel]

    def _fit_shared(self, U: np.ndarray, Z: np.ndarray, sub: np.ndarray,
                    rng: np.random.Generator, refine: bool
                    ) -> tuple[list[Hyper], list[OutputFit]]:
        """One kernel correlation for the latent outputs ``Z (n, k)`` (``share_kernel``)."""
        n, d = U.shape
        starts = shared_starts(d, self.restarts, self.noise_floor, rng)
        theta, rep = fit_shared(U[sub], Z[sub], self.kernel, starts,
                                noise_floor=self.noise_floor, max_iter=self.max_iter,
                                ftol=self.tol, full_starts=min(2, len(starts)))
        if refine and len(sub) < n and self.refine > 0 and rep.status != "failed":
            theta, full = fit_shared(U, Z, self.kernel, [theta], noise_floor=self.noise_floor,
                                     max_iter=self.refine, ftol=self.tol)
            full.starts = rep.starts + full.starts
            full.message = f"subset of {len(sub)} then all {n} runs: {full.message}"
            rep = full
        if rep.status == "failed":
            raise ValueError(f"the shared-kernel GP fit failed from every start "
                             f"({rep.message}); check the training data for duplicated "
                             f"inputs with different outputs, or raise noise_floor")
        hypers, losses = shared_hypers(theta, U, Z, self.kernel)
        return hypers, [OutputFit(rep.status, rep.iterations, float(loss), n, rep.starts,
                                  "shared kernel: " + rep.message) for loss in losses]

    def _constant_outputs(self, Z: np.ndarray, arrays: dict[str, np.ndarray]) -> None:
        """A constant output is learnt as that constant; its variance is set relative to its
        value (``noise_floor × value²``), not to the standardisation's unit scale."""
        const = np.ptp(Z, axis=0) == 0
        if not const.any():
            return
        latent = _latent_names(self.outputs)
        names = [latent[j] for j in np.flatnonzero(const)]
        warnings.warn(f"outputs {names} are constant over the training runs: they are "
                      f"predicted as that constant with a variance of noise_floor × value²",
                      UserWarning, stacklevel=4)
        n = arrays["gp.L_inv"].shape[1]
        for j in np.flatnonzero(const):
            # white noise of variance noise_floor × value² around the constant: the latent
            # scale of a constant column is 1, so this is the physical variance
            target = self.noise_floor * max(float(self.outputs.y_mean[j]) ** 2, 1e-300)
            arrays["gp.noise"][j] = target
            arrays["gp.outputscale"][j] = 1e-12 * target
            arrays["gp.var_scale"][j] = 1.0
            arrays["gp.mean"][j] = float(Z[0, j])
            arrays["gp.alpha"][j] = 0.0
            arrays["gp.L_inv"][j] = np.eye(n) / np.sqrt(target * (1 + 1e-12))
            for key in ("gp.lowrank", "gp.var_add"):
                if key in arrays:
                    arrays[key][j] = 0.0

    def predict(self, X: Any, *, variance: str | None = "exact", domain: str | None = None
                ) -> tuple[np.ndarray, np.ndarray | None]:
        """Predictive mean and variance in physical units, shape matching the training Y.

        ``variance``: ``"exact"`` (O(n²) per point), ``"lowrank"`` (the stored low-rank
        factor, at most ``lowrank_tol`` above the exact variance; O(n·r)) or ``None`` (mean
        only; the variance returned is ``None``).  ``domain`` overrides the domain policy.
        """
        if variance not in VARIANCE_MODES:
            raise ValueError(f"variance must be one of {VARIANCE_MODES}, got {variance!r}")
        z_mean, z_var = self._latent(X, variance, domain)  # refuses an unfitted emulator
        mean, var = self.outputs.inverse(z_mean, z_var)
        if self._squeeze:
            mean, var = mean[:, 0], var[:, 0]
        return (mean, var) if variance is not None else (mean, None)

    def novelty(self, X: Any) -> dict[str, np.ndarray]:
        """How far each query lies from the training design; see
        :meth:`emulators.runtime.gp.GPPredictor.novelty`."""
        self._check_fitted()
        return self._predictor.novelty(self._unit(X, "warn" if self.domain != "clip" else "clip",
                                                  quiet=True))

    def _unit(self, X: Any, domain: str | None, quiet: bool = False) -> np.ndarray:
        policy = domain or self.domain or ("warn" if self._space_inferred else "raise")
        return self.space.to_unit(apply_domain_policy(self.space, X, policy, quiet=quiet))

    def _latent(self, X: Any, variance: str | None = "exact", domain: str | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """Latent mean and variance at ``X``, in chunks; ``variance=None``: mean only (the
        variance is not computed)."""
        from emulators.runtime.predictor import predict_chunked

        self._check_fitted()
        return predict_chunked(lambda u: self._predictor(u, variance=variance),
                               self._unit(X, domain), self._predictor.bytes_per_point())

    def _predict(self, U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._predictor(U)

    def gpytorch_posterior(self, U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Latent mean and variance (noise included, times the calibration scale) from
        gpytorch's own exact prediction code, on the fitted hyperparameters."""
        import gpytorch
        import torch

        from emulators.gp.model import BatchIndependentGP, make_likelihood

        if self._sparse:
            raise NotImplementedError("gpytorch_posterior compares the exact GP; this one "
                                      "is sparse (inducing points)")

        Utr = self._arrays["gp.train_u"]
        m, (n, d) = len(self._hyper), Utr.shape
        Z = self._Z_train.T
        x = torch.as_tensor(Utr, dtype=torch.float64).expand(m, n, d).contiguous()
        lik = make_likelihood(m, self.noise_floor * 0.5).double()
        model = BatchIndependentGP(x, torch.as_tensor(Z), lik, self.kernel).double()
        from emulators.gp.model import LENGTHSCALE_RANGE, OUTPUTSCALE_RANGE

        def inside(a: np.ndarray, rng: tuple[float, float]) -> torch.Tensor:
            # gpytorch refuses a value on the bound itself: move it in by 1e-12 relative
            return torch.as_tensor(np.clip(a, rng[0] * (1 + 1e-12), rng[1] * (1 - 1e-12)))

        with torch.no_grad():
            model.covar_module.base_kernel.lengthscale = inside(
                self._arrays["gp.lengthscale"], LENGTHSCALE_RANGE).reshape(m, 1, d)
            model.covar_module.outputscale = inside(self._arrays["gp.outputscale"],
                                                    OUTPUTSCALE_RANGE)
            lik.noise = torch.as_tensor(self._arrays["gp.noise"]).reshape(m, 1)
            model.mean_module.constant.copy_(torch.as_tensor(self._arrays["gp.mean"]))
        model.eval()
        lik.eval()
        xq = torch.as_tensor(U, dtype=torch.float64).expand(m, *U.shape).contiguous()
        with (torch.no_grad(), gpytorch.settings.fast_computations(False, False, False),
              gpytorch.settings.max_cholesky_size(100_000)):
            f = model(xq)
            noise = lik.noise.detach().reshape(-1, 1)
            scale = self._arrays["gp.var_scale"][:, None]
            return f.mean.numpy().T, scale.T * (f.variance + noise).numpy().T

    def _sample(self, U: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        return self._predictor.sample(U, n, rng)

    def _export_arrays(self) -> dict[str, np.ndarray]:
        return dict(self._arrays)

    def _card_model(self) -> dict[str, Any]:
        latent = _latent_names(self.outputs) if self.outputs is not None else []
        fits = []
        for j, r in enumerate(self.fit_reports):
            fits.append({"output": latent[j] if j < len(latent) else str(j), **r.as_dict()})
        return {"kernel": self.kernel, "restarts": self.restarts, "pca": self.pca,
                "pca_scalars": self.pca_scalars, "share_kernel": self.share_kernel,
                "shared_refine": self.shared_refine,
                "subset": self.subset, "refine": self.refine,
                "sparse": bool(getattr(self, "_sparse", False)),
                "fit": fits, **self._card_extra}

    @property
    def hyperparameters(self) -> dict[str, np.ndarray]:
        """Fitted lengthscales (unit-cube scale), signal and noise variances per latent output."""
        a = self._arrays
        return {"lengthscale": a["gp.lengthscale"], "outputscale": a["gp.outputscale"],
                "noise": a["gp.noise"], "variance_scale": a["gp.var_scale"]}


def _latent_names(outputs: OutputTransform) -> list[str]:
    """One name per latent column: the output, ``name[i]`` for a raw waveform column, or
    ``name[pck]`` for a component of a PCA waveform or scalar group."""
    return [name if kind == "scalar" else f"{name}[pc{i}]" if kind == "pc" else f"{name}[{i}]"
            for name, i, kind in outputs.latent_owners()]
